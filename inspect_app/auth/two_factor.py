"""Two-factor sign-in with time-based one-time codes (TOTP, RFC 6238: 6 digits, 30 s, SHA-1), the
codes of every phone authenticator app (e.g. 微信小程序 "腾讯身份验证器", Google/Microsoft
Authenticator, FreeOTP), which work without network.

The secret is stored encrypted (Fernet: AES-128-CBC with HMAC-SHA256) under a key derived from the
instance's SECRET_KEY, which lives apart from the database: a copy of the database or of a
backup's database alone gives no codes. Time comes from the app's clock. A code is accepted once:
the time step of the last code taken is kept, and only a later one passes.
"""

import base64

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from pyotp.exceptions import OTPVerificationError

from inspect_app import audit, clock
from inspect_app.db import database
from inspect_app.errors import Conflict, Forbidden, ValidationFailed
from inspect_app.models import User, now

ISSUER = "督查督导系统"
VALID_WINDOW = 1  # one step (30 s) either side: phones whose clocks are a little off


def _fernet():
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"inspect_app totp secret"
    ).derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret):
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(stored):
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise Conflict(
            "该账号的双因素密钥无法解密（服务器的 SECRET_KEY 已更换？）。"
            "请安全管理员在“账号安全”中重置该账号的双因素认证后重新绑定"
        ) from None


def enabled(user):
    return user.totp_enabled_at is not None


def secret_of(user):
    return decrypt(user.totp_secret) if user.totp_secret else None


def _clean_code(code):
    code = "".join(str(code or "").split())
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise ValidationFailed("请输入手机身份验证器上显示的 6 位数字", fields={"code": "6 位数字"})
    return code


def _matching_step(secret, code):
    """The time step whose code `code` is, within the window around the app's clock, or None."""
    try:
        return pyotp.TOTP(secret).verify_and_get_timecode(
            code, for_time=clock.timestamp(), valid_window=VALID_WINDOW
        )
    except OTPVerificationError:
        return None


def verify(user, code):
    """True when `code` is a current code of `user`'s enabled secret not used before; marks its
    time step used (race-safe: of two requests with the same code, one wins)."""
    code = _clean_code(code)
    step = _matching_step(secret_of(user), code)
    if step is None or step <= user.totp_last_step:
        return False
    taken = (
        User.update(totp_last_step=step)
        .where(User.id == user.id, User.totp_last_step < step)
        .execute()
    )
    user.totp_last_step = step
    return taken == 1


# -- enrolment ----------------------------------------------------------------------------------


def pending_secret(user, *, renew=False):
    """The secret waiting for its first code (made now if there is none, or if `renew`)."""
    if enabled(user):
        raise Conflict("双因素认证已启用")
    if user.totp_secret and not renew:
        return secret_of(user)
    secret = pyotp.random_base32()  # 32 characters: 160 bits, as RFC 4226 recommends
    user.totp_secret = encrypt(secret)
    user.totp_last_step = 0
    user.save(only=[User.totp_secret, User.totp_last_step])
    return secret


def provisioning_uri(user, secret):
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def qr_svg(uri):
    """The otpauth:// address as an inline SVG QR code (no script, no separate request)."""
    return segno.make(uri, error="m").svg_inline(border=4, omitsize=True)


def confirm_enrolment(user, code):
    """Enable the pending secret once the phone shows a matching code."""
    if enabled(user):
        raise Conflict("双因素认证已启用")
    if not user.totp_secret:
        raise Conflict("请先打开绑定页面获取密钥")
    code = _clean_code(code)
    step = _matching_step(secret_of(user), code)
    if step is None:
        message = "验证码不正确：请确认手机上添加的是本页的密钥，且手机时间准确"
        raise ValidationFailed(message, fields={"code": message})
    with database.atomic():
        user.totp_enabled_at = now()
        user.totp_last_step = step
        user.save(only=[User.totp_enabled_at, User.totp_last_step])
        audit.record(user, "user.two_factor_enable", user, f"{user.username} 绑定双因素认证")


def disable(user, code, *, required):
    """The owner turns their second factor off (only where the policy does not require it)."""
    if required:
        raise Conflict("您的角色必须使用双因素认证，不能停用；更换手机请联系安全管理员重置")
    if not enabled(user):
        raise Conflict("双因素认证未启用")
    if not verify(user, code):
        message = "验证码不正确或已使用过"
        raise ValidationFailed(message, fields={"code": message})
    with database.atomic():
        _clear(user)
        audit.record(user, "user.two_factor_disable", user, f"{user.username} 停用双因素认证")


def reset(user, *, by):
    """The security administrator's reset (a lost phone): the owner enrols again at next sign-in
    if the policy requires it. Their sessions end. Never their own: that would let whoever holds
    their session drop the factor (`by=None`: the server's shell)."""
    from inspect_app.auth.service import end_sessions

    if by is not None and by.id == user.id:
        raise Forbidden("不能重置自己的双因素认证，请由其他安全管理员操作，或在服务器上执行命令")
    with database.atomic():
        had = enabled(user)
        _clear(user)
        end_sessions(user)
        audit.record(
            by,
            "user.two_factor_reset",
            user,
            f"重置账号 {user.username} 的双因素认证" + ("" if had else "（原未启用）"),
        )


def _clear(user):
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = 0
    user.save(only=[User.totp_secret, User.totp_enabled_at, User.totp_last_step])


def enrol_with(user, secret):
    """Enable `secret` for `user` directly: the demo's administrator, whose secret is published."""
    user.totp_secret = encrypt(secret)
    user.totp_enabled_at = now()
    user.totp_last_step = 0
    user.save(only=[User.totp_secret, User.totp_enabled_at, User.totp_last_step])
