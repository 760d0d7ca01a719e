"""Inspection rounds, teams, inspections with autosaved answers, photos and draft findings."""

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

    User = table(Base, "user")
    Unit = table(Base, "unit")
    ChecklistVersion = table(Base, "checklist_version")

    class Round(Base):
        name = CharField(max_length=200)
        kind = CharField(max_length=16)
        checklist_version = ForeignKeyField(ChecklistVersion, on_delete="RESTRICT")
        starts_on = DateField()
        ends_on = DateField()
        unannounced = BooleanField(default=False)
        description = TextField(default="")
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = DateTimeField(default=datetime.now)
        published_at = DateTimeField(null=True)
        published_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")

    class Team(Base):
        round = ForeignKeyField(Round, on_delete="CASCADE")
        name = CharField(max_length=64)
        leader = ForeignKeyField(User, on_delete="RESTRICT", backref="+")

    class TeamMember(Base):
        team = ForeignKeyField(Team, on_delete="CASCADE")
        user = ForeignKeyField(User, on_delete="RESTRICT", backref="+")

        class Meta:
            indexes = ((("team", "user"), True),)

    class Inspection(Base):
        round = ForeignKeyField(Round, on_delete="CASCADE")
        unit = ForeignKeyField(Unit, on_delete="RESTRICT")
        team = ForeignKeyField(Team, null=True, on_delete="SET NULL")
        status = CharField(max_length=16, default="planned", index=True)
        started_at = DateTimeField(null=True)
        submitted_at = DateTimeField(null=True)
        signed_off_at = DateTimeField(null=True)
        score = _points(null=True)
        max_score = _points(null=True)
        lock_version = IntegerField(default=0)

        class Meta:
            indexes = ((("round", "unit"), True),)

    class Answer(Base):
        inspection = ForeignKeyField(Inspection, on_delete="CASCADE")
        item_code = CharField(max_length=32)
        value = TextField(null=True)
        note = TextField(default="")
        revision = IntegerField(default=0)
        failing = BooleanField(default=False)
        score = _points(null=True)
        updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        updated_at = DateTimeField(default=datetime.now)

        class Meta:
            indexes = ((("inspection", "item_code"), True),)

    class SaveReceipt(Base):
        client_id = CharField(max_length=64, unique=True)
        answer = ForeignKeyField(Answer, on_delete="CASCADE", backref="+")
        revision = IntegerField()
        created_at = DateTimeField(default=datetime.now)

    class Photo(Base):
        inspection = ForeignKeyField(Inspection, on_delete="CASCADE")
        item_code = CharField(max_length=32, null=True)
        client_id = CharField(max_length=64, unique=True)
        file_name = CharField(max_length=100)
        width = IntegerField()
        height = IntegerField()
        size = IntegerField()
        sha256 = CharField(max_length=64)
        uploaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        uploaded_at = DateTimeField(default=datetime.now)
        removed_at = DateTimeField(null=True)

    class Finding(Base):
        inspection = ForeignKeyField(Inspection, on_delete="CASCADE")
        item_code = CharField(max_length=32, null=True)
        description = TextField()
        severity = CharField(max_length=8)
        deadline_days = IntegerField()
        measure = TextField(default="")
        status = CharField(max_length=12, default="draft")
        dismiss_reason = TextField(default="")
        merged_into = ForeignKeyField("self", null=True, on_delete="SET NULL")
        edited = BooleanField(default=False)
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        created_at = DateTimeField(default=datetime.now)

    class FindingPhoto(Base):
        finding = ForeignKeyField(Finding, on_delete="CASCADE")
        photo = ForeignKeyField(Photo, on_delete="CASCADE", backref="+")

        class Meta:
            indexes = ((("finding", "photo"), True),)

    class InspectionEvent(Base):
        inspection = ForeignKeyField(Inspection, on_delete="CASCADE")
        at = DateTimeField(default=datetime.now)
        actor = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        from_status = CharField(max_length=16)
        to_status = CharField(max_length=16)
        reason = TextField(default="")

    db.create_tables(
        [
            Round,
            Team,
            TeamMember,
            Inspection,
            Answer,
            SaveReceipt,
            Photo,
            Finding,
            FindingPhoto,
            InspectionEvent,
        ]
    )
