from flask import Blueprint, current_app, flash, g, jsonify, redirect, request, send_file, url_for

from inspect_app.auth.access import authorize, requires
from inspect_app.auth.permissions import can
from inspect_app.errors import NotFound, ServiceError
from inspect_app.findings import service as findings
from inspect_app.inspections import photos as photo_service
from inspect_app.inspections import scoring, service
from inspect_app.inspections.service import STATUS_LABELS, AnswerConflict, Incomplete
from inspect_app.vocab import EVIDENCE, RESPONSE_TYPES, SEVERITIES, UNIT_TYPES
from inspect_app.web import render

bp = Blueprint("inspections", __name__)


def wants_json():
    return request.accept_mimetypes.best == "application/json"


def _context(inspection):
    sheet = service.sheet_of(inspection)
    answers = service.answers_by_code(inspection)
    photos = photo_service.photos_by_item(inspection)
    counts = {code: len(items) for code, items in photos.items()}
    active = findings.active_findings(inspection) if inspection.status != "planned" else []
    return {
        "inspection": inspection,
        "sheet": sheet,
        "answers": answers,
        "photos": photos,
        "progress": service.progress(inspection, sheet, answers, counts),
        "findings": active,
        "finding_history": findings.history(active),
        "events": service.timeline(inspection),
        "status_labels": STATUS_LABELS,
        "response_types": RESPONSE_TYPES,
        "evidence": EVIDENCE,
        "severities": SEVERITIES,
        "unit_types": UNIT_TYPES,
        "editable": inspection.status in service.EDITABLE
        and can(g.user, "inspection.fill", inspection),
        "describe": scoring.describe,
    }


@bp.get("/inspections/<int:inspection_id>")
@requires("inspection.view")
def show(inspection_id):
    inspection = service.get_inspection(inspection_id)
    authorize("inspection.view", inspection)
    return render("inspections/show.html", **_context(inspection))


@bp.get("/inspections/<int:inspection_id>/record")
@requires("inspection.view")
def record(inspection_id):
    inspection = service.get_inspection(inspection_id)
    authorize("inspection.view", inspection)
    return render("inspections/record.html", **_context(inspection))


def _fill_target(inspection_id):
    inspection = service.get_inspection_to_fill(inspection_id)
    authorize("inspection.fill", inspection)
    return inspection


@bp.post("/inspections/<int:inspection_id>/answers/<code>")
@requires("inspection.fill")
def save_answer(inspection_id, code):
    """Autosave of one item. JSON for the tablet's outbox; a redirect for a plain form post."""
    inspection = _fill_target(inspection_id)
    try:
        result = service.save_answer(
            inspection,
            code,
            request.form,
            by=g.user,
            client_id=request.form.get("client_id"),
            base_revision=request.form.get("base_revision"),
        )
    except AnswerConflict as conflict:
        if not wants_json():
            raise
        answer = conflict.answer
        return jsonify(
            error=conflict.message,
            conflict=True,
            current={
                "revision": answer.revision if answer else 0,
                "value": answer.value if answer else None,
                "note": answer.note if answer else "",
            },
        ), 409
    except ServiceError as error:
        if wants_json():
            return jsonify(error=error.message), error.status
        raise
    if not wants_json():
        flash(f"检查项 {code} 已保存", "success")
        return redirect(
            url_for("inspections.show", inspection_id=inspection.id, _anchor=f"item-{code}"),
            code=303,
        )
    answered = service.answered_count(inspection)
    return jsonify(
        revision=result.revision,
        replayed=result.replayed,
        failing=result.answer.failing,
        score=str(result.answer.score) if result.answer.score is not None else None,
        saved_at=result.answer.updated_at.strftime("%H:%M:%S"),
        answered=answered,
        status=STATUS_LABELS[inspection.status],
    )


@bp.post("/inspections/<int:inspection_id>/photos")
@requires("inspection.fill")
def upload_photo(inspection_id):
    inspection = _fill_target(inspection_id)
    code = (request.form.get("item_code") or "").strip() or None
    if code is not None and code not in service.sheet_of(inspection).by_code:
        error = NotFound(f"检查项 {code} 不在本次检查的清单中")
        if wants_json():
            return jsonify(error=error.message), 404
        raise error
    try:
        photo = photo_service.store_photo(
            inspection,
            code,
            request.files.get("photo"),
            by=g.user,
            client_id=request.form.get("client_id"),
            upload_folder=current_app.config["UPLOAD_FOLDER"],
            editable=inspection.status in service.EDITABLE,
        )
    except ServiceError as error:
        if wants_json():
            return jsonify(error=error.message), error.status
        raise
    if wants_json():
        return jsonify(
            id=photo.id,
            thumb=url_for("inspections.photo", photo_id=photo.id, size="thumb"),
            full=url_for("inspections.photo", photo_id=photo.id),
            remove=url_for(
                "inspections.remove_photo", inspection_id=inspection.id, photo_id=photo.id
            ),
        )
    flash("照片已上传", "success")
    return redirect(
        url_for(
            "inspections.show",
            inspection_id=inspection.id,
            _anchor=f"item-{code}" if code else None,
        ),
        code=303,
    )


@bp.post("/inspections/<int:inspection_id>/photos/<int:photo_id>/remove")
@requires("inspection.fill")
def remove_photo(inspection_id, photo_id):
    inspection = _fill_target(inspection_id)
    photo = photo_service.get_photo(photo_id)
    if photo.inspection_id != inspection.id:
        raise NotFound("照片不存在")
    photo_service.remove_photo(photo, by=g.user, editable=inspection.status in service.EDITABLE)
    if wants_json():
        return jsonify(removed=photo.id)
    return redirect(
        url_for("inspections.show", inspection_id=inspection.id, _anchor=f"item-{photo.item_code}"),
        code=303,
    )


@bp.get("/photos/<int:photo_id>")
@bp.get("/photos/<int:photo_id>/<any(thumb):size>")
@requires("inspection.view")
def photo(photo_id, size=None):
    photo = photo_service.get_photo(photo_id)
    authorize("inspection.view", photo.inspection)
    path = photo_service.photo_file(
        photo, current_app.config["UPLOAD_FOLDER"], thumb=size == "thumb"
    )
    response = send_file(path, mimetype="image/jpeg", max_age=3600)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.post("/inspections/<int:inspection_id>/submit")
@requires("inspection.fill")
def submit(inspection_id):
    inspection = service.get_inspection(inspection_id)
    authorize("inspection.fill", inspection)
    try:
        service.submit(inspection, by=g.user)
    except Incomplete as incomplete:
        context = _context(inspection)
        return render("inspections/show.html", status=422, missing=incomplete.missing, **context)
    flash("已提交，答案已锁定；不合格项已生成问题草稿，等待组长审核", "success")
    return redirect(url_for("inspections.show", inspection_id=inspection.id), code=303)


def _act(inspection_id, action, verb, message, **kwargs):
    inspection = service.get_inspection(inspection_id)
    # Role-level actions (sign-off, reopen) were checked on the route; review is per team.
    authorize(action if action == "inspection.review" else "inspection.view", inspection)
    try:
        verb(inspection, by=g.user, **kwargs)
    except ServiceError as error:
        if error.fields:
            return render(
                "inspections/show.html",
                status=error.status,
                action_error=error.message,
                **_context(inspection),
            )
        raise
    flash(message, "success")
    return redirect(url_for("inspections.show", inspection_id=inspection.id), code=303)


@bp.post("/inspections/<int:inspection_id>/approve")
@requires("inspection.review")
def approve(inspection_id):
    return _act(
        inspection_id, "inspection.review", service.approve, "已审核通过，等待督查办或领导审签"
    )


@bp.post("/inspections/<int:inspection_id>/send-back")
@requires("inspection.view")
def send_back(inspection_id):
    inspection = service.get_inspection(inspection_id)
    # Before approval the team leader sends back; after it, whoever signs off may too.
    if inspection.status == "approved" and can(g.user, "inspection.sign_off"):
        authorize("inspection.view", inspection)
    else:
        authorize("inspection.review", inspection)
    try:
        service.send_back(inspection, by=g.user, reason=request.form.get("reason"))
    except ServiceError as error:
        if error.fields:
            return render(
                "inspections/show.html",
                status=error.status,
                action_error=error.message,
                **_context(inspection),
            )
        raise
    flash("已退回督查组修改", "success")
    return redirect(url_for("inspections.show", inspection_id=inspection.id), code=303)


@bp.post("/inspections/<int:inspection_id>/sign-off")
@requires("inspection.sign_off")
def sign_off(inspection_id):
    return _act(inspection_id, "inspection.sign_off", service.sign_off, "已审签，问题清单已确定")


@bp.post("/inspections/<int:inspection_id>/reopen")
@requires("inspection.reopen")
def reopen(inspection_id):
    return _act(
        inspection_id,
        "inspection.reopen",
        service.reopen,
        "已重新打开，原因已记录",
        reason=request.form.get("reason"),
    )


def _change_findings(inspection_id, change, message):
    """Run `change(inspection)` for the team; back to the findings, or the page with the error."""
    inspection = service.get_inspection(inspection_id)
    authorize("finding.edit", inspection)
    try:
        change(inspection)
    except ServiceError as error:
        return render(
            "inspections/show.html",
            status=error.status,
            action_error=error.message,
            **_context(inspection),
        )
    flash(message, "success")
    return redirect(
        url_for("inspections.show", inspection_id=inspection.id, _anchor="findings"), code=303
    )


@bp.post("/inspections/<int:inspection_id>/findings")
@requires("finding.edit")
def add_finding(inspection_id):
    return _change_findings(
        inspection_id,
        lambda inspection: findings.add_adhoc(inspection, request.form, by=g.user),
        "已补充一条问题",
    )


@bp.post("/inspections/<int:inspection_id>/findings/<int:finding_id>")
@requires("finding.edit")
def update_finding(inspection_id, finding_id):
    return _change_findings(
        inspection_id,
        lambda inspection: findings.update_finding(
            findings.get_finding(inspection, finding_id), request.form, by=g.user
        ),
        "问题已修改",
    )


@bp.post("/inspections/<int:inspection_id>/findings/<int:finding_id>/dismiss")
@requires("finding.edit")
def dismiss_finding(inspection_id, finding_id):
    return _change_findings(
        inspection_id,
        lambda inspection: findings.dismiss(
            findings.get_finding(inspection, finding_id),
            by=g.user,
            reason=request.form.get("reason"),
        ),
        "问题已撤销，理由已记录",
    )


@bp.post("/inspections/<int:inspection_id>/findings/merge")
@requires("finding.edit")
def merge_findings(inspection_id):
    return _change_findings(
        inspection_id,
        lambda inspection: findings.merge(
            inspection, request.form.getlist("finding_ids"), by=g.user
        ),
        "已合并所选问题",
    )
