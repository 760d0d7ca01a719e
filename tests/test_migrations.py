"""Schema upgrades: every row survives, derived data is rebuilt, the ledger is checked by name, the
app refuses to serve on a database behind the code, and models.py says what the migrations build.
"""

import logging
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from peewee import PostgresqlDatabase, SqliteDatabase

from inspect_app import create_app
from inspect_app.db import open_database
from inspect_app.migrations import (
    SchemaMismatch,
    available,
    compare,
    current_version,
    head_version,
    migrate,
    recorded,
)
from inspect_app.models import ALL_MODELS

# The head of the last release: the database a district runs when it installs the next one.
# Raise it at each release; every table that exists at this version must get rows below.
PREVIOUS_RELEASE = 9
# m0012 was reserved for a scores rebuild that became a post-upgrade hook (rebuild_if_missing).
# m0013 belongs to branch sec-auth (issue 12: sessions, password policy), merged separately.
NUMBERS_TAKEN_ELSEWHERE = {12, 13}


def test_migrations_are_numbered_in_order_with_unique_names():
    versions = [version for version, _ in available()]
    assert versions == sorted(set(versions))
    assert set(range(1, versions[-1] + 1)) - set(versions) <= NUMBERS_TAKEN_ELSEWHERE
    assert len({name for _, name in available()}) == len(versions)


@pytest.fixture
def scratch_url(db_kind, request, tmp_path):
    """A URL for another, empty database of the kind under test; dropped afterwards."""
    made = []

    def make():
        if db_kind == "sqlite":
            return f"sqlite:///{tmp_path / f'scratch-{len(made)}-{uuid.uuid4().hex[:6]}.db'}"
        postgres = request.getfixturevalue("postgres")
        name = f"s_{uuid.uuid4().hex[:12]}"
        postgres.admin(f"CREATE DATABASE {name}")
        made.append(name)
        return postgres.url(name)

    yield make
    for name in made:
        request.getfixturevalue("postgres").admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _closed(db):
    if not db.is_closed():
        db.close()
    if hasattr(db, "close_all"):
        db.close_all()


def test_upgrade_from_first_migration_keeps_every_row(scratch_url):
    db = open_database(scratch_url())
    db.connect()
    try:
        assert migrate(db, target=1) == [1]
        assert current_version(db) == 1
        db.execute_sql(
            "INSERT INTO unit (code, name, type, org_form, secretary, contact_name, contact_phone, sort_order, is_active, created_at, updated_at) "
            "VALUES ('QH', '中共清河区委', 'district', '党委', '', '', '', 0, %s, %s, %s)".replace(
                "%s", db.param
            ),
            (True, datetime(2026, 1, 5), datetime(2026, 1, 5)),
        )
        db.execute_sql(
            'INSERT INTO "user" (username, display_name, password_hash, role, unit_id, is_active, created_at) '
            "VALUES ('old', '老用户', 'x', 'admin', NULL, %s, %s)".replace("%s", db.param),
            (True, datetime(2026, 1, 5)),
        )
        # a row that refers to the account: SQLite copies "user" to add a column (m0002)
        db.execute_sql(
            "INSERT INTO checklist (slug, title, kind, created_at) VALUES ('c', 'C', 'x', '2026-01-05')"
        )
        db.execute_sql(
            "INSERT INTO checklist_version (checklist_id, number, label, title, content_hash, "
            "source_name, source_text, definition, item_count, loaded_at, loaded_by_id) "
            "SELECT 1, 1, '1', 'C', 'h', 'c.yaml', '', '{}', 0, '2026-01-05', id FROM \"user\""
        )
        applied = migrate(db)
        assert applied == [v for v, _ in available()][1:]
        assert db.execute_sql("SELECT code, name FROM unit").fetchall() == [("QH", "中共清河区委")]
        rows = db.execute_sql(
            'SELECT username, display_name, password_changed_at FROM "user"'
        ).fetchall()
        assert [(r[0], r[1]) for r in rows] == [("old", "老用户")]
        assert rows[0][2] is not None  # the new column is filled for existing accounts
        # the reference survived the copy (with enforcement on, SET NULL would have erased it)
        assert db.execute_sql("SELECT loaded_by_id FROM checklist_version").fetchall() == [(1,)]
        assert migrate(db) == []  # a second run changes nothing
    finally:
        _closed(db)


# -- the previous release's database, with rows in every table, upgraded -----------------------


def _fill_every_table(app, client):
    """The demo's lived-in district, plus a row in each table the demo leaves empty."""
    from inspect_app.demo import load_demo_activity
    from inspect_app.models import (
        AccountabilityFlag,
        EscalationDecision,
        ExtensionRequest,
        Finding,
        FindingPhoto,
        Inspection,
        NoticeBatch,
        NoticeTemplate,
        Photo,
        Round,
        Task,
        TaskCoUnit,
        TaskEvent,
        TaskFile,
        Unit,
        User,
    )

    with app.app_context():
        load_demo_activity()
    office = User.get(User.username == "duchaban")
    client.login("lingdao")  # a login_attempt row
    inspection = Inspection.select().where(Inspection.status == "signed_off").first()
    photo = Photo.create(
        inspection=inspection,
        item_code="A1",
        client_id="upgrade-photo-1",
        file_name="p1.jpg",
        width=800,
        height=600,
        size=12345,
        sha256="a" * 64,
        uploaded_by=User.get(User.username == "ducha1"),
    )
    FindingPhoto.create(finding=Finding.select().first(), photo=photo)
    task = Task.select().first()
    TaskCoUnit.create(task=task, unit=Unit.get(Unit.code == "QH-DF-JS"))
    TaskFile.create(
        task=task,
        event=TaskEvent.select().where(TaskEvent.task == task.id).first(),
        file_name="f1.pdf",
        original_name="整改报告.pdf",
        kind="pdf",
        size=10,
        sha256="b" * 64,
    )
    ExtensionRequest.create(task=task, requested_deadline=task.deadline, reason="材料待补")
    EscalationDecision.create(
        task=task, level="talk", rank=3, applied=False, note="已整改", decided_by=office
    )
    NoticeTemplate.create(
        kind="reminder",
        version=1,
        layout="file",
        letterhead="清河区督查办文件",
        number_prefix="区督催",
        title="催办通知",
        main_to="{{ unit.name }}",
        body="<p>请抓紧整改。</p>",
        signature="清河区督查办",
        created_by=office,
    )
    NoticeBatch.create(
        round=Round.select().first(), kind="rectification", action="draft", status="done"
    )
    AccountabilityFlag.create(
        unit=task.lead_unit,
        period="2026-Q4",
        scope="type:community",
        scope_label="社区排名",
        reason="排名末位",
        total=55,
        rank=7,
        of_count=7,
        flagged_by=office,
    )
    from inspect_app.holidays.service import import_notice
    from tests.test_holidays import notice

    import_notice(2027, notice("2027-example.txt"), by=office)  # holiday_year, holiday_date
    from werkzeug.datastructures import MultiDict

    from inspect_app.auth.policy import save_policy

    policy = {"min_length": "12", "min_classes": "3", "history": "5", "max_age_days": "90"}
    save_policy(MultiDict(policy), by=User.get(User.username == "anquan"))  # setting
    empty = [m._meta.table_name for m in ALL_MODELS if not m.select().exists()]
    assert empty == [], (
        f"tables without rows in the upgrade test; add rows in _fill_every_table: {empty}"
    )


def _raw(url):
    """A plain connection: no pool, and on SQLite no foreign-key enforcement while copying."""
    if url.startswith("sqlite"):
        return SqliteDatabase(url[len("sqlite:///") :])
    return PostgresqlDatabase(**_pg_parts(url))


def _pg_parts(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return {
        "database": parts.path.lstrip("/"),
        "user": parts.username,
        "host": parts.hostname,
        "port": parts.port,
    }


def _columns(db, table):
    return [c.name for c in db.get_columns(table)]


def _rows(db, table, columns):
    listed = ", ".join(f'"{c}"' for c in columns)
    return db.execute_sql(f'SELECT {listed} FROM "{table}" ORDER BY "{columns[0]}"').fetchall()


def _previous_release_copy(source_url, target_url, *, without=()):
    """A database at PREVIOUS_RELEASE holding the source's rows (the columns that release had)."""
    target = open_database(target_url)
    target.connect()
    migrate(target, target=PREVIOUS_RELEASE)
    _closed(target)
    source, copy = _raw(source_url), _raw(target_url)
    tables = [t for t in copy.get_tables() if t != "schema_migration"]
    with copy.atomic():
        if isinstance(copy, PostgresqlDatabase):
            copy.execute_sql("SET LOCAL session_replication_role = replica")  # no FK triggers
        for table in tables:
            if table in without:
                continue
            columns = _columns(copy, table)
            rows = _rows(source, table, columns)
            marks = ", ".join([copy.param] * len(columns))
            listed = ", ".join(f'"{c}"' for c in columns)
            for row in rows:
                copy.execute_sql(f'INSERT INTO "{table}" ({listed}) VALUES ({marks})', row)
            if isinstance(copy, PostgresqlDatabase) and rows:
                copy.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT MAX(id) FROM "{table}"))'
                )
    empty = [t for t in tables if t not in without and not _rows(copy, t, ["id"])]
    snapshot = {t: (_columns(copy, t), _rows(copy, t, _columns(copy, t))) for t in tables}
    source.close()
    copy.close()
    return empty, snapshot


SCORE_COLUMNS = {
    "score_line": [
        "unit_id",
        "day",
        "rule",
        "inspection_id",
        "checklist_id",
        "item_code",
        "points",
        "failing",
        "occurrence",
        "task_id",
        "event_id",
    ],
    "unit_score": [
        "unit_id",
        "period",
        "inspections",
        "checklist_score",
        "overdue",
        "missed_report",
        "late_report",
        "sent_back",
        "early_close",
    ],
}


def _scores(url):
    db = _raw(url)
    try:
        return {
            t: sorted(db.execute_sql(f'SELECT {", ".join(cols)} FROM "{t}"').fetchall(), key=repr)
            for t, cols in SCORE_COLUMNS.items()
        }
    finally:
        db.close()


def _upgrade(url, tmp_path):
    """`inspect-app setup`'s upgrade, as an operator runs it on the copied database."""
    from inspect_app.db import database, upgrade

    app = create_app(
        {
            "DATABASE_URL": url,
            "TESTING": True,
            "UPLOAD_FOLDER": str(tmp_path / "uploads-upgrade"),
            "BACKUP_FOLDER": str(tmp_path / f"backups-{uuid.uuid4().hex[:6]}"),
        }
    )
    with app.app_context():
        applied = upgrade()
    _closed(database.obj)
    return app, applied


def _pre_upgrade_archive(app):
    from inspect_app import backup

    (archive,) = Path(app.config["BACKUP_FOLDER"]).glob("inspect-pre-upgrade-*.tar.gz")
    return backup.verify_archive(archive)


def test_previous_release_with_rows_in_every_table_upgrades_intact_and_scores_are_rebuilt(
    app, client, demo, checklists_loaded, db_url, scratch_url, tmp_path
):
    from inspect_app.db import database
    from inspect_app.scores.config import rules_of
    from inspect_app.scores.service import rebuild

    _fill_every_table(app, client)
    with app.app_context():
        rebuild(rules_of(app.config))  # what a manual `scores rebuild` gives on this data
    _closed(database.obj)
    expected_scores = _scores(db_url)
    assert expected_scores["score_line"] and expected_scores["unit_score"]
    pending = [v for v, _ in available() if v > PREVIOUS_RELEASE]

    # every table of the previous release holds rows, and every one of them survives
    kept_url = scratch_url()
    empty, before = _previous_release_copy(db_url, kept_url)
    assert empty == [], f"tables of the previous release without rows in this test: {empty}"
    upgraded, applied = _upgrade(kept_url, tmp_path)
    assert applied == pending
    # an archive of the database as it was, taken before the first migration touched it
    taken = _pre_upgrade_archive(upgraded)
    assert taken["label"] == "pre-upgrade" and taken["schema"]["version"] == PREVIOUS_RELEASE
    db = _raw(kept_url)
    for table, (columns, rows) in before.items():
        assert _rows(db, table, columns) == rows, table
    # demo accounts that still had the published password must now change it; others need not
    flagged = dict(db.execute_sql('SELECT username, must_change_password FROM "user"').fetchall())
    assert flagged["duchaban"] and flagged["hp-lianluo"]
    db.close()
    assert _scores(kept_url) == expected_scores
    health = upgraded.test_client().get("/healthz")
    assert health.status_code == 200 and health.json["schema_current"]

    # the release before this one left score tables empty after m0009: the upgrade fills them
    emptied_url = scratch_url()
    _previous_release_copy(db_url, emptied_url, without=("score_line", "unit_score"))
    assert _scores(emptied_url) == {"score_line": [], "unit_score": []}
    _upgrade(emptied_url, tmp_path)
    assert _scores(emptied_url) == expected_scores


def test_no_migration_runs_when_the_backup_before_it_fails(scratch_url, tmp_path):
    import click

    from inspect_app.db import database, upgrade

    url = scratch_url()
    db = open_database(url)
    db.connect()
    migrate(db, target=PREVIOUS_RELEASE)
    db.execute_sql(
        f"INSERT INTO checklist (slug, title, kind, created_at) VALUES ('c', 'C', 'x', {db.param})",
        (datetime(2026, 1, 5),),
    )
    _closed(db)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app = create_app(
        {"DATABASE_URL": url, "TESTING": True, "BACKUP_FOLDER": str(blocker / "backups")}
    )
    with app.app_context(), pytest.raises(click.ClickException) as refused:
        upgrade()
    assert "升级前的自动备份失败，未执行任何迁移" in refused.value.message
    _closed(database.obj)
    db = open_database(url)
    assert max(recorded(db)) == PREVIOUS_RELEASE
    _closed(db)


def test_a_new_empty_database_is_not_backed_up_before_its_first_migrations(scratch_url, tmp_path):
    from inspect_app.db import database, upgrade

    app = create_app(
        {"DATABASE_URL": scratch_url(), "TESTING": True, "BACKUP_FOLDER": str(tmp_path / "b")}
    )
    with app.app_context():
        assert upgrade()
    _closed(database.obj)
    assert not (tmp_path / "b").exists()


# -- the ledger, by name as well as number -----------------------------------------------------


def test_a_renumbered_migration_is_refused_naming_both(scratch_url):
    db = open_database(scratch_url())
    db.connect()
    try:
        migrate(db, target=PREVIOUS_RELEASE)
        db.execute_sql(
            f"UPDATE schema_migration SET name = 'm0009_rankings_renumbered' "
            f"WHERE version = {PREVIOUS_RELEASE}"
        )
        with pytest.raises(SchemaMismatch) as refused:
            migrate(db)
        message = str(refused.value)
        assert "m0009_rankings_renumbered" in message and "m0009_scores_and_rankings" in message
        assert "重新编号或改名" in message
        assert max(recorded(db)) == PREVIOUS_RELEASE  # nothing was applied
    finally:
        _closed(db)


def test_ledger_problems_are_each_named():
    code = [(1, "m0001_initial"), (2, "m0002_b"), (3, "m0003_c")]
    assert compare({1: "m0001_initial"}, code).pending == [(2, "m0002_b"), (3, "m0003_c")]
    assert compare({1: "m0001_initial", 2: "m0002_b", 3: "m0003_c"}, code).current
    ahead = compare({1: "m0001_initial", 4: "m0004_future"}, code)
    assert any("0004（m0004_future），本程序中没有" in p for p in ahead.problems)
    skipped = compare({1: "m0001_initial", 3: "m0003_c"}, code)
    assert any("没有执行迁移 0002（m0002_b），却已执行了更新的 0003" in p for p in skipped.problems)


def test_setup_on_a_renumbered_database_stops_with_the_message(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "old.db"
    db = open_database(f"sqlite:///{path}")
    db.connect()
    migrate(db, target=PREVIOUS_RELEASE)
    db.execute_sql("UPDATE schema_migration SET name = 'm0003_other' WHERE version = 3")
    _closed(db)
    result = subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", "setup"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "INSPECT_INSTANCE_PATH": str(tmp_path),
            "INSPECT_DATABASE_URL": f"sqlite:///{path}",
        },
    )
    assert result.returncode == 1
    assert (
        "数据库记录的迁移 0003 是 m0003_other，而本程序的 0003 是 m0003_rounds_and_inspections"
        in (result.stderr)
    )


# -- new code on an old database ---------------------------------------------------------------


def test_app_on_a_database_behind_the_code_answers_503_with_what_to_do(
    scratch_url, tmp_path, caplog
):
    from inspect_app.db import database, upgrade

    url = scratch_url()
    db = open_database(url)
    db.connect()
    migrate(db, target=PREVIOUS_RELEASE)
    _closed(db)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "BACKUP_FOLDER": str(tmp_path)})
    http = app.test_client()
    for method, path, headers in (
        ("GET", "/", {}),
        ("GET", "/login", {}),
        ("POST", "/login", {}),
        ("GET", "/rounds", {"HX-Request": "true"}),
        ("POST", "/inspections/1/answers/A1", {"Accept": "application/json"}),
        ("GET", "/v/some-token", {}),
    ):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger=app.logger.name):
            response = http.open(path, method=method, headers=headers)
        where = f"{method} {path}"
        assert response.status_code == 503, where
        assert response.headers["Retry-After"] == "60"
        assert "数据库需要升级：请运行 inspect-app setup" in response.get_data(as_text=True), where
        lines = [r for r in caplog.records if r.name == app.logger.name]
        assert len(lines) == 1 and "run inspect-app setup" in lines[0].getMessage(), where
        assert lines[0].exc_info is None  # a line, not a traceback
    css = http.get("/static/app.css")
    assert css.status_code == 200  # the page keeps its looks
    css.close()
    health = http.get("/healthz")
    assert health.status_code == 503 and health.json["status"] == "degraded"
    assert health.json["schema_version"] == PREVIOUS_RELEASE
    with app.app_context():
        upgrade()
    assert http.get("/login").status_code == 200  # served as soon as the database is upgraded
    assert http.get("/healthz").status_code == 200
    _closed(database.obj)


def test_app_on_a_database_from_a_newer_program_says_so(db_url):
    db = open_database(db_url)
    db.connect()
    db.execute_sql(
        f"INSERT INTO schema_migration (version, name, applied_at) VALUES (9999, 'm9999_future', "
        f"{db.param})",
        (datetime(2027, 1, 1),),
    )
    _closed(db)
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    response = app.test_client().get("/login")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "数据库与本程序的版本不符" in page and "m9999_future" in page and "不要降级" in page


# -- models.py is the schema the migrations build ----------------------------------------------


def _shape(db):
    """Per table: columns with (type, nullable), and indexes as (columns, unique)."""
    shape = {}
    for table in db.get_tables():
        if table == "schema_migration":
            continue
        columns = {
            c.name: (c.data_type.lower().replace(" ", ""), c.null) for c in db.get_columns(table)
        }
        indexes = {(tuple(i.columns), bool(i.unique)) for i in db.get_indexes(table)}
        shape[table] = {"columns": columns, "indexes": indexes}
    return shape


def test_models_describe_exactly_the_schema_the_migrations_build(db_url, scratch_url):
    migrated = open_database(db_url)
    from_models = open_database(scratch_url())
    try:
        with from_models.bind_ctx(ALL_MODELS):
            from_models.create_tables(ALL_MODELS)
        built, declared = _shape(migrated), _shape(from_models)
        assert sorted(built) == sorted(declared), "tables"
        for table in declared:
            assert built[table]["columns"] == declared[table]["columns"], table
            assert built[table]["indexes"] == declared[table]["indexes"], table
    finally:
        _closed(migrated)
        _closed(from_models)


def test_head_is_the_newest_migration():
    assert head_version() == available()[-1][0] > PREVIOUS_RELEASE


# -- m0014: 三员分立 and the audit chain ----------------------------------------------------------


def test_m0014_chains_existing_audit_records_and_makes_administrators_system_administrators(
    scratch_url,
):
    from inspect_app.audit import chain

    db = open_database(scratch_url())
    db.connect()
    try:
        migrate(db, target=11)
        p = db.param
        db.execute_sql(
            'INSERT INTO "user" (username, display_name, password_hash, role, unit_id, is_active, '
            f"created_at, password_changed_at, must_change_password) VALUES ({', '.join([p] * 9)})",
            (
                "laowang",
                "王建国",
                "x",
                "admin",
                None,
                True,
                datetime(2026, 1, 5),
                datetime(2026, 1, 5),
                False,
            ),
        )
        for n, detail in enumerate(('{"a": 1}', None, '{"名": "值"}'), start=1):
            db.execute_sql(
                "INSERT INTO audit_event (at, actor_id, action, object_type, object_id, summary, "
                f"detail) VALUES ({', '.join([p] * 7)})",
                (datetime(2026, 2, n, 8, 30), 1, "unit.update", "unit", n, f"旧记录 {n}", detail),
            )
        migrate(db)
        assert db.execute_sql('SELECT role FROM "user"').fetchall() == [("sysadmin",)]
        rows = db.execute_sql(
            "SELECT seq, actor_username, summary, value_before, value_after FROM audit_event "
            "ORDER BY seq"
        ).fetchall()
        assert [r[:3] for r in rows[:3]] == [(n, "laowang", f"旧记录 {n}") for n in (1, 2, 3)]
        assert (
            rows[3][0] == 4
            and "账号 laowang 的角色由原“系统管理员（admin）”改为系统管理员" in rows[3][2]
        )
        assert (rows[3][3], rows[3][4]) == ('{"role": "admin"}', '{"role": "sysadmin"}')
        verdict = chain.verify(db)  # the migration's frozen sealing is the app's
        assert verdict.ok and verdict.count == 4, verdict.problem
    finally:
        _closed(db)
