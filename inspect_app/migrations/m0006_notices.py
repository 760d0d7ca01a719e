"""In-app notices per user."""

from datetime import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from inspect_app.migrations import base_model, table


def up(db):
    Base = base_model(db)

    User = table(Base, "user")
    Task = table(Base, "task")

    class Notice(Base):
        user = ForeignKeyField(User, on_delete="CASCADE")
        task = ForeignKeyField(Task, null=True, on_delete="CASCADE", backref="+")
        kind = CharField(max_length=24)
        text = TextField()
        created_at = DateTimeField(default=datetime.now, index=True)
        read_at = DateTimeField(null=True)

    db.create_tables([Notice])
