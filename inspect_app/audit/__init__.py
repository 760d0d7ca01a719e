"""The audit trail (安全审计): who did what, when, from where, and what changed.

Every sign-in and sign-out, failed sign-in, lockout, refused request and change to a business or
security object is one `record(...)`. Records are only ever appended, each sealed into a hash
chain (audit/chain.py); nothing in the app updates or deletes them, and only a prune of records
older than 180 days, which leaves a checkpoint, may remove any (`inspect-app audit prune`).
"""

import json
from datetime import date, datetime
from decimal import Decimal

from inspect_app.models import AuditEvent

ADDRESS_MAX = 64


def _request_address():
    """The client's address when called while serving a request (proxy-aware: see deploy)."""
    from flask import has_request_context, request

    if has_request_context():
        return request.remote_addr or ""
    return ""


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    if hasattr(value, "_meta") and hasattr(value, "id"):  # a model row: its id
        return value.id
    raise TypeError(f"cannot record {type(value).__name__} in the audit trail")


def jsonable(value):
    """`value` as the JSON the trail stores (dates as ISO text, decimals exact, rows as ids)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, ensure_ascii=False, default=_plain))


def record(
    actor,
    action,
    obj,
    summary,
    detail=None,
    *,
    before=None,
    after=None,
    address=None,
    username=None,
    object_type=None,
    object_id=None,
):
    """Append one record. `actor`: the signed-in user, or None for the server's shell, the
    background worker or someone not signed in (then `username`: the name they gave). `obj`: the
    object acted on (its type and id are kept), or `object_type`/`object_id` for something that
    is not a row. `before`/`after`: the changed fields' values. `address`: defaults to the
    client's address when there is a request."""
    if address is None:
        address = _request_address()
    if object_type is None:
        object_type = type(obj).__name__.lower() if obj is not None else ""
    if object_id is None:
        object_id = getattr(obj, "id", None)
    return AuditEvent.create(
        actor=actor,
        actor_username=(actor.username if actor is not None else (username or ""))[:64],
        address=(address or "")[:ADDRESS_MAX],
        action=action,
        object_type=object_type,
        object_id=object_id,
        summary=summary,
        detail=jsonable(detail),
        value_before=jsonable(before),
        value_after=jsonable(after),
    )


def changes(before, after):
    """{"before": …, "after": …} with only the keys whose values differ, for record(**…)."""
    before, after = jsonable(before) or {}, jsonable(after) or {}
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {
        "before": {k: before.get(k) for k in keys} or None,
        "after": {k: after.get(k) for k in keys} or None,
    }
