"""The office's own working-day calendar (节假日安排): a year entered from the State Council's notice."""

from datetime import datetime

from peewee import CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from inspect_app.migrations import base_model, table


def up(db):
    Base = base_model(db)
    User = table(Base, "user")

    class HolidayYear(Base):
        year = IntegerField(unique=True)
        notice_text = TextField(default="")
        revision = CharField(max_length=32)
        saved_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
        saved_at = DateTimeField(default=datetime.now)

    class HolidayDate(Base):
        year = ForeignKeyField(HolidayYear, on_delete="CASCADE", backref="+")
        day = DateField(unique=True)
        kind = CharField(max_length=8)
        name = CharField(max_length=40)

    db.create_tables([HolidayYear, HolidayDate])
