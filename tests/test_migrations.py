"""Schema upgrades keep every row."""

from datetime import datetime

from inspect_app.db import open_database
from inspect_app.migrations import available, current_version, migrate


def test_migrations_have_distinct_numbers_and_names():
    """Numbers are handed out to parallel branches (issue 12: m0013 sessions, m0014 audit, m0015
    SM3), so a branch may lack some until they are merged; a migration is known by its number
    and its name, and neither may repeat."""
    found = available()
    versions = [version for version, _ in found]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert len({name.split("_", 1)[1] for _, name in found}) == len(found)


def test_upgrade_from_first_migration_keeps_every_row(db_kind, request, tmp_path):
    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        postgres = request.getfixturevalue("postgres")
        postgres.admin(
            "DROP DATABASE IF EXISTS upgrade_test WITH (FORCE)", "CREATE DATABASE upgrade_test"
        )
        url = postgres.url("upgrade_test")
    db = open_database(url)
    db.connect()
    try:
        assert migrate(db, target=1) == [1]
        assert current_version(db) == 1
        db.execute_sql(
            "INSERT INTO unit (code, name, type, org_form, secretary, contact_name, contact_phone, sort_order, is_active, created_at, updated_at) "
            "VALUES ('QH', '中共清河区委', 'district', '党委', '', '', '', 0, %s, %s, %s)".replace(
                "%s", db.param
            ),
            (True, datetime(2026, 1, 5), datetime(2026, 1, 5)),
        )
        db.execute_sql(
            'INSERT INTO "user" (username, display_name, password_hash, role, unit_id, is_active, created_at) '
            "VALUES ('old', '老用户', 'x', 'admin', NULL, %s, %s)".replace("%s", db.param),
            (True, datetime(2026, 1, 5)),
        )
        applied = migrate(db)
        assert applied == [version for version, _ in available()][1:]
        assert db.execute_sql("SELECT code, name FROM unit").fetchall() == [("QH", "中共清河区委")]
        rows = db.execute_sql(
            'SELECT username, display_name, password_changed_at FROM "user"'
        ).fetchall()
        assert [(r[0], r[1]) for r in rows] == [("old", "老用户")]
        assert rows[0][2] is not None  # the new column is filled for existing accounts
        assert migrate(db) == []  # a second run changes nothing
    finally:
        db.close()
        if hasattr(db, "close_all"):
            db.close_all()
