"""Who may do what: the one place every view asks. `can(user, action, obj)` answers."""

from inspect_app.vocab import ROLES, UNIT_ROLES

STAFF = frozenset({"supervisor", "team_leader", "inspector", "leader"})
TEAM_ROLES = frozenset({"team_leader", "inspector"})
# Who reads scores, rankings and the dashboard across units (inspectors fill sheets, not rank),
# and the notices register and drafts.
LEADERSHIP = frozenset({"supervisor", "leader"})
NOTICE_OFFICE = LEADERSHIP
# 三员分立: system administrator (units, accounts, settings), security administrator (role
# grants, security policy, second-factor resets) and security auditor (the audit trail). None of them reaches
# a business record; each acts on the others' work only where the rules below say so.
ADMIN_ROLES = frozenset({"sysadmin", "secadmin", "auditor"})
EVERY_ROLE = frozenset(ROLES) - {"pending"}  # a pending account has no role yet


def is_administrator(user):
    """One of the three administrators: they must sign in with a second factor whatever the
    policy says (auth/policy.py), and the self-check counts them."""
    return user is not None and user.role in ADMIN_ROLES


# action -> roles allowed whatever the object.
ROLE_RULES = {
    "unit.browse": STAFF | {"sysadmin"},
    "unit.manage": {"sysadmin"},
    # accounts: the system administrator creates them (with no role), the security
    # administrator grants roles; both see the list
    "user.list": {"sysadmin", "secadmin"},
    "user.manage": {"sysadmin"},
    # the audit trail is the auditor's alone: the administrators it records cannot read it
    "audit.view": {"auditor"},
    # 身份鉴别: the password and two-factor policy, resetting someone's second factor
    "security.manage": {"secadmin"},
    "security.selfcheck": {"secadmin", "auditor"},
    "checklist.view": STAFF | {"sysadmin"},
    "checklist.load": {"sysadmin", "supervisor"},
    "round.browse": STAFF,
    "round.plan": {"supervisor"},
    "round.publish": {"supervisor"},
    "inspection.sign_off": {"supervisor", "leader"},
    "inspection.reopen": {"supervisor", "leader"},
    "task.list": STAFF | UNIT_ROLES,  # unit users' lists hold only their own unit's tasks
    "task.assign": {"supervisor"},
    "escalation.view": STAFF,
    # official notices (公文): the register and drafts are the office's and the leaders';
    # a unit user's list holds only the issued notices addressed to their unit
    "notice.list": NOTICE_OFFICE | UNIT_ROLES,
    "notice.register": NOTICE_OFFICE,
    "notice.draft": {"supervisor"},
    "notice.approve": {"supervisor", "leader"},
    "notice.issue": {"supervisor"},
    "notice_template.edit": {"supervisor"},
    "score.view": LEADERSHIP,
    "ranking.confirm": {"supervisor"},
    # 节假日安排: everyone may read the working-day calendar; the office keeps it, and the
    # system administrator as a setting of the system
    "holidays.view": EVERY_ROLE,
    "holidays.manage": {"sysadmin", "supervisor"},
}


def _on_team(user, inspection):
    from inspect_app.db import first
    from inspect_app.models import TeamMember

    team = inspection.team
    if team is None:
        return False
    if team.leader_id == user.id:
        return True
    membership = first(
        TeamMember,
        "team_membership",
        lambda: TeamMember.select(TeamMember.id).where(TeamMember.team == 0, TeamMember.user == 0),
        team.id,
        user.id,
    )
    return membership is not None


def _published_to_unit(user, inspection):
    """A unit sees an inspection of itself only once its round is published and it is signed off."""
    return (
        user.unit_id == inspection.unit_id
        and inspection.round.published_at is not None
        and inspection.status == "signed_off"
    )


def _unit_of_task(user, task):
    from inspect_app.models import TaskCoUnit

    if user.unit_id == task.lead_unit_id:
        return True
    return (
        TaskCoUnit.select()
        .where(TaskCoUnit.task == task.id, TaskCoUnit.unit == user.unit_id)
        .exists()
    )


def _addressed_to(user, notice):
    from inspect_app.models import NoticeRecipient

    return (
        notice.status == "issued"
        and NoticeRecipient.select()
        .where(NoticeRecipient.notice == notice.id, NoticeRecipient.unit == user.unit_id)
        .exists()
    )


def manages_account(user, account):
    """Administrators' accounts are the security administrator's to edit and reset; everyone
    else's are the system administrator's. Nobody manages their own account here (their own
    password is changed on 修改密码)."""
    if account.id == user.id:
        return False
    return user.role == ("secadmin" if account.role in ADMIN_ROLES else "sysadmin")


# action -> (roles that may reach some object, the test for one object).
OBJECT_RULES = {
    "unit.view": (
        STAFF | UNIT_ROLES | {"sysadmin"},
        lambda user, unit: user.role in STAFF or user.role == "sysadmin" or unit.id == user.unit_id,
    ),
    "user.edit": ({"sysadmin", "secadmin"}, manages_account),
    "user.reset_password": ({"sysadmin", "secadmin"}, manages_account),
    # 强制下线: whoever may reset the password (which also ends every session) may end them alone
    "user.end_sessions": ({"sysadmin", "secadmin"}, manages_account),
    # Roles are granted by the security administrator, never to their own account.
    "user.grant_role": ({"secadmin"}, lambda user, account: account.id != user.id),
    "inspection.view": (
        STAFF | UNIT_ROLES,
        lambda user, inspection: user.role in STAFF or _published_to_unit(user, inspection),
    ),
    "inspection.fill": (TEAM_ROLES, _on_team),
    "inspection.review": (
        TEAM_ROLES | {"supervisor"},
        lambda user, inspection: (
            user.role == "supervisor"
            or (inspection.team is not None and inspection.team.leader_id == user.id)
        ),
    ),
    "task.view": (
        STAFF | UNIT_ROLES,
        lambda user, task: user.role in STAFF or _unit_of_task(user, task),
    ),
    "task.act": (
        UNIT_ROLES | {"supervisor"},
        lambda user, task: user.role == "supervisor" or user.unit_id == task.lead_unit_id,
    ),
    "notice.view": (
        NOTICE_OFFICE | UNIT_ROLES,
        lambda user, notice: user.role in NOTICE_OFFICE or _addressed_to(user, notice),
    ),
    "notice.acknowledge": (UNIT_ROLES, _addressed_to),
    # A unit's own score, rank and where each point came from; never another unit's.
    "score.unit": (
        LEADERSHIP | UNIT_ROLES,
        lambda user, unit: user.role in LEADERSHIP or unit.id == user.unit_id,
    ),
    "finding.edit": (
        TEAM_ROLES | {"supervisor"},
        lambda user, inspection: user.role == "supervisor" or _on_team(user, inspection),
    ),
}
OBJECT_SCOPED = frozenset(OBJECT_RULES)

# Every view declares one of these as its access rule (see auth.access.requires).
PUBLIC = "public"
SIGNED_IN = "signed_in"
ACTIONS = frozenset(ROLE_RULES) | OBJECT_SCOPED | {PUBLIC, SIGNED_IN}


def may_reach(user, action):
    """Whether `user` may do `action` on something (the route-level check)."""
    if action == PUBLIC:
        return True
    if user is None or not user.is_active:
        return False
    if action == SIGNED_IN:
        return True
    if action in ROLE_RULES:
        return user.role in ROLE_RULES[action]
    roles, _ = OBJECT_RULES[action]
    return user.role in roles and (user.role not in UNIT_ROLES or user.unit_id is not None)


def can(user, action, obj=None):
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not may_reach(user, action):
        return False
    if action in OBJECT_RULES:
        if obj is None:
            return False
        return OBJECT_RULES[action][1](user, obj)
    return True
