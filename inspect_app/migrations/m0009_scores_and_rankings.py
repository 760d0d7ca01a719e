"""Scores kept ready for rankings: score lines (items and process events), per-unit period totals,
and 末位问责 flags awaiting a supervisor's decision."""

from datetime import datetime

from peewee import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from inspect_app.migrations import base_model, table


def _points(**kwargs):
    return DecimalField(max_digits=7, decimal_places=2, auto_round=True, **kwargs)


def up(db):
    Base = base_model(db)

    User, Unit, Checklist, Inspection, Task, TaskEvent = (
        table(Base, n) for n in ("user", "unit", "checklist", "inspection", "task", "task_event")
    )

    class ScoreLine(Base):
        unit = ForeignKeyField(Unit, on_delete="CASCADE", backref="+")
        day = DateField()
        rule = CharField(max_length=24)
        inspection = ForeignKeyField(Inspection, null=True, on_delete="CASCADE", backref="+")
        checklist = ForeignKeyField(Checklist, null=True, on_delete="CASCADE", backref="+")
        item_code = CharField(max_length=32, default="")
        item_text = TextField(default="")
        section_code = CharField(max_length=32, default="")
        section_title = CharField(max_length=200, default="")
        points = _points(default=0)
        failing = BooleanField(default=False)
        occurrence = IntegerField(default=1)
        task = ForeignKeyField(Task, null=True, on_delete="CASCADE", backref="+")
        event = ForeignKeyField(TaskEvent, null=True, on_delete="CASCADE", backref="+")

        class Meta:
            indexes = (
                (("unit", "day"), False),
                (("day", "rule"), False),
                (("unit", "checklist", "item_code"), False),
                (("rule", "event"), True),
            )

    class UnitScore(Base):
        unit = ForeignKeyField(Unit, on_delete="CASCADE", backref="+")
        period = CharField(max_length=8)
        inspections = IntegerField(default=0)
        checklist_score = _points(null=True)
        overdue = IntegerField(default=0)
        missed_report = IntegerField(default=0)
        late_report = IntegerField(default=0)
        sent_back = IntegerField(default=0)
        early_close = IntegerField(default=0)
        updated_at = DateTimeField(default=datetime.now)

        class Meta:
            indexes = ((("period", "unit"), True),)

    class AccountabilityFlag(Base):
        unit = ForeignKeyField(Unit, on_delete="CASCADE", backref="+")
        period = CharField(max_length=8)
        scope = CharField(max_length=40)
        scope_label = CharField(max_length=120)
        reason = TextField()
        total = _points()
        rank = IntegerField()
        of_count = IntegerField()
        flagged_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        flagged_at = DateTimeField(default=datetime.now)
        decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        decided_at = DateTimeField(null=True, index=True)
        rung = CharField(max_length=24, default="")
        note = TextField(default="")

        class Meta:
            indexes = ((("unit", "period", "scope"), True),)

    db.create_tables([ScoreLine, UnitScore, AccountabilityFlag])
    # The ranking's process counters and the dashboard's task figures filter tasks by round and
    # deadline; the overdue sweep looks for open tasks past their deadline.
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "task_round_id_status" ON "task" ("round_id", "status")'
    )
    db.execute_sql('CREATE INDEX IF NOT EXISTS "task_deadline" ON "task" ("deadline")')
