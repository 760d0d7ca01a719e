"""The audit trail's hash chain: an edited, deleted or inserted record is detected.

Each record stores the SM3 digest (GB/T 32905, through OpenSSL: `hashlib.new("sm3")`) of its own
canonical content, which includes the previous record's digest, and a sequence number with no
gaps. `verify` walks the chain in order and names the first record that does not fit.

Appends are serialised so that two writers never chain onto the same record: on SQLite the
write transaction already holds the database's write lock (BEGIN IMMEDIATE, see db.py); on
PostgreSQL a transaction-scoped advisory lock is taken before the head is read. The lock is held
until the surrounding transaction ends, so the record commits (or rolls back) with the change it
describes.

What a chain cannot show by itself: that its newest records were cut off, or that someone with
write access rebuilt the whole chain. `verify` prints the head (number and digest); noted
outside the server (the auditor's report, a printout), `verify --anchor N:DIGEST` later proves
the chain still holds that record unchanged. See docs/security.md.

This module knows no Flask and no models: the migration that built the first chain keeps its
own frozen copy of `canonical`, and a test checks that the two agree.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

ALGORITHM = "sm3"
FORMAT = "inspect-audit-1"
GENESIS = "0" * 64
# pg_advisory_xact_lock key: any constant no other part of the app uses ("audit" in ASCII).
LOCK_KEY = 0x6175646974
# 等保 2.0 (GB/T 22239-2019 8.1.4.3 d, and the Cybersecurity Law art. 21): logs kept ≥ 6 months.
RETENTION_DAYS = 180
PRUNE_ACTION = "audit.prune"

COLUMNS = (
    "id",
    "seq",
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
    "prev_hash",
    "row_hash",
)


def digest(text):
    return hashlib.new(ALGORITHM, text.encode("utf-8")).hexdigest()


def _at_text(value):
    if isinstance(value, str):  # SQLite hands timestamps back as text
        if len(value) == 19:  # already "YYYY-MM-DD HH:MM:SS", as isoformat writes it
            return value
        value = datetime.fromisoformat(value)
    return value.isoformat(sep=" ")


# One encoder for every record: json.dumps with arguments builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def canonical(row):
    """The text a record's digest is taken of: every stored column but its id and own digest,
    JSON columns exactly as stored."""
    return _encode(
        [
            FORMAT,
            row["seq"],
            _at_text(row["at"]),
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
        ]
    )


def row_hash(row):
    return digest(canonical(row))


def _is_postgres(db):
    from peewee import PostgresqlDatabase

    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)


def lock(db):
    """Inside a transaction: no other writer appends until it ends."""
    if _is_postgres(db):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
    # SQLite: the transaction began with BEGIN IMMEDIATE and holds the write lock already.


def head(db):
    """(seq, row_hash) of the newest record, or (0, GENESIS) for an empty trail."""
    row = db.execute_sql(
        "SELECT seq, row_hash FROM audit_event ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def seal(event, db):
    """Give an unsaved AuditEvent its place and digest; the caller holds a transaction."""
    lock(db)
    last_seq, last_hash = head(db)
    event.seq = last_seq + 1
    event.prev_hash = last_hash
    event.at = event.at.replace(microsecond=0)
    fields = type(event)._meta.fields
    row = {
        "seq": event.seq,
        "at": event.at,
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "address": event.address,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "summary": event.summary,
        "detail": fields["detail"].db_value(event.detail),
        "value_before": fields["value_before"].db_value(event.value_before),
        "value_after": fields["value_after"].db_value(event.value_after),
        "prev_hash": event.prev_hash,
    }
    event.row_hash = row_hash(row)
    return event


# -- verification ------------------------------------------------------------------------------


@dataclass
class Verdict:
    ok: bool
    count: int  # records checked
    head_seq: int
    head_hash: str
    oldest_at: datetime | None
    pruned_through: int  # records before this number were removed by a recorded prune
    problem: str = ""  # a Chinese sentence naming the first record that does not fit
    broken_seq: int | None = None
    broken_id: int | None = None

    @property
    def summary(self):
        if not self.ok:
            return self.problem
        if not self.count:
            return "审计记录为空"
        return (
            f"审计链完整：共 {self.count} 条记录，链尾为第 {self.head_seq} 条"
            f"（{ALGORITHM.upper()} {self.head_hash}）"
        )


def _anchor(db):
    """Where the kept chain starts: after the newest recorded prune, or at the beginning."""
    row = db.execute_sql(
        f"SELECT detail FROM audit_event WHERE action = {db.param} ORDER BY seq DESC LIMIT 1",
        (PRUNE_ACTION,),
    ).fetchone()
    if row is None:
        return 0, GENESIS
    try:
        detail = json.loads(row[0])
        return int(detail["through_seq"]), str(detail["through_hash"])
    except (TypeError, ValueError, KeyError):
        return 0, GENESIS  # a damaged checkpoint: its own digest will not match either


def _rows(db, batch):
    listed = ", ".join(COLUMNS)
    after = -1
    while True:
        cursor = db.execute_sql(
            f"SELECT {listed} FROM audit_event WHERE seq > {db.param} ORDER BY seq LIMIT {batch}",
            (after,),
        )
        rows = cursor.fetchall()
        if not rows:
            return
        for values in rows:
            yield dict(zip(COLUMNS, values, strict=True))
        after = rows[-1][1]


def _oldest(value):
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def verify(db, *, batch=5000):
    """Walk the whole chain; the first record that does not fit ends the walk."""
    through_seq, through_hash = _anchor(db)
    expected_seq, expected_prev = through_seq + 1, through_hash
    count, oldest = 0, None

    def broken(row, problem):
        return Verdict(
            False,
            count,
            expected_seq - 1,
            expected_prev,
            oldest,
            through_seq,
            problem,
            row["seq"] if row else expected_seq,
            row["id"] if row else None,
        )

    for row in _rows(db, batch):
        seq, ident = row["seq"], row["id"]
        if count == 0:
            oldest = _oldest(row["at"])
        if seq != expected_seq:
            if seq < expected_seq:  # before a prune's checkpoint: a record put back in
                return broken(
                    row,
                    f"第 {seq} 条记录（编号 {ident}）位于已清理的范围内（第 {through_seq} 条及以前"
                    "已按保留期清理），却仍在表中：该记录是事后插入的",
                )
            gone = f"第 {expected_seq} 条" + (
                f"至第 {seq - 1} 条" if seq - 1 > expected_seq else ""
            )
            return broken(
                row,
                f"{gone}记录缺失：已被删除（其后的第 {seq} 条记录，编号 {ident}，无法与前一条衔接）",
            )
        if row["prev_hash"] != expected_prev:
            before = f"第 {seq - 1} 条" if seq > 1 else "链首"
            return broken(
                row,
                f"第 {seq} 条记录（编号 {ident}）记载的前一条哈希与{before}的哈希不符："
                f"{before}被改动后重算了哈希，或第 {seq} 条被改动",
            )
        if row_hash(row) != row["row_hash"]:
            return broken(
                row,
                f"第 {seq} 条记录（编号 {ident}）的内容与其哈希不符：该记录写入后被修改过",
            )
        count += 1
        expected_seq, expected_prev = seq + 1, row["row_hash"]
    return Verdict(True, count, expected_seq - 1, expected_prev, oldest, through_seq)


def check_anchor(db, seq, expected_hash):
    """Whether record `seq` is still in the chain with the digest noted down earlier."""
    row = db.execute_sql(
        f"SELECT row_hash FROM audit_event WHERE seq = {db.param}", (seq,)
    ).fetchone()
    if row is None:
        through_seq, _ = _anchor(db)
        if seq <= through_seq:
            return f"第 {seq} 条记录已按保留期清理（清理检查点接续到第 {through_seq} 条），无法核对"
        return f"第 {seq} 条记录不在审计表中：记录被删除或截断"
    if row[0] != expected_hash.strip().lower():
        return f"第 {seq} 条记录的哈希与记下的不同：审计链被改写过"
    return None


# -- retention ---------------------------------------------------------------------------------


class RetentionRefused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def latest_prune_date(today):
    return today - timedelta(days=RETENTION_DAYS)


def prune(db, before, today, make_checkpoint):
    """Delete the records older than `before` (a date at least RETENTION_DAYS before `today`),
    keeping the chain verifiable: `make_checkpoint(detail)` appends the record that says where
    the kept chain starts. The newest record is never deleted, so the checkpoint chains onto it.
    Returns the number of records deleted."""
    if not isinstance(before, date) or isinstance(before, datetime):
        raise TypeError("before must be a date")
    latest = latest_prune_date(today)
    if before > latest:
        raise RetentionRefused(
            f"审计记录至少保留 {RETENTION_DAYS} 天：只能清理 {latest.isoformat()} 以前的记录"
            f"（今天是 {today.isoformat()}），{before.isoformat()} 太近"
        )
    verdict = verify(db)
    if not verdict.ok:
        raise RetentionRefused(f"审计链校验未通过，不清理任何记录：{verdict.problem}")
    with db.atomic():
        lock(db)
        cut = datetime.combine(before, time()).isoformat(sep=" ")
        first_young = db.execute_sql(
            f"SELECT MIN(seq) FROM audit_event WHERE at >= {db.param}", (cut,)
        ).fetchone()[0]
        last_seq, _ = head(db)
        through = min(first_young - 1 if first_young else last_seq, last_seq - 1)
        if through <= verdict.pruned_through:
            return 0
        through_hash = db.execute_sql(
            f"SELECT row_hash FROM audit_event WHERE seq = {db.param}", (through,)
        ).fetchone()[0]
        deleted = db.execute_sql(
            f"DELETE FROM audit_event WHERE seq <= {db.param}", (through,)
        ).rowcount
        make_checkpoint(
            {
                "through_seq": through,
                "through_hash": through_hash,
                "deleted": deleted,
                "before": before.isoformat(),
            }
        )
    return deleted
