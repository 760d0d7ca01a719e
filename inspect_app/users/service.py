"""Accounts: who may sign in, with which role, bound to which unit."""

import re

from inspect_app import audit
from inspect_app.auth.service import (
    check_new_password,
    end_sessions,
    hash_password,
    remember_password,
    set_password,
)
from inspect_app.db import database
from inspect_app.errors import ValidationFailed
from inspect_app.ids import parse_id
from inspect_app.models import Unit, User
from inspect_app.vocab import ROLES, UNIT_ROLES

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")


def _clean(data, *, user=None):
    values, errors = {}, {}
    username = str(data.get("username", "")).strip()
    if user is None:
        if not USERNAME.match(username):
            errors["username"] = "用户名为 3–64 位字母、数字、点、横线或下划线，且以字母或数字开头"
        elif User.select().where(User.username == username).exists():
            errors["username"] = f"用户名 {username} 已存在"
        values["username"] = username
    display_name = str(data.get("display_name", "")).strip()
    if not display_name:
        errors["display_name"] = "请填写姓名"
    elif len(display_name) > 64:
        errors["display_name"] = "姓名不能超过 64 个字"
    values["display_name"] = display_name
    role = str(data.get("role", "")).strip()
    if role not in ROLES:
        errors["role"] = "请选择有效的角色"
    values["role"] = role
    unit = None
    unit_ref = str(data.get("unit_id", "") or "").strip()
    if unit_ref:
        unit = Unit.get_or_none(Unit.id == parse_id(unit_ref)) if parse_id(unit_ref) else None
        if unit is None:
            errors["unit_id"] = "所选单位不存在"
    if role in UNIT_ROLES and unit is None and "unit_id" not in errors:
        errors["unit_id"] = f"{ROLES[role]}必须绑定所属单位"
    if role in ROLES and role not in UNIT_ROLES:
        unit = None  # staff accounts act for the district, not for one unit
    values["unit"] = unit
    return values, errors


def create_user(data, *, by):
    values, errors = _clean(data)
    password = str(data.get("password", ""))
    try:
        check_new_password(password, username=values["username"])
    except ValidationFailed as weak:
        errors["password"] = weak.message
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    with database.atomic():
        # The administrator chose this password: its owner replaces it at first sign-in.
        user = User.create(
            password_hash=hash_password(password), must_change_password=True, **values
        )
        remember_password(user)
        audit.record(by, "user.create", user, f"新建账号 {user.username}（{ROLES[user.role]}）")
    return user


def create_first_admin(data):
    """The first administrator of an empty production database, who types their own password at
    the server's terminal (so, unlike every other new account, no change is forced)."""
    if User.select().exists():
        raise ValidationFailed("数据库中已有账号，首个系统管理员只能在空数据库中创建")
    values, errors = _clean({**data, "role": "admin"})
    password = str(data.get("password", ""))
    if not password:
        errors["password"] = "密码不能为空"
    else:
        try:
            check_new_password(password, username=values["username"])
        except ValidationFailed as weak:
            errors["password"] = weak.message
    if errors:
        raise ValidationFailed("；".join(errors.values()), fields=errors)
    with database.atomic():
        user = User.create(password_hash=hash_password(password), **values)
        remember_password(user)
        audit.record(None, "user.create", user, f"安装时创建首个系统管理员 {user.username}")
    return user


def update_user(user, data, *, by):
    values, errors = _clean(data, user=user)
    is_active = str(data.get("is_active", "1")) == "1"
    if by is not None and user.id == by.id and (values["role"] != user.role or not is_active):
        errors["role"] = "不能修改或停用自己的账号角色，请由其他管理员操作"
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    with database.atomic():
        for key, value in values.items():
            setattr(user, key, value)
        user.is_active = is_active
        user.save()
        if not is_active:
            end_sessions(user)  # a deactivated account is signed out everywhere at once
        audit.record(
            by,
            "user.update",
            user,
            f"修改账号 {user.username}：{ROLES[user.role]}，{'在用' if is_active else '停用'}",
        )
    return user


def reset_password(user, password, *, by):
    """A temporary password: the policy's rules, but not the account's history — refusing an old
    password would tell the administrator what the owner used to have."""
    check_new_password(password, username=user.username)
    own = by is not None and by.id == user.id
    with database.atomic():
        set_password(user, password, chosen_by_owner=own)
        audit.record(
            by,
            "user.reset_password",
            user,
            f"重置账号 {user.username} 的密码" + ("" if own else "（须在下次登录时修改）"),
        )


def sign_out_everywhere(user, *, by):
    """强制下线: end every session of `user` at once (a lost tablet, a suspected intrusion)."""
    with database.atomic():
        ended = end_sessions(user)
        audit.record(
            by,
            "user.sign_out_everywhere",
            user,
            f"强制下线账号 {user.username}（结束 {ended} 个会话）",
        )
    return ended
