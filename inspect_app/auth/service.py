"""Signing in: password hashes and history, the two steps of a sign-in, sessions on the server,
password changes. Throttling is in auth/throttle.py, the policy in auth/policy.py."""

import hashlib
import secrets
from datetime import timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from inspect_app import audit, clock
from inspect_app.auth import policy, throttle, two_factor
from inspect_app.db import database
from inspect_app.errors import ValidationFailed
from inspect_app.models import PasswordHistory, User, UserSession, now
from inspect_app.texts import too_long

# scrypt with N=2**14: 16 MiB per check instead of werkzeug's 32 MiB, so a morning of tablets
# signing in at once on 8-thread workers does not balloon memory; still far beyond guessing.
PASSWORD_METHOD = "scrypt:16384:8:1"
HISTORY_KEPT = policy.HISTORY_RANGE[1]  # rows kept per account: the most the policy can ask for


# Checked against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = generate_password_hash("unused-password-for-timing", method=PASSWORD_METHOD)


def hash_password(password):
    return generate_password_hash(password, method=PASSWORD_METHOD)


def check_new_password(password, *, username):
    """The policy's rules for a password about to be set (ValidationFailed naming each one)."""
    policy.check_password(password, username=username)


# -- signing in ---------------------------------------------------------------------------------


def _refuse_if_throttled(username, ip):
    """Refuse an attempt that comes before its wait is over (auth/throttle.py), recorded as such."""
    try:
        throttle.refuse_if_throttled(username, ip)
    except throttle.Throttled as refused:
        audit.record(
            None,
            "auth.throttled",
            None,
            f"拒绝登录：账号 {username} 从 {ip} 的尝试过于频繁（须再等 {refused.retry_after} 秒）",
            {"wait_seconds": refused.retry_after},
            username=username,
        )
        raise


def _record_failure(user, username, ip, reason, *, factor="password"):
    """A failed attempt: counted by the throttle and recorded; when it makes the next attempt
    wait, the delay is recorded too (nothing is locked: see auth/throttle.py)."""
    throttle.record(username, ip, succeeded=False, factor=factor)
    audit.record(None, "auth.login_failed", user, f"登录失败：{reason}", username=username)
    wait = throttle.seconds_to_wait(username, ip)
    if wait > 0:
        audit.record(
            None,
            "auth.delayed",
            None,
            f"账号 {username} 从 {ip} 登录失败次数过多，下次尝试须等待 {wait} 秒",
            {"wait_seconds": wait},
            username=username,
        )


def authenticate(username, password, *, ip):
    """Step one: the active user with this username and password, or ValidationFailed /
    TooManyAttempts. A failure is counted; a success is recorded when the sign-in completes
    (here for accounts without a second factor, after the code for the others)."""
    username = (username or "").strip()
    if not username or not password:
        raise ValidationFailed("请输入用户名和密码")
    if problem := too_long(username, "用户名", 64):  # no account has a longer one
        raise ValidationFailed(problem)
    _refuse_if_throttled(username, ip)
    user = User.get_or_none(User.username == username)
    password_ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if not (user and password_ok):
        reason = "用户名不存在" if user is None else "用户名或密码错误"
        _record_failure(user, username, ip, reason)
        raise ValidationFailed("用户名或密码错误")
    if not user.is_active:
        _record_failure(user, username, ip, "账号已停用")
        raise ValidationFailed("该账号已停用，请联系系统管理员")
    return user


def check_second_factor(user, code, *, ip):
    """Step two for accounts with a second factor: a current, unused code from their phone."""
    _refuse_if_throttled(user.username, ip)
    # Something that is not six digits raises at once: asked again, not counted.
    if not two_factor.verify(user, code):
        _record_failure(user, user.username, ip, "验证码错误", factor="totp")
        message = "验证码不正确或已使用过，请输入手机上新显示的验证码"
        raise ValidationFailed(message, fields={"code": message})


def complete_sign_in(user, *, ip, factor="password"):
    with database.atomic():
        throttle.record(user.username, ip, succeeded=True, factor=factor)
        user.last_login_at = now()
        user.save(only=[User.last_login_at])
        how = "（密码 + 手机验证码）" if factor == "totp" else ""
        audit.record(user, "auth.login", user, f"登录成功{how}", {"factor": factor})


# -- sessions on the server ---------------------------------------------------------------------


def _token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(user, *, address, user_agent, idle_seconds, lifetime_seconds):
    """A new session for `user`; returns the token for the cookie. Sessions past their limits
    are swept away here, so the table holds only live ones."""
    token = secrets.token_urlsafe(32)
    current = clock.now()
    with database.atomic():
        UserSession.delete().where(
            (UserSession.last_seen_at < current - timedelta(seconds=idle_seconds))
            | (UserSession.started_at < current - timedelta(seconds=lifetime_seconds))
        ).execute()
        UserSession.create(
            user=user,
            token_hash=_token_hash(token),
            started_at=current,
            last_seen_at=current,
            address=address[:64],
            user_agent=(user_agent or "")[:200],
        )
    return token


def _session_user_query():
    return (
        User.select(
            User,
            UserSession.id.alias("session_id"),
            UserSession.started_at.alias("session_started"),
            UserSession.last_seen_at.alias("session_seen"),
        )
        .join(UserSession, on=(UserSession.user == User.id))
        .where(UserSession.token_hash == "")
    )


def session_user(token):
    """The user of a live session token, with `session_id`, `session_started` and
    `session_seen`, or None: one indexed lookup, its SQL compiled once."""
    from inspect_app.db import first

    user = first(User, "session_user", _session_user_query, _token_hash(token))
    if user is not None:  # raw rows: the aliased datetimes arrive as text on SQLite
        user.session_started = UserSession.started_at.python_value(user.session_started)
        user.session_seen = UserSession.last_seen_at.python_value(user.session_seen)
    return user


def touch_session(session_id, moment):
    UserSession.update(last_seen_at=moment).where(UserSession.id == session_id).execute()


def end_session(token):
    UserSession.delete().where(UserSession.token_hash == _token_hash(token)).execute()


def end_session_by_id(session_id):
    UserSession.delete().where(UserSession.id == session_id).execute()


def end_sessions(user):
    """End every session of `user` at once; returns how many ended."""
    return UserSession.delete().where(UserSession.user == user.id).execute()


def sessions_of(user):
    return list(
        UserSession.select()
        .where(UserSession.user == user.id)
        .order_by(UserSession.last_seen_at.desc())
    )


def sign_out(user):
    if user is not None:
        audit.record(user, "auth.logout", user, "退出登录")


# -- passwords ----------------------------------------------------------------------------------


def _in_history(user, password, count):
    """Whether `password` is one of `user`'s last `count` passwords (the current one included)."""
    recent = (
        PasswordHistory.select(PasswordHistory.password_hash)
        .where(PasswordHistory.user == user.id)
        .order_by(PasswordHistory.set_at.desc(), PasswordHistory.id.desc())
        .limit(count)
    )
    return any(check_password_hash(row.password_hash, password) for row in recent)


def change_password(user, *, current, new, confirm):
    """The owner's own change: the only way to clear `must_change_password` or an expired
    password. Every session of the account ends, the one making the change too (its cookie may
    have been copied): the view signs this browser in again with a new session."""
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationFailed("当前密码不正确", fields={"current": "当前密码不正确"})
    if new != confirm:
        raise ValidationFailed(
            "两次输入的新密码不一致", fields={"confirm": "两次输入的新密码不一致"}
        )
    if check_password_hash(user.password_hash, new):
        message = "新密码不能与当前密码相同"
        raise ValidationFailed(message, fields={"password": message})
    check_new_password(new, username=user.username)
    history = policy.current_policy().history
    if history and _in_history(user, new, history):
        message = f"新密码不能与最近 {history} 次用过的密码相同"
        raise ValidationFailed(message, fields={"password": message})
    with database.atomic():
        set_password(user, new, chosen_by_owner=True)
        audit.record(user, "auth.change_password", user, "修改本人密码")


def set_password(user, password, *, chosen_by_owner):
    """A password someone else chose (an administrator, the demo) must be changed at next
    sign-in. Every session of the account ends."""
    with database.atomic():
        user.password_hash = hash_password(password)
        # Its age is what the policy's expiry counts.
        user.password_changed_at = clock.now()
        user.must_change_password = not chosen_by_owner
        user.save(only=[User.password_hash, User.password_changed_at, User.must_change_password])
        remember_password(user)
        end_sessions(user)


def remember_password(user):
    """Add `user`'s current hash to their history, keeping the newest HISTORY_KEPT."""
    PasswordHistory.create(user=user, password_hash=user.password_hash, set_at=now())
    stale = [
        row.id
        for row in PasswordHistory.select(PasswordHistory.id)
        .where(PasswordHistory.user == user.id)
        .order_by(PasswordHistory.set_at.desc(), PasswordHistory.id.desc())
        .offset(HISTORY_KEPT)
    ]
    if stale:
        PasswordHistory.delete().where(PasswordHistory.id.in_(stale)).execute()
