"""Signing in: password hashes, throttling against guessing, password changes."""

import re
from datetime import timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from inspect_app import audit, clock
from inspect_app.db import database
from inspect_app.errors import TooManyAttempts, ValidationFailed
from inspect_app.models import LoginAttempt, User, now
from inspect_app.texts import too_long

LOCK_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


# scrypt with N=2**14: 16 MiB per check instead of werkzeug's 32 MiB, so a morning of tablets
# signing in at once on 8-thread workers does not balloon memory; still far beyond guessing.
PASSWORD_METHOD = "scrypt:16384:8:1"


# Checked against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = generate_password_hash("unused-password-for-timing", method=PASSWORD_METHOD)


def hash_password(password):
    return generate_password_hash(password, method=PASSWORD_METHOD)


def check_password_strength(password):
    if len(password) < 8:
        raise ValidationFailed("密码至少 8 位", fields={"password": "密码至少 8 位"})
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        message = "密码须同时包含字母和数字"
        raise ValidationFailed(message, fields={"password": message})


def _recent_failures(**where):
    """Failures inside the window since the last success for the same key."""
    since = now() - LOCK_WINDOW
    ((field, value),) = where.items()
    column = getattr(LoginAttempt, field)
    last_success = (
        LoginAttempt.select(LoginAttempt.at)
        .where(column == value, LoginAttempt.succeeded == True)
        .order_by(LoginAttempt.at.desc())
        .scalar()
    )
    if last_success and last_success > since:
        since = last_success
    return (
        LoginAttempt.select()
        .where(column == value, LoginAttempt.succeeded == False, LoginAttempt.at >= since)
        .order_by(LoginAttempt.at)
    )


LIMITS = (("username", MAX_FAILURES_PER_ACCOUNT, "账号"), ("ip", MAX_FAILURES_PER_ADDRESS, "地址"))


def _refuse_if_throttled(username, ip):
    keys = {"username": username, "ip": ip}
    for key, limit, what in LIMITS:
        failures = list(_recent_failures(**{key: keys[key]}))
        if len(failures) >= limit:
            unlock_at = failures[-limit].at + LOCK_WINDOW
            minutes = max(1, int((unlock_at - now()).total_seconds() // 60) + 1)
            audit.record(
                None,
                "auth.throttled",
                None,
                f"拒绝登录：{what} {keys[key]} 登录失败次数过多，锁定中（约 {minutes} 分钟后解除）",
                {"limit": limit, "by": key},
                username=username,
            )
            raise TooManyAttempts(f"登录失败次数过多，账号已暂时锁定，请 {minutes} 分钟后再试")


def _record_lockouts(username, ip):
    """After a failure: the one that reaches a limit starts a lockout, recorded as such."""
    keys = {"username": username, "ip": ip}
    for key, limit, what in LIMITS:
        if len(list(_recent_failures(**{key: keys[key]}))) == limit:
            audit.record(
                None,
                "auth.lockout",
                None,
                f"{what} {keys[key]} 连续登录失败 {limit} 次，锁定 "
                f"{int(LOCK_WINDOW.total_seconds() // 60)} 分钟",
                {"limit": limit, "by": key},
                username=username,
            )


def authenticate(username, password, *, ip):
    """The active user with this username and password, or a ValidationFailed / TooManyAttempts."""
    username = (username or "").strip()
    if not username or not password:
        raise ValidationFailed("请输入用户名和密码")
    if problem := too_long(username, "用户名", 64):  # no account has a longer one
        raise ValidationFailed(problem)
    _refuse_if_throttled(username, ip)
    user = User.get_or_none(User.username == username)
    password_ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    succeeded = bool(user and password_ok and user.is_active)
    with database.atomic():
        LoginAttempt.create(username=username, ip=ip, succeeded=succeeded)
        if succeeded:
            user.last_login_at = now()
            user.save(only=[User.last_login_at])
            audit.record(user, "auth.login", user, "登录成功")
        else:
            reason = "账号已停用" if user and password_ok else "用户名或密码错误"
            if user is None:
                reason = "用户名不存在"
            audit.record(
                None,
                "auth.login_failed",
                user,
                f"登录失败：{reason}",
                username=username,
            )
            _record_lockouts(username, ip)
    if user and password_ok and not user.is_active:
        raise ValidationFailed("该账号已停用，请联系系统管理员")
    if not succeeded:
        raise ValidationFailed("用户名或密码错误")
    return user


def sign_out(user):
    if user is not None:
        audit.record(user, "auth.logout", user, "退出登录")


def change_password(user, *, current, new, confirm):
    """The owner's own change: the only way to clear `must_change_password`."""
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationFailed("当前密码不正确", fields={"current": "当前密码不正确"})
    if new != confirm:
        raise ValidationFailed(
            "两次输入的新密码不一致", fields={"confirm": "两次输入的新密码不一致"}
        )
    check_password_strength(new)
    if check_password_hash(user.password_hash, new):
        message = "新密码不能与当前密码相同"
        raise ValidationFailed(message, fields={"password": message})
    with database.atomic():
        set_password(user, new, chosen_by_owner=True)
        audit.record(user, "auth.change_password", user, "修改本人密码")


def set_password(user, password, *, chosen_by_owner):
    """A password someone else chose (an administrator, the demo) must be changed at next sign-in."""
    user.password_hash = hash_password(password)
    # Microseconds: sessions compare this stamp, and a change may fall in the second of a login.
    user.password_changed_at = clock.now()
    user.must_change_password = not chosen_by_owner
    user.save(only=[User.password_hash, User.password_changed_at, User.must_change_password])
