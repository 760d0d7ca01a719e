"""The life of an official notice: draft → 审签 (approved) → 印发 (issued) → 签收 by units.

Drafting freezes the data into the notice; approving is a second person's signature on exactly
that; issuing numbers it (per kind and year, without gaps), renders the PDF once, stores it with
its SHA-256 and its SM3 (国密, GB/T 32905) and never renders it again. A correction is a new notice that supersedes the old.
"""

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from peewee import JOIN, IntegrityError, fn

from inspect_app import audit, clock
from inspect_app.db import database
from inspect_app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from inspect_app.models import (
    AuditEvent,
    Inspection,
    Notice,
    NoticeCounter,
    NoticeRecipient,
    Notification,
    Round,
    Unit,
    User,
    now,
)
from inspect_app.notices import documents, kinds, wording
from inspect_app.notices.kinds import KINDS
from inspect_app.texts import REASON, too_long
from inspect_app.vocab import UNIT_ROLES

STATUS_LABELS = {"draft": "草稿", "approved": "已审签", "issued": "已印发"}
EDITABLE = ("title", "main_to", "copy_to")
DRAFTERS = frozenset({"supervisor"})
APPROVERS = frozenset({"supervisor", "leader"})


# -- drafting ---------------------------------------------------------------------------------


def _create(
    kind,
    context,
    *,
    by,
    round_=None,
    unit=None,
    escalation=None,
    recipients=(),
    supersedes=None,
    batch=None,
):
    if by.role not in DRAFTERS:
        raise Forbidden("只有督查办可以起草公文")
    template = wording.current(kind)
    texts = wording.fill(template, context)
    with database.atomic():
        notice = Notice.create(
            kind=kind,
            title=texts["title"],
            main_to=texts["main_to"],
            copy_to=texts["copy_to"],
            round=round_,
            unit=unit,
            escalation=escalation,
            template=template.id,
            context=context,
            created_by=by,
            supersedes=supersedes,
            batch=batch,
            verify_token=secrets.token_urlsafe(16),
        )
        if recipients:
            NoticeRecipient.insert_many(
                [{"notice": notice.id, "unit": u.id} for u in recipients]
            ).execute()
        audit.record(by, "notice.draft", notice, f"起草{KINDS[kind].label}：{notice.title}")
    return notice


def _open_notice(kind, **where):
    """An unissued notice of this kind for the same subject, if any (drafting twice is refused)."""
    query = Notice.select().where(Notice.kind == kind, Notice.status != "issued")
    for field, value in where.items():
        query = query.where(getattr(Notice, field) == value)
    return query.first()


def _refuse_duplicate(kind, **where):
    existing = _open_notice(kind, **where)
    if existing is not None:
        raise Conflict(
            f"已有未印发的{KINDS[kind].label}（{STATUS_LABELS[existing.status]}），请在其基础上修改",
            fields={"notice_id": str(existing.id)},
        )


def draft_rectification(round_, unit, *, by, batch=None, supersedes=None):
    if supersedes is None:
        _refuse_duplicate("rectification", round=round_.id, unit=unit.id)
    context = kinds.rectification_context(round_, unit, clock.today())
    return _create(
        "rectification",
        context,
        by=by,
        round_=round_,
        unit=unit,
        recipients=[unit],
        batch=batch,
        supersedes=supersedes,
    )


def draft_circular(round_, *, by, supersedes=None):
    if supersedes is None:
        _refuse_duplicate("circular", round=round_.id)
    context = kinds.circular_context(round_, clock.today())
    units = [
        i.unit
        for i in Inspection.select(Inspection, Unit)
        .join(Unit)
        .where(Inspection.round == round_)
        .order_by(Unit.sort_order, Unit.name)
    ]
    return _create(
        "circular", context, by=by, round_=round_, recipients=units, supersedes=supersedes
    )


def draft_period_circular(period, rules, *, by, supersedes=None):
    """月通报 / 季评比: addressed to every ranked unit."""
    if supersedes is None:
        for open_one in Notice.select().where(
            Notice.kind == "period_circular", Notice.status != "issued"
        ):
            if open_one.context.get("period", {}).get("code") == period.code:
                raise Conflict(
                    f"已有未印发的{period.label}考评通报（{STATUS_LABELS[open_one.status]}），请在其基础上修改",
                    fields={"notice_id": str(open_one.id)},
                )
    context = kinds.period_circular_context(period, rules, clock.today())
    units = list(Unit.select().where(Unit.id.in_(context["units"])).order_by(Unit.sort_order))
    return _create("period_circular", context, by=by, recipients=units, supersedes=supersedes)


def draft_for_unit(kind, unit, *, by, supersedes=None):
    if KINDS.get(kind) is None or KINDS[kind].source != "unit_tasks":
        raise ValidationFailed("这种公文不能按单位起草")
    if supersedes is None:
        _refuse_duplicate(kind, unit=unit.id, escalation=None)
    context = kinds.unit_tasks_context(unit, clock.today())
    return _create(kind, context, by=by, unit=unit, recipients=[unit], supersedes=supersedes)


def draft_from_escalation(decision, steps, *, by, supersedes=None):
    kind = kinds.KIND_FOR_RUNG.get(decision.level)
    if kind is None:
        raise Conflict("这一级问责措施没有对应的公文")
    if supersedes is None:
        _refuse_duplicate(kind, escalation=decision.id)
    context = kinds.decision_context(kind, decision, steps, clock.today())
    unit = decision.task.lead_unit
    recipients = [] if kind == "accountability" else [unit]  # 问责建议 goes to 纪委/组织部
    return _create(
        kind,
        context,
        by=by,
        unit=unit,
        escalation=decision,
        recipients=recipients,
        supersedes=supersedes,
    )


def correct(notice, steps, *, by, rules=None):
    """A new draft replacing an issued notice, from today's data; the old one stays as issued."""
    if notice.status != "issued":
        raise Conflict("只有已印发的公文需要更正；未印发的请直接修改")
    if Notice.select().where(Notice.supersedes == notice.id).exists():
        raise Conflict("这份公文已有更正稿")
    if notice.kind == "rectification":
        return draft_rectification(notice.round, notice.unit, by=by, supersedes=notice)
    if notice.kind == "circular":
        return draft_circular(notice.round, by=by, supersedes=notice)
    if notice.kind == "period_circular":
        return draft_period_circular(_period_of(notice), rules, by=by, supersedes=notice)
    if notice.escalation_id:
        return draft_from_escalation(notice.escalation, steps, by=by, supersedes=notice)
    return draft_for_unit(notice.kind, notice.unit, by=by, supersedes=notice)


# -- editing and signing -------------------------------------------------------------------


def _require(notice, status, doing):
    if notice.status != status:
        raise Conflict(f"这份公文{STATUS_LABELS[notice.status]}，不能{doing}")


def edit(notice, data, *, by):
    _require(notice, "draft", "修改")
    errors = {}
    for name in EDITABLE:
        value = " ".join((data.get(name) or "").split())
        label = wording.FIELDS[name][0]
        if not value and name != "copy_to":
            errors[name] = f"请填写{label}"
        elif len(value) > 500:
            errors[name] = f"{label}不能超过500个字符"
        setattr(notice, name, value)
    if errors:
        raise ValidationFailed("；".join(errors.values()), fields=errors)
    with database.atomic():
        notice.save(only=[Notice.title, Notice.main_to, Notice.copy_to])
        audit.record(by, "notice.edit", notice, f"修改公文草稿：{notice.title}")
    return notice


def _period_of(notice):
    from inspect_app.scores import periods

    return periods.parse(notice.context["period"]["code"])


def refresh(notice, steps, *, by, rules=None):
    """Re-read the data and the template in force into a draft (or an approved, un-issued one,
    which then needs approving again)."""
    if notice.status == "issued":
        raise Conflict("已印发的公文不能再改，如需更正请起草更正稿")
    source = KINDS[notice.kind].source
    today = clock.today()
    if source == "round_unit":
        context = kinds.rectification_context(notice.round, notice.unit, today)
    elif source == "round":
        context = kinds.circular_context(notice.round, today)
    elif source == "period":
        context = kinds.period_circular_context(_period_of(notice), rules, today)
    elif notice.escalation_id:
        context = kinds.decision_context(notice.kind, notice.escalation, steps, today)
    else:
        context = kinds.unit_tasks_context(notice.unit, today)
    template = wording.current(notice.kind)
    wording.fill(template, context)  # refuse before changing anything
    with database.atomic():
        notice.context, notice.template = context, template.id
        notice.status, notice.approved_by, notice.approved_at = "draft", None, None
        notice.save()
        audit.record(by, "notice.refresh", notice, f"更新公文数据：{notice.title}")
    return notice


def texts_of(notice):
    template = notice.template if notice.template_id else wording.current(notice.kind)
    texts = wording.fill(template, notice.context)
    texts.update({name: getattr(notice, name) for name in EDITABLE})
    return texts


def _html(notice, *, number, watermark=None, verify_url=None, date=None):
    day = date or (notice.issued_at.date() if notice.issued_at else clock.today())
    return documents.html(
        texts_of(notice),
        notice.context,
        notice.kind,
        number=number,
        date_cn=kinds.chinese_date(day),
        watermark=watermark,
        verify_url=verify_url,
    )


def _number_placeholder(notice):
    prefix = texts_of(notice)["number_prefix"]
    return f"{prefix}〔{clock.today().year}〕　号"


def preview_pdf(notice):
    """A draft or approved notice as it will look, marked and unnumbered; never stored."""
    if notice.status == "issued":
        return stored_pdf(notice)
    watermark = "草稿" if notice.status == "draft" else "已审签 待印发"
    layout = texts_of(notice)["layout"]
    return documents.pdf(
        _html(notice, number=_number_placeholder(notice), watermark=watermark), layout
    )[0]


def approve(notice, *, by, check_render=True):
    if by.role not in APPROVERS:
        raise Forbidden("只有领导或督查办可以审签公文")
    _require(notice, "draft", "审签")
    if notice.created_by_id == by.id:
        raise Forbidden("起草人不能审签自己起草的公文，请由另一人审签")
    if _changed_by(notice, by):
        raise Forbidden("修改过这份公文的人不能审签它，请由另一人审签")
    if check_render:  # what cannot be rendered is not approved
        preview_pdf(notice)
    with database.atomic():
        notice.status, notice.approved_by, notice.approved_at = "approved", by, now()
        notice.save(only=[Notice.status, Notice.approved_by, Notice.approved_at])
        audit.record(by, "notice.approve", notice, f"审签公文：{notice.title}")
    return notice


def _changed_by(notice, user):
    """Whether `user` edited the draft's wording or refreshed its data: then the text is partly
    theirs, and their signature would not be a second person's."""
    return (
        AuditEvent.select()
        .where(
            AuditEvent.object_type == "notice",
            AuditEvent.object_id == notice.id,
            AuditEvent.actor == user.id,
            AuditEvent.action.in_(["notice.edit", "notice.refresh"]),
        )
        .exists()
    )


def send_back(notice, *, by, reason):
    """The approver returns an approved notice to draft, with a reason (审签退回)."""
    if by.role not in APPROVERS:
        raise Forbidden("只有领导或督查办可以退回公文")
    if notice.status not in ("draft", "approved"):
        raise Conflict("已印发的公文不能退回")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请说明退回理由", fields={"reason": "请说明退回理由"})
    if problem := too_long(reason, "退回理由", REASON):
        raise ValidationFailed(problem, fields={"reason": problem})
    with database.atomic():
        notice.status, notice.approved_by, notice.approved_at = "draft", None, None
        notice.save(only=[Notice.status, Notice.approved_by, Notice.approved_at])
        audit.record(by, "notice.send_back", notice, f"退回公文：{notice.title}：{reason}")
    return notice


def discard(notice, *, by):
    if by.role not in DRAFTERS:
        raise Forbidden("只有督查办可以删除公文草稿")
    if notice.status == "issued":
        raise Conflict("已印发的公文不能删除")
    with database.atomic():
        audit.record(by, "notice.discard", notice, f"删除公文草稿：{notice.title}")
        notice.delete_instance(recursive=True)


# -- issuing ------------------------------------------------------------------------------


def _next_number(kind, year):
    """The next 发文字号 serial for kind and year; inside the issuing transaction, so a failed
    issue gives its number back and the numbers run without gaps."""
    updated = (
        NoticeCounter.update(last=NoticeCounter.last + 1)
        .where(NoticeCounter.kind == kind, NoticeCounter.year == year)
        .execute()
    )
    if not updated:
        try:
            with database.atomic():
                NoticeCounter.create(kind=kind, year=year, last=1)
            return 1
        except IntegrityError:  # another issuer created the counter first
            NoticeCounter.update(last=NoticeCounter.last + 1).where(
                NoticeCounter.kind == kind, NoticeCounter.year == year
            ).execute()
    return (
        NoticeCounter.select(NoticeCounter.last)
        .where(NoticeCounter.kind == kind, NoticeCounter.year == year)
        .scalar()
    )


def notice_folder(upload_folder):
    folder = Path(upload_folder) / "notices"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def verify_url(base_url, notice):
    return base_url.rstrip("/") + f"/v/{notice.verify_token}"


def issue(notice, *, by, upload_folder, base_url):
    if by.role not in DRAFTERS:
        raise Forbidden("只有督查办可以印发公文")
    _require(notice, "approved", "印发（须先审签）")
    folder = notice_folder(upload_folder)
    with database.atomic():
        # re-read under the transaction: two clicks must not issue twice
        fresh = Notice.get_by_id(notice.id)
        if fresh.status != "approved":
            raise Conflict("这份公文已被他人印发或退回，请刷新")
        issued_at = now()
        texts = texts_of(notice)
        year = issued_at.year
        seq = _next_number(notice.kind, year)
        number = f"{texts['number_prefix']}〔{year}〕{seq}号"
        html = _html(
            notice, number=number, verify_url=verify_url(base_url, notice), date=issued_at.date()
        )
        pdf, pages = documents.pdf(html, texts["layout"])
        file_name = f"{notice.verify_token}.pdf"
        partial = folder / (file_name + ".part")
        partial.write_bytes(pdf)
        os.replace(partial, folder / file_name)
        notice.status, notice.issued_by, notice.issued_at = "issued", by, issued_at
        notice.number_year, notice.number_seq, notice.number = year, seq, number
        notice.pdf_file = file_name
        notice.sha256, notice.sm3 = digests(pdf)
        notice.pdf_size, notice.page_count = len(pdf), pages
        notice.save()
        _tell_recipients(notice)
        audit.record(
            by,
            "notice.issue",
            notice,
            f"印发{number}：{notice.title}",
            {"sha256": notice.sha256, "sm3": notice.sm3},
        )
    return notice


def _tell_recipients(notice):
    units = [r.unit_id for r in notice.recipients]
    if not units:
        return
    users = User.select(User.id).where(
        User.unit.in_(units), User.role.in_(list(UNIT_ROLES)), User.is_active == True
    )
    Notification.insert_many(
        [
            {
                "user": u.id,
                "notice": notice.id,
                "kind": "notice",
                "text": f"收到{KINDS[notice.kind].label}{notice.number}“{notice.title}”，请签收",
            }
            for u in users
        ]
    ).execute()


class StoredPdfDamaged(Exception):
    pass


def digests(data):
    """(SHA-256, SM3) of a file, as hex."""
    return hashlib.sha256(data).hexdigest(), hashlib.new("sm3", data).hexdigest()


def stored_pdf(notice, upload_folder=None):
    """The issued PDF exactly as frozen; refuses to hand out a file whose SHA-256 or SM3 has
    changed. A notice issued before SM3 was recorded gets it here, from a file whose SHA-256
    proves it the original."""
    from flask import current_app

    folder = Path(upload_folder or current_app.config["UPLOAD_FOLDER"]) / "notices"
    try:
        data = (folder / notice.pdf_file).read_bytes()
    except (OSError, TypeError) as error:
        raise NotFound("公文文件缺失，请联系系统管理员") from error
    sha256, sm3 = digests(data)
    if sha256 != notice.sha256:
        raise Conflict("公文文件与印发时登记的 SHA-256 不一致，文件可能被改动，已停止提供")
    if notice.sm3 is None:
        notice.sm3 = sm3
        Notice.update(sm3=sm3).where(Notice.id == notice.id, Notice.sm3.is_null()).execute()
    elif sm3 != notice.sm3:
        raise Conflict("公文文件与印发时登记的 SM3 不一致，文件可能被改动，已停止提供")
    return data


def file_name(notice):
    label = KINDS[notice.kind].label
    subject = notice.unit.name if notice.unit_id else (notice.round.name if notice.round_id else "")
    if notice.kind == "period_circular":
        subject = notice.context["period"]["label"]
    name = (
        f"{notice.number or label + '（' + STATUS_LABELS[notice.status] + '）'}_{label}_{subject}"
    )
    return "".join(c for c in name if c not in '\\/:*?"<>|') + ".pdf"


# -- units --------------------------------------------------------------------------------


def acknowledge(notice, *, by):
    if by.role not in UNIT_ROLES or by.unit_id is None:
        raise Forbidden("只有受文单位的用户可以签收")
    if notice.status != "issued":
        raise NotFound("没有这份公文")
    recipient = NoticeRecipient.get_or_none(
        NoticeRecipient.notice == notice.id, NoticeRecipient.unit == by.unit_id
    )
    if recipient is None:
        raise Forbidden("你的单位不是这份公文的受文单位")
    if recipient.acknowledged_at is not None:
        raise Conflict(f"已于{recipient.acknowledged_at:%Y-%m-%d %H:%M}签收")
    with database.atomic():
        recipient.acknowledged_at, recipient.acknowledged_by = now(), by
        recipient.save()
        unit_users = User.select(User.id).where(User.unit == by.unit_id)
        Notification.update(read_at=now()).where(
            Notification.notice == notice.id,
            Notification.user.in_(unit_users),
            Notification.read_at.is_null(),
        ).execute()
        audit.record(by, "notice.acknowledge", notice, f"签收{notice.number}")
    return recipient


# -- reading ------------------------------------------------------------------------------


def get_notice(notice_id):
    notice = Notice.get_or_none(Notice.id == notice_id)
    if notice is None:
        raise NotFound("没有这份公文")
    return notice


def by_token(token):
    notice = Notice.get_or_none(Notice.verify_token == token, Notice.status == "issued")
    if notice is None:
        raise NotFound("没有查到这份公文：二维码无效，或公文尚未印发")
    return notice


def record_missing_sm3(notice):
    """For a notice issued before SM3 was recorded: take it from the stored file now, if that file
    is intact. The verification page shows the notice with both digests where it can."""
    if notice.sm3 is None:
        # Otherwise the page shows SM3 as 未登记; the file check still compares SHA-256.
        with contextlib.suppress(NotFound, Conflict):
            stored_pdf(notice)
    return notice


def file_check(notice, data):
    """Whether an uploaded file is the issued original: {"sha256": bool, "sm3": bool or None
    (not recorded)}, and "original" when every recorded digest matches."""
    sha256, sm3 = digests(data)
    result = {
        "sha256": sha256 == notice.sha256,
        "sm3": None if notice.sm3 is None else sm3 == notice.sm3,
    }
    result["original"] = result["sha256"] and result["sm3"] is not False
    return result


def superseded_by(notice):
    return Notice.select().where(Notice.supersedes == notice.id).first()


def register(args):
    """The notices register (公文登记簿) with filters; each row with its 签收 counts."""
    acknowledged = fn.COUNT(NoticeRecipient.acknowledged_at)
    query = (
        Notice.select(
            Notice,
            fn.COUNT(NoticeRecipient.id).alias("addressed"),
            acknowledged.alias("acknowledged"),
        )
        .join(NoticeRecipient, JOIN.LEFT_OUTER)
        .group_by(Notice.id)
        .order_by(Notice.status == "issued", Notice.issued_at.desc(), Notice.id.desc())
    )
    kind = args.get("kind", "")
    if kind in KINDS:
        query = query.where(Notice.kind == kind)
    status = args.get("status", "")
    if status in STATUS_LABELS:
        query = query.where(Notice.status == status)
    year = args.get("year", "")
    if year.isascii() and year.isdigit() and len(year) == 4:
        query = query.where(Notice.number_year == int(year))
    if args.get("unacknowledged") == "1":
        query = query.where(Notice.status == "issued").having(
            fn.COUNT(NoticeRecipient.id) > acknowledged
        )
    return list(query)


def recipients_of(notice):
    return list(
        NoticeRecipient.select(NoticeRecipient, Unit)
        .join(Unit)
        .where(NoticeRecipient.notice == notice.id)
        .order_by(NoticeRecipient.acknowledged_at.is_null(False), Unit.sort_order, Unit.name)
    )


def for_unit(unit_id):
    """Issued notices addressed to a unit, with its own 签收 state."""
    return list(
        Notice.select(Notice, NoticeRecipient)
        .join(NoticeRecipient)
        .where(NoticeRecipient.unit == unit_id, Notice.status == "issued")
        .order_by(Notice.issued_at.desc())
    )


def round_notices(round_):
    return list(Notice.select().where(Notice.round == round_.id).order_by(Notice.id))


def rounds_for_drafting():
    return list(
        Round.select().where(Round.published_at.is_null(False)).order_by(Round.starts_on.desc())
    )
