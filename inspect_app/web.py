"""The only module that knows htmx: full page or fragment, Vary, and error answers."""

from urllib.parse import urlsplit

from flask import g, make_response, redirect, render_template, request, url_for
from flask_htmx import HTMX
from flask_wtf.csrf import CSRFError
from jinja2_fragments.flask import render_block
from werkzeug.exceptions import HTTPException

from inspect_app.errors import ServiceError
from inspect_app.holidays.workdays import CalendarGap

htmx = HTMX()

ERROR_MESSAGES = {
    400: "请求无效，请检查后重试",
    401: "请先登录",
    403: "您没有权限访问该页面或执行该操作",
    404: "页面或记录不存在",
    405: "不支持该请求方式",
    409: "操作与当前状态冲突，请刷新后重试",
    413: "上传的文件过大",
    422: "提交的内容有误，请修改后重试",
    429: "请求过于频繁，请稍后再试",
    500: "系统内部错误，已记录，请稍后重试或联系系统管理员",
    503: "服务器正忙，请稍后重试",
}


def wants_fragment():
    """An htmx request that targets a region (not a boosted page navigation)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(template, *, block=None, status=200, **context):
    """The full page, or only `block` of the same template when htmx asks for a fragment."""
    if block and wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return make_response(body, status)


def safe_next_url(url):
    """Only same-site paths: never redirect a login to another host."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return None
    return url


def error_response(status, message, gap=None):
    """The error page, or the message alone for a fragment request. `gap`: a missing calendar year
    behind the error, which the message then links to."""
    if wants_fragment():
        response = make_response(
            render_template("_flash.html", level="error", message=message, gap=gap), status
        )
        # Errors land in the page's message area, not in the region the request aimed at.
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return make_response(
        render_template(
            "errors.html", status=status, message=message, gap=gap, back_url=_back_url()
        ),
        status,
    )


def record_refusal(action, what):
    """A refused request goes into the audit trail (who, from where, which URL). A failure to
    record is logged and does not turn the refusal into a 500."""
    from flask import current_app

    from inspect_app import audit

    path = request.full_path.rstrip("?")
    try:
        audit.record(
            g.get("user"),
            action,
            None,
            f"{what}：{request.method} {path}"[:1000],
            {"endpoint": request.endpoint or "", "method": request.method},
        )
    except Exception:
        current_app.logger.exception("could not record a refused request in the audit trail")


def _back_url():
    """The page the user came from, when it is one of ours (a link, not `javascript:`, which the
    Content-Security-Policy forbids)."""
    referrer = urlsplit(request.referrer or "")
    if not referrer.path or referrer.netloc != request.host:
        return None
    if request.method == "GET" and referrer.path == request.path:
        return None  # a link back to the very page that failed
    return safe_next_url(referrer.path + (f"?{referrer.query}" if referrer.query else ""))


def refuse_nul():
    """before_request: PostgreSQL text cannot hold NUL (0x00); no real input has one, so a request
    carrying it in its path, query or form is refused here instead of failing in the database."""
    values = [*(request.view_args or {}).values()]
    values += [v for _, vs in request.args.lists() for v in vs]
    if request.method == "POST":
        values += [v for _, vs in request.form.lists() for v in vs]
    if any(isinstance(v, str) and "\x00" in v for v in values):
        return error_response(
            400, "提交的内容含有无效字符（NUL），请删除后重试；已保存的内容不受影响"
        )
    return None


def init_app(app):
    htmx.init_app(app)
    from inspect_app.inspections.scoring import points_text

    app.jinja_env.filters["chinese_weekday"] = lambda day: "周" + "一二三四五六日"[day.weekday()]
    app.jinja_env.tests["calendar_gap"] = lambda value: isinstance(value, CalendarGap)
    app.jinja_env.filters["pair"] = lambda value: (value, value)
    app.jinja_env.filters["points"] = lambda value: "" if value is None else points_text(value)
    app.jinja_env.filters["unit_option"] = lambda unit: (unit.id, f"{unit.name}（{unit.code}）")
    app.jinja_env.filters["checklist_option"] = lambda pair: (
        pair[0].slug,
        f"{pair[1].title}（第 {pair[1].number} 版）",
    )

    @app.teardown_request
    def _close_uploads(exc):
        # Large uploads are spooled to temporary files; close them as soon as the request ends.
        for upload in request.files.values():
            upload.close()

    @app.after_request
    def _vary_and_charset(response):
        response.vary.add("HX-Request")
        return response

    @app.errorhandler(CSRFError)
    def _csrf(error):
        if "user" not in g:  # the CSRF check runs before the session is read
            from inspect_app.auth.session import load_user

            load_user()
        record_refusal("access.csrf_refused", "拒绝请求（CSRF 校验失败）")
        return error_response(
            400,
            "页面已过期或请求来源无法验证（CSRF 校验失败），请刷新页面后重试；已保存的内容不受影响",
        )

    @app.errorhandler(ServiceError)
    def _service(error):
        if error.status == 403:
            record_refusal("access.denied", f"拒绝操作（{error.message}）")
        response = error_response(error.status, error.message, getattr(error, "gap", None))
        if error.status == 503:
            response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(HTTPException)
    def _http(error):
        if error.code == 401:
            message = (
                "登录已超时或已结束，请重新登录"
                if g.get("session_expired")
                else ERROR_MESSAGES[401]
            )
            login = url_for(
                "auth.login",
                next=request.full_path.rstrip("?"),
                expired=int(g.get("session_expired", False)),
            )
            if htmx:
                response = make_response(message, 401)
                response.headers["HX-Redirect"] = login
                return response
            return redirect(login)
        if error.code == 403:
            record_refusal("access.denied", "拒绝访问（无权限）")
        return error_response(error.code, ERROR_MESSAGES.get(error.code, error.name))

    @app.errorhandler(Exception)
    def _unexpected(error):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, ERROR_MESSAGES[500])
