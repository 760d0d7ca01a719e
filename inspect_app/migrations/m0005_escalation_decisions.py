"""Recorded escalation decisions (催办 → 督办 → 约谈 → 通报批评 → 问责建议) per task."""

from datetime import datetime

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from inspect_app.migrations import base_model, table


def up(db):
    Base = base_model(db)

    User = table(Base, "user")
    Task = table(Base, "task")

    class EscalationDecision(Base):
        task = ForeignKeyField(Task, on_delete="CASCADE")
        level = CharField(max_length=24)
        rank = IntegerField()
        applied = BooleanField()
        note = TextField(default="")
        decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        decided_at = DateTimeField(default=datetime.now)

    db.create_tables([EscalationDecision])
