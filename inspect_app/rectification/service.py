"""Rectification tasks: created from published findings, moved only along the state machine.

Every change goes into TaskEvent (the trail); the task row is the trail's latest state, and
`replay(task)` rebuilds status and deadline from the trail alone.
"""

from dataclasses import dataclass
from datetime import date

from peewee import JOIN

from inspect_app import audit, clock
from inspect_app.db import database
from inspect_app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from inspect_app.holidays import workdays
from inspect_app.ids import parse_id, parse_ids
from inspect_app.models import (
    ExtensionRequest,
    Finding,
    Inspection,
    Round,
    Task,
    TaskCoUnit,
    TaskEvent,
    TaskFinding,
    Unit,
    now,
)
from inspect_app.rectification import notifications
from inspect_app.vocab import SEVERITIES, UNIT_ROLES

STATUS_LABELS = {
    "assigned": "已交办",
    "acknowledged": "已签收",
    "in_progress": "整改中",
    "unit_review": "单位审核",
    "pending": "待核验",
    "sent_back": "已退回",
    "closed": "已销号",
    "suspended": "已中止",
}
OPEN = frozenset(STATUS_LABELS) - {"closed", "suspended"}
# Trail events that are not transitions, as the audit trail names them.
EVENT_LABELS = {
    "create": "交办",
    "relapse": "回访发现问题反弹，重新整改",
    "revisit_ok": "回访确认已整改",
    "extension_request": "申请延期",
    "extension_granted": "同意延期",
    "extension_refused": "不同意延期",
}
SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Transition:
    label: str
    sources: frozenset
    target: str | None  # None: the status stays (progress reports on an in-progress task)
    who: str  # "unit" (lead unit's 联络员/负责人), "unit_head", "supervisor"
    needs_text: bool = False


TRANSITIONS = {
    "acknowledge": Transition("签收", frozenset({"assigned"}), "acknowledged", "unit"),
    "report": Transition(
        "报告整改进展",
        frozenset({"acknowledged", "in_progress", "sent_back"}),
        "in_progress",
        "unit",
        True,
    ),
    "submit": Transition("提交单位审核", frozenset({"in_progress"}), "unit_review", "unit"),
    "unit_approve": Transition(
        "单位负责人审核通过", frozenset({"unit_review"}), "pending", "unit_head"
    ),
    "unit_return": Transition(
        "单位负责人退回", frozenset({"unit_review"}), "in_progress", "unit_head", True
    ),
    "close": Transition("核验销号", frozenset({"pending"}), "closed", SUPERVISOR),
    "send_back": Transition("退回重新整改", frozenset({"pending"}), "sent_back", SUPERVISOR, True),
    "suspend": Transition("中止", OPEN, "suspended", SUPERVISOR, True),
    "resume": Transition("恢复整改", frozenset({"suspended"}), "in_progress", SUPERVISOR, True),
}


def may_act(user, task, who):
    if who == SUPERVISOR:
        return user.role == "supervisor"
    if user.role not in UNIT_ROLES or user.unit_id != task.lead_unit_id:
        return False
    return who == "unit" or user.role == "unit_head"


def available_actions(user, task):
    return [
        name
        for name, t in TRANSITIONS.items()
        if task.status in t.sources and may_act(user, task, t.who)
    ]


def _record(task, *, by, action, from_status, to_status, text="", detail=None):
    from inspect_app.scores.service import sync_task

    event = TaskEvent.create(
        task=task,
        actor=by,
        action=action,
        from_status=from_status,
        to_status=to_status,
        text=text,
        detail=detail,
    )
    label = TRANSITIONS[action].label if action in TRANSITIONS else EVENT_LABELS.get(action, action)
    status_change = {}
    if from_status != to_status:
        status_change = {"before": {"status": from_status}, "after": {"status": to_status}}
    audit.record(
        by,
        f"task.{action}",
        task,
        f"整改任务 #{task.id}：{label}" + (f"：{text}" if text else ""),
        detail,
        **status_change,
    )
    sync_task(task.id)  # process deductions and bonuses follow the trail as it grows
    return event


def act(task, action, *, by, text=""):
    """Apply one transition. Illegal moves are refused with 409, wrong people with 403."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise NotFound("没有这个操作")
    if not may_act(by, task, transition.who):
        raise Forbidden(f"您不能对该任务执行“{transition.label}”")
    if task.status not in transition.sources:
        raise Conflict(f"任务当前为“{STATUS_LABELS[task.status]}”，不能{transition.label}")
    text = (text or "").strip()
    if transition.needs_text and not text:
        raise ValidationFailed(f"{transition.label}须填写说明", fields={"text": "请填写说明"})
    if len(text) > 4000:
        raise ValidationFailed("说明不能超过 4000 字", fields={"text": "说明不能超过 4000 字"})
    if action == "submit" and not task.events.where(TaskEvent.action == "report").exists():
        raise ValidationFailed("请先报告整改进展和佐证材料，再提交审核")
    with database.atomic():
        fields = {Task.status: transition.target}
        if action == "send_back":
            fields[Task.sent_back_count] = Task.sent_back_count + 1
        if action == "close":
            fields[Task.closed_at] = now()
        changed = (
            Task.update(fields).where(Task.id == task.id, Task.status == task.status).execute()
        )
        if not changed:
            raise Conflict("任务状态刚被他人改变，请刷新后重试")
        event = _record(
            task,
            by=by,
            action=action,
            from_status=task.status,
            to_status=transition.target,
            text=text,
        )
        _notify(task, action, text)
    return Task.get_by_id(task.id), event


def _notify(task, action, text):
    if action == "send_back":
        notifications.to_unit(task, "sent_back", f"整改任务“{task.title}”被督查办退回：{text}")
    elif action == "close":
        notifications.to_unit(task, "closed", f"整改任务“{task.title}”已核验销号")
    elif action == "unit_approve":
        notifications.to_supervisors(
            task, "to_verify", f"{task.lead_unit.name}提交了整改任务“{task.title}”，待核验"
        )


def report_progress(task, text, uploads, *, by, upload_folder):
    """A progress report (整改措施、进展) with evidence; files are checked before anything is kept."""
    from inspect_app.rectification import files

    checked = files.check_uploads(uploads)
    with database.atomic():
        task, event = act(task, "report", by=by, text=text)
        stored = files.store(task, event, checked, upload_folder)
        if stored:
            event.detail = {"files": [f.original_name for f in stored]}
            event.save(only=[TaskEvent.detail])
    return task, event


def default_deadline(findings, start=None):
    """The earliest deadline the findings' checklists suggest, counted in working days."""
    start = start or clock.today()
    return workdays.add_working_days(start, min(f.deadline_days for f in findings))


@dataclass(frozen=True)
class DeadlineHint:
    """What the 交办 form says about the deadline before it is submitted."""

    deadline: date | None = None
    working_days: int | None = None  # from today to the deadline
    suggested: bool = False  # computed from the findings, not typed
    gap: workdays.CalendarGap | None = None
    problem: str = ""


def deadline_hint(round_, data, today=None):
    """The deadline the form would assign: the typed date, else the findings' suggestion."""
    today = today or clock.today()
    raw = (data.get("deadline") or "").strip()
    if raw:
        try:
            deadline = date.fromisoformat(raw)
        except ValueError:
            return DeadlineHint(problem="请填写有效的整改时限（如 2026-12-20）")
        if deadline < today:
            return DeadlineHint(deadline=deadline, problem="整改时限不能早于今天")
        days = workdays.days_or_gap(today, deadline)
        if isinstance(days, workdays.CalendarGap):
            return DeadlineHint(deadline=deadline, gap=days)
        return DeadlineHint(deadline=deadline, working_days=days)
    ids = set(parse_ids(data.getlist("finding_ids")))
    findings = [f for f in assignable_findings(round_) if f.id in ids]
    if not findings:
        return DeadlineHint()
    count = min(f.deadline_days for f in findings)
    try:
        deadline = default_deadline(findings, today)
    except workdays.CalendarUnknown as unknown:
        return DeadlineHint(working_days=count, suggested=True, gap=unknown.gap)
    return DeadlineHint(deadline=deadline, working_days=count, suggested=True)


def assignable_findings(round_):
    """Confirmed findings of a published round that no task covers yet."""
    if round_.published_at is None:
        return []
    return list(
        Finding.select(Finding, Inspection, Unit)
        .join(Inspection)
        .join(Unit)
        .switch(Finding)
        .join(TaskFinding, JOIN.LEFT_OUTER)
        .where(
            Inspection.round == round_.id, Finding.status == "confirmed", TaskFinding.id.is_null()
        )
        .order_by(Unit.sort_order, Finding.id)
    )


def create_task(round_, data, *, by):
    """A task over findings of one published round. `data` is a form (getlist for lists)."""
    errors = {}
    ids = set(parse_ids(data.getlist("finding_ids")))
    findings = [f for f in assignable_findings(round_) if f.id in ids]
    if not ids:
        errors["finding_ids"] = "请至少选择一个问题"
    elif len(findings) != len(ids):
        errors["finding_ids"] = "所选问题须为本批次已发布、尚未交办的问题"
    lead = (
        Unit.get_or_none(Unit.id == parse_id(data.get("lead_unit_id")))
        if parse_id(data.get("lead_unit_id"))
        else None
    )
    if lead is None and findings:
        lead = findings[0].inspection.unit  # 主办 defaults to the inspected unit
    if lead is None:
        errors["lead_unit_id"] = "请选择主办单位"
    co_units = [
        u
        for u in Unit.select().where(Unit.id.in_(parse_ids(data.getlist("co_unit_ids"))))
        if lead is None or u.id != lead.id
    ]
    measures = (data.get("measures") or "").strip() or "；".join(
        dict.fromkeys(f.measure for f in findings if f.measure)
    )
    if not measures:
        errors["measures"] = "请填写整改措施要求"
    person = (data.get("responsible_person") or "").strip() or (lead.secretary if lead else "")
    if not person:
        errors["responsible_person"] = "请填写整改责任人"
    elif len(person) > 32:
        errors["responsible_person"] = "整改责任人不能超过 32 个字"
    deadline = None
    raw = (data.get("deadline") or "").strip()
    if raw:
        try:
            deadline = date.fromisoformat(raw)
        except ValueError:
            errors["deadline"] = "请填写有效的整改时限（如 2026-12-20）"
    elif findings:
        try:
            deadline = default_deadline(findings)
        except workdays.CalendarUnknown as unknown:
            errors["deadline"] = unknown.gap  # shown as the calendar's gap, with its link
    if deadline is not None and deadline < clock.today():
        errors["deadline"] = "整改时限不能早于今天"
    if errors:
        raise ValidationFailed("请修改标出的内容后再交办", fields=errors)
    title = (data.get("title") or "").strip() or findings[0].description[:60]
    with database.atomic():
        task = Task.create(
            round=round_,
            lead_unit=lead,
            title=title[:200],
            measures=measures,
            responsible_person=person,
            deadline=deadline,
            severity=max((f.severity for f in findings), key=SEVERITIES.index),
            created_by=by,
        )
        for unit in co_units:
            TaskCoUnit.create(task=task, unit=unit)
        for finding in findings:
            TaskFinding.create(task=task, finding=finding)
        _record(
            task,
            by=by,
            action="create",
            from_status="",
            to_status="assigned",
            text=f"交办 {len(findings)} 个问题",
            detail={"deadline": deadline.isoformat()},
        )
        notifications.to_unit(
            task, "new_task", f"新的整改任务“{task.title}”，整改时限 {deadline.isoformat()}，请签收"
        )
    return task


def revisit(task, data, *, by):
    """回访 after 销号: re-check the task's findings; any still present reopens it as a repeat."""
    if by.role != SUPERVISOR:
        raise Forbidden("只有督查办可以登记回访结果")
    if task.status != "closed":
        raise Conflict("只有已销号的任务才能回访")
    note = (data.get("note") or "").strip()
    if not note:
        raise ValidationFailed("请填写回访情况", fields={"note": "请填写回访情况"})
    finding_ids = {f.id for f in findings_of([task]).get(task.id, [])}
    relapsed = sorted(set(parse_ids(data.getlist("relapsed"))) & finding_ids)
    deadline = None
    if relapsed:
        try:
            deadline = date.fromisoformat((data.get("deadline") or "").strip())
        except ValueError:
            raise ValidationFailed(
                "问题反弹须重新确定整改时限", fields={"deadline": "请填写新的整改时限"}
            ) from None
        if deadline < clock.today():
            raise ValidationFailed(
                "新的整改时限不能早于今天", fields={"deadline": "新的整改时限不能早于今天"}
            )
    with database.atomic():
        if relapsed:
            changed = (
                Task.update(status="in_progress", is_repeat=True, closed_at=None, deadline=deadline)
                .where(Task.id == task.id, Task.status == "closed")
                .execute()
            )
            if not changed:
                raise Conflict("任务状态刚被他人改变，请刷新后重试")
            _record(
                task,
                by=by,
                action="relapse",
                from_status="closed",
                to_status="in_progress",
                text=note,
                detail={"relapsed_findings": relapsed, "deadline": deadline.isoformat()},
            )
            notifications.to_unit(
                task, "relapse", f"整改任务“{task.title}”回访发现问题反弹，已重新交办：{note}"
            )
        else:
            _record(
                task,
                by=by,
                action="revisit_ok",
                from_status="closed",
                to_status="closed",
                text=note,
            )
    return Task.get_by_id(task.id)


def request_extension(task, data, *, by):
    if not may_act(by, task, "unit"):
        raise Forbidden("只有主办单位可以申请延期")
    if task.status not in OPEN:
        raise Conflict(f"任务当前为“{STATUS_LABELS[task.status]}”，不能申请延期")
    if clock.today() > task.deadline:
        raise Conflict("已超过整改时限，不能再申请延期（延期须在到期前申请）")
    if task.extensions.where(ExtensionRequest.status == "pending").exists():
        raise Conflict("已有一项延期申请在审批中")
    errors = {}
    try:
        wanted = date.fromisoformat((data.get("requested_deadline") or "").strip())
        if wanted <= task.deadline:
            errors["requested_deadline"] = "申请的新时限须晚于现有时限"
    except ValueError:
        wanted = None
        errors["requested_deadline"] = "请填写有效的日期"
    reason = (data.get("reason") or "").strip()
    if not reason:
        errors["reason"] = "请说明延期理由和目前进展"
    if errors:
        raise ValidationFailed("请修改标出的内容", fields=errors)
    with database.atomic():
        request = ExtensionRequest.create(
            task=task, requested_deadline=wanted, reason=reason, requested_by=by
        )
        _record(
            task,
            by=by,
            action="extension_request",
            from_status=task.status,
            to_status=task.status,
            text=reason,
            detail={"requested_deadline": wanted.isoformat()},
        )
    return request


def decide_extension(request, *, by, grant, note=""):
    task = request.task
    if by.role != SUPERVISOR:
        raise Forbidden("只有督查办可以审批延期")
    if request.status != "pending":
        raise Conflict("该延期申请已处理")
    if grant and task.status not in OPEN:
        raise Conflict(f"任务已{STATUS_LABELS[task.status]}，不能再同意延期")
    note = (note or "").strip()
    if not grant and not note:
        raise ValidationFailed("不同意延期须说明理由", fields={"note": "请说明理由"})
    with database.atomic():
        request.status = "granted" if grant else "refused"
        request.decided_by, request.decided_at, request.decision_note = by, now(), note
        request.save()
        detail = None
        if grant:
            Task.update(deadline=request.requested_deadline).where(Task.id == task.id).execute()
            detail = {"deadline": request.requested_deadline.isoformat()}
        _record(
            task,
            by=by,
            action="extension_granted" if grant else "extension_refused",
            from_status=task.status,
            to_status=task.status,
            text=note,
            detail=detail,
        )
        verdict = (
            f"同意延期至 {request.requested_deadline.isoformat()}"
            if grant
            else f"不同意延期：{note}"
        )
        notifications.to_unit(task, "extension", f"整改任务“{task.title}”的延期申请：{verdict}")
    return Task.get_by_id(task.id)


def replay(task):
    """(status, deadline) as the trail tells it; it must equal the task row."""
    status, deadline = None, None
    for event in task.events.order_by(TaskEvent.id):
        if event.from_status != (status or ""):
            raise AssertionError(
                f"trail breaks at event {event.id}: {event.from_status} after {status}"
            )
        status = event.to_status
        if event.detail and "deadline" in event.detail:
            deadline = date.fromisoformat(event.detail["deadline"])
    return status, deadline


# -- reading ----------------------------------------------------------------------------------

YELLOW_DAYS = 3


def light(task, today=None):
    """红黄绿灯: red overdue; yellow within 3 working days or sent back twice; green on track;
    grey when the calendar lacks a year between today and the deadline (see days_left)."""
    if task.status in ("closed", "suspended"):
        return None
    today = today or clock.today()
    if today > task.deadline:
        return "red"
    if task.sent_back_count >= 2:
        return "yellow"
    left = workdays.days_or_gap(today, task.deadline)
    if isinstance(left, workdays.CalendarGap):
        return "grey"
    return "yellow" if left <= YELLOW_DAYS else "green"


def days_left(task, today=None):
    """Working days left (negative: overdue), or the CalendarGap where the calendar lacks a year."""
    return workdays.days_or_gap(today or clock.today(), task.deadline)


def visible_tasks(user):
    query = (
        Task.select(Task, Unit, Round)
        .join(Unit, on=(Task.lead_unit == Unit.id))
        .switch(Task)
        .join(Round)
    )
    if user.role in UNIT_ROLES:
        co = TaskCoUnit.select(TaskCoUnit.task).where(TaskCoUnit.unit == user.unit_id)
        query = query.where((Task.lead_unit == user.unit_id) | (Task.id.in_(co)))
    return query


def filtered(user, args):
    """Tasks this user may see, narrowed by the list filters (round, period, unit, status,
    severity, overdue)."""
    query = visible_tasks(user)
    if parse_id(args.get("round")):
        query = query.where(Task.round == parse_id(args["round"]))
    if args.get("period"):
        from inspect_app.scores.periods import parse

        period = parse(args["period"])  # the period's rounds: those ending in it
        query = query.where(Round.ends_on.between(period.start, period.end))
    if parse_id(args.get("unit")):
        query = query.where(Task.lead_unit == parse_id(args["unit"]))
    if args.get("status") in STATUS_LABELS:
        query = query.where(Task.status == args["status"])
    if args.get("severity") in SEVERITIES:
        query = query.where(Task.severity == args["severity"])
    if args.get("overdue") == "1":
        query = query.where(Task.deadline < clock.today(), Task.status.in_(list(OPEN)))
    return list(query.order_by(Task.deadline, Task.id))


def findings_of(tasks):
    """{task id: [findings]} in one query."""
    grouped = {}
    links = (
        TaskFinding.select(TaskFinding, Finding)
        .join(Finding)
        .where(TaskFinding.task.in_([t.id for t in tasks]))
    )
    for link in links:
        grouped.setdefault(link.task_id, []).append(link.finding)
    return grouped


def get_task(task_id):
    task = Task.get_or_none(Task.id == task_id)
    if task is None:
        raise NotFound("该整改任务不存在")
    return task


def unit_summary(tasks, today=None):
    """Per lead unit: counts of red / yellow / green (grey: past the calendar) and closed."""
    summary = {}
    for task in tasks:
        row = summary.setdefault(
            task.lead_unit_id,
            {"unit": task.lead_unit, "red": 0, "yellow": 0, "green": 0, "grey": 0, "closed": 0},
        )
        colour = light(task, today)
        row[colour or "closed"] += 1
    return sorted(summary.values(), key=lambda r: (-r["red"], -r["yellow"], r["unit"].sort_order))
