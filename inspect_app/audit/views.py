"""审计记录: the auditor's search, export and chain check. Nobody else reads the trail."""

from flask import Blueprint, g, make_response, request

from inspect_app import audit, clock
from inspect_app.audit import service
from inspect_app.auth.access import requires
from inspect_app.errors import ServiceError
from inspect_app.web import render

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _choices():
    return {"action_groups": service.ACTION_GROUPS, "object_types": service.OBJECT_TYPES}


@bp.get("")
@requires("audit.view")
def index():
    try:
        filters = service.parse_filters(request.args)
    except ServiceError as error:
        return render(
            "audit/index.html",
            status=error.status,
            errors=error.fields,
            values=request.args,
            events=[],
            total=0,
            number=1,
            pages=1,
            args={},
            who=service.who,
            **_choices(),
        )
    number = request.args.get("page", "1")
    number = int(number) if number.isascii() and number.isdigit() and len(number) < 7 else 1
    events, total, number, pages = service.page(filters, number)
    return render(
        "audit/index.html",
        block="results",
        errors={},
        values=request.args,
        events=events,
        total=total,
        number=number,
        pages=pages,
        args=filters.args(),
        who=service.who,
        **_choices(),
    )


def _export(kind):
    filters = service.parse_filters(request.args)
    make = service.export_xlsx if kind == "xlsx" else service.export_csv
    body, count = make(filters)
    audit.record(
        g.user,
        "audit.export",
        None,
        f"导出审计记录 {count} 条（.{kind}）",
        {"filters": filters.args(), "count": count},
    )
    response = make_response(body)
    response.headers["Content-Type"] = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if kind == "xlsx"
        else "text/csv; charset=utf-8"
    )
    name = f"audit-{clock.now():%Y%m%d-%H%M%S}.{kind}"
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    return response


@bp.get("/export.xlsx")
@requires("audit.view")
def export_xlsx():
    return _export("xlsx")


@bp.get("/export.csv")
@requires("audit.view")
def export_csv():
    return _export("csv")


@bp.post("/verify")
@requires("audit.view")
def verify():
    verdict = service.verify()
    audit.record(
        g.user,
        "audit.verify",
        None,
        "校验审计链：" + ("通过" if verdict.ok else "未通过：" + verdict.problem),
        {"ok": verdict.ok, "count": verdict.count, "head": verdict.head_seq},
    )
    return render("audit/verify.html", verdict=verdict, algorithm=service.chain.ALGORITHM.upper())
