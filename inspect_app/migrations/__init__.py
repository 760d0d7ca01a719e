"""Versioned schema migrations.

Each `mNNNN_<name>.py` module has `up(db)`. Migrations freeze the tables they create inside
their own module, so a later change to models.py never rewrites history. A database records
what it has in `schema_migration`; `migrate()` applies the rest, each in its own transaction.
"""

import importlib
import pkgutil
import re

from peewee import CharField, DateTimeField, IntegerField, Model

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


def migrate(db, target=None):
    """Apply pending migrations up to `target` (default: all). Returns the versions applied."""
    ledger = _ledger(db)
    ledger.create_table(safe=True)
    done = {row.version for row in ledger.select()}
    applied = []
    for version, name in available():
        if version in done or (target is not None and version > target):
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        with db.atomic():
            module.up(db)
            ledger.create(version=version, name=name, applied_at=clock.now())
        applied.append(version)
    return applied
