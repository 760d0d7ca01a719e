"""Organisation tree, users and versioned checklists."""

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

from inspect_app.migrations import base_model


def up(db):
    Base = base_model(db)

    class Unit(Base):
        parent = ForeignKeyField("self", null=True, on_delete="RESTRICT")
        code = CharField(max_length=32, unique=True)
        name = CharField(max_length=100)
        type = CharField(max_length=16)
        org_form = CharField(max_length=16, default="")
        secretary = CharField(max_length=32, default="")
        contact_name = CharField(max_length=32, default="")
        contact_phone = CharField(max_length=32, default="")
        sort_order = IntegerField(default=0)
        is_active = BooleanField(default=True)
        created_at = DateTimeField(default=datetime.now)
        updated_at = DateTimeField(default=datetime.now)

    class User(Base):
        username = CharField(max_length=64, unique=True)
        display_name = CharField(max_length=64)
        password_hash = CharField(max_length=255)
        role = CharField(max_length=24)
        unit = ForeignKeyField(Unit, null=True, on_delete="RESTRICT")
        is_active = BooleanField(default=True)
        created_at = DateTimeField(default=datetime.now)
        last_login_at = DateTimeField(null=True)

    class Checklist(Base):
        slug = CharField(max_length=60, unique=True)
        title = CharField(max_length=200)
        kind = CharField(max_length=16)
        created_at = DateTimeField(default=datetime.now)

    class ChecklistVersion(Base):
        checklist = ForeignKeyField(Checklist, on_delete="RESTRICT")
        number = IntegerField()
        label = CharField(max_length=32)
        title = CharField(max_length=200)
        content_hash = CharField(max_length=64)
        source_name = CharField(max_length=200)
        source_text = TextField()
        definition = TextField()
        total_points = DecimalField(max_digits=7, decimal_places=2, null=True)
        item_count = IntegerField()
        loaded_at = DateTimeField(default=datetime.now)
        loaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL")

        class Meta:
            indexes = ((("checklist", "number"), True),)

    class ChecklistItem(Base):
        version = ForeignKeyField(ChecklistVersion, on_delete="CASCADE")
        position = IntegerField()
        section_code = CharField(max_length=32)
        section_title = CharField(max_length=200)
        code = CharField(max_length=32)
        text = TextField()
        response = CharField(max_length=16)
        max_points = DecimalField(max_digits=7, decimal_places=2, null=True)
        applies_to = TextField()
        spec = TextField()

        class Meta:
            indexes = ((("version", "code"), True),)

    db.create_tables([Unit, User, Checklist, ChecklistVersion, ChecklistItem])
