"""A password someone else set (demo, a new account, an administrator's reset) must be changed by
its owner at the next sign-in.

Accounts that exist already keep working, except the demo accounts still holding the password the
README publishes: a production instance that started from the demo must not keep them.
"""

from peewee import SQL, BooleanField
from playhouse.migrate import SchemaMigrator, migrate
from werkzeug.security import check_password_hash

# Frozen here: the demo's accounts and published password as of this migration.
DEMO_USERNAMES = (
    "admin",
    "duchaban",
    "zuzhang",
    "ducha1",
    "ducha2",
    "lingdao",
    "hp-lianluo",
    "hp-fuzeren",
    "yb-lianluo",
)
DEMO_PASSWORD = "Demo2026"


def up(db):
    migrator = SchemaMigrator.from_database(db)
    # NOT NULL DEFAULT in the ADD COLUMN itself: no copy of the table on SQLite.
    flag = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    migrate(migrator.add_column("user", "must_change_password", flag, allow_not_null=True))
    placeholders = ", ".join([db.param] * len(DEMO_USERNAMES))
    rows = db.execute_sql(
        f'SELECT id, password_hash FROM "user" WHERE username IN ({placeholders})',
        DEMO_USERNAMES,
    ).fetchall()
    published = [user_id for user_id, hashed in rows if check_password_hash(hashed, DEMO_PASSWORD)]
    for user_id in published:
        db.execute_sql(
            f'UPDATE "user" SET must_change_password = {db.param} WHERE id = {db.param}',
            (True, user_id),
        )
