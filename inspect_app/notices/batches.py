"""A round's 整改通知书 in one go, in the background: draft them all, or issue all approved ones.

A batch is a row with a progress counter the page polls; the worker (inspect_app.worker) does
the rendering and leaves a zip of the PDFs. Each notice is its own transaction, so a failure
part-way keeps what was done and says which unit it stopped at.
"""

import logging
from datetime import timedelta
from pathlib import Path

from inspect_app.db import database
from inspect_app.errors import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed
from inspect_app.findings.service import ACTIVE
from inspect_app.models import Finding, Inspection, Notice, NoticeBatch, Unit, User, now
from inspect_app.notices import documents, kinds, service, wording
from inspect_app.notices.render import RenderRefused

ACTIONS = {"draft": "起草并预览", "issue": "印发"}
STATUS_LABELS = {"queued": "排队中", "running": "生成中", "done": "已完成", "failed": "失败"}
log = logging.getLogger(__name__)


def _units_needing_notice(round_):
    """Units of the round with findings and no 整改通知书 yet (a superseded one counts as one)."""
    have = Notice.select(Notice.unit).where(
        Notice.round == round_.id, Notice.kind == "rectification"
    )
    return list(
        Unit.select()
        .join(Inspection, on=(Inspection.unit == Unit.id))
        .join(Finding, on=(Finding.inspection == Inspection.id))
        .where(
            Inspection.round == round_.id,
            Finding.status.in_(ACTIVE),
            Unit.id.not_in(have),
        )
        .distinct()
        .order_by(Unit.sort_order, Unit.name)
    )


def _approved(round_):
    return list(
        Notice.select()
        .join(Unit, on=(Notice.unit == Unit.id))
        .where(
            Notice.round == round_.id,
            Notice.kind == "rectification",
            Notice.status == "approved",
        )
        .order_by(Unit.sort_order, Unit.name)
    )


def _unissued(round_):
    return list(
        Notice.select()
        .join(Unit, on=(Notice.unit == Unit.id))
        .where(
            Notice.round == round_.id,
            Notice.kind == "rectification",
            Notice.status != "issued",
        )
        .order_by(Unit.sort_order, Unit.name)
    )


def start(round_, action, *, by, base_url):
    from inspect_app import worker

    if by.role != "supervisor":
        raise Forbidden("只有督查办可以批量生成整改通知书")
    if action not in ACTIONS:
        raise ValidationFailed("请选择批量操作")
    if round_.published_at is None:
        raise Conflict("该批次的检查结果尚未发布，发布后才能生成整改通知书")
    busy = list(
        NoticeBatch.select().where(
            NoticeBatch.round == round_.id, NoticeBatch.status.in_(("queued", "running"))
        )
    )
    if any(not stalled(b) for b in busy):
        raise Conflict("该批次已有正在进行的批量任务，请等待完成")
    for dead in busy:  # what was done stays done; the new batch picks up the rest
        NoticeBatch.update(
            status="failed", error="后台任务长时间没有进展，已中止", finished_at=now()
        ).where(NoticeBatch.id == dead.id).execute()
    if action == "draft":
        total = len(_units_needing_notice(round_)) + len(_unissued(round_))
        if total == 0:
            raise Conflict("该批次没有需要起草或预览的整改通知书")
    else:
        total = len(_approved(round_))
        if total == 0:
            raise Conflict("该批次没有已审签待印发的整改通知书")
    batch = NoticeBatch.create(
        round=round_, kind="rectification", action=action, total=total, created_by=by
    )
    worker.run_notice_batch(batch.id, base_url)
    return batch


def _advance(batch):
    NoticeBatch.update(done_count=NoticeBatch.done_count + 1).where(
        NoticeBatch.id == batch.id
    ).execute()


def run(batch_id, *, upload_folder, base_url):
    """The job itself (in the worker)."""
    batch = NoticeBatch.get_by_id(batch_id)
    by = User.get_by_id(batch.created_by_id)
    round_ = batch.round
    NoticeBatch.update(status="running").where(NoticeBatch.id == batch.id).execute()
    files, current = [], None
    try:
        if batch.action == "draft":
            for unit in _units_needing_notice(round_):
                current = unit.name
                service.draft_rectification(round_, unit, by=by, batch=batch)
            notices = _unissued(round_)
            NoticeBatch.update(total=len(notices)).where(NoticeBatch.id == batch.id).execute()
            for notice in notices:
                current = notice.unit.name
                files.append((service.file_name(notice), service.preview_pdf(notice)))
                _advance(batch)
        else:
            for notice in _approved(round_):
                current = notice.unit.name
                service.issue(notice, by=by, upload_folder=upload_folder, base_url=base_url)
                notice = Notice.get_by_id(notice.id)
                files.append((service.file_name(notice), service.stored_pdf(notice, upload_folder)))
                _advance(batch)
        folder = service.notice_folder(upload_folder)
        zip_name = f"batch-{batch.id}.zip"
        (folder / zip_name).write_bytes(documents.zip_of(files))
        NoticeBatch.update(status="done", zip_file=zip_name, finished_at=now()).where(
            NoticeBatch.id == batch.id
        ).execute()
    except Exception as error:  # the page must say what happened; the log keeps the trace
        message = error.message if isinstance(error, ServiceError) else str(error)
        if not isinstance(error, ServiceError):
            log.exception("notice batch %s failed", batch.id)
        NoticeBatch.update(
            status="failed",
            error=(f"处理{current}时出错：" if current else "") + message,
            finished_at=now(),
        ).where(NoticeBatch.id == batch.id).execute()


def approve_all(round_, *, by):
    """审签 every draft 整改通知书 of a round at once (the leader has read the zip of previews)."""
    drafts = [n for n in _unissued(round_) if n.status == "draft"]
    if not drafts:
        raise Conflict("该批次没有待审签的整改通知书草稿")
    with database.atomic():
        for notice in drafts:
            # the previews were rendered by the drafting batch; a late failure stops the issuing
            # batch at that unit, with its name
            service.approve(notice, by=by, check_render=False)
    return len(drafts)


def stalled(batch):
    """A batch nobody has picked up for a minute (the worker is probably not running), or one
    running far longer than its size explains (the worker died in the middle)."""
    age = now() - batch.created_at
    if batch.status == "queued":
        return age > timedelta(minutes=1)
    if batch.status == "running":
        return age > timedelta(minutes=10, seconds=30 * batch.total)
    return False


def of_round(round_):
    return list(
        NoticeBatch.select().where(NoticeBatch.round == round_.id).order_by(NoticeBatch.id.desc())
    )


def zip_bytes(batch, upload_folder):
    if batch.status != "done" or not batch.zip_file:
        raise Conflict("批量任务尚未完成")
    path = Path(upload_folder) / "notices" / batch.zip_file
    if not path.is_file():
        raise NotFound("压缩包已不存在，请重新生成")
    return path.read_bytes()


def zip_name(batch):
    return f"{batch.round.name}_整改通知书_{ACTIONS[batch.action]}_{batch.id}.zip"


def template_preview(kind, form):
    """A PDF of the edited (unsaved) template filled with sample data."""
    template = wording.clean(kind, form)
    context = kinds.sample_context(kind)
    texts = wording.fill(template, context)
    html = documents.html(
        texts,
        context,
        kind,
        number=f"{texts['number_prefix']}〔{now().year}〕1号",
        date_cn=kinds.chinese_date(now().date()),
        watermark="模板预览",
    )
    try:
        return documents.pdf(html, texts["layout"])[0]
    except RenderRefused as error:  # a template that cannot be printed is the form's error
        raise ValidationFailed(error.message) from error
