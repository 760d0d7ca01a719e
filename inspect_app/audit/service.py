"""Reading the audit trail: verifying its chain, searching it, exporting it, pruning it."""

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from peewee import JOIN

from inspect_app import audit, clock
from inspect_app.audit import chain
from inspect_app.audit.chain import RETENTION_DAYS, RetentionRefused  # noqa: F401 (callers' names)
from inspect_app.db import database
from inspect_app.errors import ValidationFailed
from inspect_app.models import AuditEvent, User

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000

# The first part of an action code, as the search form offers it.
ACTION_GROUPS = {
    "auth": "登录与退出",
    "access": "拒绝访问",
    "user": "账号与角色",
    "security": "安全策略",
    "audit": "审计记录",
    "unit": "单位",
    "checklist": "检查清单",
    "round": "督查批次",
    "inspection": "督查检查",
    "finding": "问题",
    "photo": "现场照片",
    "task": "整改任务",
    "escalation": "问责跟进",
    "notice": "公文",
    "notice_template": "公文模板",
    "ranking": "排名",
    "accountability": "末位问责",
    "holidays": "节假日安排",
    "scores": "得分",
    "system": "系统",
}
OBJECT_TYPES = {
    "user": "账号",
    "unit": "单位",
    "checklistversion": "检查清单",
    "round": "督查批次",
    "inspection": "督查检查",
    "finding": "问题",
    "photo": "现场照片",
    "task": "整改任务",
    "escalationdecision": "问责决定",
    "notice": "公文",
    "noticetemplate": "公文模板",
    "accountabilityflag": "末位问责",
    "holiday_year": "节假日安排",
}


def verify():
    return chain.verify(database)


def check_anchor(seq, expected_hash):
    return chain.check_anchor(database, seq, expected_hash)


def prune(before, *, by):
    """Delete records older than `before` (≥ 180 days ago on the app's clock); see chain.prune."""

    def checkpoint(detail):
        audit.record(
            by,
            chain.PRUNE_ACTION,
            None,
            f"清理 {detail['before']} 以前的审计记录 {detail['deleted']} 条"
            f"（第 {detail['through_seq']} 条及以前；保留期 {RETENTION_DAYS} 天）",
            detail,
        )

    return chain.prune(database, before, clock.today(), checkpoint)


# -- searching ---------------------------------------------------------------------------------


@dataclass
class Filters:
    user: str = ""
    action: str = ""
    object_type: str = ""
    object_id: int | None = None
    since: date | None = None
    until: date | None = None
    address: str = ""
    text: str = ""

    def args(self):
        """As URL query arguments (for the export links and the pages)."""
        values = {
            "user": self.user,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "address": self.address,
            "text": self.text,
        }
        return {k: v for k, v in values.items() if v not in ("", None)}


def _date(value, label, errors, key):
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[key] = f"{label}应为 YYYY-MM-DD 格式的日期"
        return None


def parse_filters(args):
    """Filters from the search form; a bad value is a 422 naming the field."""
    errors = {}
    filters = Filters(
        user=(args.get("user") or "").strip()[:64],
        action=(args.get("action") or "").strip(),
        object_type=(args.get("object_type") or "").strip(),
        address=(args.get("address") or "").strip()[:64],
        text=(args.get("text") or "").strip()[:200],
        since=_date(args.get("since"), "开始日期", errors, "since"),
        until=_date(args.get("until"), "结束日期", errors, "until"),
    )
    if filters.action and filters.action not in ACTION_GROUPS:
        errors["action"] = "没有这类操作"
    if filters.object_type and filters.object_type not in OBJECT_TYPES:
        errors["object_type"] = "没有这类对象"
    object_id = (args.get("object_id") or "").strip()
    if object_id:
        if not (object_id.isascii() and object_id.isdigit() and len(object_id) <= 12):
            errors["object_id"] = "对象编号应为数字"
        else:
            filters.object_id = int(object_id)
    if filters.since and filters.until and filters.since > filters.until:
        errors["until"] = "结束日期不能早于开始日期"
    if errors:
        raise ValidationFailed("请修改标出的查询条件", fields=errors)
    return filters


def query(filters):
    """AuditEvents matching `filters`, newest first, with the actor joined."""
    found = AuditEvent.select(AuditEvent, User).join(User, JOIN.LEFT_OUTER)
    where = []
    if filters.user:
        # what the account did (or a stranger typing its name did), and what was done to it
        target = User.alias()
        accounts = target.select(target.id).where(
            target.username.contains(filters.user) | target.display_name.contains(filters.user)
        )
        where.append(
            AuditEvent.actor_username.contains(filters.user)
            | User.display_name.contains(filters.user)
            | ((AuditEvent.object_type == "user") & AuditEvent.object_id.in_(accounts))
        )
    if filters.action:
        where.append(
            (AuditEvent.action == filters.action)
            | AuditEvent.action.startswith(filters.action + ".")
        )
    if filters.object_type:
        where.append(AuditEvent.object_type == filters.object_type)
    if filters.object_id is not None:
        where.append(AuditEvent.object_id == filters.object_id)
    if filters.since:
        where.append(AuditEvent.at >= datetime.combine(filters.since, time()))
    if filters.until:
        where.append(AuditEvent.at < datetime.combine(filters.until + timedelta(days=1), time()))
    if filters.address:
        where.append(AuditEvent.address.startswith(filters.address))
    if filters.text:
        where.append(AuditEvent.summary.contains(filters.text))
    for condition in where:
        found = found.where(condition)
    return found.order_by(AuditEvent.seq.desc())


def page(filters, number):
    found = query(filters)
    total = found.count()
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(1, number), pages)
    return list(found.paginate(number, PAGE_SIZE)), total, number, pages


# -- export ------------------------------------------------------------------------------------

HEADERS = (
    "序号",
    "时间",
    "操作人",
    "用户名",
    "地址",
    "操作",
    "对象类型",
    "对象编号",
    "内容",
    "变更前",
    "变更后",
    "详情",
    "哈希（SM3）",
)


def who(event):
    if event.actor_id:
        return event.actor.display_name
    if event.address:
        return "（未登录）"
    return "（命令行或后台任务）"


def _json(value):
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def rows(filters):
    """The export's rows, oldest first; refused when more than EXPORT_LIMIT match."""
    found = query(filters)
    total = found.count()
    if total > EXPORT_LIMIT:
        raise ValidationFailed(
            f"符合条件的记录有 {total} 条，超过单次导出上限 {EXPORT_LIMIT} 条，请缩小日期范围后分批导出"
        )
    for event in found.order_by(AuditEvent.seq).iterator():
        yield (
            event.seq,
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            who(event),
            event.actor_username,
            event.address,
            event.action,
            OBJECT_TYPES.get(event.object_type, event.object_type),
            event.object_id if event.object_id is not None else "",
            event.summary,
            _json(event.value_before),
            _json(event.value_after),
            _json(event.detail),
            event.row_hash,
        )


def export_xlsx(filters):
    from openpyxl import Workbook

    from inspect_app.spreadsheet import append_row

    exported = list(rows(filters))
    book = Workbook(write_only=True)
    sheet = book.create_sheet("审计记录")
    append_row(sheet, HEADERS)
    for row in exported:
        append_row(sheet, row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), len(exported)


def export_csv(filters):
    from inspect_app.spreadsheet import safe_text

    exported = list(rows(filters))
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel and WPS read UTF-8 only with the byte order mark
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    for row in exported:
        writer.writerow([safe_text(v) if isinstance(v, str) else v for v in row])
    return buffer.getvalue().encode("utf-8"), len(exported)
