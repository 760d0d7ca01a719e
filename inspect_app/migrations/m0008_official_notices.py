"""Official notices (公文): templates, register, recipients, numbering, batches.

The in-app `notice` table becomes `notification`, so that "notice" means the documents the
users call 通知 (整改通知书, 催办通知 …). Its indexes (and PostgreSQL sequence) are renamed with
it, because the new tables would otherwise collide with their names.
"""

from datetime import datetime

from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    PostgresqlDatabase,
    TextField,
)
from playhouse.migrate import SchemaMigrator, migrate

from inspect_app.db import JSONField
from inspect_app.migrations import base_model, table


def _rename_notifications(db):
    postgres = isinstance(db.obj if hasattr(db, "obj") else db, PostgresqlDatabase)
    db.execute_sql("ALTER TABLE notice RENAME TO notification")
    for column in ("user_id", "task_id", "created_at"):
        db.execute_sql(f'DROP INDEX IF EXISTS "notice_{column}"')
        db.execute_sql(f'CREATE INDEX "notification_{column}" ON notification ("{column}")')
    if postgres:
        db.execute_sql("ALTER SEQUENCE notice_id_seq RENAME TO notification_id_seq")


def up(db):
    _rename_notifications(db)
    Base = base_model(db)
    User = table(Base, "user")
    Unit = table(Base, "unit")
    Round = table(Base, "round")
    EscalationDecision = table(Base, "escalation_decision")

    class NoticeTemplate(Base):
        kind = CharField(max_length=16)
        version = IntegerField()
        layout = CharField(max_length=8)
        letterhead = CharField(max_length=100)
        number_prefix = CharField(max_length=16)
        title = TextField()
        main_to = TextField()
        body = TextField()
        signature = CharField(max_length=100)
        copy_to = TextField(default="")
        printed_by = CharField(max_length=100, default="")
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        created_at = DateTimeField(default=datetime.now)

        class Meta:
            indexes = ((("kind", "version"), True),)

    class NoticeBatch(Base):
        round = ForeignKeyField(Round, null=True, on_delete="CASCADE", backref="+")
        kind = CharField(max_length=16)
        action = CharField(max_length=8)
        status = CharField(max_length=8, default="queued")
        total = IntegerField(default=0)
        done_count = IntegerField(default=0)
        error = TextField(default="")
        zip_file = CharField(max_length=100, null=True)
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        created_at = DateTimeField(default=datetime.now)
        finished_at = DateTimeField(null=True)

    class Notice(Base):
        kind = CharField(max_length=16, index=True)
        status = CharField(max_length=12, default="draft", index=True)
        title = TextField()
        main_to = TextField()
        copy_to = TextField(default="")
        round = ForeignKeyField(Round, null=True, on_delete="RESTRICT", backref="+")
        unit = ForeignKeyField(Unit, null=True, on_delete="RESTRICT", backref="+")
        escalation = ForeignKeyField(
            EscalationDecision, null=True, on_delete="RESTRICT", backref="+"
        )
        template = ForeignKeyField(NoticeTemplate, null=True, on_delete="RESTRICT", backref="+")
        context = JSONField()
        batch = ForeignKeyField(NoticeBatch, null=True, on_delete="SET NULL", backref="+")
        supersedes = ForeignKeyField("self", null=True, on_delete="RESTRICT", backref="+")
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        created_at = DateTimeField(default=datetime.now)
        approved_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        approved_at = DateTimeField(null=True)
        issued_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        issued_at = DateTimeField(null=True)
        number_year = IntegerField(null=True)
        number_seq = IntegerField(null=True)
        number = CharField(max_length=40, null=True)
        pdf_file = CharField(max_length=100, null=True)
        sha256 = CharField(max_length=64, null=True)
        pdf_size = IntegerField(null=True)
        page_count = IntegerField(null=True)
        verify_token = CharField(max_length=32, unique=True)

        class Meta:
            indexes = ((("kind", "number_year", "number_seq"), True),)

    class NoticeRecipient(Base):
        notice = ForeignKeyField(Notice, on_delete="CASCADE", backref="+")
        unit = ForeignKeyField(Unit, on_delete="RESTRICT", backref="+")
        acknowledged_at = DateTimeField(null=True)
        acknowledged_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")

        class Meta:
            indexes = ((("notice", "unit"), True),)

    class NoticeCounter(Base):
        kind = CharField(max_length=16)
        year = IntegerField()
        last = IntegerField(default=0)

        class Meta:
            indexes = ((("kind", "year"), True),)

    db.create_tables([NoticeTemplate, NoticeBatch, Notice, NoticeRecipient, NoticeCounter])
    # an in-app notification may point at the notice it is about (签收 reminders)
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column(
            "notification",
            "notice_id",
            ForeignKeyField(Notice, null=True, on_delete="CASCADE", field=Notice.id),
        ),
    )
