"""三员分立 and a hash-chained audit trail (issue 12).

- Accounts with the old single role `admin` become 系统管理员 (`sysadmin`); the security
  administrator and the auditor are new accounts (see docs/security.md). Each move is recorded.
- audit_event gains who-as-typed (actor_username), the client's address, the changed values
  (value_before, value_after), a gapless sequence and the SM3 hash chain (prev_hash, row_hash).
  Existing records are chained in the order they were written.
- The database refuses any UPDATE of audit_event (a trigger). Note for later migrations: SQLite
  drops a table's triggers when playhouse copies the table to change a column; recreate it.
"""

import hashlib
import json

from peewee import SQL, BigIntegerField, CharField, TextField
from playhouse.migrate import SchemaMigrator, migrate

from inspect_app import clock

# Frozen copy of inspect_app/audit/chain.py `canonical` as of this migration (FORMAT 1).
FORMAT = "inspect-audit-1"
GENESIS = "0" * 64


def _canonical(row):
    at = row["at"]
    if isinstance(at, str):
        from datetime import datetime

        at = datetime.fromisoformat(at)
    return json.dumps(
        [
            FORMAT,
            row["seq"],
            at.isoformat(sep=" "),
            row["actor_id"],
            row["actor_username"],
            row["address"],
            row["action"],
            row["object_type"],
            row["object_id"],
            row["summary"],
            row["detail"],
            row["value_before"],
            row["value_after"],
            row["prev_hash"],
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _sm3(text):
    return hashlib.new("sm3", text.encode("utf-8")).hexdigest()


def _is_postgres(db):
    from peewee import PostgresqlDatabase

    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def _add_columns(db):
    migrator = SchemaMigrator.from_database(db)

    def text(length):
        # NOT NULL DEFAULT in the ADD COLUMN itself: no copy of the table on SQLite.
        return CharField(max_length=length, default="", constraints=[SQL("DEFAULT ''")])

    migrate(
        migrator.add_column(
            "audit_event",
            "seq",
            BigIntegerField(default=0, constraints=[SQL("DEFAULT 0")]),
            allow_not_null=True,
        ),
        migrator.add_column("audit_event", "actor_username", text(64), allow_not_null=True),
        migrator.add_column("audit_event", "address", text(64), allow_not_null=True),
        migrator.add_column("audit_event", "value_before", TextField(null=True)),
        migrator.add_column("audit_event", "value_after", TextField(null=True)),
        migrator.add_column("audit_event", "prev_hash", text(64), allow_not_null=True),
        migrator.add_column("audit_event", "row_hash", text(64), allow_not_null=True),
    )


COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_username",
    "address",
    "action",
    "object_type",
    "object_id",
    "summary",
    "detail",
    "value_before",
    "value_after",
)


def _chain_existing(db):
    """Number and seal the records written before this migration, oldest first."""
    p = db.param
    db.execute_sql(
        'UPDATE audit_event SET actor_username = (SELECT username FROM "user" '
        'WHERE "user".id = audit_event.actor_id) WHERE actor_id IS NOT NULL'
    )
    rows = db.execute_sql(f"SELECT {', '.join(COLUMNS)} FROM audit_event ORDER BY id").fetchall()
    prev = GENESIS
    for seq, values in enumerate(rows, start=1):
        row = dict(zip(COLUMNS, values, strict=True))
        row.update(seq=seq, prev_hash=prev)
        digest = _sm3(_canonical(row))
        db.execute_sql(
            f"UPDATE audit_event SET seq = {p}, prev_hash = {p}, row_hash = {p} WHERE id = {p}",
            (seq, prev, digest, row["id"]),
        )
        prev = digest
    return len(rows), prev


def _append(db, seq, prev, *, action, object_type, object_id, summary, before, after):
    """One new record at the end of the chain, sealed as audit/chain.py seals them."""
    p = db.param
    row = {
        "seq": seq,
        "at": clock.now().replace(microsecond=0).isoformat(sep=" "),
        "actor_id": None,
        "actor_username": "",
        "address": "",
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "summary": summary,
        "detail": None,
        "value_before": json.dumps(before, ensure_ascii=False, sort_keys=True),
        "value_after": json.dumps(after, ensure_ascii=False, sort_keys=True),
        "prev_hash": prev,
    }
    digest = _sm3(_canonical(row))
    columns = [*row, "row_hash"]
    db.execute_sql(
        f"INSERT INTO audit_event ({', '.join(columns)}) VALUES ({', '.join([p] * len(columns))})",
        (*row.values(), digest),
    )
    return digest


def _move_admins(db, seq, prev):
    p = db.param
    admins = db.execute_sql(
        f'SELECT id, username FROM "user" WHERE role = {p} ORDER BY id', ("admin",)
    ).fetchall()
    for user_id, username in admins:
        db.execute_sql(f'UPDATE "user" SET role = {p} WHERE id = {p}', ("sysadmin", user_id))
        seq += 1
        prev = _append(
            db,
            seq,
            prev,
            action="user.grant_role",
            object_type="user",
            object_id=user_id,
            summary=f"升级为三员分立：账号 {username} 的角色由原“系统管理员（admin）”改为系统管理员"
            "（单位、账号与设置；不含业务记录、审计记录和角色授权）",
            before={"role": "admin"},
            after={"role": "sysadmin"},
        )


def _refuse_updates(db):
    if _is_postgres(db):
        db.execute_sql(
            "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_event is append-only: records cannot be changed'; END $$"
        )
        db.execute_sql(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        db.execute_sql(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE ON audit_event BEGIN "
            "SELECT RAISE(ABORT, 'audit_event is append-only: records cannot be changed'); END"
        )


def up(db):
    _add_columns(db)
    seq, prev = _chain_existing(db)
    _move_admins(db, seq, prev)
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_index("audit_event", ("seq",), True),
        migrator.add_index("audit_event", ("action",), False),
        migrator.add_index("audit_event", ("object_type", "object_id"), False),
    )
    _refuse_updates(db)
