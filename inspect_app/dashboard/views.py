"""HTTP for the dashboard, rankings, 末位问责, problems, repeats, 通报 data and unit scores.

Each table page answers .xlsx at the same path with the suffix (endpoint `<page>_xlsx`): the
same rows, exported.
"""

import io

from flask import Blueprint, current_app, flash, g, redirect, request, send_file, url_for

from inspect_app import clock
from inspect_app.auth.access import authorize, requires
from inspect_app.dashboard import export, service
from inspect_app.errors import NotFound, ServiceError
from inspect_app.models import Unit
from inspect_app.rectification import escalation
from inspect_app.scores import periods, ranking
from inspect_app.scores.config import rules_of
from inspect_app.scores.service import sweep
from inspect_app.scores.trace import trace
from inspect_app.vocab import UNIT_ROLES
from inspect_app.web import render

bp = Blueprint("dashboard", __name__)


def get_unit(unit_id):
    unit = Unit.get_or_none(Unit.id == unit_id)
    if unit is None:
        raise NotFound("该单位不存在")
    return unit


def _rules():
    rules = rules_of(current_app.config)
    sweep(rules)  # once a day per process: deadlines that passed quietly
    return rules


def _period():
    code = request.args.get("period")
    return periods.parse(code) if code else service.default_period()


def _choices(period):
    """Periods to pick from: this year's and last year's, every kind."""
    years = sorted({period.year, clock.today().year, clock.today().year - 1}, reverse=True)
    options = []
    for kind, label in periods.KINDS.items():
        count = {"month": 12, "quarter": 4, "half": 2, "year": 1}[kind]
        group = [periods.Period(kind, year, n) for year in years for n in range(count, 0, -1)]
        options.append((label, group))
    return options


_SENTINEL = 987654321


def _unit_link(period):
    """ "…/units/{}/scores?period=…" — built once per page, not once per row of a long table."""
    url = url_for("dashboard.unit_scores", unit_id=_SENTINEL, period=period.code)
    return url.replace(str(_SENTINEL), "{}")


def _xlsx(tables, name):
    return send_file(
        io.BytesIO(export.workbook(tables)),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"{name}.xlsx",
    )


@bp.get("/dashboard")
@requires("score.view")
def index():
    rules, period = _rules(), _period()
    data = service.dashboard(period, rules)
    return render(
        "dashboard/index.html",
        period=period,
        choices=_choices(period),
        moves=ranking.MOVES,
        unit_link=_unit_link(period),
        classes=[label for label, _ in rules.classes],
        section_bars=[
            (title, n, url_for("dashboard.problems", period=period.code, section=title))
            for _, title, n in data["sections"]
        ],
        trend_points=[
            (r.name, rate, url_for("rounds.show", round_id=r.id), f"{n} 个单位")
            for r, rate, n, _ in data["trend"]
        ],
        **data,
    )


@bp.get("/rankings", defaults={"fmt": "html"})
@bp.get("/rankings.xlsx", endpoint="ranking_page_xlsx", defaults={"fmt": "xlsx"})
@requires("score.view")
def ranking_page(fmt):
    rules, period = _rules(), _period()
    scopes = ranking.scopes(period)
    scope = request.args.get("scope") or (scopes[0][0] if scopes else None)
    board = ranking.ranking(period, scope, rules) if scope else None
    if fmt == "xlsx":
        if board is None:
            raise NotFound(f"{period.label}还没有可排名的考评结果")
        return _xlsx([export.ranking_table(board)], f"{period.label}{board.label}")
    return render(
        "dashboard/ranking.html",
        block="board",
        period=period,
        choices=_choices(period),
        scopes=scopes,
        scope=scope,
        board=board,
        rules=rules,
        moves=ranking.MOVES,
        unit_link=_unit_link(period),
    )


@bp.post("/rankings/confirm")
@requires("ranking.confirm")
def confirm():
    period = periods.parse(request.form.get("period"))
    created = ranking.confirm(period, by=g.user, rules=_rules())
    flash(
        f"已确认{period.label}排名，新增末位问责标记 {len(created)} 个"
        if created
        else f"已确认{period.label}排名，没有新增末位问责标记",
        "success",
    )
    return redirect(url_for("dashboard.flag_list", period=period.code), code=303)


def _flags_page(status=200, error=None, flag_id=None, fmt="html"):
    code = request.args.get("period")
    period = periods.parse(code) if code else None
    steps = escalation.ladder(current_app.config)
    flags = ranking.flags(period)
    if fmt == "xlsx":
        return _xlsx([export.flags_table(flags, steps)], "末位问责")
    return render(
        "dashboard/flags.html",
        status=status,
        flags=flags,
        period=period,
        steps=steps,
        labels={s.code: s.label for s in steps},
        error=error,
        error_flag=flag_id,
    )


@bp.get("/flags", defaults={"fmt": "html"})
@bp.get("/flags.xlsx", endpoint="flag_list_xlsx", defaults={"fmt": "xlsx"})
@requires("score.view")
def flag_list(fmt):
    return _flags_page(fmt=fmt)


@bp.post("/flags/<int:flag_id>")
@requires("ranking.confirm")
def decide_flag(flag_id):
    flag = ranking.get_flag(flag_id)
    try:
        ranking.decide(
            flag,
            by=g.user,
            rung=request.form.get("rung"),
            note=request.form.get("note"),
            steps=escalation.ladder(current_app.config),
        )
    except ServiceError as error:
        if error.status == 403:
            raise
        return _flags_page(status=error.status, error=error.message, flag_id=flag.id)
    flash(f"已记录对{flag.unit.name}的末位问责决定", "success")
    return redirect(url_for("dashboard.flag_list", period=flag.period), code=303)


@bp.get("/problems", defaults={"fmt": "html"})
@bp.get("/problems.xlsx", endpoint="problems_xlsx", defaults={"fmt": "xlsx"})
@requires("score.view")
def problems(fmt):
    period = _period()
    section = request.args.get("section") or None
    item = request.args.get("item") or None
    typical = service.typical_problems(period, limit=None, section=section)
    lines = service.problem_lines(period, section=section, item=item) if section or item else []
    if fmt == "xlsx":
        tables = [export.problems_table(period, typical)]
        if lines:
            tables.append(export.lines_table("问题明细", lines))
        return _xlsx(tables, f"{period.label}问题分布")
    return render(
        "dashboard/problems.html",
        period=period,
        choices=_choices(period),
        section=section,
        item=item,
        typical=typical,
        lines=lines,
    )


@bp.get("/repeats", defaults={"fmt": "html"})
@bp.get("/repeats.xlsx", endpoint="repeat_list_xlsx", defaults={"fmt": "xlsx"})
@requires("score.view")
def repeat_list(fmt):
    period = _period()
    lines = service.repeats(period)
    if fmt == "xlsx":
        return _xlsx(
            [export.lines_table(f"{period.label}屡查屡犯", lines)], f"{period.label}屡查屡犯"
        )
    return render(
        "dashboard/repeats.html",
        period=period,
        choices=_choices(period),
        lines=lines,
        earlier=service.earlier_failures(lines),
    )


@bp.get("/circular", defaults={"fmt": "html"})
@bp.get("/circular.xlsx", endpoint="circular_xlsx", defaults={"fmt": "xlsx"})
@requires("score.view")
def circular(fmt):
    period = _period()
    data = service.circular_data(period, _rules())
    if fmt == "xlsx":
        return _xlsx(export.circular_tables(data), f"{period.label}督查通报数据")
    return render(
        "dashboard/circular.html",
        period=period,
        choices=_choices(period),
        data=data,
        moves=ranking.MOVES,
        today=clock.today(),
    )


@bp.get("/units/<int:unit_id>/scores", defaults={"fmt": "html"})
@bp.get("/units/<int:unit_id>/scores.xlsx", endpoint="unit_scores_xlsx", defaults={"fmt": "xlsx"})
@requires("score.unit")
def unit_scores(unit_id, fmt):
    unit = get_unit(unit_id)
    authorize("score.unit", unit)
    rules, period = _rules(), _period()
    result = trace(unit, period, rules)
    unit_user = g.user.role in UNIT_ROLES
    hidden = unit_user and not result.published
    # A unit's place depends on every unit's results: until each round of the period is
    # published it would tell of other units' (possibly unannounced) inspections.
    place_hidden = unit_user and service.unpublished_rounds(period)
    if fmt == "xlsx":
        if hidden:
            raise NotFound("本周期考评结果尚未发布")
        return _xlsx(export.trace_tables(result), f"{unit.name}{period.label}得分明细")
    return render(
        "dashboard/unit_scores.html",
        unit=unit,
        period=period,
        choices=_choices(period),
        result=result,
        hidden=hidden,
        standings=[] if hidden or place_hidden else ranking.standing(unit, period, rules),
        place_hidden=place_hidden and not hidden,
        flags=ranking.pending_flags(unit),
        show_ranking=g.user.role not in UNIT_ROLES,
        moves=ranking.MOVES,
        Unit=Unit,
    )
