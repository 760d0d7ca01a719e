from flask import Blueprint, flash, g, redirect, request, url_for
from peewee import JOIN

from inspect_app.auth import policy, service, two_factor
from inspect_app.auth.access import required_detour, requires
from inspect_app.auth.permissions import PUBLIC, SIGNED_IN
from inspect_app.auth.session import (
    begin_second_step,
    end_session,
    pending_second_step,
    start_session,
)
from inspect_app.errors import NotFound, ServiceError
from inspect_app.models import Unit, User
from inspect_app.vocab import ROLES
from inspect_app.web import render, safe_next_url, wants_fragment

bp = Blueprint("auth", __name__)


def _refused(template, error, **context):
    response = render(template, status=error.status, error=error.message, **context)
    if getattr(error, "retry_after", None):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _signed_in(user, next_url):
    """Where a completed sign-in goes: a required detour first, else where the user was headed."""
    start_session(user)
    detour = required_detour(user)
    if detour:
        return redirect(url_for(detour), code=303)
    return redirect(next_url or url_for("home.index"), code=303)


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login():
    next_url = safe_next_url(request.values.get("next"))
    if request.method == "GET":
        if g.user:
            return redirect(next_url or url_for("home.index"))
        return render("auth/login.html", next_url=next_url)
    username = request.form.get("username", "")
    address = request.remote_addr or ""
    try:
        user = service.authenticate(username, request.form.get("password", ""), ip=address)
    except ServiceError as error:
        return _refused("auth/login.html", error, username=username, next_url=next_url)
    if two_factor.enabled(user):
        begin_second_step(user, next_url)
        return redirect(url_for("auth.login_code"), code=303)
    service.complete_sign_in(user, ip=address)
    return _signed_in(user, next_url)


@bp.route("/login/code", methods=["GET", "POST"])
@requires(PUBLIC)
def login_code():
    """Step two of a sign-in with a second factor: the 6-digit code from the phone."""
    if g.user:
        return redirect(url_for("home.index"))
    pending = pending_second_step()
    user = User.get_or_none(User.id == pending[0]) if pending else None
    if user is None or not user.is_active or not two_factor.enabled(user):
        flash("请先输入用户名和密码（验证码须在 5 分钟内输入）", "info")
        return redirect(url_for("auth.login"), code=303)
    if request.method == "GET":
        return render("auth/code.html", username=user.username)
    address = request.remote_addr or ""
    try:
        service.check_second_factor(user, request.form.get("code", ""), ip=address)
    except ServiceError as error:
        return _refused("auth/code.html", error, username=user.username)
    service.complete_sign_in(user, ip=address, factor="totp")
    return _signed_in(user, pending[1])


@bp.route("/logout", methods=["POST"])
@requires(PUBLIC)
def logout():
    service.sign_out(g.user)
    end_session()
    flash("您已安全退出", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/account/password", methods=["GET", "POST"])
@requires(SIGNED_IN)
def change_password():
    expired = not g.user.must_change_password and policy.current_policy().password_expired(g.user)
    if request.method == "GET":
        response = render("auth/password.html", expired=expired)
        if wants_fragment():
            # reached by a region's htmx request that was redirected here: show the whole page
            response.headers["HX-Redirect"] = url_for("auth.change_password")
        return response
    try:
        service.change_password(
            g.user,
            current=request.form.get("current", ""),
            new=request.form.get("password", ""),
            confirm=request.form.get("confirm", ""),
        )
    except ServiceError as error:
        return render(
            "auth/password.html",
            status=error.status,
            error=error.message,
            errors=error.fields,
            expired=expired,
        )
    start_session(g.user)  # every session ended with the old password; this browser gets a new one
    flash("密码已修改，其他设备上的登录已失效", "success")
    detour = required_detour(g.user)
    return redirect(url_for(detour or "home.index"), code=303)


@bp.route("/account/two-factor", methods=["GET", "POST"])
@requires(SIGNED_IN)
def two_factor_page():
    """Enrolment (QR code, secret, first code), or the status and turning it off."""
    user = g.user
    required = policy.current_policy().two_factor_required(user)
    action = request.form.get("action", "")
    try:
        if request.method == "POST" and action == "confirm":
            two_factor.confirm_enrolment(user, request.form.get("code", ""))
            service.end_sessions(user)  # sessions opened without the second factor end
            start_session(user)
            flash("双因素认证已启用：以后登录时须输入手机上的验证码", "success")
            return redirect(url_for("home.index"), code=303)
        if request.method == "POST" and action == "disable":
            two_factor.disable(user, request.form.get("code", ""), required=required)
            flash("双因素认证已停用", "success")
            return redirect(url_for("auth.two_factor_page"), code=303)
        if request.method == "POST" and action != "renew":
            return _two_factor_form(user, required, status=422, error="请求无效，请刷新页面后重试")
    except ServiceError as error:
        return _two_factor_form(user, required, status=error.status, error=error.message)
    return _two_factor_form(user, required, renew=action == "renew")


def _two_factor_form(user, required, *, status=200, error=None, renew=False):
    if two_factor.enabled(user):
        return render(
            "auth/two_factor.html", status=status, error=error, user=user, required=required
        )
    secret = two_factor.pending_secret(user, renew=renew)
    uri = two_factor.provisioning_uri(user, secret)
    return render(
        "auth/two_factor.html",
        status=status,
        error=error,
        user=user,
        required=required,
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        uri=uri,
        qr=two_factor.qr_svg(uri),
    )


# -- the security administrator's pages ---------------------------------------------------------


@bp.route("/security/policy", methods=["GET", "POST"])
@requires("security.manage")
def policy_page():
    current = policy.current_policy()
    if request.method == "GET":
        return _policy_form(current)
    try:
        policy.save_policy(request.form, by=g.user)
    except ServiceError as error:
        return _policy_form(current, status=error.status, errors=error.fields, form=request.form)
    flash("口令与双因素策略已保存", "success")
    return redirect(url_for("auth.policy_page"), code=303)


def _policy_form(current, *, status=200, errors=None, form=None):
    if form is not None:
        values = {key: form.get(key, "") for key in ("min_length", "min_classes", "history")}
        values["max_age_days"] = form.get("max_age_days", "")
        values["two_factor_roles"] = form.getlist("two_factor_roles")
    else:
        values = {
            "min_length": current.min_length,
            "min_classes": current.min_classes,
            "history": current.history,
            "max_age_days": current.max_age_days,
            "two_factor_roles": list(current.two_factor_roles),
        }
    enrolled, required = policy.two_factor_coverage()
    return render(
        "auth/policy.html",
        status=status,
        values=values,
        errors=errors or {},
        policy=current,
        common_count=len(policy.common_passwords()),
        coverage=(enrolled, required),
        ranges=policy,
    )


@bp.get("/security/accounts")
@requires("security.manage")
def accounts():
    current = policy.current_policy()
    users = list(
        User.select(User, Unit)
        .join(Unit, on=(User.unit == Unit.id), join_type=JOIN.LEFT_OUTER)
        .order_by(User.role, User.username)
    )
    rows = [
        {
            "user": user,
            "required": current.two_factor_required(user),
            "expired": current.password_expired(user),
        }
        for user in users
    ]
    return render(
        "auth/accounts.html", rows=rows, coverage=policy.two_factor_coverage(), roles=ROLES
    )


@bp.post("/security/accounts/<int:user_id>/two-factor/reset")
@requires("security.manage")
def reset_two_factor(user_id):
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound("该账号不存在")
    two_factor.reset(user, by=g.user)
    flash(f"已重置 {user.username} 的双因素认证，该账号已登录的会话全部失效", "success")
    return redirect(url_for("auth.accounts"), code=303)
