"""The supervision dashboard and the 月通报/季评比 data: figures read from what is kept ready
(tasks, score lines, period totals), never recomputed from answers."""

from dataclasses import dataclass
from datetime import date

from peewee import fn

from inspect_app import clock
from inspect_app.models import Inspection, Round, ScoreLine, Task, Unit
from inspect_app.rectification.service import OPEN, STATUS_LABELS
from inspect_app.scores import periods, ranking
from inspect_app.scores.service import ITEM


def rounds_of(period):
    """The period's rounds: those whose last day falls in it (as their scores do)."""
    return Round.select(Round.id).where(Round.ends_on.between(period.start, period.end))


def unpublished_rounds(period):
    """Whether any round of the period has signed-off results not yet published."""
    return (
        Round.select()
        .join(Inspection, on=(Inspection.round == Round.id))
        .where(
            Round.id.in_(rounds_of(period)),
            Round.published_at.is_null(),
            Inspection.status == "signed_off",
        )
        .exists()
    )


def default_period(kind="quarter", today=None):
    """The period of that kind holding the latest round that has ended (or today's)."""
    today = today or clock.today()
    latest = Round.select(fn.MAX(Round.ends_on)).where(Round.ends_on <= today).scalar()
    if isinstance(latest, str):
        latest = date.fromisoformat(latest)
    return periods.containing(kind, latest or today)


@dataclass
class TaskFigures:
    total: int
    closed: int
    open: int
    overdue: int
    by_status: dict

    @property
    def rate(self):
        """整改完成率: closed over all tasks of the period's rounds, as a percentage."""
        return round(100 * self.closed / self.total, 1) if self.total else None


def task_figures(period, today=None):
    today = today or clock.today()
    by_status = dict(
        Task.select(Task.status, fn.COUNT(Task.id))
        .where(Task.round.in_(rounds_of(period)))
        .group_by(Task.status)
        .tuples()
    )
    overdue = (
        Task.select(fn.COUNT(Task.id))
        .where(
            Task.round.in_(rounds_of(period)), Task.status.in_(list(OPEN)), Task.deadline < today
        )
        .scalar()
    )
    total = sum(by_status.values())
    closed = by_status.get("closed", 0)
    return TaskFigures(
        total=total,
        closed=closed,
        open=sum(n for s, n in by_status.items() if s in OPEN),
        overdue=overdue,
        by_status={STATUS_LABELS[s]: n for s, n in by_status.items()},
    )


def _failing(period):
    return (
        ScoreLine.day.between(period.start, period.end)
        & (ScoreLine.rule == ITEM)
        & (ScoreLine.failing == True)
    )


def section_counts(period, limit=8):
    """Failing items by checklist section: the common problems. [(code, title, count)]"""
    return list(
        ScoreLine.select(
            ScoreLine.section_code, ScoreLine.section_title, fn.COUNT(ScoreLine.id).alias("n")
        )
        .where(_failing(period))
        .group_by(ScoreLine.section_code, ScoreLine.section_title)
        .order_by(fn.COUNT(ScoreLine.id).desc(), ScoreLine.section_code)
        .limit(limit)
        .tuples()
    )


def typical_problems(period, limit=10, section=None):
    """The most frequent failing items: [(checklist id, code, text, section title, times, units)]."""
    query = (
        ScoreLine.select(
            ScoreLine.checklist,
            ScoreLine.item_code,
            ScoreLine.item_text,
            ScoreLine.section_title,
            fn.COUNT(ScoreLine.id).alias("n"),
            fn.COUNT(ScoreLine.unit.distinct()).alias("units"),
        )
        .where(_failing(period))
        .group_by(
            ScoreLine.checklist, ScoreLine.item_code, ScoreLine.item_text, ScoreLine.section_title
        )
        .order_by(fn.COUNT(ScoreLine.id).desc(), ScoreLine.item_code)
    )
    if section:
        query = query.where(ScoreLine.section_title == section)
    if limit:
        query = query.limit(limit)
    return list(query.tuples())


def problem_lines(period, *, section=None, item=None, checklist=None, limit=500):
    """The failing items behind a count: each with its unit and inspection."""
    query = (
        ScoreLine.select(ScoreLine, Unit)
        .join(Unit)
        .where(_failing(period))
        .order_by(ScoreLine.section_code, ScoreLine.item_code, Unit.sort_order)
    )
    if section:
        query = query.where(ScoreLine.section_title == section)
    if item:
        query = query.where(ScoreLine.item_code == item)
    if checklist:
        query = query.where(ScoreLine.checklist == checklist)
    return list(query.limit(limit))


def repeats(period, limit=500):
    """屡查屡犯: failing items of the period that failed at the same unit in an earlier round."""
    return list(
        ScoreLine.select(ScoreLine, Unit)
        .join(Unit)
        .where(_failing(period), ScoreLine.occurrence >= 2)
        .order_by(ScoreLine.occurrence.desc(), Unit.sort_order, ScoreLine.item_code)
        .limit(limit)
    )


def repeat_count(period):
    return (
        ScoreLine.select(fn.COUNT(ScoreLine.id))
        .where(_failing(period), ScoreLine.occurrence >= 2)
        .scalar()
    )


def earlier_failures(lines):
    """{line id: [earlier failing lines of the same item at the same unit]} — the links."""
    if not lines:
        return {}
    keys = {(line.unit_id, line.checklist_id, line.item_code) for line in lines}
    earlier = (
        ScoreLine.select(ScoreLine, Inspection, Round)
        .join(Inspection)
        .join(Round)
        .where(
            ScoreLine.unit.in_({k[0] for k in keys}),
            ScoreLine.item_code.in_({k[2] for k in keys}),
            ScoreLine.failing == True,
            ScoreLine.rule == ITEM,
        )
        .order_by(ScoreLine.day, ScoreLine.id)
    )
    found = {}
    for old in earlier:
        found.setdefault((old.unit_id, old.checklist_id, old.item_code), []).append(old)
    return {
        line.id: [
            old
            for old in found.get((line.unit_id, line.checklist_id, line.item_code), [])
            if old.day <= line.day and old.inspection_id != line.inspection_id
        ]
        for line in lines
    }


def trend(limit=10, until=None):
    """The last rounds with scores: [(round, mean 得分率, inspections, failing items)]."""
    query = (
        Inspection.select(
            Inspection.round,
            fn.AVG(Inspection.score * 100.0 / Inspection.max_score).alias("rate"),
            fn.COUNT(Inspection.id).alias("n"),
        )
        .where(
            Inspection.status == "signed_off",
            Inspection.score.is_null(False),
            Inspection.max_score > 0,
        )
        .group_by(Inspection.round)
    )
    rounds = Round.select().order_by(Round.ends_on.desc(), Round.id.desc())
    if until is not None:
        rounds = rounds.where(Round.ends_on <= until)
    scored = Inspection.select(Inspection.id).where(
        Inspection.round == Round.id,
        Inspection.status == "signed_off",
        Inspection.score.is_null(False),
    )
    rounds = list(rounds.where(fn.EXISTS(scored)).limit(limit))
    if not rounds:
        return []
    ids = [r.id for r in rounds]
    figures = {r: (rate, n) for r, rate, n in query.where(Inspection.round.in_(ids)).tuples()}
    failing = dict(
        ScoreLine.select(Inspection.round, fn.COUNT(ScoreLine.id))
        .join(Inspection)
        .where(
            # item lines count on their round's last day: the (day, rule) index narrows the join
            ScoreLine.day.in_(sorted({r.ends_on for r in rounds})),
            ScoreLine.rule == ITEM,
            Inspection.round.in_(ids),
            ScoreLine.failing == True,
        )
        .group_by(Inspection.round)
        .tuples()
    )
    return [
        (r, round(float(figures[r.id][0]), 1), figures[r.id][1], failing.get(r.id, 0))
        for r in reversed(rounds)
    ]


@dataclass
class TypeSummary:
    board: object  # ranking.Ranking
    classes: dict  # label -> count
    moves: dict  # up/down/same/new -> count

    @property
    def mean(self):
        rows = self.board.rows
        return round(sum(r.total for r in rows) / len(rows), 2) if rows else None


def type_summaries(period, rules):
    result = []
    for scope, _ in ranking.scopes(period, parents=False):
        board = ranking.ranking(period, scope, rules)
        classes = {label: 0 for label, _ in rules.classes}
        moves = dict.fromkeys(ranking.MOVES, 0)
        for row in board.rows:
            classes[row.klass] = classes.get(row.klass, 0) + 1
            moves[row.move] += 1
        result.append(TypeSummary(board, classes, moves))
    return result


def dashboard(period, rules, today=None):
    return {
        "tasks": task_figures(period, today),
        "sections": section_counts(period),
        "summaries": type_summaries(period, rules),
        "trend": trend(until=period.end),
        "repeats": repeat_count(period),
        "flags": ranking.pending_flags(),
    }


@dataclass
class Circular:
    """What a 督查通报 (月通报/季评比) says about a period, as plain data."""

    period: object
    rankings: list  # ranking.Ranking per unit type
    typical_problems: list  # [(checklist, code, text, section, times, units)]
    sections: list  # [(code, title, count)]
    tasks: TaskFigures
    movers_up: list  # ranking rows that moved up a class
    movers_down: list
    flagged: list  # ranking rows at the bottom (末位)
    repeats: int

    @property
    def ranked(self):
        return sum(len(board.rows) for board in self.rankings)


def circular_data(period, rules, *, today=None, problems=10):
    """The data for a 督查通报 of `period`: ranking tables, typical problems, rectification."""
    summaries = type_summaries(period, rules)
    rows = [row for s in summaries for row in s.board.rows]
    return Circular(
        period=period,
        rankings=[s.board for s in summaries],
        typical_problems=typical_problems(period, problems),
        sections=section_counts(period),
        tasks=task_figures(period, today),
        movers_up=[r for r in rows if r.move == "up"],
        movers_down=[r for r in rows if r.move == "down"],
        flagged=[r for r in rows if r.flag_reasons],
        repeats=repeat_count(period),
    )
