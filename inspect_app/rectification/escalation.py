"""The escalation ladder for overdue or repeatedly failed tasks: rules suggest, supervisors decide.

The ladder is configuration (app config ESCALATION_LADDER, or a YAML file named by
INSPECT_ESCALATION_FILE): each step has a code, a label and when it is due — working days
overdue and/or times sent back. A task's suggestion is the highest step its facts reach above
the last step decided for it; it stays on the list until a decision is recorded, even if the
task is closed meanwhile (closing late does not erase being late).
"""

from dataclasses import dataclass

from inspect_app import audit, clock
from inspect_app.db import database
from inspect_app.errors import Conflict, Forbidden, ValidationFailed
from inspect_app.holidays import workdays
from inspect_app.models import EscalationDecision, TaskEvent

DEFAULT_LADDER = (
    {"code": "remind", "label": "催办", "overdue_days": 1, "sent_back": 2},
    {"code": "supervise", "label": "督办", "overdue_days": 5, "sent_back": 3},
    {"code": "talk", "label": "约谈", "overdue_days": 10},
    {"code": "criticise", "label": "通报批评", "overdue_days": 15},
    {"code": "accountability", "label": "问责建议", "overdue_days": 20},
)


@dataclass(frozen=True)
class Step:
    rank: int
    code: str
    label: str
    overdue_days: int | None
    sent_back: int | None


def ladder(config):
    steps = config.get("ESCALATION_LADDER") or DEFAULT_LADDER
    return [
        Step(rank, s["code"], s["label"], s.get("overdue_days"), s.get("sent_back"))
        for rank, s in enumerate(steps, start=1)
    ]


def overdue_days(task, today=None):
    """Working days past the deadline, up to today or to the day it was closed; the CalendarGap
    where the calendar lacks a year in between."""
    end = task.closed_at.date() if task.closed_at else (today or clock.today())
    if end <= task.deadline:
        return 0
    return workdays.days_or_gap(task.deadline, end)


def reached(steps, task, today=None):
    """The highest step the task's facts reach, or None. Past the calendar only the sent-back
    counts decide; the overdue steps wait for the year to be entered."""
    if task.status == "suspended":
        return None
    late = overdue_days(task, today)
    if isinstance(late, workdays.CalendarGap):
        late = None
    best = None
    for step in steps:
        if (step.overdue_days is not None and late is not None and late >= step.overdue_days) or (
            step.sent_back is not None and task.sent_back_count >= step.sent_back
        ):
            best = step
    return best


def last_decided_rank(task):
    return max((d.rank for d in task.escalations), default=0)


def suggestion(steps, task, today=None):
    """The step to decide on now, or None when nothing is pending."""
    step = reached(steps, task, today)
    if step is None or step.rank <= last_decided_rank(task):
        return None
    return step


def pending(steps, tasks, today=None):
    """[(task, step)] awaiting a decision, most severe first."""
    rows = [(task, suggestion(steps, task, today)) for task in tasks]
    rows = [(t, s) for t, s in rows if s is not None]
    return sorted(rows, key=lambda row: (-row[1].rank, row[0].deadline))


def awaiting_calendar(steps, tasks, today=None):
    """[(task, gap)]: past their deadline, but how far past needs a year the calendar lacks, and
    nothing else (sent back) puts them on the ladder yet."""
    rows = []
    for task in tasks:
        late = overdue_days(task, today)
        if isinstance(late, workdays.CalendarGap) and suggestion(steps, task, today) is None:
            rows.append((task, late))
    return rows


def decide(steps, task, code, *, by, applied, note):
    if by.role != "supervisor":
        raise Forbidden("只有督查办可以作出问责处理决定")
    step = next((s for s in steps if s.code == code), None)
    if step is None:
        raise ValidationFailed("没有这一级问责措施")
    current = suggestion(steps, task)
    if current is None or current.code != code:
        raise Conflict("该任务当前没有待决定的这一级措施，请刷新后重试")
    note = (note or "").strip()
    if not applied and not note:
        raise ValidationFailed("决定不采取该措施时须说明理由", fields={"note": "请说明理由"})
    with database.atomic():
        decision = EscalationDecision.create(
            task=task, level=step.code, rank=step.rank, applied=applied, note=note, decided_by=by
        )
        TaskEvent.create(
            task=task,
            actor=by,
            action="escalation",
            from_status=task.status,
            to_status=task.status,
            text=f"{'决定' if applied else '决定不'}采取“{step.label}”"
            + (f"：{note}" if note else ""),
            detail={"level": step.code, "applied": applied},
        )
        audit.record(
            by,
            "escalation.decide",
            decision,
            f"整改任务 #{task.id} 问责跟进：{'决定' if applied else '决定不'}采取“{step.label}”"
            + (f"：{note}" if note else ""),
            {"task": task.id, "level": step.code, "applied": applied},
        )
    return decision


def open_and_late(query):
    """Tasks that may need a decision: anything past its deadline, or sent back, not suspended."""
    today = clock.today()
    return [
        t
        for t in query
        if t.status != "suspended"
        and ((not t.closed_at and today > t.deadline) or overdue_days(t) != 0 or t.sent_back_count)
    ]
