"""Sign-in security (身份鉴别): sessions kept on the server, password history and policy settings,
two-factor sign-in (TOTP), and which factor a login attempt was for.

Existing accounts start their password history with the password they have now.
"""

from peewee import SQL, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField
from playhouse.migrate import SchemaMigrator, migrate

from inspect_app.migrations import base_model, table


def up(db):
    Base = base_model(db)
    User = table(Base, "user")

    class UserSession(Base):
        user = ForeignKeyField(User, on_delete="CASCADE", backref="+")
        token_hash = CharField(max_length=64, unique=True)
        started_at = DateTimeField()
        last_seen_at = DateTimeField()
        address = CharField(max_length=64, default="")
        user_agent = CharField(max_length=200, default="")

    class PasswordHistory(Base):
        user = ForeignKeyField(User, on_delete="CASCADE", backref="+")
        password_hash = CharField(max_length=255)
        set_at = DateTimeField()

    class Setting(Base):
        key = CharField(max_length=64, unique=True)
        value = TextField()
        updated_at = DateTimeField()
        updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")

    db.create_tables([UserSession, PasswordHistory, Setting])
    migrator = SchemaMigrator.from_database(db)
    # Nullable columns, or NOT NULL with the DEFAULT in the ADD COLUMN: no copy of the table.
    migrate(
        migrator.add_column("user", "totp_secret", CharField(max_length=255, null=True)),
        migrator.add_column("user", "totp_enabled_at", DateTimeField(null=True)),
        migrator.add_column(
            "user",
            "totp_last_step",
            IntegerField(default=0, constraints=[SQL("DEFAULT 0")]),
            allow_not_null=True,
        ),
        migrator.add_column(
            "login_attempt",
            "factor",
            CharField(max_length=8, default="password", constraints=[SQL("DEFAULT 'password'")]),
            allow_not_null=True,
        ),
    )
    db.execute_sql(
        "INSERT INTO password_history (user_id, password_hash, set_at) "
        'SELECT id, password_hash, password_changed_at FROM "user"'
    )
