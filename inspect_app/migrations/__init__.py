"""Versioned schema migrations.

Each `mNNNN_<name>.py` module has `up(db)`. Migrations freeze the tables they create inside
their own module, so a later change to models.py never rewrites history. A database records
what it has in `schema_migration`, by number and module name; `migrate()` applies the rest, each
in its own transaction, after checking that what the database recorded is what this code has
under the same numbers (a renumbered or renamed migration would otherwise be skipped or applied
twice).
"""

import importlib
import pkgutil
import re
from contextlib import contextmanager
from dataclasses import dataclass

from peewee import CharField, DateTimeField, IntegerField, Model, SqliteDatabase

from inspect_app import clock

_NAME = re.compile(r"^m(\d{4})_\w+$")


def base_model(db):
    """A model base bound to `db`, for the frozen tables a migration declares."""

    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    return Base


def table(base, name):
    """A stand-in for an existing table, only as a foreign-key target."""
    return type(name, (base,), {"Meta": type("Meta", (), {"table_name": name})})


def available():
    """[(version, module name)] in order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _NAME.match(info.name)
        if match:
            found.append((int(match.group(1)), info.name))
    return sorted(found)


def _ledger(db):
    class SchemaMigration(Model):
        version = IntegerField(primary_key=True)
        name = CharField(max_length=100)
        applied_at = DateTimeField()

        class Meta:
            database = db
            table_name = "schema_migration"

    return SchemaMigration


def current_version(db):
    ledger = _ledger(db)
    if not ledger.table_exists():
        return 0
    return ledger.select().order_by(ledger.version.desc()).scalar() or 0


def head_version():
    return available()[-1][0]


class SchemaMismatch(Exception):
    """The database's ledger does not fit this code's migrations; nothing may be applied."""

    def __init__(self, problems):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class SchemaState:
    recorded: dict  # version -> module name, as the database recorded them
    pending: list  # [(version, name)] this code would apply
    problems: list  # Chinese sentences; non-empty: refuse to migrate or serve

    @property
    def current(self):
        return not self.pending and not self.problems


def recorded(db):
    """{version: name} from the database's ledger (empty for a new database)."""
    ledger = _ledger(db)
    if not ledger.table_exists():
        return {}
    return dict(ledger.select(ledger.version, ledger.name).tuples())


def compare(recorded_migrations, code_migrations=None):
    """Problems between a ledger and the code's migrations, and what is pending."""
    code = dict(available() if code_migrations is None else code_migrations)
    problems = []
    for version, name in sorted(recorded_migrations.items()):
        if version not in code:
            problems.append(
                f"数据库已执行迁移 {version:04d}（{name}），本程序中没有这个迁移："
                "数据库由更新版本的程序升级过，请使用那个版本或更新的程序，不要降级"
            )
        elif code[version] != name:
            problems.append(
                f"数据库记录的迁移 {version:04d} 是 {name}，而本程序的 {version:04d} 是 "
                f"{code[version]}：迁移被重新编号或改名，拒绝升级；请使用与该数据库相符的程序版本"
            )
    newest = max(recorded_migrations, default=0)
    pending = [(v, n) for v, n in sorted(code.items()) if v not in recorded_migrations]
    for version, name in pending:
        if version < newest:
            problems.append(
                f"数据库没有执行迁移 {version:04d}（{name}），却已执行了更新的 {newest:04d}："
                "迁移顺序被打乱，拒绝升级"
            )
    return SchemaState(dict(recorded_migrations), pending, problems)


def state(db):
    return compare(recorded(db))


def migrate(db, target=None):
    """Apply pending migrations up to `target` (default: all). Returns the versions applied.

    Raises SchemaMismatch, before changing anything, when the ledger does not fit the code."""
    ledger = _ledger(db)
    ledger.create_table(safe=True)
    found = state(db)
    if found.problems:
        raise SchemaMismatch(found.problems)
    done = set(found.recorded)
    applied = []
    for version, name in available():
        if version in done or (target is not None and version > target):
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        with _foreign_keys_deferred_on_sqlite(db), db.atomic():
            module.up(db)
            _check_foreign_keys(db, name)
            ledger.create(version=version, name=name, applied_at=clock.now())
        applied.append(version)
    return applied


def _is_sqlite(db):
    return isinstance(getattr(db, "obj", db), SqliteDatabase)


@contextmanager
def _foreign_keys_deferred_on_sqlite(db):
    """SQLite changes a column by copying the table and dropping the old one. With foreign keys
    enforced, that drop deletes the rows first: referencing rows then fail or are silently set to
    NULL (on_delete SET NULL). SQLite's own procedure turns enforcement off around the change
    (outside the transaction) and checks every reference before committing."""
    if not _is_sqlite(db):
        yield
        return
    enforced = db.execute_sql("PRAGMA foreign_keys").fetchone()[0]
    db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")


def _check_foreign_keys(db, name):
    if not _is_sqlite(db):
        return
    broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        table, rowid, parent, _ = broken[0]
        raise RuntimeError(
            f"迁移 {name} 之后有 {len(broken)} 处外键引用失效（例如 {table} 第 {rowid} 行引用的 "
            f"{parent}），已回滚"
        )
