"""Accounts: who may sign in, with which role, bound to which unit.

三员分立 (docs/security.md): the system administrator creates accounts, which start with no role
(待授权); only the security administrator grants or changes roles, never on their own account,
and an administrator's role only to an account whose owner has already replaced the initial
password. So no single administrator can both make an account and give it rights. The server's
shell (`inspect-app users create`) may create an account with any role: whoever holds it holds
the database too.
"""

import re

from inspect_app import audit
from inspect_app.auth.permissions import ADMIN_ROLES, can
from inspect_app.auth.service import (
    check_new_password,
    end_sessions,
    hash_password,
    remember_password,
    set_password,
)
from inspect_app.db import database
from inspect_app.errors import Forbidden, ValidationFailed
from inspect_app.ids import parse_id
from inspect_app.models import Unit, User
from inspect_app.vocab import ROLES, UNIT_ROLES

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
GRANT_REASON_MAX = 200


def _unit_of(data, errors):
    unit_ref = str(data.get("unit_id", "") or "").strip()
    if not unit_ref:
        return None
    unit = Unit.get_or_none(Unit.id == parse_id(unit_ref)) if parse_id(unit_ref) else None
    if unit is None:
        errors["unit_id"] = "所选单位不存在"
    return unit


def _display_name(data, errors):
    display_name = str(data.get("display_name", "")).strip()
    if not display_name:
        errors["display_name"] = "请填写姓名"
    elif len(display_name) > 64:
        errors["display_name"] = "姓名不能超过 64 个字"
    return display_name


def _role_and_unit(role, unit, errors):
    """A unit role needs its unit; every other role acts for the district, not for one unit."""
    if role not in ROLES:
        errors["role"] = "请选择有效的角色"
        return unit
    if role in UNIT_ROLES:
        if unit is None and "unit_id" not in errors:
            errors["unit_id"] = f"{ROLES[role]}必须绑定所属单位"
        return unit
    return None if role != "pending" else unit


def _new_username(data, errors):
    username = str(data.get("username", "")).strip()
    if not USERNAME.match(username):
        errors["username"] = "用户名为 3–64 位字母、数字、点、横线或下划线，且以字母或数字开头"
    elif User.select().where(User.username == username).exists():
        errors["username"] = f"用户名 {username} 已存在"
    return username


def _password(data, errors, *, username, field="password"):
    password = str(data.get(field, ""))
    try:
        check_new_password(password, username=username)
    except ValidationFailed as weak:
        errors[field] = weak.message
    return password


def _state(user):
    """What the audit trail shows before and after a change to an account."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "unit": user.unit.name if user.unit_id else "",
        "is_active": user.is_active,
    }


def create_user(data, *, by):
    """A new account. Made by the system administrator (`by`) it has no role yet (待授权): the
    security administrator grants one. Made at the server's shell (`by=None`) it gets the role
    asked for. Its owner replaces the password at first sign-in either way."""
    if by is not None and not can(by, "user.manage"):
        raise Forbidden("只有系统管理员可以新建账号")
    errors = {}
    username = _new_username(data, errors)
    display_name = _display_name(data, errors)
    unit = _unit_of(data, errors)
    role = "pending" if by is not None else str(data.get("role", "")).strip()
    unit = _role_and_unit(role, unit, errors)
    password = _password(data, errors, username=username)
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    with database.atomic():
        user = User.create(
            username=username,
            display_name=display_name,
            role=role,
            unit=unit,
            password_hash=hash_password(password),
            must_change_password=True,
        )
        audit.record(
            by,
            "user.create",
            user,
            f"新建账号 {user.username}（{ROLES[user.role]}）"
            + ("" if by is not None else "：在服务器命令行创建"),
            after=_state(user),
        )
        remember_password(user)
    return user


def create_first_admin(data):
    """The first system administrator of an empty production database, who types their own
    password at the server's terminal (so, unlike every other new account, no change is forced)."""
    if User.select().exists():
        raise ValidationFailed("数据库中已有账号，首个系统管理员只能在空数据库中创建")
    errors = {}
    username = _new_username(data, errors)
    display_name = _display_name(data, errors)
    password = str(data.get("password", ""))
    if not password:
        errors["password"] = "密码不能为空"
    else:
        _password(data, errors, username=username)
    if errors:
        raise ValidationFailed("；".join(errors.values()), fields=errors)
    with database.atomic():
        user = User.create(
            username=username,
            display_name=display_name,
            role="sysadmin",
            password_hash=hash_password(password),
        )
        remember_password(user)
        audit.record(
            None,
            "user.create",
            user,
            f"安装时创建首个系统管理员 {user.username}",
            after=_state(user),
        )
    return user


def update_user(user, data, *, by):
    """Name, unit and whether the account may sign in: the system administrator's for business
    accounts, the security administrator's for administrators' accounts. Roles: grant_role."""
    if not can(by, "user.edit", user):
        raise Forbidden(
            "不能修改自己的账号，请由其他管理员操作"
            if user.id == by.id
            else "管理员账号由安全管理员管理，业务账号由系统管理员管理"
        )
    errors = {}
    display_name = _display_name(data, errors)
    unit = _unit_of(data, errors)
    unit = _role_and_unit(user.role, unit, errors)
    is_active = str(data.get("is_active", "1")) == "1"
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    before = _state(user)
    with database.atomic():
        user.display_name, user.unit, user.is_active = display_name, unit, is_active
        user.save(only=[User.display_name, User.unit, User.is_active])
        if not is_active:
            end_sessions(user)  # a deactivated account is signed out everywhere at once
        audit.record(
            by,
            "user.update",
            user,
            f"修改账号 {user.username}：{'在用' if is_active else '停用'}",
            **audit.changes(before, _state(user)),
        )
    return user


def grant_role(user, data, *, by):
    """The security administrator gives `user` a role (or takes it away: 待授权), with the unit a
    unit role needs and the reason (an approval's number, say) the audit trail keeps."""
    if not can(by, "user.grant_role", user):
        raise Forbidden(
            "不能修改自己的角色，请由其他安全管理员操作"
            if user.id == by.id
            else "只有安全管理员可以授予或变更角色"
        )
    errors = {}
    role = str(data.get("role", "")).strip()
    unit = _unit_of(data, errors)
    unit = _role_and_unit(role, unit, errors)
    reason = str(data.get("reason", "")).strip()
    if not reason:
        errors["reason"] = "请填写授权依据（如审批单号或事由）"
    elif len(reason) > GRANT_REASON_MAX:
        errors["reason"] = f"授权依据不能超过 {GRANT_REASON_MAX} 字"
    if role in ADMIN_ROLES and role != user.role and user.must_change_password:
        # Whoever set the password (the system administrator who made the account, or a reset)
        # could still sign in with it: the owner replaces it before holding an administrator role.
        errors["role"] = (
            "该账号的密码仍是他人设置的初始密码：请账号本人先登录并修改密码，再授予管理员角色"
        )
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    before = _state(user)
    with database.atomic():
        user.role, user.unit = role, unit
        user.save(only=[User.role, User.unit])
        audit.record(
            by,
            "user.grant_role",
            user,
            f"账号 {user.username} 的角色：{ROLES[before['role']]} → {ROLES[role]}（依据：{reason}）",
            {"reason": reason},
            **audit.changes(before, _state(user)),
        )
    return user


def reset_password(user, password, *, by):
    """A temporary password its owner must replace; `by=None` is the server's shell. The
    policy's rules apply, but not the account's history: refusing an old password would tell the
    administrator what the owner used to have."""
    if by is not None and not can(by, "user.reset_password", user):
        raise Forbidden(
            "不能在这里重置自己的密码，请使用“修改密码”"
            if user.id == by.id
            else "管理员账号的密码由安全管理员重置，业务账号的密码由系统管理员重置"
        )
    check_new_password(password, username=user.username)
    with database.atomic():
        set_password(user, password, chosen_by_owner=False)
        audit.record(
            by,
            "user.reset_password",
            user,
            f"重置账号 {user.username} 的密码（须在下次登录时修改）",
        )


def sign_out_everywhere(user, *, by):
    """强制下线: end every session of `user` at once (a lost tablet, a suspected intrusion)."""
    if by is not None and not can(by, "user.end_sessions", user):
        raise Forbidden(
            "不能在这里结束自己的登录，请使用“退出”"
            if user.id == by.id
            else "管理员账号由安全管理员强制下线，业务账号由系统管理员强制下线"
        )
    with database.atomic():
        ended = end_sessions(user)
        audit.record(
            by,
            "user.sign_out_everywhere",
            user,
            f"强制下线账号 {user.username}（结束 {ended} 个会话）",
        )
    return ended
