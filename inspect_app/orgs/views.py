import io

from flask import Blueprint, flash, g, redirect, request, send_file, url_for

from inspect_app.auth.access import authorize, requires
from inspect_app.auth.permissions import can, is_administrator
from inspect_app.errors import NotFound, ServiceError
from inspect_app.models import Unit, User
from inspect_app.orgs import importing, service
from inspect_app.vocab import ORG_FORMS
from inspect_app.web import render

bp = Blueprint("orgs", __name__, url_prefix="/units")


def get_unit(unit_id):
    unit = Unit.get_or_none(Unit.id == unit_id)
    if unit is None:
        raise NotFound("该单位不存在")
    return unit


@bp.get("")
@requires("unit.browse")
def tree():
    query = request.args.get("q", "").strip()
    show_inactive = request.args.get("inactive") == "1"
    context = {
        "query": query,
        "show_inactive": show_inactive,
        "matches": service.search_units(query) if query else None,
        "roots": service.unit_tree(include_inactive=show_inactive),
        "counts": service.count_by_type(),
    }
    return render("orgs/tree.html", block="results", **context)


@bp.get("/<int:unit_id>")
@requires("unit.view")
def show(unit_id):
    unit = get_unit(unit_id)
    authorize("unit.view", unit)
    children = list(unit.children.order_by(Unit.sort_order, Unit.code))
    users = list(unit.users.order_by(User.role, User.username)) if can(g.user, "user.list") else []
    from inspect_app.scores.ranking import pending_flags

    return render(
        "orgs/unit.html",
        unit=unit,
        path=service.ancestors(unit),
        children=children,
        users=users,
        # 末位问责 stays visible until decided; it is a business record, not for administrators
        accountability_flags=[] if is_administrator(g.user) else pending_flags(unit),
    )


def _form(unit, status=200, errors=None, values=None):
    candidates = Unit.select().where(Unit.is_active == True).order_by(Unit.sort_order, Unit.code)
    return render(
        "orgs/unit_form.html",
        status=status,
        unit=unit,
        values=values if values is not None else _values_of(unit),
        errors=errors or {},
        parents=[u for u in candidates if unit is None or u.id != unit.id],
        org_forms=ORG_FORMS,
    )


def _values_of(unit):
    if unit is None:
        return {"parent_id": request.args.get("parent", "")}
    values = {key: getattr(unit, key) for key in service.EDITABLE}
    values["parent_id"] = unit.parent_id or ""
    return values


@bp.route("/new", methods=["GET", "POST"])
@requires("unit.manage")
def create():
    if request.method == "GET":
        return _form(None)
    try:
        unit = service.save_unit(request.form, by=g.user)
    except ServiceError as error:
        return _form(None, status=error.status, errors=error.fields, values=request.form)
    flash(f"已新建单位：{unit.name}", "success")
    return redirect(url_for("orgs.show", unit_id=unit.id), code=303)


@bp.route("/<int:unit_id>/edit", methods=["GET", "POST"])
@requires("unit.manage")
def edit(unit_id):
    unit = get_unit(unit_id)
    if request.method == "GET":
        return _form(unit)
    try:
        service.save_unit(request.form, by=g.user, unit=unit)
    except ServiceError as error:
        return _form(unit, status=error.status, errors=error.fields, values=request.form)
    flash("单位信息已保存", "success")
    return redirect(url_for("orgs.show", unit_id=unit.id), code=303)


@bp.post("/<int:unit_id>/active")
@requires("unit.manage")
def set_active(unit_id):
    unit = get_unit(unit_id)
    active = request.form.get("active") == "1"
    service.set_unit_active(unit, active, by=g.user)
    flash("单位已启用" if active else "单位已停用", "success")
    return redirect(url_for("orgs.show", unit_id=unit.id), code=303)


@bp.route("/import", methods=["GET", "POST"])
@requires("unit.manage")
def import_sheet():
    if request.method == "GET":
        return render("orgs/import.html")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render(
            "orgs/import.html",
            status=422,
            errors=[importing.RowError(0, "", "请选择要上传的 .xlsx 文件")],
        )
    try:
        created, updated = importing.import_units(upload.read(), by=g.user)
    except importing.ImportFailed as failure:
        return render(
            "orgs/import.html", status=422, errors=failure.errors, filename=upload.filename
        )
    return render("orgs/import.html", created=created, updated=updated, filename=upload.filename)


@bp.get("/import/template.xlsx")
@requires("unit.manage")
def import_template():
    return send_file(
        io.BytesIO(importing.template_workbook()),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name="单位导入模板.xlsx",
    )
