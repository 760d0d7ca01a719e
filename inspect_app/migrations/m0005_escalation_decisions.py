"""Recorded escalation decisions (催办 → 督办 → 约谈 → 通报批评 → 问责建议) per task."""

from datetime import datetime

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def up(db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        class Meta:
            table_name = "user"

    class Task(Base):
        class Meta:
            table_name = "task"

    class EscalationDecision(Base):
        task = ForeignKeyField(Task, on_delete="CASCADE")
        level = CharField(max_length=24)
        rank = IntegerField()
        applied = BooleanField()
        note = TextField(default="")
        decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        decided_at = DateTimeField(default=datetime.now)

    db.create_tables([EscalationDecision])
