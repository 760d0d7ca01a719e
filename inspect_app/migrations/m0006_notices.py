"""In-app notices per user."""

from datetime import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, Model, TextField


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

    class Notice(Base):
        user = ForeignKeyField(User, on_delete="CASCADE")
        task = ForeignKeyField(Task, null=True, on_delete="CASCADE", backref="+")
        kind = CharField(max_length=24)
        text = TextField()
        created_at = DateTimeField(default=datetime.now, index=True)
        read_at = DateTimeField(null=True)

    db.create_tables([Notice])
