"""Filling in an inspection: answers that save themselves, progress, submission and review."""

from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from peewee import JOIN, IntegrityError, fn

from inspect_app import audit, clock
from inspect_app.db import database, first
from inspect_app.errors import Conflict, NotFound, ValidationFailed
from inspect_app.inspections import scoring
from inspect_app.models import (
    Answer,
    ChecklistItem,
    Inspection,
    InspectionEvent,
    Photo,
    Round,
    SaveReceipt,
    Team,
    Unit,
    now,
)

STATUS_LABELS = {
    "planned": "未开始",
    "in_progress": "检查中",
    "submitted": "待组长审核",
    "returned": "已退回修改",
    "approved": "待审签",
    "signed_off": "已审签",
}
EDITABLE = frozenset({"planned", "in_progress", "returned"})
MAX_NOTE = 2000


@dataclass(frozen=True)
class Section:
    code: str
    title: str
    items: tuple


@dataclass(frozen=True)
class Sheet:
    """The checklist as it applies to one inspected unit."""

    sections: tuple
    by_code: dict
    not_applicable: tuple  # items whose applies_to excludes this unit's type

    @property
    def items(self):
        return [item for section in self.sections for item in section.items]


@lru_cache(maxsize=256)
def _version_items(version_id):
    """Items of a checklist version; versions never change, so they are cached per process."""
    return tuple(
        (item.section_code, item.section_title, item.spec)
        for item in ChecklistItem.select()
        .where(ChecklistItem.version == version_id)
        .order_by(ChecklistItem.position)
    )


@lru_cache(maxsize=1024)
def sheet_for(version_id, unit_type):
    sections, by_code, excluded = [], {}, []
    for section_code, section_title, spec in _version_items(version_id):
        if spec["applies_to"] and unit_type not in spec["applies_to"]:
            excluded.append(spec)
            continue
        if not sections or sections[-1][0] != section_code:
            sections.append((section_code, section_title, []))
        sections[-1][2].append(spec)
        by_code[spec["code"]] = spec
    return Sheet(
        sections=tuple(Section(code, title, tuple(items)) for code, title, items in sections),
        by_code=by_code,
        not_applicable=tuple(excluded),
    )


def sheet_of(inspection):
    return sheet_for(inspection.round.checklist_version_id, inspection.unit.type)


@dataclass(frozen=True)
class SaveResult:
    answer: Answer
    revision: int
    replayed: bool


def _transition_event(inspection, to_status, by, reason=""):
    InspectionEvent.create(
        inspection=inspection,
        actor=by,
        from_status=inspection.status,
        to_status=to_status,
        reason=reason,
    )
    audit.record(
        by,
        f"inspection.{to_status}",
        inspection,
        f"督查检查（{inspection.unit.name}）：{STATUS_LABELS[inspection.status]} → "
        f"{STATUS_LABELS[to_status]}" + (f"，原因：{reason}" if reason else ""),
        before={"status": inspection.status},
        after={"status": to_status},
    )


def save_answer(inspection, code, form, *, by, client_id, base_revision):
    """Apply one autosave. A save whose client_id was seen before is not applied again."""
    client_id = (client_id or "").strip()
    if not 8 <= len(client_id) <= 64:
        raise ValidationFailed("保存请求缺少有效的标识（client_id），请刷新页面后重试")
    receipt = _receipt(client_id)
    if receipt is not None:
        answer = Answer.get_by_id(receipt.answer_id)
        if answer.inspection_id != inspection.id or answer.item_code != code:
            raise Conflict("保存标识重复，请刷新页面后重试")
        return SaveResult(answer, receipt.revision, True)
    if inspection.status not in EDITABLE:
        raise Conflict(f"本次检查{STATUS_LABELS[inspection.status]}，已锁定，不能再修改答案")
    spec = sheet_of(inspection).by_code.get(code)
    if spec is None:
        raise NotFound(f"检查项 {code} 不在本次检查的清单中")
    value = scoring.clean_value(spec, form)
    note = (form.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(f"情况说明不能超过 {MAX_NOTE} 字")
    try:
        base = int(base_revision)
    except (TypeError, ValueError):
        raise ValidationFailed("保存请求缺少版本号（base_revision），请刷新页面后重试") from None
    evaluation = scoring.evaluate(spec, value)
    # Read outside the transaction: the write lock is held only for the two writes, and the
    # update itself re-checks the revision, so a save that slipped in between still conflicts.
    answer = _answer_of(inspection, code)
    current = answer.revision if answer else 0
    if current != base:
        raise AnswerConflict(spec, answer)
    try:
        with database.atomic():
            stamp = now()
            fields = {
                "value": value,
                "note": note,
                "failing": evaluation.failing,
                "score": evaluation.score,
                "updated_by": by,
                "updated_at": stamp,
                "revision": current + 1,
            }
            if answer is None:
                answer = Answer.create(inspection=inspection, item_code=code, **fields)
            else:
                if not _update_answer(
                    answer.id, current, fields
                ):  # another save slipped in between our read and write
                    raise AnswerConflict(spec, Answer.get_by_id(answer.id))
                for key, val in fields.items():
                    setattr(answer, key, val)
            _insert_receipt(client_id, answer.id, answer.revision, stamp)
            if inspection.status == "planned":
                _transition_event(inspection, "in_progress", by)
                Inspection.update(status="in_progress", started_at=stamp).where(
                    Inspection.id == inspection.id, Inspection.status == "planned"
                ).execute()
                inspection.status = "in_progress"
    except IntegrityError:
        # Two first saves of one item at once (unique answer), or the same client_id twice.
        existing = _receipt(client_id)
        if existing is not None:
            return SaveResult(Answer.get_by_id(existing.answer_id), existing.revision, True)
        raise AnswerConflict(
            spec, Answer.get_or_none(Answer.inspection == inspection.id, Answer.item_code == code)
        ) from None
    return SaveResult(answer, answer.revision, False)


# The two writes of every autosave, as plain SQL: peewee would spend longer composing them than
# the database spends running them.
_UPDATE_ANSWER = (
    'UPDATE "answer" SET "value" = {p}, "note" = {p}, "failing" = {p}, "score" = {p}, '
    '"updated_by_id" = {p}, "updated_at" = {p}, "revision" = {p} WHERE "id" = {p} AND "revision" = {p}'
)
_INSERT_RECEIPT = (
    'INSERT INTO "save_receipt" ("client_id", "answer_id", "revision", "created_at") '
    "VALUES ({p}, {p}, {p}, {p})"
)


def _update_answer(answer_id, current, fields):
    """Update only if nobody moved the revision since we read it; False if somebody did."""
    sql = _UPDATE_ANSWER.format(p=database.param)
    cursor = database.execute_sql(
        sql,
        (
            Answer.value.db_value(fields["value"]),
            fields["note"],
            fields["failing"],
            Answer.score.db_value(fields["score"]),
            fields["updated_by"].id if fields["updated_by"] else None,
            Answer.updated_at.db_value(fields["updated_at"]),
            fields["revision"],
            answer_id,
            current,
        ),
    )
    return cursor.rowcount == 1


def _insert_receipt(client_id, answer_id, revision, stamp):
    sql = _INSERT_RECEIPT.format(p=database.param)
    database.execute_sql(
        sql, (client_id, answer_id, revision, SaveReceipt.created_at.db_value(stamp))
    )


def _answer_of(inspection, code):
    return first(
        Answer,
        "answer_of_item",
        lambda: Answer.select().where(Answer.inspection == 0, Answer.item_code == ""),
        inspection.id,
        code,
    )


def _receipt(client_id):
    return first(
        SaveReceipt,
        "receipt_by_client_id",
        lambda: SaveReceipt.select().where(SaveReceipt.client_id == ""),
        client_id,
    )


def answered_count(inspection):
    row = first(
        Answer,
        "answered_count",
        lambda: Answer.select(fn.COUNT(Answer.id).alias("n")).where(
            Answer.inspection == 0, Answer.value.is_null(False)
        ),
        inspection.id,
    )
    return row.n


class AnswerConflict(Conflict):
    """Someone else changed the item since this tablet last saw it."""

    def __init__(self, spec, answer):
        self.answer = answer
        if answer is None:
            message = f"检查项 {spec['code']} 已被他人修改，请刷新后重试"
        else:
            who = answer.updated_by.display_name if answer.updated_by_id else "他人"
            when = answer.updated_at.strftime("%H:%M")
            message = (
                f"检查项 {spec['code']} 已被{who}于 {when} 改为“{scoring.describe(spec, answer.value)}”，"
                "您的修改尚未保存：请确认后选择保留哪一个"
            )
        super().__init__(message)


@dataclass
class Progress:
    answered: int = 0
    total: int = 0
    score: Decimal | None = None
    max_score: Decimal | None = None
    failing: int = 0
    missing: list = field(default_factory=list)  # [(code, text, what is missing)]

    @property
    def percent(self):
        return round(100 * self.answered / self.total) if self.total else 100

    @property
    def score_rate(self):
        """Score as 百分制 over the items that applied (不适用 excluded)."""
        if not self.max_score:
            return None
        return (self.score * 100 / self.max_score).quantize(Decimal("0.01"))


def answers_by_code(inspection):
    return {
        answer.item_code: answer
        for answer in Answer.select().where(Answer.inspection == inspection.id)
    }


def photo_counts(inspection):
    query = (
        Photo.select(Photo.item_code, fn.COUNT(Photo.id).alias("n"))
        .where(Photo.inspection == inspection.id, Photo.removed_at.is_null())
        .group_by(Photo.item_code)
    )
    return {row.item_code: row.n for row in query}


def progress(inspection, sheet=None, answers=None, photos=None):
    """Answered/total, running score and everything still missing for submission."""
    sheet = sheet or sheet_of(inspection)
    answers = answers if answers is not None else answers_by_code(inspection)
    photos = photos if photos is not None else photo_counts(inspection)
    result = Progress()
    for spec in sheet.items:
        required = spec["response"] != "text"
        if required:
            result.total += 1
        answer = answers.get(spec["code"])
        if answer is None or answer.value is None:
            if required:
                result.missing.append((spec["code"], spec["text"], "未作答"))
            continue
        if required:
            result.answered += 1
        evaluation = scoring.evaluate(spec, answer.value)
        if evaluation.max_points is not None:
            result.score = (result.score or Decimal(0)) + (evaluation.score or Decimal(0))
            result.max_score = (result.max_score or Decimal(0)) + evaluation.max_points
        if evaluation.failing:
            result.failing += 1
            needs = spec.get("require_when_failing", [])
            if "note" in needs and not answer.note.strip():
                result.missing.append((spec["code"], spec["text"], "不合格，须填写情况说明"))
            if "photo" in needs and not photos.get(spec["code"]):
                result.missing.append((spec["code"], spec["text"], "不合格，须上传现场照片"))
    return result


def _move(inspection, *, to, allowed, by, reason="", **fields):
    """Change status only from an allowed one; a concurrent change loses with a clear 409."""
    if inspection.status not in allowed:
        raise Conflict(f"本次检查当前状态为“{STATUS_LABELS[inspection.status]}”，不能执行该操作")
    with database.atomic():
        changed = (
            Inspection.update(status=to, lock_version=Inspection.lock_version + 1, **fields)
            .where(Inspection.id == inspection.id, Inspection.status == inspection.status)
            .execute()
        )
        if not changed:
            raise Conflict("本次检查的状态刚被他人改变，请刷新后重试")
        _transition_event(inspection, to, by, reason)
    inspection.status = to
    for key, value in fields.items():
        setattr(inspection, key, value)
    return inspection


class Incomplete(ValidationFailed):
    def __init__(self, missing):
        super().__init__(f"还有 {len(missing)} 处未完成，不能提交")
        self.missing = missing


def submit(inspection, *, by):
    """Lock the answers, score them and turn failing answers into draft findings."""
    from inspect_app.findings.service import draft_findings

    state = progress(inspection)
    if state.missing:
        raise Incomplete(state.missing)
    with database.atomic():
        _move(
            inspection,
            to="submitted",
            allowed=EDITABLE,
            by=by,
            submitted_at=now(),
            score=state.score,
            max_score=state.max_score,
        )
        draft_findings(inspection, by=by)
    return inspection


def _required_reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写原因", fields={"reason": "请填写原因"})
    if len(reason) > 1000:
        raise ValidationFailed("原因不能超过 1000 字", fields={"reason": "原因不能超过 1000 字"})
    return reason


def send_back(inspection, *, by, reason):
    return _move(
        inspection,
        to="returned",
        allowed={"submitted", "approved"},
        by=by,
        reason=_required_reason(reason),
    )


def approve(inspection, *, by):
    return _move(inspection, to="approved", allowed={"submitted"}, by=by)


def sign_off(inspection, *, by):
    from inspect_app.findings.service import confirm_findings
    from inspect_app.scores.service import record_inspection

    with database.atomic():
        _move(inspection, to="signed_off", allowed={"approved"}, by=by, signed_off_at=now())
        confirm_findings(inspection)
        record_inspection(inspection)  # the score is fixed now: ready for rankings
    return inspection


def reopen(inspection, *, by, reason):
    from inspect_app.findings.service import reopen_findings
    from inspect_app.scores.service import forget_inspection

    with database.atomic():
        _move(
            inspection,
            to="in_progress",
            allowed={"signed_off"},
            by=by,
            reason=_required_reason(reason),
            signed_off_at=None,
        )
        reopen_findings(inspection)
        forget_inspection(inspection)
    return inspection


def get_inspection(inspection_id):
    """The inspection with its round, unit and team, in one query."""
    inspection = (
        Inspection.select(Inspection, Round, Unit, Team)
        .join(Round)
        .switch(Inspection)
        .join(Unit)
        .switch(Inspection)
        .join(Team, JOIN.LEFT_OUTER)
        .where(Inspection.id == inspection_id)
        .first()
    )
    if inspection is None:
        raise NotFound("该检查不存在")
    return inspection


def get_inspection_to_fill(inspection_id):
    """The autosave path's inspection: its row plus just what the rules read of round, unit, team.

    The related objects carry only those fields (checklist version; unit type; team leader).
    """
    row = first(
        Inspection,
        "inspection_to_fill",
        lambda: (
            Inspection.select(
                Inspection,
                Round.checklist_version.alias("version_id"),
                Unit.type.alias("unit_type"),
                Team.leader.alias("team_leader_id"),
            )
            .join(Round)
            .switch(Inspection)
            .join(Unit)
            .switch(Inspection)
            .join(Team, JOIN.LEFT_OUTER)
            .where(Inspection.id == 0)
        ),
        inspection_id,
    )
    if row is None:
        raise NotFound("该检查不存在")
    row.round = Round(id=row.round_id, checklist_version=row.version_id)
    row.unit = Unit(id=row.unit_id, type=row.unit_type)
    row.team = Team(id=row.team_id, leader=row.team_leader_id) if row.team_id else None
    return row


def timeline(inspection):
    return list(inspection.events.order_by(InspectionEvent.at, InspectionEvent.id))


def stamp_now():
    return clock.now().strftime("%H:%M:%S")
