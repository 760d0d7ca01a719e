"""Rankings (考评排序) per unit type and per parent unit, stars and classes, movement between
periods, and 末位问责 flags that stay until a supervisor decides.

Tie rule: totals equal to the cent share a rank and the next rank is skipped (1, 2, 2, 4:
"competition ranking"); within a tie units are listed in the organisation tree's order, which
decides nothing. A unit is ranked in a period when at least one of its inspections there was
signed off with a score; process deductions alone do not rank a unit.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace

from inspect_app import audit
from inspect_app.db import database
from inspect_app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from inspect_app.ids import parse_id
from inspect_app.models import AccountabilityFlag, Unit, UnitScore, now
from inspect_app.scores.config import PROCESS_RULES
from inspect_app.scores.service import quantize
from inspect_app.vocab import UNIT_TYPES

MOVES = {"up": "升级", "down": "降级", "same": "持平", "new": "新参评"}


@dataclass
class Row:
    unit: Unit
    checklist_score: Decimal
    inspections: int
    process: list  # [(rule code, label, count, points applied (signed), capped)]
    total: Decimal
    rank: int = 0
    tied: list = field(default_factory=list)  # other units sharing the rank
    stars: int = 0
    klass: str = ""
    previous_total: Decimal | None = None
    previous_rank: int | None = None
    previous_class: str = ""
    move: str = "new"
    flag_reasons: list = field(default_factory=list)

    @property
    def tie_note(self):
        if not self.tied:
            return ""
        names = "、".join(u.name for u in self.tied)
        return f"与{names}总分相同（{self.total}），并列第 {self.rank} 名"


@dataclass
class Ranking:
    period: object
    scope: str
    label: str
    rows: list

    @property
    def flagged(self):
        return [r for r in self.rows if r.flag_reasons]


def process_points(score, weights):
    """[(rule, label, count, signed points, capped)] and their sum for one UnitScore row."""
    parts, total = [], Decimal(0)
    for code, (label, sign) in PROCESS_RULES.items():
        count = getattr(score, code)
        if not count:
            continue
        weight = weights[code]
        raw = weight.points * count
        applied = min(raw, weight.cap) if weight.cap is not None else raw
        parts.append((code, label, count, sign * applied, applied < raw))
        total += sign * applied
    return parts, total


@dataclass(frozen=True)
class RankedUnit:
    """What a ranking shows of a unit (read as plain columns: 1,000 full Unit rows cost more
    than the ranking itself)."""

    id: int
    code: str
    name: str
    type: str
    sort_order: int


COUNTERS = tuple(PROCESS_RULES)


def _rows(period, scope, rules, *, units=True):
    kind, _, value = scope.partition(":")
    columns = [UnitScore.unit, UnitScore.checklist_score, UnitScore.inspections]
    columns += [getattr(UnitScore, code) for code in COUNTERS]
    if units:
        columns += [Unit.code, Unit.name, Unit.type, Unit.sort_order]
    query = (
        UnitScore.select(*columns)
        .join(Unit)
        .where(UnitScore.period == period.code, UnitScore.inspections > 0)
    )
    if kind == "type" and value in UNIT_TYPES:
        query = query.where(Unit.type == value)
    elif kind == "parent" and parse_id(value) is not None:
        query = query.where(Unit.parent == parse_id(value))
    else:
        raise NotFound(f"排名范围“{scope}”无效")
    weights = rules.weights(period.kind)
    rows = []
    width = 3 + len(COUNTERS)
    for values in query.tuples():
        counts = SimpleNamespace(**dict(zip(COUNTERS, values[3:width], strict=True)))
        parts, extra = process_points(counts, weights)
        checklist = Decimal(values[1])
        unit = (
            RankedUnit(values[0], *values[width:])
            if units
            else RankedUnit(values[0], "", "", "", 0)
        )
        rows.append(
            Row(
                unit=unit,
                checklist_score=checklist,
                inspections=values[2],
                process=parts,
                total=quantize(checklist + extra),
            )
        )
    return rows


def _rank(rows):
    """Competition ranking (1, 2, 2, 4) on the total; ties listed in tree order."""
    rows.sort(key=lambda r: (-r.total, r.unit.sort_order, r.unit.id))
    by_total = {}
    for position, row in enumerate(rows, start=1):
        first = by_total.setdefault(row.total, [])
        row.rank = first[0].rank if first else position
        first.append(row)
    for group in by_total.values():
        if len(group) > 1:
            for row in group:
                row.tied = [other.unit for other in group if other is not row]
    return rows


def scope_label(scope):
    kind, _, value = scope.partition(":")
    if kind == "type":
        return f"{UNIT_TYPES.get(value, value)}排名"
    unit = Unit.get_or_none(Unit.id == parse_id(value)) if parse_id(value) is not None else None
    if unit is None:
        raise NotFound(f"排名范围“{scope}”无效")
    return f"{unit.name}所属单位排名"


def ranking(period, scope, rules):
    rows = _rank(_rows(period, scope, rules))
    for row in rows:
        row.stars, row.klass = rules.stars_for(row.total), rules.class_for(row.total)
    _movement(rows, period, scope, rules)
    _flag_candidates(rows, rules, scope)
    return Ranking(period, scope, scope_label(scope), rows)


def _movement(rows, period, scope, rules):
    """三分类三升级: each unit's class last period (same kind) against this one."""
    try:
        before = {r.unit.id: r for r in _rank(_rows(period.previous, scope, rules, units=False))}
    except NotFound:
        before = {}
    for row in rows:
        old = before.get(row.unit.id)
        if old is None:
            row.move = "new"
            continue
        row.previous_total, row.previous_rank = old.total, old.rank
        row.previous_class = rules.class_for(old.total)
        now_rank, old_rank = rules.class_rank(row.klass), rules.class_rank(row.previous_class)
        row.move = "up" if now_rank < old_rank else "down" if now_rank > old_rank else "same"


def _flag_candidates(rows, rules, scope):
    if rules.bottom and len(rows) > rules.bottom:
        cutoff = rows[-rules.bottom].rank
        for row in rows:
            if row.rank >= cutoff:
                row.flag_reasons.append(
                    f"排名末位（第 {row.rank} 名，共 {len(rows)} 个；末位 {rules.bottom} 名问责）"
                )
    if rules.below is not None:
        for row in rows:
            if row.total < rules.below:
                row.flag_reasons.append(f"总分 {row.total} 低于 {rules.below} 分")


def scopes(period, *, parents=True):
    """[(scope, label)] with ranked units this period: unit types, then (if asked) parents."""
    types = [
        t
        for (t,) in (
            UnitScore.select(Unit.type)
            .join(Unit)
            .where(UnitScore.period == period.code, UnitScore.inspections > 0)
            .distinct()
            .tuples()
        )
    ]
    result = [(f"type:{t}", f"{UNIT_TYPES[t]}排名") for t in UNIT_TYPES if t in types]
    if not parents:
        return result
    parent_ids = {
        p
        for (p,) in (
            UnitScore.select(Unit.parent)
            .join(Unit)
            .where(UnitScore.period == period.code, UnitScore.inspections > 0)
            .distinct()
            .tuples()
        )
        if p is not None
    }
    parent_units = (
        Unit.select().where(Unit.id.in_(list(parent_ids))).order_by(Unit.sort_order)
        if parent_ids
        else []
    )
    result += [(f"parent:{u.id}", f"{u.name}所属单位排名") for u in parent_units]
    return result


def standing(unit, period, rules):
    """A unit's own rows in the rankings it belongs to — what a unit user may see."""
    result = []
    for scope in (f"type:{unit.type}", f"parent:{unit.parent_id}" if unit.parent_id else None):
        if scope is None:
            continue
        board = ranking(period, scope, rules)
        row = next((r for r in board.rows if r.unit.id == unit.id), None)
        if row is not None:
            result.append((board, row))
    return result


# -- 末位问责 ------------------------------------------------------------------------------------


def confirm(period, *, by, rules):
    """Fix the bottom of every ranking of the period as flags awaiting a decision.

    Run by the supervisor when the period's results are settled (with the 通报), not on every
    score change: a unit that passes through the bottom mid-period is not flagged. Flags already
    raised stay as they are; running it again adds only new ones.
    """
    if by.role != "supervisor":
        raise Forbidden("只有督查办可以确认排名并标记末位问责")
    created = []
    with database.atomic():
        for scope, label in scopes(period):
            board = ranking(period, scope, rules)
            for row in board.flagged:
                exists = AccountabilityFlag.select().where(
                    AccountabilityFlag.unit == row.unit.id,
                    AccountabilityFlag.period == period.code,
                    AccountabilityFlag.scope == scope,
                )
                if exists.exists():
                    continue
                created.append(
                    AccountabilityFlag.create(
                        unit=row.unit.id,
                        period=period.code,
                        scope=scope,
                        scope_label=label,
                        reason="；".join(row.flag_reasons),
                        total=row.total,
                        rank=row.rank,
                        of_count=len(board.rows),
                        flagged_by=by,
                    )
                )
        audit.record(
            by,
            "ranking.confirm",
            None,
            f"确认{period.label}排名，新增末位问责标记 {len(created)} 个",
            {"period": period.code, "flags": [f.id for f in created]},
        )
    return created


def decide(flag, *, by, rung, note, steps):
    """Record the decision on a flag: a ladder step taken, or none with the reason."""
    if by.role != "supervisor":
        raise Forbidden("只有督查办可以作出问责决定")
    if flag.decided_at is not None:
        raise Conflict("该末位问责标记已作出决定")
    note = (note or "").strip()
    codes = {s.code: s for s in steps}
    if rung not in codes and rung != "none":
        raise ValidationFailed(
            "请选择问责措施，或选择不予问责并说明理由", fields={"rung": "请选择"}
        )
    if rung == "none" and not note:
        raise ValidationFailed("不予问责须说明理由", fields={"note": "请说明理由"})
    if len(note) > 2000:
        raise ValidationFailed("说明不能超过 2000 字", fields={"note": "说明不能超过 2000 字"})
    with database.atomic():
        changed = (
            AccountabilityFlag.update(
                decided_by=by, decided_at=now(), rung="" if rung == "none" else rung, note=note
            )
            .where(AccountabilityFlag.id == flag.id, AccountabilityFlag.decided_at.is_null())
            .execute()
        )
        if not changed:
            raise Conflict("该末位问责标记刚被他人处理，请刷新后重试")
        what = "不予问责" if rung == "none" else f"采取“{codes[rung].label}”"
        audit.record(
            by,
            "accountability.decide",
            flag,
            f"{flag.unit.name}（{flag.scope_label}，{flag.period}）末位问责：{what}"
            + (f"：{note}" if note else ""),
            {"rung": rung, "note": note},
        )
    return AccountabilityFlag.get_by_id(flag.id)


def get_flag(flag_id):
    flag = AccountabilityFlag.get_or_none(AccountabilityFlag.id == flag_id)
    if flag is None:
        raise NotFound("该末位问责标记不存在")
    return flag


def pending_flags(unit=None):
    query = (
        AccountabilityFlag.select(AccountabilityFlag, Unit)
        .join(Unit)
        .where(AccountabilityFlag.decided_at.is_null())
    )
    if unit is not None:
        query = query.where(AccountabilityFlag.unit == unit.id)
    return list(query.order_by(AccountabilityFlag.period.desc(), AccountabilityFlag.id))


def flags(period=None):
    query = AccountabilityFlag.select(AccountabilityFlag, Unit).join(Unit)
    if period is not None:
        query = query.where(AccountabilityFlag.period == period.code)
    return list(
        query.order_by(
            AccountabilityFlag.decided_at.is_null(False),
            AccountabilityFlag.period.desc(),
            AccountabilityFlag.id,
        )
    )
