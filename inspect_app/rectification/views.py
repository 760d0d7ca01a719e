from flask import Blueprint, current_app, flash, g, redirect, request, send_file, url_for

from inspect_app import clock
from inspect_app.auth.access import authorize, requires
from inspect_app.auth.permissions import SIGNED_IN
from inspect_app.errors import NotFound, ServiceError
from inspect_app.models import ExtensionRequest, TaskEvent, Unit
from inspect_app.notices.kinds import KIND_FOR_RUNG, KINDS
from inspect_app.rectification import escalation, files, ledger, notifications, service
from inspect_app.rounds.service import all_rounds, get_round
from inspect_app.vocab import SEVERITIES
from inspect_app.web import render

bp = Blueprint("tasks", __name__)

VIEWS = {"tasks": "任务清单", "findings": "问题清单", "responsibilities": "责任清单"}


def _list_context():
    tasks = service.filtered(g.user, request.args)
    return {
        "tasks": tasks,
        "findings": service.findings_of(tasks),
        "summary": service.unit_summary(tasks),
        "view": request.args.get("view") if request.args.get("view") in VIEWS else "tasks",
        "views": VIEWS,
        "rounds": all_rounds() if g.user.role not in ("unit_liaison", "unit_head") else [],
        "units": list(Unit.select().where(Unit.is_active == True).order_by(Unit.sort_order)),
        "status_labels": service.STATUS_LABELS,
        "severities": SEVERITIES,
        "light": service.light,
        "days_left": service.days_left,
        "args": request.args,
    }


@bp.get("/tasks")
@requires("task.list")
def index():
    return render("tasks/list.html", block="results", **_list_context())


@bp.get("/tasks/ledger")
@requires("task.list")
def ledger_page():
    context = _list_context()
    return render(
        "tasks/ledger.html",
        rows=ledger.rows(context["tasks"]),
        columns=ledger.COLUMNS,
        today=clock.today(),
    )


@bp.get("/tasks/ledger.xlsx")
@requires("task.list")
def ledger_xlsx():
    import io

    tasks = service.filtered(g.user, request.args)
    data = ledger.workbook(tasks, f"整改台账（{clock.today().isoformat()} 导出）")
    return send_file(
        io.BytesIO(data),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"整改台账-{clock.today().isoformat()}.xlsx",
    )


def _new_form(round_, status=200, errors=None, values=None):
    findings = service.assignable_findings(round_)
    return render(
        "tasks/new.html",
        block="deadline_field",
        status=status,
        round=round_,
        findings=findings,
        errors=errors or {},
        values=values,
        hint=service.deadline_hint(round_, values) if values is not None else None,
        today=clock.today(),
        units=list(Unit.select().where(Unit.is_active == True).order_by(Unit.sort_order)),
    )


@bp.route("/rounds/<int:round_id>/tasks/new", methods=["GET", "POST"])
@requires("task.assign")
def create(round_id):
    round_ = get_round(round_id)
    if request.method == "GET":
        # The form asks again as findings are ticked or a date typed: the deadline it would assign.
        return _new_form(round_, values=request.args if request.args else None)
    try:
        task = service.create_task(round_, request.form, by=g.user)
    except ServiceError as error:
        return _new_form(round_, status=error.status, errors=error.fields, values=request.form)
    flash(f"已交办整改任务：{task.title}", "success")
    return redirect(url_for("tasks.show", task_id=task.id), code=303)


def _task(task_id, action):
    task = service.get_task(task_id)
    authorize(action, task)
    return task


def _page(task, status=200, error=None):
    steps = escalation.ladder(current_app.config)
    return render(
        "tasks/show.html",
        status=status,
        task=task,
        error=error,
        findings=service.findings_of([task]).get(task.id, []),
        events=list(task.events.order_by(TaskEvent.id)),
        extensions=list(task.extensions.order_by(ExtensionRequest.id.desc())),
        actions=service.available_actions(g.user, task),
        transitions=service.TRANSITIONS,
        status_labels=service.STATUS_LABELS,
        light=service.light(task),
        days_left=service.days_left(task),
        may_extend=service.may_act(g.user, task, "unit") and task.status in service.OPEN,
        suggestion=escalation.suggestion(steps, task)
        if g.user.role not in ("unit_liaison", "unit_head")
        else None,
        decisions=list(task.escalations),
        steps={s.code: s for s in steps},
        notice_rungs={rung: KINDS[kind].label for rung, kind in KIND_FOR_RUNG.items()},
    )


@bp.get("/tasks/escalations")
@requires("escalation.view")
def escalations():
    steps = escalation.ladder(current_app.config)
    tasks = escalation.open_and_late(service.visible_tasks(g.user))
    return render(
        "tasks/escalations.html",
        pending=escalation.pending(steps, tasks),
        awaiting_calendar=escalation.awaiting_calendar(steps, tasks),
        steps=steps,
        overdue_days=escalation.overdue_days,
        status_labels=service.STATUS_LABELS,
    )


@bp.post("/tasks/<int:task_id>/escalations")
@requires("task.assign")
def decide_escalation(task_id):
    task = service.get_task(task_id)
    steps = escalation.ladder(current_app.config)
    try:
        escalation.decide(
            steps,
            task,
            request.form.get("level"),
            by=g.user,
            applied=request.form.get("decision") == "apply",
            note=request.form.get("note"),
        )
    except ServiceError as error:
        if error.status == 403:
            raise
        return _page(task, status=error.status, error=error.message)
    flash("问责处理决定已记录", "success")
    target = request.form.get("back") == "list"
    return redirect(
        url_for("tasks.escalations") if target else url_for("tasks.show", task_id=task.id), code=303
    )


@bp.get("/tasks/<int:task_id>")
@requires("task.view")
def show(task_id):
    return _page(_task(task_id, "task.view"))


@bp.post("/tasks/<int:task_id>/actions/<action>")
@requires("task.act")
def act(task_id, action):
    task = _task(task_id, "task.act")
    try:
        if action == "report":
            service.report_progress(
                task,
                request.form.get("text"),
                request.files.getlist("files"),
                by=g.user,
                upload_folder=current_app.config["UPLOAD_FOLDER"],
            )
        else:
            service.act(task, action, by=g.user, text=request.form.get("text"))
    except ServiceError as error:
        if error.status in (403, 404):
            raise
        return _page(task, status=error.status, error=error.message)
    transition = service.TRANSITIONS[action]
    flash(f"已{transition.label}", "success")
    return redirect(url_for("tasks.show", task_id=task.id), code=303)


@bp.post("/tasks/<int:task_id>/extensions")
@requires("task.act")
def request_extension(task_id):
    task = _task(task_id, "task.act")
    try:
        service.request_extension(task, request.form, by=g.user)
    except ServiceError as error:
        if error.status == 403:
            raise
        return _page(
            task,
            status=error.status,
            error=error.message
            + (("：" + "；".join(error.fields.values())) if error.fields else ""),
        )
    flash("已提交延期申请，等待督查办审批", "success")
    return redirect(url_for("tasks.show", task_id=task.id), code=303)


@bp.post("/tasks/<int:task_id>/extensions/<int:request_id>")
@requires("task.act")
def decide_extension(task_id, request_id):
    task = _task(task_id, "task.act")
    extension = ExtensionRequest.get_or_none(
        ExtensionRequest.id == request_id, ExtensionRequest.task == task.id
    )
    if extension is None:
        raise NotFound("该延期申请不存在")
    grant = request.form.get("decision") == "grant"
    try:
        service.decide_extension(extension, by=g.user, grant=grant, note=request.form.get("note"))
    except ServiceError as error:
        if error.status == 403:
            raise
        return _page(task, status=error.status, error=error.message)
    flash("已同意延期，新的整改时限已生效" if grant else "已不同意延期", "success")
    return redirect(url_for("tasks.show", task_id=task.id), code=303)


@bp.post("/tasks/<int:task_id>/revisit")
@requires("task.assign")
def revisit(task_id):
    task = service.get_task(task_id)
    try:
        task = service.revisit(task, request.form, by=g.user)
    except ServiceError as error:
        if error.status == 403:
            raise
        return _page(task, status=error.status, error=error.message)
    flash(
        "回访发现问题反弹，任务已重新交办并标为重复问题"
        if task.is_repeat and task.status != "closed"
        else "回访情况已记录：整改成效巩固",
        "success",
    )
    return redirect(url_for("tasks.show", task_id=task.id), code=303)


@bp.get("/tasks/<int:task_id>/files/<int:file_id>")
@requires("task.view")
def download(task_id, file_id):
    task = _task(task_id, "task.view")
    row = files.get_file(task, file_id)
    return send_file(
        files.path_of(row, current_app.config["UPLOAD_FOLDER"]),
        mimetype=files.MIMETYPES[row.kind],
        as_attachment=row.kind != "image",
        download_name=row.original_name,
        max_age=0,
    )


@bp.get("/notifications")
@requires(SIGNED_IN)
def notification_list():
    return render(
        "tasks/notifications.html",
        notifications=notifications.recent(g.user),
        warnings=notifications.warnings(g.user),
        days_left=service.days_left,
    )


@bp.post("/notifications/read")
@requires(SIGNED_IN)
def read_notifications():
    notifications.mark_all_read(g.user)
    return redirect(url_for("tasks.notification_list"), code=303)
