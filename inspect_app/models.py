"""The schema. Changes go through a new file in migrations/, never by editing an old one."""

from datetime import datetime

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from inspect_app.db import BaseModel, JSONField


def now():
    return datetime.now().replace(microsecond=0)


def PointsField(**kwargs):  # noqa: N802 — a field factory reads like a field
    return DecimalField(max_digits=7, decimal_places=2, auto_round=True, **kwargs)


class Unit(BaseModel):
    """A 被督查单位 or a committee above it; the tree is the party organisation hierarchy."""

    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    code = CharField(max_length=32, unique=True)
    name = CharField(max_length=100)
    type = CharField(max_length=16)
    org_form = CharField(max_length=16, default="")
    secretary = CharField(max_length=32, default="")  # 党组织书记
    contact_name = CharField(max_length=32, default="")
    contact_phone = CharField(max_length=32, default="")
    sort_order = IntegerField(default=0)
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=now)
    updated_at = DateTimeField(default=now)


class User(BaseModel):
    username = CharField(max_length=64, unique=True)
    display_name = CharField(max_length=64)
    password_hash = CharField(max_length=255)
    role = CharField(max_length=24)
    unit = ForeignKeyField(Unit, null=True, backref="users", on_delete="RESTRICT")
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=now)
    last_login_at = DateTimeField(null=True)
    password_changed_at = DateTimeField(default=now)


class Checklist(BaseModel):
    slug = CharField(max_length=60, unique=True)
    title = CharField(max_length=200)
    kind = CharField(max_length=16)
    created_at = DateTimeField(default=now)


class ChecklistVersion(BaseModel):
    """One frozen edition of a checklist file; inspections point here, never at the file."""

    checklist = ForeignKeyField(Checklist, backref="versions", on_delete="RESTRICT")
    number = IntegerField()
    label = CharField(max_length=32)
    title = CharField(max_length=200)
    content_hash = CharField(max_length=64)
    source_name = CharField(max_length=200)
    source_text = TextField()
    definition = JSONField()
    total_points = PointsField(null=True)
    item_count = IntegerField()
    loaded_at = DateTimeField(default=now)
    loaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("checklist", "number"), True),)


class ChecklistItem(BaseModel):
    version = ForeignKeyField(ChecklistVersion, backref="items", on_delete="CASCADE")
    position = IntegerField()
    section_code = CharField(max_length=32)
    section_title = CharField(max_length=200)
    code = CharField(max_length=32)
    text = TextField()
    response = CharField(max_length=16)
    max_points = PointsField(null=True)
    applies_to = JSONField()  # unit type codes; empty = every type
    spec = JSONField()  # the item exactly as validated: methods, guidance, rules, finding defaults

    class Meta:
        indexes = ((("version", "code"), True),)


class LoginAttempt(BaseModel):
    username = CharField(max_length=64, index=True)
    ip = CharField(max_length=64, index=True)
    succeeded = BooleanField()
    at = DateTimeField(default=now, index=True)


class AuditEvent(BaseModel):
    """Append-only record of administrative changes (who changed what, when)."""

    at = DateTimeField(default=now, index=True)
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
    action = CharField(max_length=48)
    object_type = CharField(max_length=32)
    object_id = IntegerField(null=True)
    summary = TextField()
    detail = JSONField(null=True)


ALL_MODELS = [Unit, User, Checklist, ChecklistVersion, ChecklistItem, LoginAttempt, AuditEvent]
