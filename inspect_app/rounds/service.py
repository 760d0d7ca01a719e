"""Planning a 督查批次: which checklist version, which units, which teams visit whom; publishing."""

from datetime import date

from inspect_app import audit
from inspect_app.db import database
from inspect_app.errors import Conflict, NotFound, ValidationFailed
from inspect_app.ids import bad_ids, parse_id, parse_ids
from inspect_app.models import (
    Checklist,
    ChecklistVersion,
    Inspection,
    Round,
    Team,
    TeamMember,
    Unit,
    User,
    now,
)
from inspect_app.vocab import CHECKLIST_KINDS, UNIT_TYPES

MAX_TEAMS = 30


def _date(value, label, errors, key):
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        errors[key] = f"请填写有效的{label}（如 2026-12-01）"
        return None


def target_units(unit_ids, unit_types):
    """Units picked one by one plus every active unit of the picked types."""
    ids = set(parse_ids(unit_ids))
    types = [t for t in unit_types if t in UNIT_TYPES]
    query = Unit.select().where(Unit.is_active == True)
    if ids and types:
        query = query.where(Unit.id.in_(ids) | Unit.type.in_(types))
    elif ids:
        query = query.where(Unit.id.in_(ids))
    elif types:
        query = query.where(Unit.type.in_(types))
    else:
        return []
    return list(query.order_by(Unit.sort_order, Unit.code))


def create_round(data, *, by):
    """A round and one inspection per target unit. `data` is a form (getlist for units)."""
    errors = {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = "请填写批次名称"
    elif len(name) > 200:
        errors["name"] = "批次名称不能超过 200 字"
    checklist = Checklist.get_or_none(Checklist.slug == (data.get("checklist") or ""))
    version = None
    if checklist is None:
        errors["checklist"] = "请选择检查清单"
    else:
        version = checklist.versions.order_by(ChecklistVersion.number.desc()).first()
    kind = (data.get("kind") or "").strip() or (checklist.kind if checklist else "")
    if kind not in CHECKLIST_KINDS:
        errors["kind"] = f"督查类型应为：{'、'.join(CHECKLIST_KINDS)}"
    starts_on = _date(data.get("starts_on"), "开始日期", errors, "starts_on")
    ends_on = _date(data.get("ends_on"), "结束日期", errors, "ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        errors["ends_on"] = "结束日期不能早于开始日期"
    units = target_units(data.getlist("unit_ids"), data.getlist("unit_types"))
    if not units:
        errors["units"] = "请至少选择一个被督查单位（可按类型整类选择）"
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    with database.atomic():
        round_ = Round.create(
            name=name,
            kind=kind,
            checklist_version=version,
            starts_on=starts_on,
            ends_on=ends_on,
            unannounced=data.get("unannounced") == "1",
            description=(data.get("description") or "").strip()[:2000],
            created_by=by,
        )
        Inspection.insert_many(
            [{"round": round_.id, "unit": unit.id, "status": "planned"} for unit in units]
        ).execute()
        audit.record(by, "round.create", round_, f"新建督查批次 {name}（{len(units)} 个单位）")
    return round_


def add_team(round_, data, *, by):
    """A team (组长 + 督查员) and the inspections it takes over."""
    errors = {}
    name = (data.get("name") or "").strip() or f"第{round_.teams.count() + 1}督查组"
    if len(name) > 64:
        errors["name"] = "组名不能超过 64 字"
    leader = (
        User.get_or_none(User.id == parse_id(data.get("leader_id")))
        if parse_id(data.get("leader_id"))
        else None
    )
    if leader is None or leader.role != "team_leader" or not leader.is_active:
        errors["leader_id"] = "请选择在用的督查组长"
    members = []
    for raw in data.getlist("member_ids"):
        member = User.get_or_none(User.id == parse_id(raw)) if parse_id(raw) else None
        if (
            member is None
            or member.role not in ("inspector", "team_leader")
            or not member.is_active
        ):
            errors["member_ids"] = "组员须为在用的督查员或督查组长"
        elif leader is None or member.id != leader.id:
            members.append(member)
    inspections = _inspections_of(round_, data.getlist("inspection_ids"), errors)
    if round_.teams.count() >= MAX_TEAMS:
        errors["name"] = f"一个批次最多 {MAX_TEAMS} 个督查组"
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    with database.atomic():
        team = Team.create(round=round_, name=name, leader=leader)
        for member in members:
            TeamMember.create(team=team, user=member)
        for inspection in inspections:
            inspection.team = team
            inspection.save(only=[Inspection.team])
        audit.record(
            by,
            "round.team",
            round_,
            f"{round_.name}：组建{name}（组长 {leader.display_name}，组员 {len(members)} 人，负责 {len(inspections)} 个单位）",
        )
    return team


def _inspections_of(round_, raw_ids, errors):
    ids = parse_ids(raw_ids)
    found = (
        list(Inspection.select().where(Inspection.round == round_.id, Inspection.id.in_(ids)))
        if ids
        else []
    )
    if len(found) != len(ids) or bad_ids(raw_ids):
        errors["inspection_ids"] = "所选单位不在本批次中"
    elif any(i.status not in ("planned", "in_progress", "returned") for i in found):
        errors["inspection_ids"] = "已提交的检查不能再调整督查组"
    return found


def assign(inspection, team_id, *, by):
    team = None
    if str(team_id or "").strip():
        team = (
            Team.get_or_none(Team.id == parse_id(team_id), Team.round == inspection.round_id)
            if parse_id(team_id)
            else None
        )
        if team is None:
            raise ValidationFailed("所选督查组不属于本批次")
    if inspection.status not in ("planned", "in_progress", "returned"):
        raise Conflict("检查已提交，不能再调整督查组")
    before = inspection.team.name if inspection.team_id else ""
    inspection.team = team
    inspection.save(only=[Inspection.team])
    audit.record(
        by,
        "inspection.assign",
        inspection,
        f"{inspection.unit.name} 分配给 {team.name if team else '（未分配）'}",
        before={"team": before},
        after={"team": team.name if team else ""},
    )
    return inspection


def publish(round_, *, by):
    """Results (and, for 暗访, the round itself) become visible to the inspected units."""
    if round_.published_at is not None:
        raise Conflict("该批次已发布")
    pending = [i.unit.name for i in round_.inspections.where(Inspection.status != "signed_off")]
    if pending:
        shown = "、".join(pending[:5]) + ("等" if len(pending) > 5 else "")
        raise Conflict(f"还有 {len(pending)} 个单位的检查未审签（{shown}），全部审签后才能发布")
    with database.atomic():
        round_.published_at, round_.published_by = now(), by
        round_.save(only=[Round.published_at, Round.published_by])
        audit.record(by, "round.publish", round_, f"发布督查批次 {round_.name} 的结果")
    return round_


def get_round(round_id):
    round_ = Round.get_or_none(Round.id == round_id)
    if round_ is None:
        raise NotFound("该督查批次不存在")
    return round_


def all_rounds():
    return list(Round.select().order_by(Round.starts_on.desc(), Round.id.desc()))


def inspections_of(round_):
    return list(
        Inspection.select(Inspection, Unit)
        .join(Unit)
        .where(Inspection.round == round_.id)
        .order_by(Unit.sort_order, Unit.code)
    )


def teams_of(round_):
    teams = list(round_.teams.order_by(Team.id))
    members = {}
    for link in (
        TeamMember.select(TeamMember, User)
        .join(User)
        .where(TeamMember.team.in_([t.id for t in teams]))
    ):
        members.setdefault(link.team_id, []).append(link.user)
    return [(team, members.get(team.id, [])) for team in teams]


def my_inspections(user):
    """Inspections on teams this user leads or belongs to, newest rounds first."""
    team_ids = [t.id for t in Team.select(Team.id).where(Team.leader == user.id)]
    team_ids += [
        m.team_id for m in TeamMember.select(TeamMember.team).where(TeamMember.user == user.id)
    ]
    if not team_ids:
        return []
    return list(
        Inspection.select(Inspection, Unit, Round)
        .join(Unit)
        .switch(Inspection)
        .join(Round)
        .where(Inspection.team.in_(team_ids))
        .order_by(Round.starts_on.desc(), Unit.sort_order)
    )


def unit_view(user):
    """What a unit user may know: announced rounds that include them, and published results."""
    upcoming = list(
        Inspection.select(Inspection, Round)
        .join(Round)
        .where(
            Inspection.unit == user.unit_id,
            Round.unannounced == False,
            Round.published_at.is_null(),
        )
        .order_by(Round.starts_on)
    )
    results = list(
        Inspection.select(Inspection, Round)
        .join(Round)
        .where(
            Inspection.unit == user.unit_id,
            Round.published_at.is_null(False),
            Inspection.status == "signed_off",
        )
        .order_by(Round.published_at.desc())
    )
    return upcoming, results
