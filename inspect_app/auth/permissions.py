"""Who may do what: the one place every view asks. `can(user, action, obj)` answers."""

from inspect_app.vocab import UNIT_ROLES

STAFF = frozenset({"admin", "supervisor", "team_leader", "inspector", "leader"})

# action -> roles allowed regardless of object; object rules are below.
ROLE_RULES = {
    "unit.browse": STAFF,
    "unit.view": STAFF,
    "unit.manage": {"admin"},
    "user.manage": {"admin"},
    "audit.view": {"admin"},
    "checklist.view": STAFF,
    "checklist.load": {"admin", "supervisor"},
}

# Every view declares one of these as its access rule (see auth.access.requires).
PUBLIC = "public"
SIGNED_IN = "signed_in"
ACTIONS = frozenset(ROLE_RULES) | {PUBLIC, SIGNED_IN}


# Actions a unit user may take on their own unit's objects; the view checks the object.
UNIT_SCOPED = frozenset({"unit.view"})


def may_reach(user, action):
    """Whether some object exists on which `user` may do `action` (the route-level check)."""
    if user is None or not user.is_active:
        return False
    if action in ROLE_RULES and user.role in ROLE_RULES[action]:
        return True
    return action in UNIT_SCOPED and user.role in UNIT_ROLES and user.unit_id is not None


def can(user, action, obj=None):
    if action == PUBLIC:
        return True
    if user is None or not user.is_active:
        return False
    if action == SIGNED_IN:
        return True
    if action not in ROLE_RULES:
        raise ValueError(f"unknown action {action!r}")
    if user.role in ROLE_RULES[action]:
        return True
    return _unit_user_reaches_own(user, action, obj)


def _unit_user_reaches_own(user, action, obj):
    """A unit user (联络员/负责人) reaches exactly their own unit's records, nothing else."""
    if user.role not in UNIT_ROLES or user.unit_id is None:
        return False
    if action == "unit.view":
        return obj is not None and obj.id == user.unit_id
    return False
