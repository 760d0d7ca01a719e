"""Rectification tasks (整改任务): findings, units, deadlines, an append-only trail, files, extensions."""

from datetime import datetime

from peewee import (
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from inspect_app.migrations import base_model, table


def up(db):
    Base = base_model(db)

    User, Unit, Round, Finding = (table(Base, n) for n in ("user", "unit", "round", "finding"))

    class Task(Base):
        round = ForeignKeyField(Round, on_delete="RESTRICT")
        lead_unit = ForeignKeyField(Unit, on_delete="RESTRICT")
        title = CharField(max_length=200)
        measures = TextField()
        responsible_person = CharField(max_length=32)
        deadline = DateField()
        severity = CharField(max_length=8)
        status = CharField(max_length=16, default="assigned", index=True)
        sent_back_count = IntegerField(default=0)
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        created_at = DateTimeField(default=datetime.now)
        closed_at = DateTimeField(null=True)

    class TaskCoUnit(Base):
        task = ForeignKeyField(Task, on_delete="CASCADE")
        unit = ForeignKeyField(Unit, on_delete="RESTRICT", backref="+")

        class Meta:
            indexes = ((("task", "unit"), True),)

    class TaskFinding(Base):
        task = ForeignKeyField(Task, on_delete="CASCADE")
        finding = ForeignKeyField(Finding, unique=True, on_delete="RESTRICT", backref="+")

    class TaskEvent(Base):
        task = ForeignKeyField(Task, on_delete="CASCADE")
        at = DateTimeField(default=datetime.now)
        actor = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        action = CharField(max_length=24)
        from_status = CharField(max_length=16)
        to_status = CharField(max_length=16)
        text = TextField(default="")
        detail = TextField(null=True)

    class TaskFile(Base):
        task = ForeignKeyField(Task, on_delete="CASCADE")
        event = ForeignKeyField(TaskEvent, on_delete="CASCADE")
        file_name = CharField(max_length=100)
        original_name = CharField(max_length=200)
        kind = CharField(max_length=8)
        size = IntegerField()
        sha256 = CharField(max_length=64)

    class ExtensionRequest(Base):
        task = ForeignKeyField(Task, on_delete="CASCADE")
        requested_deadline = DateField()
        reason = TextField()
        status = CharField(max_length=12, default="pending")
        requested_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        requested_at = DateTimeField(default=datetime.now)
        decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        decided_at = DateTimeField(null=True)
        decision_note = TextField(default="")

    db.create_tables([Task, TaskCoUnit, TaskFinding, TaskEvent, TaskFile, ExtensionRequest])
