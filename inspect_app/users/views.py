"""账号管理: the system administrator makes and keeps accounts, the security administrator grants
roles (and looks after the administrators' own accounts); see users/service.py."""

from flask import Blueprint, flash, g, redirect, request, url_for
from peewee import JOIN

from inspect_app.auth.access import authorize, requires
from inspect_app.auth.service import sessions_of
from inspect_app.errors import NotFound, ServiceError
from inspect_app.models import Unit, User
from inspect_app.users import service
from inspect_app.web import render

bp = Blueprint("users", __name__, url_prefix="/users")


def get_user(user_id):
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound("该账号不存在")
    return user


def _units():
    return list(Unit.select().where(Unit.is_active == True).order_by(Unit.sort_order, Unit.code))


@bp.get("")
@requires("user.list")
def index():
    role = request.args.get("role", "")
    users = (
        User.select(User, Unit)
        .join(Unit, on=(User.unit == Unit.id), join_type=JOIN.LEFT_OUTER)
        .order_by(User.role, User.username)
    )
    if role == "pending":
        users = users.where(User.role == "pending")
    pending = User.select().where(User.role == "pending", User.is_active == True).count()
    return render("users/list.html", users=list(users), pending=pending, role=role)


@bp.get("/<int:user_id>")
@requires("user.list")
def show(user_id):
    return _account_page(get_user(user_id))


def _account_page(user, status=200, errors=None, values=None):
    if values is None:
        values = {"role": user.role, "unit_id": user.unit_id or ""}
    return render(
        "users/show.html",
        status=status,
        user=user,
        values=values,
        errors=errors or {},
        units=_units(),
        sessions=sessions_of(user),
    )


def _form(user, status=200, errors=None, values=None):
    if values is None:
        values = (
            {"unit_id": request.args.get("unit_id", "")}
            if user is None
            else {
                "display_name": user.display_name,
                "unit_id": user.unit_id or "",
                "is_active": "1" if user.is_active else "0",
            }
        )
    return render(
        "users/form.html",
        status=status,
        user=user,
        values=values,
        errors=errors or {},
        units=_units(),
    )


@bp.route("/new", methods=["GET", "POST"])
@requires("user.manage")
def create():
    if request.method == "GET":
        return _form(None)
    try:
        user = service.create_user(request.form, by=g.user)
    except ServiceError as error:
        return _form(None, status=error.status, errors=error.fields, values=request.form)
    flash(f"已新建账号 {user.username}，待安全管理员授予角色", "success")
    return redirect(url_for("users.show", user_id=user.id), code=303)


@bp.route("/<int:user_id>/edit", methods=["GET", "POST"])
@requires("user.edit")
def edit(user_id):
    user = get_user(user_id)
    authorize("user.edit", user)
    if request.method == "GET":
        return _form(user)
    try:
        service.update_user(user, request.form, by=g.user)
    except ServiceError as error:
        return _form(user, status=error.status, errors=error.fields, values=request.form)
    flash(f"账号 {user.username} 已保存", "success")
    return redirect(url_for("users.show", user_id=user.id), code=303)


@bp.post("/<int:user_id>/password")
@requires("user.reset_password")
def reset_password(user_id):
    user = get_user(user_id)
    authorize("user.reset_password", user)
    try:
        service.reset_password(user, request.form.get("password", ""), by=g.user)
    except ServiceError as error:
        return _account_page(user, status=error.status, errors=error.fields)
    flash(f"已重置 {user.username} 的密码，该账号已登录的会话全部失效", "success")
    return redirect(url_for("users.show", user_id=user.id), code=303)


@bp.post("/<int:user_id>/sessions/end")
@requires("user.end_sessions")
def end_sessions(user_id):
    user = get_user(user_id)
    authorize("user.end_sessions", user)
    ended = service.sign_out_everywhere(user, by=g.user)
    flash(f"已强制下线 {user.username}：结束 {ended} 个登录会话", "success")
    return redirect(url_for("users.show", user_id=user.id), code=303)


@bp.post("/<int:user_id>/role")
@requires("user.grant_role")
def grant_role(user_id):
    user = get_user(user_id)
    authorize("user.grant_role", user)
    try:
        service.grant_role(user, request.form, by=g.user)
    except ServiceError as error:
        return _account_page(user, status=error.status, errors=error.fields, values=request.form)
    flash(f"已变更账号 {user.username} 的角色", "success")
    return redirect(url_for("users.show", user_id=user.id), code=303)
