from flask import Blueprint, flash, g, redirect, request, url_for
from peewee import JOIN

from inspect_app.auth.access import requires
from inspect_app.auth.service import sessions_of
from inspect_app.errors import NotFound, ServiceError
from inspect_app.models import AuditEvent, Unit, User
from inspect_app.users import service
from inspect_app.web import render

bp = Blueprint("users", __name__, url_prefix="/users")


def get_user(user_id):
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound("该账号不存在")
    return user


@bp.get("")
@requires("user.manage")
def index():
    users = (
        User.select(User, Unit)
        .join(Unit, on=(User.unit == Unit.id), join_type=JOIN.LEFT_OUTER)
        .order_by(User.role, User.username)
    )
    return render("users/list.html", users=list(users))


def _form(user, status=200, errors=None, values=None, reset_error=None):
    units = Unit.select().where(Unit.is_active == True).order_by(Unit.sort_order, Unit.code)
    if values is None:
        values = (
            {"role": "inspector", "is_active": "1"}
            if user is None
            else {
                "username": user.username,
                "display_name": user.display_name,
                "role": user.role,
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
        units=list(units),
        sessions=sessions_of(user) if user is not None else [],
        reset_error=reset_error,
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
    flash(f"已新建账号：{user.username}", "success")
    return redirect(url_for("users.index"), code=303)


@bp.route("/<int:user_id>/edit", methods=["GET", "POST"])
@requires("user.manage")
def edit(user_id):
    user = get_user(user_id)
    if request.method == "GET":
        return _form(user)
    try:
        service.update_user(user, request.form, by=g.user)
    except ServiceError as error:
        return _form(user, status=error.status, errors=error.fields, values=request.form)
    flash(f"账号 {user.username} 已保存", "success")
    return redirect(url_for("users.index"), code=303)


@bp.post("/<int:user_id>/password")
@requires("user.manage")
def reset_password(user_id):
    user = get_user(user_id)
    try:
        service.reset_password(user, request.form.get("password", ""), by=g.user)
    except ServiceError as error:
        return _form(user, status=error.status, reset_error=error.message)
    flash(f"已重置 {user.username} 的密码，该账号已登录的会话全部失效", "success")
    return redirect(url_for("users.edit", user_id=user.id), code=303)


@bp.post("/<int:user_id>/sessions/end")
@requires("user.manage")
def end_sessions(user_id):
    user = get_user(user_id)
    ended = service.sign_out_everywhere(user, by=g.user)
    flash(f"已强制下线 {user.username}：结束 {ended} 个登录会话", "success")
    if user.id == g.user.id:
        return redirect(url_for("auth.login"), code=303)
    return redirect(url_for("users.edit", user_id=user.id), code=303)


@bp.get("/audit")
@requires("audit.view")
def audit_log():
    events = (
        AuditEvent.select(AuditEvent, User)
        .join(User, join_type=JOIN.LEFT_OUTER)
        .order_by(AuditEvent.id.desc())
        .limit(200)
    )
    return render("users/audit.html", events=list(events))
