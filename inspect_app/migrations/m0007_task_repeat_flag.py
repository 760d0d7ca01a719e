"""Tasks remember a relapse found at a 回访 (re-visit) after 销号."""

from peewee import BooleanField
from playhouse.migrate import SchemaMigrator, migrate


def up(db):
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column("task", "is_repeat", BooleanField(default=False)))
