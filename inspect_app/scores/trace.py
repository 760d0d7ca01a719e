"""Where a unit's score in a period comes from: every point back to its item or event."""

from dataclasses import dataclass
from decimal import Decimal

from inspect_app.models import Inspection, Round, ScoreLine, Task, UnitScore
from inspect_app.scores.config import PROCESS_RULES
from inspect_app.scores.ranking import process_points
from inspect_app.scores.service import ITEM, quantize, rate


@dataclass
class InspectionPart:
    inspection: Inspection
    rate: Decimal  # 得分率 as 百分制
    lines: list  # [(ScoreLine, 百分制 points it cost in the period's checklist score)]


@dataclass
class Trace:
    unit: object
    period: object
    parts: list  # [InspectionPart]
    checklist_score: Decimal | None
    process_lines: list  # [(ScoreLine, label, signed points per occurrence)]
    process_parts: list  # [(rule, label, count, signed points applied, capped)]
    total: Decimal | None
    published: bool  # every counted round published (units see nothing before)


def trace(unit, period, rules):
    inspections = list(
        Inspection.select(Inspection, Round)
        .join(Round)
        .where(
            Inspection.unit == unit.id,
            Inspection.status == "signed_off",
            Inspection.score.is_null(False),
            Inspection.max_score > 0,
            Round.ends_on.between(period.start, period.end),
        )
        .order_by(Round.ends_on, Inspection.id)
    )
    count = len(inspections)
    by_inspection = {}
    for line in (
        ScoreLine.select()
        .where(ScoreLine.inspection.in_([i.id for i in inspections]), ScoreLine.rule == ITEM)
        .order_by(ScoreLine.section_code, ScoreLine.id)
    ):
        by_inspection.setdefault(line.inspection_id, []).append(line)
    parts = []
    for inspection in inspections:
        lines = [
            (line, -quantize(line.points * 100 / Decimal(inspection.max_score) / count))
            for line in by_inspection.get(inspection.id, [])
        ]
        parts.append(
            InspectionPart(
                inspection, quantize(rate(inspection.score, inspection.max_score)), lines
            )
        )
    weights = rules.weights(period.kind)
    process = []
    for line in (
        ScoreLine.select(ScoreLine, Task)
        .join(Task)
        .where(
            ScoreLine.unit == unit.id,
            ScoreLine.rule != ITEM,
            ScoreLine.day.between(period.start, period.end),
        )
        .order_by(ScoreLine.day, ScoreLine.id)
    ):
        label, sign = PROCESS_RULES[line.rule]
        process.append((line, label, sign * weights[line.rule].points))
    score = UnitScore.get_or_none(UnitScore.unit == unit.id, UnitScore.period == period.code)
    process_parts, extra = process_points(score, weights) if score else ([], Decimal(0))
    checklist_score = score.checklist_score if score and score.inspections else None
    return Trace(
        unit=unit,
        period=period,
        parts=parts,
        checklist_score=checklist_score,
        process_lines=process,
        process_parts=process_parts,
        total=quantize(checklist_score + extra) if checklist_score is not None else None,
        published=all(i.round.published_at is not None for i in inspections),
    )
