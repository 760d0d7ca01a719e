"""Findings (问题): drafted from failing answers at submission, edited by the team, confirmed at sign-off."""

from inspect_app import audit
from inspect_app.db import database
from inspect_app.errors import Conflict, NotFound, ValidationFailed
from inspect_app.ids import parse_ids
from inspect_app.models import Answer, AuditEvent, Finding, FindingPhoto, Photo, TaskFinding
from inspect_app.vocab import SEVERITIES

ACTIVE = ("draft", "confirmed")
# Findings may be changed until the inspection is signed off.
EDITABLE_STATUSES = frozenset({"planned", "in_progress", "returned", "submitted", "approved"})


def _describe_answer(spec, answer):
    from inspect_app.inspections.scoring import describe

    text = f"{spec['text']}：{describe(spec, answer.value)}"
    return f"{text}。{answer.note.strip()}" if answer.note.strip() else text


def draft_findings(inspection, *, by):
    """One draft per failing answer. Hand-edited findings are kept; stale untouched drafts go."""
    from inspect_app.inspections.service import sheet_of

    sheet = sheet_of(inspection)
    failing = {
        answer.item_code: answer
        for answer in Answer.select().where(
            Answer.inspection == inspection.id, Answer.failing == True
        )
        if answer.item_code in sheet.by_code
    }
    existing = {f.item_code: f for f in inspection.findings.where(Finding.item_code.is_null(False))}
    for code, finding in existing.items():
        if code not in failing and finding.status == "draft" and not finding.edited:
            finding.delete_instance(recursive=True)
    photos = {}
    for photo in Photo.select().where(
        Photo.inspection == inspection.id, Photo.removed_at.is_null()
    ):
        photos.setdefault(photo.item_code, []).append(photo)
    for code, answer in failing.items():
        spec = sheet.by_code[code]
        finding = existing.get(code)
        if finding is not None and (finding.edited or finding.status != "draft"):
            continue
        if finding is None:
            finding = Finding(inspection=inspection, item_code=code, created_by=by)
        finding.description = _describe_answer(spec, answer)
        finding.severity = spec["finding"]["severity"]
        finding.deadline_days = spec["finding"]["deadline_days"]
        finding.measure = spec["finding"]["measure"]
        finding.save()
        FindingPhoto.delete().where(FindingPhoto.finding == finding.id).execute()
        for photo in photos.get(code, []):
            FindingPhoto.create(finding=finding, photo=photo)


def _require_editable(inspection):
    if inspection.status not in EDITABLE_STATUSES:
        raise Conflict("检查已审签，问题清单已锁定；如需修改请先由督查办重新打开")


def clean_finding(data):
    errors = {}
    description = (data.get("description") or "").strip()
    if not description:
        errors["description"] = "请填写问题描述"
    elif len(description) > 2000:
        errors["description"] = "问题描述不能超过 2000 字"
    severity = (data.get("severity") or "").strip()
    if severity not in SEVERITIES:
        errors["severity"] = f"严重程度应为：{'、'.join(SEVERITIES)}"
    try:
        deadline_days = int(data.get("deadline_days") or 0)
        if not 1 <= deadline_days <= 180:
            raise ValueError
    except ValueError:
        deadline_days = None
        errors["deadline_days"] = "整改时限应为 1 到 180 个工作日"
    measure = (data.get("measure") or "").strip()
    if len(measure) > 2000:
        errors["measure"] = "整改措施不能超过 2000 字"
    if errors:
        raise ValidationFailed("请修改标出的内容", fields=errors)
    return {
        "description": description,
        "severity": severity,
        "deadline_days": deadline_days,
        "measure": measure,
    }


FIELDS = ("description", "severity", "deadline_days", "measure")


def _trail(finding, by, action, summary, detail=None, **changed):
    """Every hand change to a finding goes into the append-only audit trail, shown per finding."""
    audit.record(by, f"finding.{action}", finding, summary, detail, **changed)


def history(findings):
    """{finding id: [AuditEvent]} oldest first, one query."""
    grouped = {}
    query = AuditEvent.select().where(
        AuditEvent.object_type == "finding", AuditEvent.object_id.in_([f.id for f in findings])
    )
    for event in query.order_by(AuditEvent.id):
        grouped.setdefault(event.object_id, []).append(event)
    return grouped


def add_adhoc(inspection, data, *, by):
    """A problem no checklist item covers, noted during the visit."""
    _require_editable(inspection)
    with database.atomic():
        finding = Finding.create(
            inspection=inspection, item_code=None, created_by=by, edited=True, **clean_finding(data)
        )
        _trail(finding, by, "create", "补充清单外问题")
    return finding


def update_finding(finding, data, *, by):
    _require_editable(finding.inspection)
    if finding.status not in ACTIVE:
        raise Conflict("该问题已撤销或合并，不能再修改")
    values = clean_finding(data)
    changes = {k: [getattr(finding, k), v] for k, v in values.items() if getattr(finding, k) != v}
    if not changes:
        return finding
    with database.atomic():
        for key, value in values.items():
            setattr(finding, key, value)
        finding.edited = True
        finding.save()
        labels = {
            "description": "描述",
            "severity": "严重程度",
            "deadline_days": "整改时限",
            "measure": "整改措施",
        }
        _trail(
            finding,
            by,
            "update",
            "修改" + "、".join(labels[k] for k in changes),
            {"changes": changes},
            before={k: old for k, (old, _) in changes.items()},
            after={k: new for k, (_, new) in changes.items()},
        )
    return finding


def dismiss(finding, *, by, reason):
    _require_editable(finding.inspection)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("撤销问题须填写理由", fields={"reason": "撤销问题须填写理由"})
    if finding.status not in ACTIVE:
        raise Conflict("该问题已撤销或合并")
    with database.atomic():
        previous = finding.status
        finding.status, finding.dismiss_reason, finding.edited = "dismissed", reason, True
        finding.save()
        _trail(
            finding,
            by,
            "dismiss",
            f"撤销（原为{ {'draft': '草稿', 'confirmed': '已确定'}[previous] }）：{reason}",
        )
    return finding


def merge(inspection, finding_ids, *, by):
    """Fold several findings into the first: descriptions joined, photos kept, the rest marked merged."""
    _require_editable(inspection)
    ids = parse_ids(finding_ids)
    findings = list(
        Finding.select().where(
            Finding.id.in_(ids), Finding.inspection == inspection.id, Finding.status.in_(ACTIVE)
        )
    )
    if len(findings) < 2 or len(findings) != len(ids):
        raise ValidationFailed("请至少选择两个本次检查中有效的问题进行合并")
    findings.sort(key=lambda f: ids.index(f.id))
    target, others = findings[0], findings[1:]
    with database.atomic():
        target.description = "；".join(f.description.rstrip("。；") for f in findings) + "。"
        target.severity = max((f.severity for f in findings), key=SEVERITIES.index)
        target.deadline_days = min(f.deadline_days for f in findings)
        target.measure = "；".join(m for m in dict.fromkeys(f.measure for f in findings) if m)
        target.edited = True
        target.save()
        _trail(
            target, by, "merge", f"合并了 {len(others)} 个问题", {"merged": [o.id for o in others]}
        )
        for other in others:
            for link in other.photo_links:
                FindingPhoto.get_or_create(finding=target, photo=link.photo_id)
            other.status, other.merged_into, other.edited = "merged", target, True
            other.save()
            _trail(other, by, "merged", f"并入问题 #{target.id}")
    return target


def confirm_findings(inspection):
    Finding.update(status="confirmed").where(
        Finding.inspection == inspection.id, Finding.status == "draft"
    ).execute()


def reopen_findings(inspection):
    """Back to drafts, except findings already handed to units as tasks: those stay as issued."""
    in_tasks = TaskFinding.select(TaskFinding.finding)
    Finding.update(status="draft").where(
        Finding.inspection == inspection.id,
        Finding.status == "confirmed",
        Finding.id.not_in(in_tasks),
    ).execute()


def active_findings(inspection):
    return list(
        inspection.findings.where(Finding.status.in_(ACTIVE)).order_by(
            Finding.item_code.is_null(), Finding.item_code, Finding.id
        )
    )


def get_finding(inspection, finding_id):
    finding = Finding.get_or_none(Finding.id == finding_id, Finding.inspection == inspection.id)
    if finding is None:
        raise NotFound("该问题不存在")
    return finding
