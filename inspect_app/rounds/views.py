from flask import Blueprint, flash, g, redirect, request, url_for

from inspect_app.auth.access import requires
from inspect_app.checklists.service import all_checklists
from inspect_app.errors import ServiceError
from inspect_app.inspections.service import STATUS_LABELS
from inspect_app.models import Inspection, User
from inspect_app.orgs.service import unit_tree
from inspect_app.rounds import service
from inspect_app.vocab import CHECKLIST_KINDS
from inspect_app.web import render

bp = Blueprint("rounds", __name__, url_prefix="/rounds")


@bp.get("")
@requires("round.browse")
def index():
    rounds = service.all_rounds()
    counts = {}
    for inspection in Inspection.select(Inspection.round, Inspection.status):
        per_round = counts.setdefault(inspection.round_id, {})
        per_round[inspection.status] = per_round.get(inspection.status, 0) + 1
    return render("rounds/list.html", rounds=rounds, counts=counts, status_labels=STATUS_LABELS)


def _form(status=200, errors=None, values=None):
    return render(
        "rounds/form.html",
        status=status,
        errors=errors or {},
        values=values,
        checklists=[(c, v) for c, v in all_checklists() if v is not None],
        kinds=CHECKLIST_KINDS,
        roots=unit_tree(),
    )


@bp.route("/new", methods=["GET", "POST"])
@requires("round.plan")
def create():
    if request.method == "GET":
        return _form(values=None)
    try:
        round_ = service.create_round(request.form, by=g.user)
    except ServiceError as error:
        return _form(status=error.status, errors=error.fields, values=request.form)
    flash(f"已新建督查批次：{round_.name}。下一步：组建督查组并分配单位", "success")
    return redirect(url_for("rounds.show", round_id=round_.id), code=303)


def _page(round_, status=200, errors=None):
    return render(
        "rounds/show.html",
        status=status,
        round=round_,
        inspections=service.inspections_of(round_),
        teams=service.teams_of(round_),
        leaders=list(User.select().where(User.role == "team_leader", User.is_active == True)),
        inspectors=list(
            User.select().where(User.role.in_(["inspector", "team_leader"]), User.is_active == True)
        ),
        status_labels=STATUS_LABELS,
        errors=errors or {},
    )


@bp.get("/<int:round_id>")
@requires("round.browse")
def show(round_id):
    return _page(service.get_round(round_id))


@bp.post("/<int:round_id>/teams")
@requires("round.plan")
def add_team(round_id):
    round_ = service.get_round(round_id)
    try:
        team = service.add_team(round_, request.form, by=g.user)
    except ServiceError as error:
        return _page(round_, status=error.status, errors=error.fields)
    flash(f"已组建{team.name}", "success")
    return redirect(url_for("rounds.show", round_id=round_.id), code=303)


@bp.post("/<int:round_id>/inspections/<int:inspection_id>/team")
@requires("round.plan")
def assign(round_id, inspection_id):
    round_ = service.get_round(round_id)
    inspection = Inspection.get_or_none(
        Inspection.id == inspection_id, Inspection.round == round_.id
    )
    if inspection is None:
        return _page(round_, status=404)
    service.assign(inspection, request.form.get("team_id"), by=g.user)
    flash(f"已调整 {inspection.unit.name} 的督查组", "success")
    return redirect(url_for("rounds.show", round_id=round_.id), code=303)


@bp.post("/<int:round_id>/publish")
@requires("round.publish")
def publish(round_id):
    round_ = service.get_round(round_id)
    service.publish(round_, by=g.user)
    flash("已发布：被督查单位现在可以看到本批次的检查结果和问题", "success")
    return redirect(url_for("rounds.show", round_id=round_.id), code=303)
