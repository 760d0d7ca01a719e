"""The database: chosen from one URL, connected per request, upgraded by migrations."""

import json
from urllib.parse import urlsplit

import click
from flask import current_app, g, request
from peewee import DatabaseProxy, Model, TextField
from playhouse.db_url import connect

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "busy_timeout": 5000,
    "cache_size": -16000,
}


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class JSONField(TextField):
    """JSON stored as text, so the same column works on SQLite and PostgreSQL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


def open_database(url):
    """A peewee database for `url`: sqlite:///path or postgresql://user@host:port/name."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        # A pool keeps each thread's connection (pragmas set once, not per request), and
        # BEGIN IMMEDIATE takes the write lock up front: a transaction that reads then writes
        # would otherwise fail at once with "database is locked" when another process commits
        # between its read and its write, instead of waiting out the busy timeout.
        pooled = "sqlite+pool" + url[len(scheme) :]
        return connect(
            pooled,
            pragmas=SQLITE_PRAGMAS,
            timeout=5,
            lock_type="IMMEDIATE",
            max_connections=64,
            stale_timeout=600,
            check_same_thread=False,  # pooled: a connection moves between threads, one at a time
        )
    if scheme in ("postgresql", "postgres"):
        # A pool, because a request opens and closes its connection: handing one back is free.
        pooled = "postgres+pool" + url[len(scheme) :]
        return connect(pooled, max_connections=32, stale_timeout=300, timeout=10)
    raise ValueError(f"不支持的数据库地址：{url}（应以 sqlite:/// 或 postgresql:// 开头）")


_compiled_sql = {}


def first(model, name, build, *params):
    """First row of a hot-path query as a `model`, compiling the query's SQL once per database.

    peewee spends more time turning a query into SQL than SQLite spends running it; the few
    queries every autosave makes are compiled once (`build()` with placeholder values) and then
    run with `params` in the order the placeholders appear.
    """
    key = (name, type(database.obj))  # the SQL text depends only on the dialect
    sql = _compiled_sql.get(key)
    if sql is None:
        sql = _compiled_sql[key] = build().sql()[0]
    for row in model.raw(sql, *params):
        return row
    return None


def is_sqlite():
    return urlsplit(current_app.config["DATABASE_URL"]).scheme == "sqlite"


def init_app(app):
    database.initialize(open_database(app.config["DATABASE_URL"]))

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    app.before_request(refuse_while_behind)

    @app.teardown_appcontext
    def _close(exc):
        if not database.is_closed():
            database.close()

    app.cli.add_command(init_db_command)


SCHEMA_BEHIND = (
    "数据库需要升级：请运行 inspect-app setup（或重新执行 make run）升级数据库，然后刷新本页"
)


def refuse_while_behind():
    """before_request: new code on a database that has not been upgraded (or one that a newer
    version of the program has upgraded) answers every request with a 503 page that says what to
    do, and logs one line, instead of failing on a missing column. Checked until the database is
    found current, then never again in this process (a schema does not go backwards)."""
    app = current_app._get_current_object()
    if app.extensions.get("schema_current") or request.endpoint in ("healthz", "static"):
        return None
    from inspect_app.migrations import state

    found = state(database)
    if found.current:
        app.extensions["schema_current"] = True
        return None
    from inspect_app.web import error_response

    pending = ", ".join(f"{v:04d}" for v, _ in found.pending)
    app.logger.error(
        "refused %s %s: database schema does not match the code (%s); run inspect-app setup",
        request.method,
        request.path,
        "; ".join(found.problems) or f"pending migrations {pending}",
    )
    g.user = None  # the page is drawn without asking the database who is signed in
    message = SCHEMA_BEHIND
    if found.problems:
        message = "数据库与本程序的版本不符，暂停服务：" + "；".join(found.problems)
    response = error_response(503, message)
    response.headers["Retry-After"] = "60"
    return response


def upgrade():
    """Apply every pending migration, then rebuild derived data that is missing; returns the
    list of versions applied. A database whose ledger does not fit the code is refused."""
    from inspect_app.migrations import SchemaMismatch, migrate, state

    with database.connection_context():
        found = state(database)
        if found.pending and not found.problems:
            _back_up_before_migrating()
        try:
            applied = migrate(database)
        except SchemaMismatch as mismatch:
            raise click.ClickException("\n".join(mismatch.problems)) from None
        for done in _rebuild_derived_data():
            click.echo(done)
    return applied


def _back_up_before_migrating():
    """A database with data gets an archive before any migration touches it; if that fails,
    nothing is migrated."""
    from inspect_app import backup

    config = current_app.config
    if not backup.has_data(config["DATABASE_URL"]):
        return
    try:
        archive = backup.make_archive(config, label="pre-upgrade")
    except backup.BackupFailed as error:
        raise click.ClickException(f"升级前的自动备份失败，未执行任何迁移：{error}") from None
    click.echo(f"升级前已自动备份：{archive.path}")


def _rebuild_derived_data():
    """Tables computed from other tables (scores) are rebuilt here, after every migration has run,
    by the live code of the domain that owns them: not inside a migration, whose frozen tables
    would stop matching the live models once a later migration changes them, and which cannot
    read the site's configuration (scoring rules). Each check is quick when nothing is missing,
    and a rebuild that failed is tried again at the next upgrade. Returns what was done."""
    from inspect_app.scores.config import rules_of
    from inspect_app.scores.service import rebuild_if_missing

    done = [rebuild_if_missing(rules_of(current_app.config))]
    return [message for message in done if message]


@click.command("init-db")
def init_db_command():
    """Create the database, or upgrade it to the newest schema. Keeps existing data."""
    applied = upgrade()
    if applied:
        click.echo(f"数据库已升级，执行迁移：{', '.join(f'{v:04d}' for v in applied)}")
    else:
        click.echo("数据库已是最新结构，无需迁移。")
