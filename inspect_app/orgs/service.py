"""The organisation tree: units, their places in the tree, and importing it from a spreadsheet."""

import re
from dataclasses import dataclass, field

from inspect_app import audit
from inspect_app.db import database
from inspect_app.errors import Conflict, ValidationFailed
from inspect_app.ids import parse_id
from inspect_app.models import Unit, User, now
from inspect_app.vocab import ORG_FORMS, UNIT_TYPE_BY_LABEL, UNIT_TYPES

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
PHONE_PATTERN = re.compile(r"^[0-9+()\- ]{5,32}$")
EDITABLE = (
    "code",
    "name",
    "type",
    "org_form",
    "secretary",
    "contact_name",
    "contact_phone",
    "sort_order",
)


@dataclass
class TreeNode:
    unit: Unit
    children: list = field(default_factory=list)


def unit_tree(include_inactive=False):
    """All units as a forest of TreeNodes, ordered as the district orders them; one query."""
    query = Unit.select().order_by(Unit.sort_order, Unit.code)
    if not include_inactive:
        query = query.where(Unit.is_active == True)
    nodes = {unit.id: TreeNode(unit) for unit in query}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.unit.parent_id)
        (parent.children if parent else roots).append(node)
    return roots


def search_units(text, limit=50):
    pattern = f"%{text.strip()}%"
    return list(
        Unit.select()
        .where((Unit.name**pattern) | (Unit.code**pattern) | (Unit.secretary**pattern))
        .order_by(Unit.sort_order, Unit.code)
        .limit(limit)
    )


def ancestors(unit):
    """From the root down to the unit's parent."""
    chain, seen = [], {unit.id}
    current = unit.parent
    while current is not None and current.id not in seen:
        chain.append(current)
        seen.add(current.id)
        current = current.parent
    return list(reversed(chain))


def count_by_type():
    counts = {code: 0 for code in UNIT_TYPES}
    for unit in Unit.select(Unit.type).where(Unit.is_active == True):
        counts[unit.type] = counts.get(unit.type, 0) + 1
    return counts


def clean_unit_fields(data):
    """Normalise and check one unit's fields; returns (values, {field: message})."""
    values, errors = {}, {}
    for key in EDITABLE:
        raw = data.get(key)
        values[key] = "" if raw is None else str(raw).strip()
    if not values["code"]:
        errors["code"] = "单位编码不能为空"
    elif not CODE_PATTERN.match(values["code"]):
        errors["code"] = "单位编码只能由字母、数字、点、横线、下划线组成，最长 32 位"
    if not values["name"]:
        errors["name"] = "单位名称不能为空"
    elif len(values["name"]) > 100:
        errors["name"] = "单位名称不能超过 100 个字"
    unit_type = values["type"]
    if unit_type in UNIT_TYPE_BY_LABEL:
        values["type"] = UNIT_TYPE_BY_LABEL[unit_type]
    elif unit_type not in UNIT_TYPES:
        errors["type"] = (
            f"单位类型“{unit_type}”无效，应为：{'、'.join(UNIT_TYPES.values())}"
            if unit_type
            else "请选择单位类型"
        )
    if values["org_form"] and values["org_form"] not in ORG_FORMS:
        errors["org_form"] = f"组织形式“{values['org_form']}”无效，应为：{'、'.join(ORG_FORMS)}"
    for key, label in (("secretary", "党组织书记"), ("contact_name", "联系人")):
        if len(values[key]) > 32:
            errors[key] = f"{label}不能超过 32 个字"
    if values["contact_phone"] and not PHONE_PATTERN.match(values["contact_phone"]):
        errors["contact_phone"] = "联系电话格式不正确（只能包含数字、空格、+、-、括号）"
    try:
        values["sort_order"] = int(values["sort_order"] or 0)
        if abs(values["sort_order"]) > 10**9:
            raise ValueError
    except ValueError:
        errors["sort_order"] = "排序号应为不超过 10 亿的整数"
    return values, errors


def _check_parent(unit_id, parent):
    """A unit may not sit under itself or under one of its descendants."""
    current = parent
    while current is not None:
        if unit_id is not None and current.id == unit_id:
            return "上级单位不能是本单位或其下级单位"
        current = current.parent
    return None


def _state(unit):
    return {**{key: getattr(unit, key) for key in EDITABLE}, "parent_id": unit.parent_id}


def save_unit(data, *, by, unit=None):
    """Create a unit (unit=None) or update one. Raises ValidationFailed with per-field messages."""
    values, errors = clean_unit_fields(data)
    parent = None
    parent_id = str(data.get("parent_id") or "").strip()
    if parent_id:
        parent = Unit.get_or_none(Unit.id == parse_id(parent_id)) if parse_id(parent_id) else None
        if parent is None:
            errors["parent_id"] = "上级单位不存在"
        else:
            problem = _check_parent(unit.id if unit else None, parent)
            if problem:
                errors["parent_id"] = problem
    if "code" not in errors:
        clash = Unit.select().where(Unit.code == values["code"])
        if unit is not None:
            clash = clash.where(Unit.id != unit.id)
        if clash.exists():
            errors["code"] = f"单位编码 {values['code']} 已被其他单位使用"
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    with database.atomic():
        creating = unit is None
        unit = unit or Unit()
        before = None if creating else _state(unit)
        for key, value in values.items():
            setattr(unit, key, value)
        unit.parent = parent
        unit.updated_at = now()
        unit.save()
        audit.record(
            by,
            "unit.create" if creating else "unit.update",
            unit,
            f"{'新建' if creating else '修改'}单位 {unit.name}（{unit.code}）",
            **audit.changes(before, _state(unit)),
        )
    return unit


def set_unit_active(unit, active, *, by):
    if not active:
        if Unit.select().where(Unit.parent == unit, Unit.is_active == True).exists():
            raise Conflict("该单位下仍有在用的下级单位，请先调整或停用下级单位")
        if User.select().where(User.unit == unit, User.is_active == True).exists():
            raise Conflict("该单位仍有在用的账号，请先停用或调整这些账号")
    with database.atomic():
        unit.is_active = active
        unit.updated_at = now()
        unit.save(only=[Unit.is_active, Unit.updated_at])
        audit.record(
            by,
            "unit.activate" if active else "unit.deactivate",
            unit,
            f"{'启用' if active else '停用'}单位 {unit.name}",
            before={"is_active": not active},
            after={"is_active": active},
        )
    return unit
