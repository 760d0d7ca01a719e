"""Keeping scores ready to rank: lines written when an inspection is signed off or a task's trail
grows, and each unit's period totals (UnitScore) refreshed by those same writes.

Rankings then read one row per unit instead of recomputing from answers and events.
"""

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from peewee import IntegrityError, fn

from inspect_app import clock
from inspect_app.db import database
from inspect_app.holidays import workdays
from inspect_app.holidays.service import calendar_changed
from inspect_app.inspections.service import sheet_for
from inspect_app.models import (
    Answer,
    Inspection,
    Round,
    ScoreLine,
    Task,
    TaskEvent,
    Unit,
    UnitScore,
    now,
)
from inspect_app.scores import config, periods
from inspect_app.scores.config import PROCESS_RULES

ITEM = "item"
CENT = Decimal("0.01")


def rate(score, max_score):
    """得分率 as 百分制: the score over the points that applied."""
    return Decimal(score) * 100 / Decimal(max_score)


def quantize(number):
    return Decimal(number).quantize(CENT, rounding=ROUND_HALF_UP)


# -- checklist items: at sign-off ----------------------------------------------------------------


def record_inspection(inspection):
    """Item lines for a signed-off inspection: points lost and failing items, each failure counted
    against the same item's failures at this unit in earlier rounds (屡查屡犯)."""
    round_ = Round.get_by_id(inspection.round_id)
    unit = Unit.get_by_id(inspection.unit_id)
    version = round_.checklist_version
    sheet = sheet_for(version.id, unit.type)
    sections = {spec["code"]: s for s in sheet.sections for spec in s.items}
    day = round_.ends_on
    with database.atomic():
        ScoreLine.delete().where(ScoreLine.inspection == inspection.id).execute()
        rows = []
        for answer in Answer.select().where(
            Answer.inspection == inspection.id,
            (Answer.failing == True) | Answer.score.is_null(False),
        ):
            spec = sheet.by_code.get(answer.item_code)
            if spec is None:
                continue
            lost = Decimal(0)
            if answer.score is not None and spec.get("max_points") not in (None, ""):
                lost = Decimal(spec["max_points"]) - Decimal(answer.score)
            if lost <= 0 and not answer.failing:
                continue
            section = sections[answer.item_code]
            rows.append(
                {
                    "unit": unit.id,
                    "day": day,
                    "rule": ITEM,
                    "inspection": inspection.id,
                    "checklist": version.checklist_id,
                    "item_code": answer.item_code,
                    "item_text": spec["text"],
                    "section_code": section.code,
                    "section_title": section.title,
                    "points": lost,
                    "failing": answer.failing,
                }
            )
        _count_repeats(unit.id, version.checklist_id, inspection.id, day, rows)
        if rows:
            ScoreLine.insert_many(rows).execute()
        refresh_totals(periods.all_containing(day), [unit.id])


def _count_repeats(unit_id, checklist_id, inspection_id, day, rows):
    failing = {r["item_code"]: r for r in rows if r["failing"]}
    if not failing:
        return
    earlier = (
        ScoreLine.select(ScoreLine.item_code, ScoreLine.occurrence)
        .where(
            ScoreLine.unit == unit_id,
            ScoreLine.checklist == checklist_id,
            ScoreLine.item_code.in_(list(failing)),
            ScoreLine.failing == True,
            ScoreLine.inspection != inspection_id,
            ScoreLine.day <= day,
        )
        .order_by(ScoreLine.day, ScoreLine.id)
    )
    for line in earlier:  # the latest earlier failure wins
        failing[line.item_code]["occurrence"] = line.occurrence + 1


def forget_inspection(inspection):
    """A reopened inspection no longer counts until it is signed off again."""
    round_ = Round.get_by_id(inspection.round_id)
    with database.atomic():
        ScoreLine.delete().where(ScoreLine.inspection == inspection.id).execute()
        refresh_totals(periods.all_containing(round_.ends_on), [inspection.unit_id])


# -- process rules: from a task's trail ----------------------------------------------------------


def _working_days(start, end):
    """Working days, or None where the calendar lacks a year: the rule is then not judged until
    the office enters that year (saving it re-syncs the tasks it touches, see resync_years)."""
    days = workdays.days_or_gap(start, end)
    return None if isinstance(days, workdays.CalendarGap) else days


def process_lines(events, rules, today):
    """{(rule, event id): day} the trail earns under the rules. Pure: the tests feed it trails."""
    from inspect_app.rectification.service import OPEN

    lines = {}
    status, deadline, setter, judged = "", None, None, False
    last_report = None
    for event in events:
        day = event.at.date()
        if setter is not None and not judged and status in OPEN and day > deadline:
            _late(lines, setter, deadline, events)
            judged = True
        if event.action == "send_back":
            lines[("sent_back", event.id)] = day
        elif event.action == "report":
            since = last_report or (setter.at.date() if setter else day)
            elapsed = _working_days(since, day)
            if elapsed is not None and elapsed > rules.within_days:
                lines[("late_report", event.id)] = day
            last_report = day
        elif (
            event.action == "close"
            and deadline is not None
            and day <= deadline
            and (_working_days(day, deadline) or 0) >= rules.days_before
        ):
            lines[("early_close", event.id)] = day
        status = event.to_status
        if event.detail and "deadline" in event.detail:
            deadline = date.fromisoformat(event.detail["deadline"])
            setter, judged = event, False
    if setter is not None and not judged and status in OPEN and today > deadline:
        _late(lines, setter, deadline, events)
    return lines


def _late(lines, setter, deadline, events):
    overdue_day = deadline + timedelta(days=1)
    lines[("overdue", setter.id)] = overdue_day
    reported = any(
        e.action == "report" and e.id > setter.id and e.at.date() <= deadline for e in events
    )
    if not reported:
        lines[("missed_report", setter.id)] = overdue_day


def sync_task(task_id, rules=None, today=None):
    """Rewrite a task's process lines from its trail; refresh its unit's totals if they changed."""
    rules = rules or config.current()
    today = today or clock.today()
    task = Task.get_by_id(task_id)
    events = list(TaskEvent.select().where(TaskEvent.task == task_id).order_by(TaskEvent.id))
    wanted = process_lines(events, rules, today)
    existing = {
        (line.rule, line.event_id): line.day
        for line in ScoreLine.select(ScoreLine.rule, ScoreLine.event, ScoreLine.day).where(
            ScoreLine.task == task_id, ScoreLine.rule != ITEM
        )
    }
    if existing == wanted:
        return False
    with database.atomic():
        ScoreLine.delete().where(ScoreLine.task == task_id, ScoreLine.rule != ITEM).execute()
        if wanted:
            ScoreLine.insert_many(
                [
                    {
                        "unit": task.lead_unit_id,
                        "day": day,
                        "rule": rule,
                        "task": task_id,
                        "event": ev,
                    }
                    for (rule, ev), day in wanted.items()
                ]
            ).execute()
        days = set(existing.values()) | set(wanted.values())
        touched = {p for day in days for p in periods.all_containing(day)}
        refresh_totals(sorted(touched), [task.lead_unit_id])
    return True


_swept_on = {}


def sweep(rules, today=None):
    """Open tasks that went past their deadline since their last event get their overdue lines.

    Cheap when there is nothing to do (one indexed query); views call it at most once a day per
    process, so a deadline passing quietly still costs the unit its points the next morning.
    """
    today = today or clock.today()
    key = type(database.obj)
    if _swept_on.get(key) == today:
        return 0
    from inspect_app.rectification.service import OPEN

    marked = ScoreLine.select(ScoreLine.id).where(
        ScoreLine.task == Task.id, ScoreLine.rule == "overdue", ScoreLine.day > Task.deadline
    )
    late = Task.select(Task.id).where(
        Task.status.in_(list(OPEN)), Task.deadline < today, ~fn.EXISTS(marked)
    )
    count = 0
    for task in list(late):
        try:
            count += sync_task(task.id, rules, today)
        except IntegrityError:  # another process swept the same task at the same moment
            continue
    _swept_on[key] = today
    return count


def resync_years(sender=None, *, years):
    """The calendar changed for `years`: re-judge the process rules of every task they touch."""
    touched = set()
    for year in years:
        start, end = date(year, 1, 1), date(year, 12, 31)
        touched |= {t.id for t in Task.select(Task.id).where(Task.deadline.between(start, end))}
        touched |= {
            e.task_id
            for e in TaskEvent.select(TaskEvent.task).where(
                TaskEvent.at.between(start, date(year + 1, 1, 1))
            )
        }
    for task_id in sorted(touched):
        sync_task(task_id)
    return len(touched)


calendar_changed.connect(resync_years, weak=False)


# -- totals --------------------------------------------------------------------------------------


def refresh_totals(period_list, unit_ids=None):
    """Recompute UnitScore rows of these periods (for these units, or all)."""
    for period in period_list:
        scores = {}
        query = (
            Inspection.select(Inspection.unit, Inspection.score, Inspection.max_score)
            .join(Round)
            .where(
                Inspection.status == "signed_off",
                Inspection.score.is_null(False),
                Inspection.max_score > 0,
                Round.ends_on.between(period.start, period.end),
            )
        )
        counts = (
            ScoreLine.select(ScoreLine.unit, ScoreLine.rule, fn.COUNT(ScoreLine.id).alias("n"))
            .where(ScoreLine.day.between(period.start, period.end), ScoreLine.rule != ITEM)
            .group_by(ScoreLine.unit, ScoreLine.rule)
        )
        if unit_ids is not None:
            query = query.where(Inspection.unit.in_(unit_ids))
            counts = counts.where(ScoreLine.unit.in_(unit_ids))
        for row in query.tuples():
            unit_id, score, max_score = row
            rates = scores.setdefault(unit_id, {"rates": []})["rates"]
            rates.append(rate(score, max_score))
        for unit_id, rule, n in counts.tuples():
            scores.setdefault(unit_id, {"rates": []})[rule] = n
        rows = []
        stamp = now()
        for unit_id, data in scores.items():
            rates = data.pop("rates")
            rows.append(
                {
                    "unit": unit_id,
                    "period": period.code,
                    "inspections": len(rates),
                    "checklist_score": quantize(sum(rates) / len(rates)) if rates else None,
                    "updated_at": stamp,
                    **{code: data.get(code, 0) for code in PROCESS_RULES},
                }
            )
        with database.atomic():
            delete = UnitScore.delete().where(UnitScore.period == period.code)
            if unit_ids is not None:
                delete = delete.where(UnitScore.unit.in_(unit_ids))
            delete.execute()
            for start in range(0, len(rows), 500):
                UnitScore.insert_many(rows[start : start + 500]).execute()


def rebuild(rules, today=None):
    """Everything from scratch: item lines of every signed-off inspection, every task's process
    lines, every period's totals. For upgrades, imports and the benchmark; not a request path."""
    today = today or clock.today()
    with database.atomic():
        ScoreLine.delete().execute()
        UnitScore.delete().execute()
    inspections = (
        Inspection.select(Inspection.id, Inspection.round, Inspection.unit)
        .join(Round)
        .where(Inspection.status == "signed_off")
        .order_by(Round.ends_on, Inspection.id)
    )
    _record_all(list(inspections))
    task_ids = [t.id for t in Task.select(Task.id)]
    _sync_all(task_ids, rules, today)
    days = [row[0] for row in ScoreLine.select(ScoreLine.day).distinct().tuples()] + [
        row[0] for row in Round.select(Round.ends_on).distinct().tuples()
    ]
    refresh_totals(sorted({p for day in days for p in periods.all_containing(day)}))
    _swept_on[type(database.obj)] = today


def rebuild_if_missing(rules):
    """After an upgrade: a database with signed-off inspections but no period totals (upgraded
    past m0009 without a rebuild, or a rebuild that failed) gets its scores rebuilt. Returns what
    was done, or None."""
    if UnitScore.select().exists():
        return None
    if not Inspection.select().where(Inspection.status == "signed_off").exists():
        return None
    rebuild(rules)
    return (
        f"已重建得分（升级后补齐）：{ScoreLine.select().count()} 条得分明细，"
        f"{UnitScore.select().count()} 条周期汇总"
    )


def _record_all(inspections):
    """Item lines for many inspections in few queries (rebuild); same rules as record_inspection."""
    if not inspections:
        return
    rounds = {r.id: r for r in Round.select()}
    units = {u.id: u for u in Unit.select(Unit.id, Unit.type)}
    by_id = {i.id: i for i in inspections}
    answers = {}
    ids = list(by_id)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in (
            Answer.select(Answer.inspection, Answer.item_code, Answer.failing, Answer.score)
            .where(
                Answer.inspection.in_(chunk),
                (Answer.failing == True) | Answer.score.is_null(False),
            )
            .tuples()
        ):
            answers.setdefault(row[0], []).append(row[1:])
    from inspect_app.models import ChecklistVersion

    checklist_of = dict(
        ChecklistVersion.select(ChecklistVersion.id, ChecklistVersion.checklist).tuples()
    )
    last_failure = {}  # (unit, checklist, item) -> failures so far
    pending = []
    for inspection in inspections:  # in round order, so repeats link to the earlier round
        round_ = rounds[inspection.round_id]
        unit = units[inspection.unit_id]
        sheet = sheet_for(round_.checklist_version_id, unit.type)
        checklist_id = checklist_of[round_.checklist_version_id]
        sections = {spec["code"]: s for s in sheet.sections for spec in s.items}
        for code, failing, score in answers.get(inspection.id, []):
            spec = sheet.by_code.get(code)
            if spec is None:
                continue
            lost = Decimal(0)
            if score is not None and spec.get("max_points") not in (None, ""):
                lost = Decimal(spec["max_points"]) - Decimal(score)
            if lost <= 0 and not failing:
                continue
            row = {
                "unit": unit.id,
                "day": round_.ends_on,
                "rule": ITEM,
                "inspection": inspection.id,
                "checklist": checklist_id,
                "item_code": code,
                "item_text": spec["text"],
                "section_code": sections[code].code,
                "section_title": sections[code].title,
                "points": lost,
                "failing": bool(failing),
                "occurrence": 1,
            }
            if failing:
                key = (unit.id, checklist_id, code)
                row["occurrence"] = last_failure[key] = last_failure.get(key, 0) + 1
            pending.append(row)
    with database.atomic():
        for start in range(0, len(pending), 500):
            ScoreLine.insert_many(pending[start : start + 500]).execute()


def _sync_all(task_ids, rules, today):
    events = {}
    for start in range(0, len(task_ids), 900):
        chunk = task_ids[start : start + 900]
        for event in (
            TaskEvent.select(
                TaskEvent.id,
                TaskEvent.task,
                TaskEvent.at,
                TaskEvent.action,
                TaskEvent.to_status,
                TaskEvent.detail,
            )
            .where(TaskEvent.task.in_(chunk))
            .order_by(TaskEvent.id)
        ):
            events.setdefault(event.task_id, []).append(event)
    units = dict(Task.select(Task.id, Task.lead_unit).tuples())
    rows = []
    for task_id in task_ids:
        for (rule, event_id), day in process_lines(events.get(task_id, []), rules, today).items():
            rows.append(
                {
                    "unit": units[task_id],
                    "day": day,
                    "rule": rule,
                    "task": task_id,
                    "event": event_id,
                }
            )
    with database.atomic():
        for start in range(0, len(rows), 500):
            ScoreLine.insert_many(rows[start : start + 500]).execute()
