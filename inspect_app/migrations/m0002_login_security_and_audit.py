"""Login throttling, an audit trail of admin changes, and sessions that end on password change."""

from datetime import datetime

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)
from playhouse.migrate import SchemaMigrator, migrate

from inspect_app.migrations import base_model, table


def up(db):
    Base = base_model(db)

    User = table(Base, "user")

    class LoginAttempt(Base):
        username = CharField(max_length=64, index=True)
        ip = CharField(max_length=64, index=True)
        succeeded = BooleanField()
        at = DateTimeField(default=datetime.now, index=True)

    class AuditEvent(Base):
        at = DateTimeField(default=datetime.now, index=True)
        actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
        action = CharField(max_length=48)
        object_type = CharField(max_length=32)
        object_id = IntegerField(null=True)
        summary = TextField()
        detail = TextField(null=True)

    db.create_tables([LoginAttempt, AuditEvent])
    migrator = SchemaMigrator.from_database(db)
    # Existing accounts count as having set their password when this migration ran.
    migrate(
        migrator.add_column(
            "user",
            "password_changed_at",
            DateTimeField(default=datetime.now().replace(microsecond=0)),
        )
    )
