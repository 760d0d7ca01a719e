from flask import Blueprint, flash, g, redirect, request, url_for

from inspect_app.auth import service
from inspect_app.auth.access import requires
from inspect_app.auth.permissions import PUBLIC, SIGNED_IN
from inspect_app.auth.session import end_session, start_session
from inspect_app.errors import ServiceError
from inspect_app.web import render, safe_next_url, wants_fragment

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login():
    next_url = safe_next_url(request.values.get("next"))
    if request.method == "GET":
        if g.user:
            return redirect(next_url or url_for("home.index"))
        return render("auth/login.html", next_url=next_url)
    username = request.form.get("username", "")
    try:
        user = service.authenticate(
            username, request.form.get("password", ""), ip=request.remote_addr or ""
        )
    except ServiceError as error:
        return render(
            "auth/login.html",
            status=error.status,
            error=error.message,
            username=username,
            next_url=next_url,
        )
    start_session(user)
    if user.must_change_password:
        return redirect(url_for("auth.change_password"), code=303)
    return redirect(next_url or url_for("home.index"), code=303)


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
    if request.method == "GET":
        response = render("auth/password.html")
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
            "auth/password.html", status=error.status, error=error.message, errors=error.fields
        )
    start_session(g.user)  # keep this session; every other one ends with the old password
    flash("密码已修改，其他设备上的登录已失效", "success")
    return redirect(url_for("home.index"), code=303)
