"""HTTP for official notices: register, drafting, 审签, 印发, 签收, templates, batches, verification."""

import io

from flask import Blueprint, current_app, flash, g, redirect, request, send_file, url_for

from inspect_app.auth.access import authorize, requires
from inspect_app.auth.permissions import PUBLIC
from inspect_app.errors import NotFound, ServiceError, ValidationFailed
from inspect_app.ids import parse_id
from inspect_app.models import EscalationDecision, NoticeBatch, Unit
from inspect_app.notices import batches, kinds, service, wording
from inspect_app.rectification import escalation
from inspect_app.rounds.service import get_round
from inspect_app.vocab import UNIT_ROLES
from inspect_app.web import render

bp = Blueprint("notices", __name__)


def _pdf_response(data, name, *, download=False):
    return send_file(
        io.BytesIO(data), mimetype="application/pdf", as_attachment=download, download_name=name
    )


def _base_url():
    return current_app.config.get("PUBLIC_URL") or request.url_root


def _steps():
    return escalation.ladder(current_app.config)


def _rules():
    from inspect_app.scores.config import rules_of

    return rules_of(current_app.config)


# -- register and one notice --------------------------------------------------------------


@bp.get("/notices")
@requires("notice.list")
def index():
    if g.user.role in UNIT_ROLES:
        return render("notices/received.html", notices=service.for_unit(g.user.unit_id))
    return render(
        "notices/register.html",
        block="results",
        notices=service.register(request.args),
        kinds=kinds.KINDS,
        status_labels=service.STATUS_LABELS,
        args=request.args,
    )


def _notice(notice_id, action="notice.view"):
    notice = service.get_notice(notice_id)
    authorize(action, notice)
    return notice


def _page(notice, status=200, errors=None):
    own = None
    superseded_by = service.superseded_by(notice)
    if g.user.role in UNIT_ROLES:
        own = next((r for r in service.recipients_of(notice) if r.unit_id == g.user.unit_id), None)
        if superseded_by is not None and superseded_by.status != "issued":
            superseded_by = None  # a correction still in draft is the office's business
    return render(
        "notices/show.html",
        status=status,
        notice=notice,
        kind=kinds.KINDS[notice.kind],
        status_labels=service.STATUS_LABELS,
        recipients=service.recipients_of(notice) if g.user.role not in UNIT_ROLES else [],
        own=own,
        errors=errors or {},
        superseded_by=superseded_by,
        verify_url=service.verify_url(_base_url(), notice) if notice.status == "issued" else None,
    )


@bp.get("/notices/<int:notice_id>")
@requires("notice.view")
def show(notice_id):
    return _page(_notice(notice_id))


@bp.get("/notices/<int:notice_id>/pdf")
@requires("notice.view")
def pdf(notice_id):
    notice = _notice(notice_id)
    data = service.stored_pdf(notice) if notice.status == "issued" else service.preview_pdf(notice)
    return _pdf_response(
        data, service.file_name(notice), download=request.args.get("download") == "1"
    )


# -- drafting -----------------------------------------------------------------------------


def _id(raw, label):
    number = parse_id(raw)
    if number is None:
        raise ValidationFailed(f"请选择{label}")
    return number


def _unit(raw):
    unit = Unit.get_or_none(Unit.id == _id(raw, "单位"))
    if unit is None:
        raise NotFound("没有这个单位")
    return unit


def _new_page(status=200, error=None, values=None):
    return render(
        "notices/new.html",
        status=status,
        error=error and error.message,
        gap=getattr(error, "gap", None),
        values=values or request.args,
        kinds=kinds.KINDS,
        rounds=service.rounds_for_drafting(),
        units=list(Unit.select().where(Unit.is_active == True).order_by(Unit.sort_order)),
    )


@bp.get("/notices/new")
@requires("notice.draft")
def new():
    return _new_page()


@bp.post("/notices/new")
@requires("notice.draft")
def create():
    form = request.form
    kind = form.get("kind", "")
    try:
        if kind not in kinds.KINDS:
            raise ValidationFailed("请选择公文种类")
        source = kinds.KINDS[kind].source
        if source == "escalation":
            decision = EscalationDecision.get_or_none(
                EscalationDecision.id == _id(form.get("decision_id"), "问责决定")
            )
            if decision is None:
                raise NotFound("没有这条问责决定")
            if kinds.KIND_FOR_RUNG.get(decision.level) != kind:
                raise ValidationFailed("这条问责决定对应的不是这种公文")
            notice = service.draft_from_escalation(decision, _steps(), by=g.user)
        elif source == "unit_tasks":
            notice = service.draft_for_unit(kind, _unit(form.get("unit_id")), by=g.user)
        elif source == "period":
            from inspect_app.scores import periods

            period = periods.parse(form.get("period", ""))
            notice = service.draft_period_circular(period, _rules(), by=g.user)
        else:
            round_ = get_round(_id(form.get("round_id"), "督查批次"))
            if source == "round":
                notice = service.draft_circular(round_, by=g.user)
            else:
                notice = service.draft_rectification(round_, _unit(form.get("unit_id")), by=g.user)
    except ServiceError as error:
        if "notice_id" in error.fields:
            return _to_existing(error)
        return _new_page(status=error.status, error=error, values=form)
    return _after(notice, f"已起草{kinds.KINDS[kind].label}，请核对后送审签")


@bp.post("/escalations/<int:decision_id>/notice")
@requires("notice.draft")
def from_escalation(decision_id):
    decision = EscalationDecision.get_or_none(EscalationDecision.id == decision_id)
    if decision is None:
        raise NotFound("没有这条问责决定")
    try:
        notice = service.draft_from_escalation(decision, _steps(), by=g.user)
    except ServiceError as error:
        if "notice_id" in error.fields:
            return _to_existing(error)
        raise
    return _after(notice, "已起草公文，请核对后送审签")


def _to_existing(error):
    """Drafting something already drafted leads to the open draft, saying so."""
    flash(error.message, "error")
    return redirect(url_for("notices.show", notice_id=int(error.fields["notice_id"])), code=303)


# -- lifecycle ----------------------------------------------------------------------------


def _after(notice, message):
    flash(message, "success")
    return redirect(url_for("notices.show", notice_id=notice.id), code=303)


@bp.post("/notices/<int:notice_id>/edit")
@requires("notice.draft")
def edit(notice_id):
    notice = service.get_notice(notice_id)
    try:
        service.edit(notice, request.form, by=g.user)
    except ValidationFailed as error:
        return _page(service.get_notice(notice_id), status=error.status, errors=error.fields)
    return _after(notice, "已保存")


@bp.post("/notices/<int:notice_id>/refresh")
@requires("notice.draft")
def refresh(notice_id):
    notice = service.refresh(service.get_notice(notice_id), _steps(), by=g.user, rules=_rules())
    return _after(notice, "已按最新数据和模板更新，需重新审签")


@bp.post("/notices/<int:notice_id>/approve")
@requires("notice.approve")
def approve(notice_id):
    notice = service.approve(service.get_notice(notice_id), by=g.user)
    return _after(notice, "已审签，可以印发")


@bp.post("/notices/<int:notice_id>/send-back")
@requires("notice.approve")
def send_back(notice_id):
    notice = service.get_notice(notice_id)
    try:
        service.send_back(notice, by=g.user, reason=request.form.get("reason"))
    except ValidationFailed as error:
        return _page(notice, status=error.status, errors=error.fields)
    return _after(notice, "已退回修改")


@bp.post("/notices/<int:notice_id>/issue")
@requires("notice.issue")
def issue(notice_id):
    notice = service.issue(
        service.get_notice(notice_id),
        by=g.user,
        upload_folder=current_app.config["UPLOAD_FOLDER"],
        base_url=_base_url(),
    )
    return _after(notice, f"已印发，文号 {notice.number}")


@bp.post("/notices/<int:notice_id>/discard")
@requires("notice.draft")
def discard(notice_id):
    service.discard(service.get_notice(notice_id), by=g.user)
    flash("已删除草稿", "success")
    return redirect(url_for("notices.index"), code=303)


@bp.post("/notices/<int:notice_id>/correct")
@requires("notice.draft")
def correct(notice_id):
    draft = service.correct(service.get_notice(notice_id), _steps(), by=g.user, rules=_rules())
    return _after(draft, "已起草更正稿；原公文保持不变")


@bp.post("/notices/<int:notice_id>/acknowledge")
@requires("notice.acknowledge")
def acknowledge(notice_id):
    notice = _notice(notice_id, "notice.acknowledge")
    service.acknowledge(notice, by=g.user)
    return _after(notice, "已签收")


# -- a round's 整改通知书 in one go --------------------------------------------------------


@bp.get("/rounds/<int:round_id>/notices")
@requires("notice.register")
def round_notices(round_id):
    round_ = get_round(round_id)
    return render(
        "notices/round.html",
        round=round_,
        notices=service.round_notices(round_),
        kinds=kinds.KINDS,
        status_labels=service.STATUS_LABELS,
        batches=batches.of_round(round_),
    )


@bp.post("/rounds/<int:round_id>/notices/batch")
@requires("notice.draft")
def start_batch(round_id):
    batch = batches.start(
        get_round(round_id), request.form.get("action", ""), by=g.user, base_url=_base_url()
    )
    return redirect(url_for("notices.batch", batch_id=batch.id), code=303)


@bp.post("/rounds/<int:round_id>/notices/approve")
@requires("notice.approve")
def approve_round(round_id):
    count = batches.approve_all(get_round(round_id), by=g.user)
    flash(f"已审签 {count} 份整改通知书", "success")
    return redirect(url_for("notices.round_notices", round_id=round_id), code=303)


def _batch(batch_id):
    batch = NoticeBatch.get_or_none(NoticeBatch.id == batch_id)
    if batch is None:
        raise NotFound("没有这个批量任务")
    return batch


@bp.get("/notices/batches/<int:batch_id>")
@requires("notice.register")
def batch(batch_id):
    batch = _batch(batch_id)
    return render(
        "notices/batch.html", block="progress", batch=batch, stalled=batches.stalled(batch)
    )


@bp.get("/notices/batches/<int:batch_id>/zip")
@requires("notice.register")
def batch_zip(batch_id):
    batch = _batch(batch_id)
    data = batches.zip_bytes(batch, current_app.config["UPLOAD_FOLDER"])
    return send_file(
        io.BytesIO(data),
        mimetype="application/zip",
        as_attachment=True,
        download_name=batches.zip_name(batch),
    )


# -- templates ----------------------------------------------------------------------------


@bp.get("/notice-templates")
@requires("notice_template.edit")
def templates():
    return render(
        "notices/templates.html",
        kinds=kinds.KINDS,
        current={code: wording.current(code) for code in kinds.KINDS},
    )


def _kind(kind):
    if kind not in kinds.KINDS:
        raise NotFound("没有这种公文")
    return kinds.KINDS[kind]


def _template_page(kind, wording_template, status=200, errors=None, error=None):
    return render(
        "notices/template_edit.html",
        status=status,
        kind=_kind(kind),
        wording=wording_template,
        fields=wording.FIELDS,
        layouts=wording.LAYOUTS,
        errors=errors or {},
        error=error,
        versions=wording.versions(kind),
        sample=kinds.sample_context(kind),
    )


@bp.get("/notice-templates/<kind>")
@requires("notice_template.edit")
def template_edit(kind):
    _kind(kind)
    return _template_page(kind, wording.current(kind))


@bp.post("/notice-templates/<kind>")
@requires("notice_template.edit")
def template_save(kind):
    _kind(kind)
    try:
        # what cannot be printed is not saved: found now, not when a notice is approved or issued
        batches.template_preview(kind, request.form)
        saved = wording.save(kind, request.form, by=g.user)
    except ValidationFailed as error:
        unsaved = wording.NoticeTemplate(
            kind=kind,
            version=wording.current(kind).version,
            **{f: request.form.get(f, "") for f in wording.FIELDS},
        )
        return _template_page(
            kind, unsaved, status=error.status, errors=error.fields, error=error.message
        )
    flash(
        f"已保存{kinds.KINDS[kind].label}模板第{saved.version}版；已起草的公文可“更新数据”套用新模板",
        "success",
    )
    return redirect(url_for("notices.template_edit", kind=kind), code=303)


@bp.post("/notice-templates/<kind>/preview")
@requires("notice_template.edit")
def template_preview(kind):
    _kind(kind)
    try:
        data = batches.template_preview(kind, request.form)
    except ValidationFailed as error:
        unsaved = wording.NoticeTemplate(
            kind=kind,
            version=wording.current(kind).version,
            **{f: request.form.get(f, "") for f in wording.FIELDS},
        )
        return _template_page(
            kind, unsaved, status=error.status, errors=error.fields, error=error.message
        )
    return _pdf_response(data, f"预览_{kinds.KINDS[kind].label}.pdf")


# -- verification of a printout (no sign-in: whoever holds the paper may check it) ----------


def _verify_page(notice, status=200, match=None):
    service.record_missing_sm3(notice)
    correction = service.superseded_by(notice)
    if correction is not None and correction.status != "issued":
        correction = None  # a correction in draft does not replace anything yet
    return render(
        "notices/verify.html",
        status=status,
        notice=notice,
        kind=kinds.KINDS[notice.kind],
        superseded_by=correction,
        match=match,
        acknowledged=sum(1 for r in service.recipients_of(notice) if r.acknowledged_at),
        addressed=len(service.recipients_of(notice)),
    )


@bp.get("/v/<token>")
@requires(PUBLIC)
def verify(token):
    return _verify_page(service.by_token(token))


@bp.post("/v/<token>")
@requires(PUBLIC)
def verify_file(token):
    notice = service.by_token(token)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("请选择要核对的 PDF 文件")
    return _verify_page(notice, match=service.file_check(notice, upload.read()))
