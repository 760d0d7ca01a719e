"""节假日安排: the office's working-day calendar, year by year."""

from flask import Blueprint, flash, g, redirect, request, url_for

from inspect_app.auth.access import requires
from inspect_app.errors import ServiceError
from inspect_app.holidays import service, workdays
from inspect_app.holidays.notice import KIND_LABELS, NoticeUnreadable
from inspect_app.web import render

bp = Blueprint("holidays", __name__, url_prefix="/holidays")


@bp.get("")
@requires("holidays.view")
def index():
    return render(
        "holidays/index.html", years=service.overview(), missing=service.missing_next_year()
    )


def _page(year, *, status=200, text="", problems=(), proposed=None, diff=None, errors=None):
    return render(
        "holidays/year.html",
        status=status,
        view=service.year_view(year),
        proposed=service.year_view(year, proposed) if proposed is not None else None,
        diff=diff,
        text=text,
        problems=problems,
        errors=errors or {},
        history=service.history(year),
        kind_labels=KIND_LABELS,
        builtin_years=workdays.BUILTIN_YEARS,
    )


@bp.get("/<int:year>")
@requires("holidays.view")
def show(year):
    return _page(service.check_year(year))


def _read_pasted_notice(year, use):
    """(result of use(year, text), None), or (None, the page again saying what was refused)."""
    text = request.form.get("text", "")
    try:
        return use(year, text), None
    except NoticeUnreadable as unreadable:
        return None, _page(year, status=422, text=text, problems=unreadable.problems)
    except ServiceError as error:
        errors = error.fields or {"text": error.message}
        return None, _page(year, status=error.status, text=text, errors=errors)


@bp.post("/<int:year>/preview")
@requires("holidays.manage")
def preview(year):
    """Read the pasted notice and show what would change; nothing is saved yet."""
    year = service.check_year(year)
    read, refused = _read_pasted_notice(year, service.preview_notice)
    if refused:
        return refused
    days, diff = read
    return _page(year, text=request.form.get("text", ""), proposed=days, diff=diff)


@bp.post("/<int:year>")
@requires("holidays.manage")
def save(year):
    year = service.check_year(year)
    saved, refused = _read_pasted_notice(
        year, lambda year, text: service.import_notice(year, text, by=g.user)
    )
    if refused:
        return refused
    flash(f"已保存 {year} 年节假日安排（{len(saved[1])} 天有变化）", "success")
    return redirect(url_for("holidays.show", year=year), code=303)


@bp.post("/<int:year>/days")
@requires("holidays.manage")
def set_day(year):
    year = service.check_year(year)
    try:
        diff = service.set_day(year, request.form, by=g.user)
    except ServiceError as error:
        return _page(year, status=error.status, errors=error.fields or {"day": error.message})
    flash("已更正：" + "；".join(c.text for c in diff), "success")
    return redirect(url_for("holidays.show", year=year), code=303)


@bp.post("/<int:year>/revert")
@requires("holidays.manage")
def revert(year):
    year = service.check_year(year)
    service.revert_year(year, by=g.user)
    flash(f"{year} 年已恢复为内置数据", "success")
    return redirect(url_for("holidays.show", year=year), code=303)
