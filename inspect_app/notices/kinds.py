"""The kinds of notice and the data each one speaks about.

A builder turns the app's records into a plain, JSON-ready `context` (strings and numbers only):
it is frozen into the notice when drafted, so the approver signs exactly what will be issued, and
the admin's templates see the same names in the preview as in a real notice.
"""

from collections import Counter
from dataclasses import dataclass

from inspect_app import clock
from inspect_app.errors import Conflict, ValidationFailed
from inspect_app.findings.service import ACTIVE
from inspect_app.holidays import workdays
from inspect_app.models import (
    ChecklistItem,
    EscalationDecision,
    Finding,
    Inspection,
    Round,
    Task,
    TaskFinding,
    Unit,
)
from inspect_app.rectification import escalation
from inspect_app.rectification.service import OPEN, STATUS_LABELS
from inspect_app.vocab import UNIT_TYPES


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    source: str  # what it is drafted from: round_unit, round, period, unit_tasks, escalation


KINDS = {
    k.code: k
    for k in (
        Kind("rectification", "整改通知书", "round_unit"),
        Kind("circular", "督查通报", "round"),
        Kind("period_circular", "考评通报", "period"),  # 月通报 / 季评比 from the rankings
        Kind("reminder", "催办通知", "unit_tasks"),
        Kind("supervision", "督办单", "unit_tasks"),
        Kind("summons", "约谈通知", "escalation"),
        Kind("criticism", "通报批评", "escalation"),
        Kind("accountability", "问责建议", "escalation"),
    )
}
# the escalation ladder's rungs (rectification.escalation) → the notice that carries them out
KIND_FOR_RUNG = {
    "remind": "reminder",
    "supervise": "supervision",
    "talk": "summons",
    "criticise": "criticism",
    "accountability": "accountability",
}
NEARLY_DUE_DAYS = 3  # working days: a 催办 covers tasks overdue or due within this


def chinese_date(day):
    """2026年1月5日 — the 成文日期 form: Arabic numerals, no leading zeros."""
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


def _unit(unit):
    return {
        "name": unit.name,
        "type": UNIT_TYPES.get(unit.type, unit.type),
        "secretary": unit.secretary,
        "contact_name": unit.contact_name,
        "contact_phone": unit.contact_phone,
    }


def _round(round_):
    return {
        "name": round_.name,
        "kind": round_.kind,
        "unannounced": round_.unannounced,
        "starts_on": chinese_date(round_.starts_on),
        "ends_on": chinese_date(round_.ends_on),
        "checklist": round_.checklist_version.title,
    }


def _points(value):
    if value is None:
        return ""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _require_published(round_):
    if round_.published_at is None:
        raise Conflict("该批次的检查结果尚未发布，发布后才能起草整改通知书或督查通报")


def _items_by_code(round_):
    return {
        item.code: item
        for item in ChecklistItem.select().where(
            ChecklistItem.version == round_.checklist_version_id
        )
    }


def _task(task, today):
    """A task as notices print it. Its working days are part of the text, so a year missing from
    the calendar refuses the draft (CalendarUnknown, linked to the calendar page)."""
    late = escalation.overdue_days(task, today)
    if isinstance(late, workdays.CalendarGap):
        raise workdays.CalendarUnknown(late.year)
    left = None
    if task.status in OPEN and not late:
        left = workdays.working_days_between(today, task.deadline)
    return {
        "title": task.title,
        "measures": task.measures,
        "responsible_person": task.responsible_person,
        "deadline": chinese_date(task.deadline),
        "status": STATUS_LABELS[task.status],
        "severity": task.severity,
        "overdue_days": late,
        "days_left": left,
        "sent_back_count": task.sent_back_count,
        "round": task.round.name,
        "repeat": task.is_repeat,
    }


def rectification_context(round_, unit, today):
    _require_published(round_)
    inspection = Inspection.get_or_none(Inspection.round == round_, Inspection.unit == unit)
    if inspection is None:
        raise ValidationFailed(f"{unit.name}不在该批次的检查范围内")
    items = _items_by_code(round_)
    findings = list(
        inspection.findings.where(Finding.status.in_(ACTIVE)).order_by(
            Finding.item_code.is_null(), Finding.item_code, Finding.id
        )
    )
    if not findings:
        raise Conflict(f"{unit.name}在该批次没有发现问题，无需下发整改通知书")
    tasks = {
        link.finding_id: link.task
        for link in TaskFinding.select(TaskFinding, Task)
        .join(Task)
        .where(TaskFinding.finding.in_([f.id for f in findings]))
    }
    rows = []
    for seq, finding in enumerate(findings, 1):
        item = items.get(finding.item_code)
        task = tasks.get(finding.id)
        rows.append(
            {
                "seq": seq,
                "section": item.section_title if item else "其他问题",
                "item": item.text if item else "",
                "description": finding.description,
                "severity": finding.severity,
                "measure": (task.measures if task else finding.measure) or "",
                "deadline": chinese_date(task.deadline)
                if task
                else f"收到通知后{finding.deadline_days}个工作日内",
                "task": task.title if task else "",
            }
        )
    sections = []
    for row in rows:
        if not sections or sections[-1]["title"] != row["section"]:
            sections.append({"title": row["section"], "findings": []})
        sections[-1]["findings"].append(row)
    deadlines = [t.deadline for t in tasks.values()]
    return {
        "round": _round(round_),
        "unit": _unit(unit),
        "findings": rows,
        "sections": sections,
        "score": _points(inspection.score),
        "max_score": _points(inspection.max_score),
        "final_deadline": chinese_date(max(deadlines)) if deadlines else "",
        "today": chinese_date(today),
    }


def circular_context(round_, today):
    _require_published(round_)
    items = _items_by_code(round_)
    inspections = list(
        Inspection.select(Inspection, Unit).join(Unit).where(Inspection.round == round_)
    )
    findings = list(
        Finding.select(Finding, Inspection, Unit)
        .join(Inspection)
        .join(Unit)
        .where(Inspection.round == round_, Finding.status.in_(ACTIVE))
        .order_by(Unit.sort_order, Unit.name, Finding.item_code.is_null(), Finding.item_code)
    )
    scored = [i for i in inspections if i.score is not None and i.max_score]
    scored.sort(key=lambda i: (-(i.score / i.max_score), i.unit.sort_order, i.unit.name))
    ranking, rank, previous = [], 0, None
    for position, inspection in enumerate(scored, 1):
        rate = round(float(inspection.score) / float(inspection.max_score) * 100, 1)
        if rate != previous:
            rank, previous = position, rate
        ranking.append(
            {
                "rank": rank,
                "unit": inspection.unit.name,
                "score": _points(inspection.score),
                "max_score": _points(inspection.max_score),
                "rate": f"{rate:.1f}%",
            }
        )
    for row in ranking:  # 并列: equal rates share the rank
        row["tied"] = sum(1 for other in ranking if other["rank"] == row["rank"]) > 1
    by_item = Counter(f.item_code for f in findings if f.item_code)
    typical = []
    for code, count in by_item.most_common(5):
        item = items.get(code)
        units = sorted({f.inspection.unit.name for f in findings if f.item_code == code})
        typical.append(
            {
                "item": item.text if item else code,
                "section": item.section_title if item else "",
                "count": count,
                "units": "、".join(units),
            }
        )
    per_unit = Counter(f.inspection.unit_id for f in findings)
    good = [i.unit.name for i in inspections if per_unit[i.unit_id] == 0]
    severity = Counter(f.severity for f in findings)
    return {
        "round": _round(round_),
        "overview": {
            "units": len(inspections),
            "findings": len(findings),
            "units_with_findings": len(per_unit),
            "serious": severity.get("严重", 0),
            "major": severity.get("较重", 0),
            "general": severity.get("一般", 0),
        },
        "ranking": ranking,
        "typical": typical,
        "good": good,
        "findings": [
            {
                "unit": f.inspection.unit.name,
                "description": f.description,
                "severity": f.severity,
                "section": items[f.item_code].section_title if f.item_code in items else "其他问题",
            }
            for f in findings
        ],
        "today": chinese_date(today),
    }


def period_circular_context(period, rules, today):
    """月通报 / 季评比: the period's rankings per unit type, movement, bottom units, problems."""
    from inspect_app.dashboard.service import circular_data

    # The rankings and problems count every signed-off inspection, published or not; a notice
    # addressed to the units must not tell them an unpublished (暗访) round's results.
    unpublished = [
        r.name
        for r in Round.select(Round.name)
        .join(Inspection, on=(Inspection.round == Round.id))
        .where(
            Round.ends_on.between(period.start, period.end),
            Round.published_at.is_null(),
            Inspection.status == "signed_off",
        )
        .distinct()
        .order_by(Round.name)
    ]
    if unpublished:
        raise Conflict(
            f"{period.label}有已审签但尚未发布结果的督查批次（{'、'.join(unpublished)}），"
            "考评通报会发给各单位，请先发布这些批次再起草"
        )
    data = circular_data(period, rules, today=today)
    if not data.ranked:
        raise Conflict(f"{period.label}没有已发布的计分考评结果，无法起草考评通报")

    def row(r):
        return {
            "rank": r.rank,
            "unit": r.unit.name,
            "total": _points(r.total),
            "stars": r.stars,
            "class": r.klass,
            "tied": bool(r.tied),
            "move": r.move,
            "previous_class": r.previous_class,
        }

    return {
        "period": {"code": period.code, "label": period.label, "kind": period.kind},
        "ranked": data.ranked,
        "rankings": [{"label": b.label, "rows": [row(r) for r in b.rows]} for b in data.rankings],
        "typical": [
            {"item": text, "section": section, "count": times, "units": units}
            for _, _, text, section, times, units in data.typical_problems[:5]
        ],
        "tasks": {
            "total": data.tasks.total,
            "closed": data.tasks.closed,
            "overdue": data.tasks.overdue,
            "rate": f"{data.tasks.rate}%" if data.tasks.rate is not None else "—",
        },
        "repeats": data.repeats,
        "movers_up": [row(r) for r in data.movers_up],
        "movers_down": [row(r) for r in data.movers_down],
        "flagged": [r.unit.name for r in data.flagged],
        "units": [r.unit.id for b in data.rankings for r in b.rows],
        "today": chinese_date(today),
    }


def unit_tasks_context(unit, today):
    tasks = list(
        Task.select()
        .where(Task.lead_unit == unit, Task.status.in_(tuple(OPEN)))
        .order_by(Task.deadline, Task.id)
    )
    due = []
    for task in tasks:
        row = _task(task, today)
        if row["overdue_days"] or (
            row["days_left"] is not None and row["days_left"] <= NEARLY_DUE_DAYS
        ):
            due.append(row)
    if not due:
        raise Conflict(f"{unit.name}没有逾期或临期（{NEARLY_DUE_DAYS}个工作日内到期）的整改任务")
    return {
        "unit": _unit(unit),
        "tasks": due,
        "overdue": [t for t in due if t["overdue_days"]],
        "nearly_due": [t for t in due if not t["overdue_days"]],
        "today": chinese_date(today),
    }


def escalation_context(decision, steps, today):
    labels = {step.code: step.label for step in steps}
    if not decision.applied:
        raise Conflict("该问责阶梯决定为“不采取”，不能据此起草通知")
    task = decision.task
    history = list(
        EscalationDecision.select()
        .where(EscalationDecision.task == task, EscalationDecision.applied == True)
        .order_by(EscalationDecision.decided_at)
    )
    return {
        "unit": _unit(task.lead_unit),
        "task": _task(task, today),
        "decision": {
            "level": labels.get(decision.level, decision.level),
            "note": decision.note,
            "decided_on": chinese_date(decision.decided_at.date()),
        },
        "history": [
            {
                "level": labels.get(d.level, d.level),
                "decided_on": chinese_date(d.decided_at.date()),
                "note": d.note,
            }
            for d in history
        ],
        "today": chinese_date(today),
    }


def decision_context(kind, decision, steps, today):
    """The data of a notice carrying out an escalation decision. A 催办/督办 speaks about all the
    unit's late tasks (this one among them), or about this task alone once the others are done."""
    context = escalation_context(decision, steps, today)
    if KINDS[kind].source != "unit_tasks":
        return context
    try:
        return unit_tasks_context(decision.task.lead_unit, today) | {
            "decision": context["decision"]
        }
    except Conflict:
        task = context["task"]
        return context | {"tasks": [task], "overdue": [task], "nearly_due": []}


def attachments(kind, context):
    """Tables printed as 附件 after the signature. Their layout is fixed; the wording is not."""
    if kind == "rectification":
        return [
            {
                "title": "问题及整改任务清单",
                "columns": ["序号", "存在问题", "整改要求", "完成时限"],
                "widths": [8, 44, 32, 16],
                "rows": [
                    [f["seq"], f["description"], f["measure"], f["deadline"]]
                    for f in context["findings"]
                ],
            }
        ]
    if kind == "circular":
        tables = []
        if context["ranking"]:  # an unscored checklist ranks nobody: no table at all
            tables.append(
                {
                    "title": "得分排名表",
                    "columns": ["名次", "单位", "得分", "得分率"],
                    "widths": [14, 50, 18, 18],
                    "rows": [
                        [
                            f"{r['rank']}（并列）" if r["tied"] else r["rank"],
                            r["unit"],
                            f"{r['score']}/{r['max_score']}",
                            r["rate"],
                        ]
                        for r in context["ranking"]
                    ],
                }
            )
        tables.append(
            {
                "title": "问题清单",
                "columns": ["序号", "单位", "问题类别", "存在问题", "程度"],
                "widths": [8, 22, 16, 44, 10],
                "rows": [
                    [n, f["unit"], f["section"], f["description"], f["severity"]]
                    for n, f in enumerate(context["findings"], 1)
                ],
                "empty": "本批次未发现问题。",
            }
        )
        return tables
    if kind == "period_circular":
        return [
            {
                "title": board["label"].removesuffix("排名") + "得分排名表",
                "columns": ["名次", "单位", "总分", "星级", "类别"],
                "widths": [13, 41, 12, 22, 12],
                "rows": [
                    [
                        f"{r['rank']}（并列）" if r["tied"] else r["rank"],
                        r["unit"],
                        r["total"],
                        "★" * r["stars"],
                        r["class"],
                    ]
                    for r in board["rows"]
                ],
            }
            for board in context["rankings"]
        ]
    if kind in ("reminder", "supervision"):
        return [
            {
                "title": "逾期及临期整改任务清单",
                "columns": ["序号", "整改任务", "完成时限", "状态"],
                "widths": [8, 52, 20, 20],
                "rows": [
                    [
                        n,
                        t["title"],
                        t["deadline"],
                        f"逾期{t['overdue_days']}个工作日"
                        if t["overdue_days"]
                        else f"{t['days_left']}个工作日后到期",
                    ]
                    for n, t in enumerate(context["tasks"], 1)
                ],
            }
        ]
    return []


def sample_context(kind, today=None):
    """Made-up data with every name a template may use, for previews when no real data fits."""
    today = today or clock.today()
    unit = {
        "name": "示范街道黄坡社区党委",
        "type": "社区",
        "secretary": "王明",
        "contact_name": "李芳",
        "contact_phone": "0731-8800123",
    }
    round_ = {
        "name": "2026年第四季度党建工作暗访督查",
        "kind": "暗访督查",
        "unannounced": True,
        "starts_on": "2026年11月2日",
        "ends_on": "2026年11月13日",
        "checklist": "基层党建暗访督查清单",
    }
    finding = {
        "seq": 1,
        "section": "组织生活",
        "item": "“三会一课”按时召开并规范记录",
        "description": "2026年第三季度党员大会记录缺失，支委会记录由一人代写。",
        "severity": "较重",
        "measure": "补齐会议记录，明确记录人，支部书记审核签字。",
        "deadline": "2026年12月18日",
        "task": "规范“三会一课”记录",
    }
    task = {
        "title": "规范“三会一课”记录",
        "measures": finding["measure"],
        "responsible_person": "王明",
        "deadline": "2026年11月20日",
        "status": "整改中",
        "severity": "较重",
        "overdue_days": 2,
        "days_left": None,
        "sent_back_count": 1,
        "round": round_["name"],
        "repeat": False,
    }
    common = {"today": chinese_date(today)}
    if kind == "rectification":
        return common | {
            "round": round_,
            "unit": unit,
            "findings": [finding],
            "sections": [{"title": finding["section"], "findings": [finding]}],
            "score": "86.5",
            "max_score": "100",
            "final_deadline": finding["deadline"],
        }
    if kind == "circular":
        return common | {
            "round": round_,
            "overview": {
                "units": 12,
                "findings": 31,
                "units_with_findings": 10,
                "serious": 2,
                "major": 9,
                "general": 20,
            },
            "ranking": [
                {
                    "rank": 1,
                    "unit": "示范街道南关社区党委",
                    "score": "96",
                    "max_score": "100",
                    "rate": "96.0%",
                    "tied": False,
                },
                {
                    "rank": 2,
                    "unit": unit["name"],
                    "score": "86.5",
                    "max_score": "100",
                    "rate": "86.5%",
                    "tied": False,
                },
            ],
            "typical": [
                {
                    "item": finding["item"],
                    "section": finding["section"],
                    "count": 6,
                    "units": unit["name"],
                }
            ],
            "good": ["示范街道南关社区党委"],
            "findings": [
                {
                    "unit": unit["name"],
                    "description": finding["description"],
                    "severity": "较重",
                    "section": finding["section"],
                }
            ],
        }
    if kind == "period_circular":
        first = {
            "rank": 1,
            "unit": "示范街道南关社区党委",
            "total": "96",
            "stars": 5,
            "class": "一类",
            "tied": False,
            "move": "up",
            "previous_class": "二类",
        }
        last = {
            "rank": 2,
            "unit": unit["name"],
            "total": "71.5",
            "stars": 2,
            "class": "三类",
            "tied": False,
            "move": "down",
            "previous_class": "二类",
        }
        return common | {
            "period": {"code": "2026-Q4", "label": "2026年第四季度", "kind": "quarter"},
            "ranked": 2,
            "rankings": [{"label": "社区", "rows": [first, last]}],
            "typical": [
                {"item": finding["item"], "section": finding["section"], "count": 6, "units": 4}
            ],
            "tasks": {"total": 20, "closed": 15, "overdue": 2, "rate": "75.0%"},
            "repeats": 3,
            "movers_up": [first],
            "movers_down": [last],
            "flagged": [unit["name"]],
            "units": [],
        }
    if kind in ("reminder", "supervision"):
        return common | {"unit": unit, "tasks": [task], "overdue": [task], "nearly_due": []}
    return common | {
        "unit": unit,
        "task": task,
        "decision": {
            "level": "约谈",
            "note": "逾期两周仍未提交整改材料",
            "decided_on": "2026年11月23日",
        },
        "history": [{"level": "催办", "decided_on": "2026年11月10日", "note": ""}],
    }
