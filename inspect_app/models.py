"""The schema. Changes go through a new file in migrations/, never by editing an old one."""

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from inspect_app import clock
from inspect_app.db import BaseModel, JSONField


def now():
    return clock.now().replace(microsecond=0)


def PointsField(**kwargs):  # noqa: N802 — a field factory reads like a field
    return DecimalField(max_digits=7, decimal_places=2, auto_round=True, **kwargs)


class Unit(BaseModel):
    """A 被督查单位 or a committee above it; the tree is the party organisation hierarchy."""

    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    code = CharField(max_length=32, unique=True)
    name = CharField(max_length=100)
    type = CharField(max_length=16)
    org_form = CharField(max_length=16, default="")
    secretary = CharField(max_length=32, default="")  # 党组织书记
    contact_name = CharField(max_length=32, default="")
    contact_phone = CharField(max_length=32, default="")
    sort_order = IntegerField(default=0)
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=now)
    updated_at = DateTimeField(default=now)


class User(BaseModel):
    username = CharField(max_length=64, unique=True)
    display_name = CharField(max_length=64)
    password_hash = CharField(max_length=255)
    role = CharField(max_length=24)
    unit = ForeignKeyField(Unit, null=True, backref="users", on_delete="RESTRICT")
    is_active = BooleanField(default=True)
    created_at = DateTimeField(default=now)
    last_login_at = DateTimeField(null=True)
    password_changed_at = DateTimeField(default=now)
    # Set when someone else chose the password (demo, created, reset): the owner must change it
    # before doing anything else.
    must_change_password = BooleanField(default=False)
    # Two-factor sign-in (TOTP): the secret encrypted with the instance key (auth/two_factor.py);
    # set but not enabled while enrolment waits for its first code. The last time step accepted,
    # so a code is never taken twice.
    totp_secret = CharField(max_length=255, null=True)
    totp_enabled_at = DateTimeField(null=True)
    totp_last_step = IntegerField(default=0)


class Checklist(BaseModel):
    slug = CharField(max_length=60, unique=True)
    title = CharField(max_length=200)
    kind = CharField(max_length=16)
    created_at = DateTimeField(default=now)


class ChecklistVersion(BaseModel):
    """One frozen edition of a checklist file; inspections point here, never at the file."""

    checklist = ForeignKeyField(Checklist, backref="versions", on_delete="RESTRICT")
    number = IntegerField()
    label = CharField(max_length=32)
    title = CharField(max_length=200)
    content_hash = CharField(max_length=64)
    source_name = CharField(max_length=200)
    source_text = TextField()
    definition = JSONField()
    total_points = PointsField(null=True)
    item_count = IntegerField()
    loaded_at = DateTimeField(default=now)
    loaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("checklist", "number"), True),)


class ChecklistItem(BaseModel):
    version = ForeignKeyField(ChecklistVersion, backref="items", on_delete="CASCADE")
    position = IntegerField()
    section_code = CharField(max_length=32)
    section_title = CharField(max_length=200)
    code = CharField(max_length=32)
    text = TextField()
    response = CharField(max_length=16)
    max_points = PointsField(null=True)
    applies_to = JSONField()  # unit type codes; empty = every type
    spec = JSONField()  # the item exactly as validated: methods, guidance, rules, finding defaults

    class Meta:
        indexes = ((("version", "code"), True),)


class LoginAttempt(BaseModel):
    """A failed password or code, or a completed sign-in (auth/throttle.py counts them)."""

    username = CharField(max_length=64, index=True)
    ip = CharField(max_length=64, index=True)
    succeeded = BooleanField()
    at = DateTimeField(default=now, index=True)
    factor = CharField(max_length=8, default="password")  # password | totp


class UserSession(BaseModel):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so
    the table (or a backup of it) signs nobody in. Deleting the row ends the session at once."""

    user = ForeignKeyField(User, on_delete="CASCADE", backref="+")
    token_hash = CharField(max_length=64, unique=True)
    started_at = DateTimeField()
    last_seen_at = DateTimeField()
    address = CharField(max_length=64, default="")
    user_agent = CharField(max_length=200, default="")


class PasswordHistory(BaseModel):
    """Every password an account has had (hashed), newest last: no reuse of the last N."""

    user = ForeignKeyField(User, on_delete="CASCADE", backref="+")
    password_hash = CharField(max_length=255)
    set_at = DateTimeField(default=now)


class Setting(BaseModel):
    """Settings an administrator changes in the UI (the password policy), as JSON by key."""

    key = CharField(max_length=64, unique=True)
    value = JSONField()
    updated_at = DateTimeField(default=now)
    updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")


class AuditEvent(BaseModel):
    """One record of the audit trail (inspect_app/audit): who, when, from where, what, and the
    changed values before and after. Append-only and hash-chained: `seq` numbers the records
    without gaps, `row_hash` is the SM3 digest of the record including `prev_hash`, the previous
    record's digest. The database refuses updates (a trigger, m0014)."""

    seq = BigIntegerField(unique=True)
    at = DateTimeField(default=now, index=True)
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
    actor_username = CharField(max_length=64, default="")  # as it was; or the name a stranger gave
    address = CharField(max_length=64, default="")  # the client's; empty: shell or worker
    action = CharField(max_length=48, index=True)
    object_type = CharField(max_length=32)
    object_id = IntegerField(null=True)
    summary = TextField()
    detail = JSONField(null=True)
    value_before = JSONField(null=True)
    value_after = JSONField(null=True)
    prev_hash = CharField(max_length=64)
    row_hash = CharField(max_length=64)

    class Meta:
        indexes = ((("object_type", "object_id"), False),)

    def save(self, force_insert=False, only=None):
        """Records are appended, sealed into the chain under its lock; never changed."""
        if self.id is not None:
            raise TypeError("audit records are append-only")
        from inspect_app.audit.chain import seal

        database = self._meta.database
        with database.atomic():
            seal(self, database)
            return super().save(force_insert=True)


ALL_MODELS = [Unit, User, Checklist, ChecklistVersion, ChecklistItem, LoginAttempt, AuditEvent]
ALL_MODELS += [UserSession, PasswordHistory, Setting]


class Round(BaseModel):
    """A 督查批次: one checklist version taken to a set of units in a period."""

    name = CharField(max_length=200)
    kind = CharField(max_length=16)
    checklist_version = ForeignKeyField(ChecklistVersion, on_delete="RESTRICT")
    starts_on = DateField()
    ends_on = DateField()
    unannounced = BooleanField(default=False)  # 暗访: hidden from units until published
    description = TextField(default="")
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=now)
    published_at = DateTimeField(null=True)
    published_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")


class Team(BaseModel):
    round = ForeignKeyField(Round, backref="teams", on_delete="CASCADE")
    name = CharField(max_length=64)
    leader = ForeignKeyField(User, on_delete="RESTRICT", backref="+")


class TeamMember(BaseModel):
    team = ForeignKeyField(Team, backref="members", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="RESTRICT", backref="+")

    class Meta:
        indexes = ((("team", "user"), True),)


class Inspection(BaseModel):
    round = ForeignKeyField(Round, backref="inspections", on_delete="CASCADE")
    unit = ForeignKeyField(Unit, backref="inspections", on_delete="RESTRICT")
    team = ForeignKeyField(Team, null=True, backref="inspections", on_delete="SET NULL")
    status = CharField(max_length=16, default="planned", index=True)
    started_at = DateTimeField(null=True)
    submitted_at = DateTimeField(null=True)
    signed_off_at = DateTimeField(null=True)
    score = PointsField(null=True)
    max_score = PointsField(null=True)
    lock_version = IntegerField(default=0)  # bumped by every status change

    class Meta:
        indexes = ((("round", "unit"), True),)


class Answer(BaseModel):
    inspection = ForeignKeyField(Inspection, backref="answers", on_delete="CASCADE")
    item_code = CharField(max_length=32)
    value = JSONField(null=True)  # {"value": …} / {"values": […]} / {"counts": {"0": 2}}
    note = TextField(default="")
    revision = IntegerField(default=0)  # for conflict detection between two inspectors
    failing = BooleanField(default=False)
    score = PointsField(null=True)
    updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    updated_at = DateTimeField(default=now)

    class Meta:
        indexes = ((("inspection", "item_code"), True),)


class SaveReceipt(BaseModel):
    """The result of a save, by the id the tablet made for it: a retried save is applied once."""

    client_id = CharField(max_length=64, unique=True)
    answer = ForeignKeyField(Answer, on_delete="CASCADE", backref="+")
    revision = IntegerField()
    created_at = DateTimeField(default=now)


class Photo(BaseModel):
    inspection = ForeignKeyField(Inspection, backref="photos", on_delete="CASCADE")
    item_code = CharField(max_length=32, null=True)
    client_id = CharField(max_length=64, unique=True)
    file_name = CharField(max_length=100)  # under UPLOAD_FOLDER/photos/
    width = IntegerField()
    height = IntegerField()
    size = IntegerField()
    sha256 = CharField(max_length=64)
    uploaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    uploaded_at = DateTimeField(default=now)
    removed_at = DateTimeField(null=True)


class Finding(BaseModel):
    """A 问题: a failing answer (or an ad-hoc observation) as the team will hand it to the unit."""

    inspection = ForeignKeyField(Inspection, backref="findings", on_delete="CASCADE")
    item_code = CharField(max_length=32, null=True)  # None for ad-hoc findings
    description = TextField()
    severity = CharField(max_length=8)
    deadline_days = IntegerField()
    measure = TextField(default="")
    status = CharField(max_length=12, default="draft")  # draft, dismissed, merged
    dismiss_reason = TextField(default="")
    merged_into = ForeignKeyField("self", null=True, on_delete="SET NULL", backref="merged")
    edited = BooleanField(default=False)  # edited by hand: regeneration keeps it
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = DateTimeField(default=now)


class FindingPhoto(BaseModel):
    finding = ForeignKeyField(Finding, backref="photo_links", on_delete="CASCADE")
    photo = ForeignKeyField(Photo, on_delete="CASCADE", backref="+")

    class Meta:
        indexes = ((("finding", "photo"), True),)


class InspectionEvent(BaseModel):
    """Append-only trail of an inspection's status changes."""

    inspection = ForeignKeyField(Inspection, backref="events", on_delete="CASCADE")
    at = DateTimeField(default=now)
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    from_status = CharField(max_length=16)
    to_status = CharField(max_length=16)
    reason = TextField(default="")


ALL_MODELS += [
    Round,
    Team,
    TeamMember,
    Inspection,
    Answer,
    SaveReceipt,
    Photo,
    Finding,
    FindingPhoto,
    InspectionEvent,
]


class Task(BaseModel):
    """A 整改任务: one or more findings, the unit that must fix them, measures and a deadline."""

    round = ForeignKeyField(Round, backref="tasks", on_delete="RESTRICT")
    lead_unit = ForeignKeyField(Unit, backref="tasks", on_delete="RESTRICT")
    title = CharField(max_length=200)
    measures = TextField()
    responsible_person = CharField(max_length=32)  # 整改责任人
    deadline = DateField(index=True)  # the overdue sweep
    severity = CharField(max_length=8)
    status = CharField(max_length=16, default="assigned", index=True)
    sent_back_count = IntegerField(default=0)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = DateTimeField(default=now)
    closed_at = DateTimeField(null=True)
    is_repeat = BooleanField(default=False)  # relapsed at a 回访 after 销号 (反弹)

    class Meta:
        indexes = ((("round", "status"), False),)  # rankings' and the dashboard's task figures


class TaskCoUnit(BaseModel):
    task = ForeignKeyField(Task, backref="co_units", on_delete="CASCADE")
    unit = ForeignKeyField(Unit, on_delete="RESTRICT", backref="+")

    class Meta:
        indexes = ((("task", "unit"), True),)


class TaskFinding(BaseModel):
    task = ForeignKeyField(Task, backref="finding_links", on_delete="CASCADE")
    finding = ForeignKeyField(Finding, unique=True, on_delete="RESTRICT", backref="task_links")


class TaskEvent(BaseModel):
    """Append-only trail: every change to a task, who, when, from → to, why, with what files."""

    task = ForeignKeyField(Task, backref="events", on_delete="CASCADE")
    at = DateTimeField(default=now)
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    action = CharField(max_length=24)
    from_status = CharField(max_length=16)
    to_status = CharField(max_length=16)
    text = TextField(default="")
    detail = JSONField(null=True)


class TaskFile(BaseModel):
    task = ForeignKeyField(Task, backref="files", on_delete="CASCADE")
    event = ForeignKeyField(TaskEvent, backref="files", on_delete="CASCADE")
    file_name = CharField(max_length=100)
    original_name = CharField(max_length=200)
    kind = CharField(max_length=8)  # image, pdf, word
    size = IntegerField()
    sha256 = CharField(max_length=64)


class ExtensionRequest(BaseModel):
    task = ForeignKeyField(Task, backref="extensions", on_delete="CASCADE")
    requested_deadline = DateField()
    reason = TextField()
    status = CharField(max_length=12, default="pending")  # pending, granted, refused
    requested_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    requested_at = DateTimeField(default=now)
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    decided_at = DateTimeField(null=True)
    decision_note = TextField(default="")


ALL_MODELS += [Task, TaskCoUnit, TaskFinding, TaskEvent, TaskFile, ExtensionRequest]


class EscalationDecision(BaseModel):
    """A supervisor's recorded decision on an escalation step (催办 … 问责建议) for a task."""

    task = ForeignKeyField(Task, backref="escalations", on_delete="CASCADE")
    level = CharField(max_length=24)
    rank = IntegerField()  # position on the ladder when decided
    applied = BooleanField()  # False: considered and not applied, with a reason
    note = TextField(default="")
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    decided_at = DateTimeField(default=now)


ALL_MODELS += [EscalationDecision]


class NoticeTemplate(BaseModel):
    """An admin's wording for one kind of notice. The newest version of a kind is in force;
    older versions stay because issued notices name the version they were drafted from."""

    kind = CharField(max_length=16)
    version = IntegerField()
    layout = CharField(max_length=8)  # "file" 文件格式 or "letter" 信函格式
    letterhead = CharField(max_length=100)  # 发文机关标志
    number_prefix = CharField(max_length=16)  # 区督改 → 区督改〔2026〕3号
    title = TextField()  # Jinja, one line
    main_to = TextField()  # 主送机关, Jinja
    body = TextField()  # Jinja producing the 正文 as HTML
    signature = CharField(max_length=100)  # 发文机关署名
    copy_to = TextField(default="")  # 抄送
    printed_by = CharField(max_length=100, default="")  # 印发机关
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = DateTimeField(default=now)

    class Meta:
        indexes = ((("kind", "version"), True),)


class NoticeBatch(BaseModel):
    """A background job over many notices (drafting or issuing a round's 整改通知书), with progress."""

    round = ForeignKeyField(Round, null=True, on_delete="CASCADE", backref="+")
    kind = CharField(max_length=16)
    action = CharField(max_length=8)  # draft, issue
    status = CharField(max_length=8, default="queued")  # queued, running, done, failed
    total = IntegerField(default=0)
    done_count = IntegerField(default=0)
    error = TextField(default="")
    zip_file = CharField(max_length=100, null=True)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = DateTimeField(default=now)
    finished_at = DateTimeField(null=True)


class Notice(BaseModel):
    """An official document (整改通知书, 督查通报, 催办通知, …): draft → 审签 approved → 印发 issued.

    The data it speaks about is frozen into `context` when drafted, so what the approver signs is
    what gets issued. Issuing numbers it, renders the PDF once and records its SHA-256 and SM3;
    an issued notice never changes again, a correction is a new notice that `supersedes` it."""

    kind = CharField(max_length=16, index=True)
    status = CharField(max_length=12, default="draft", index=True)
    title = TextField()
    main_to = TextField()
    copy_to = TextField(default="")
    round = ForeignKeyField(Round, null=True, on_delete="RESTRICT", backref="+")
    unit = ForeignKeyField(Unit, null=True, on_delete="RESTRICT", backref="+")
    escalation = ForeignKeyField(EscalationDecision, null=True, on_delete="RESTRICT", backref="+")
    template = ForeignKeyField(NoticeTemplate, null=True, on_delete="RESTRICT", backref="+")
    context = JSONField()
    batch = ForeignKeyField(NoticeBatch, null=True, on_delete="SET NULL", backref="notices")
    supersedes = ForeignKeyField("self", null=True, on_delete="RESTRICT", backref="corrections")
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = DateTimeField(default=now)
    approved_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    approved_at = DateTimeField(null=True)
    issued_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    issued_at = DateTimeField(null=True)
    number_year = IntegerField(null=True)
    number_seq = IntegerField(null=True)
    number = CharField(max_length=40, null=True)  # 区督改〔2026〕3号
    pdf_file = CharField(max_length=100, null=True)  # under UPLOAD_FOLDER/notices/
    sha256 = CharField(max_length=64, null=True)
    sm3 = CharField(max_length=64, null=True)  # 国密 SM3 of the same file
    pdf_size = IntegerField(null=True)
    page_count = IntegerField(null=True)
    verify_token = CharField(max_length=32, unique=True)

    class Meta:
        indexes = ((("kind", "number_year", "number_seq"), True),)


class NoticeRecipient(BaseModel):
    """A unit that must acknowledge receipt (签收) of an issued notice."""

    notice = ForeignKeyField(Notice, backref="recipients", on_delete="CASCADE")
    unit = ForeignKeyField(Unit, on_delete="RESTRICT", backref="+")
    acknowledged_at = DateTimeField(null=True)
    acknowledged_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")

    class Meta:
        indexes = ((("notice", "unit"), True),)


class NoticeCounter(BaseModel):
    """The last number issued per document kind and year (发文字号 run without gaps)."""

    kind = CharField(max_length=16)
    year = IntegerField()
    last = IntegerField(default=0)

    class Meta:
        indexes = ((("kind", "year"), True),)


class Notification(BaseModel):
    """An in-app message for one user (new task, sent back, awaiting verification, …)."""

    user = ForeignKeyField(User, backref="notifications", on_delete="CASCADE")
    task = ForeignKeyField(Task, null=True, on_delete="CASCADE", backref="+")
    notice = ForeignKeyField(Notice, null=True, on_delete="CASCADE", backref="+")
    kind = CharField(max_length=24)
    text = TextField()
    created_at = DateTimeField(default=now, index=True)
    read_at = DateTimeField(null=True)


ALL_MODELS += [NoticeTemplate, NoticeBatch, Notice, NoticeRecipient, NoticeCounter, Notification]


class ScoreLine(BaseModel):
    """One reason a unit's score moved: a checklist item's lost points, or a process event.

    Item lines are written when an inspection is signed off (points lost on the checklist's own
    scale); process lines (overdue, missed/late report, sent back, early closure) come from a
    task's trail and name the event they came from. Their weights are configuration
    (scores/config.py), applied when a ranking is read.
    """

    unit = ForeignKeyField(Unit, on_delete="CASCADE", backref="+")
    day = DateField()  # the day it counts on: the round's last day, or the event's day
    rule = CharField(max_length=24)  # "item" or a process rule code
    inspection = ForeignKeyField(Inspection, null=True, on_delete="CASCADE", backref="+")
    checklist = ForeignKeyField(Checklist, null=True, on_delete="CASCADE", backref="+")
    item_code = CharField(max_length=32, default="")
    item_text = TextField(default="")
    section_code = CharField(max_length=32, default="")
    section_title = CharField(max_length=200, default="")
    points = PointsField(default=0)  # items: points lost; process lines: 0
    failing = BooleanField(default=False)
    occurrence = IntegerField(default=1)  # 屡查屡犯: the nth round this item failed at this unit
    task = ForeignKeyField(Task, null=True, on_delete="CASCADE", backref="+")
    event = ForeignKeyField(TaskEvent, null=True, on_delete="CASCADE", backref="+")

    class Meta:
        indexes = (
            (("unit", "day"), False),
            (("day", "rule"), False),
            (("unit", "checklist", "item_code"), False),
            (("rule", "event"), True),  # a task event counts once per rule
        )


class UnitScore(BaseModel):
    """A unit's standing in one period, kept ready so rankings read one row per unit."""

    unit = ForeignKeyField(Unit, on_delete="CASCADE", backref="+")
    period = CharField(max_length=8)  # 2026-M11, 2026-Q4, 2026-H2, 2026-Y
    inspections = IntegerField(default=0)
    checklist_score = PointsField(null=True)  # mean 得分率 (百分制) of the period's inspections
    overdue = IntegerField(default=0)
    missed_report = IntegerField(default=0)
    late_report = IntegerField(default=0)
    sent_back = IntegerField(default=0)
    early_close = IntegerField(default=0)
    updated_at = DateTimeField(default=now)

    class Meta:
        indexes = ((("period", "unit"), True),)


class AccountabilityFlag(BaseModel):
    """末位问责: a unit at the bottom of a confirmed ranking, shown until a supervisor decides."""

    unit = ForeignKeyField(Unit, on_delete="CASCADE", backref="+")
    period = CharField(max_length=8)
    scope = CharField(max_length=40)  # type:community, parent:12
    scope_label = CharField(max_length=120)
    reason = TextField()
    total = PointsField()
    rank = IntegerField()
    of_count = IntegerField()
    flagged_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    flagged_at = DateTimeField(default=now)
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    decided_at = DateTimeField(null=True, index=True)
    rung = CharField(max_length=24, default="")  # a ladder step's code; "" = none taken
    note = TextField(default="")

    class Meta:
        indexes = ((("unit", "period", "scope"), True),)


ALL_MODELS += [ScoreLine, UnitScore, AccountabilityFlag]


class HolidayYear(BaseModel):
    """A year of the office's own 节假日安排. It replaces chinese-calendar's data for that year."""

    year = IntegerField(unique=True)
    notice_text = TextField(default="")  # the State Council notice it was read from, if any
    revision = CharField(max_length=32)  # changes on every save: other processes reload on it
    saved_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    saved_at = DateTimeField(default=now)


class HolidayDate(BaseModel):
    """A day that differs from Monday–Friday: a holiday, or a weekend day worked (调休上班)."""

    year = ForeignKeyField(HolidayYear, on_delete="CASCADE", backref="+")
    day = DateField(unique=True)
    kind = CharField(max_length=8)  # holiday | workday
    name = CharField(max_length=40)


ALL_MODELS += [HolidayYear, HolidayDate]
