"""Recording administrative changes into the append-only audit trail."""

from inspect_app.models import AuditEvent


def record(actor, action, obj, summary, detail=None):
    return AuditEvent.create(
        actor=actor,
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "id", None),
        summary=summary,
        detail=detail,
    )
