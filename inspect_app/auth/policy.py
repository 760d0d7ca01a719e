"""The password and two-factor policy (身份鉴别): what a password must be, how long it lasts, who
must sign in with a second factor. The security administrator sets it on /security/policy; it is
kept in the `setting` table, every change audited.

`current_policy()` is read on every signed-in request (expiry, two-factor enrolment), so it is
cached per database for POLICY_CACHE_SECONDS; a change made in this process applies at once,
in the other workers within that time.
"""

import re
import time
import weakref
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources

from inspect_app import audit, clock
from inspect_app.auth.permissions import ADMIN_ROLES, is_administrator
from inspect_app.db import database
from inspect_app.errors import ValidationFailed
from inspect_app.models import Setting, User, now
from inspect_app.vocab import ROLES

SETTING_KEY = "password_policy"
# The roles the policy may add to the two-factor requirement: the administrators always have it,
# and a pending account has no role to require it of.
OPTIONAL_TWO_FACTOR_ROLES = tuple(r for r in ROLES if r not in ADMIN_ROLES and r != "pending")
POLICY_CACHE_SECONDS = 30
MIN_LENGTH_RANGE = (8, 64)
CLASS_RANGE = (3, 4)  # the floor: three of the four classes
HISTORY_RANGE = (0, 24)
MAX_AGE_RANGE = (0, 3650)  # days; 0: passwords do not expire
CLASSES = (
    ("大写字母", re.compile(r"[A-Z]")),
    ("小写字母", re.compile(r"[a-z]")),
    ("数字", re.compile(r"[0-9]")),
    ("符号", re.compile(r"[^A-Za-z0-9]")),
)


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 10
    min_classes: int = 3
    history: int = 5  # a new password may not be any of the last N (the current one included)
    max_age_days: int = 0  # 0: off
    # Roles that must sign in with a second factor besides the administrators, who always must.
    two_factor_roles: tuple = field(default=())

    def describe(self):
        """The rules in one Chinese sentence, for forms and prompts."""
        parts = [
            f"至少 {self.min_length} 位",
            f"包含大写字母、小写字母、数字、符号中的至少 {self.min_classes} 类",
            "不含用户名",
            "不能是常见密码（常用密码或常用词加数字）",
        ]
        if self.history:
            parts.append(f"不能与最近 {self.history} 次用过的密码相同")
        return "，".join(parts)

    def two_factor_required(self, user):
        return is_administrator(user) or user.role in self.two_factor_roles

    def password_expired(self, user):
        if not self.max_age_days or user.password_changed_at is None:
            return False
        age = clock.now() - user.password_changed_at
        return age.total_seconds() > self.max_age_days * 86400


DEFAULT_POLICY = PasswordPolicy()
_cache = weakref.WeakKeyDictionary()  # database object -> (monotonic time read, policy)


def _stored():
    row = Setting.get_or_none(Setting.key == SETTING_KEY)
    if row is None:
        return DEFAULT_POLICY
    values = {**asdict(DEFAULT_POLICY), **(row.value or {})}
    values["two_factor_roles"] = tuple(values["two_factor_roles"])
    known = PasswordPolicy.__dataclass_fields__
    return PasswordPolicy(**{k: v for k, v in values.items() if k in known})


def current_policy():
    """The policy in force: an object with min_length, min_classes, history, max_age_days and
    two_factor_roles (plus describe(), two_factor_required(user), password_expired(user))."""
    db = database.obj
    cached = _cache.get(db)
    if cached and time.monotonic() - cached[0] < POLICY_CACHE_SECONDS:
        return cached[1]
    policy = _stored()
    _cache[db] = (time.monotonic(), policy)
    return policy


def _forget():
    _cache.pop(database.obj, None)


# -- the page's form ----------------------------------------------------------------------------


def _whole_number(data, name, bounds, label, errors):
    raw = str(data.get(name, "")).strip()
    low, high = bounds
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        errors[name] = f"{label}应为 {low}–{high} 之间的整数"
        return None
    return int(raw)


def _clean(data):
    errors = {}
    values = {
        "min_length": _whole_number(data, "min_length", MIN_LENGTH_RANGE, "最小长度", errors),
        "min_classes": _whole_number(data, "min_classes", CLASS_RANGE, "字符类别数", errors),
        "history": _whole_number(data, "history", HISTORY_RANGE, "不得重复的历史密码个数", errors),
        "max_age_days": _whole_number(
            data, "max_age_days", MAX_AGE_RANGE, "密码有效期（天，0 为不限）", errors
        ),
    }
    roles = data.getlist("two_factor_roles") if hasattr(data, "getlist") else []
    unknown = [r for r in roles if r not in OPTIONAL_TWO_FACTOR_ROLES]
    if unknown:
        errors["two_factor_roles"] = f"不能选择这个角色：{'、'.join(unknown)}"
    values["two_factor_roles"] = tuple(r for r in OPTIONAL_TWO_FACTOR_ROLES if r in roles)
    return values, errors


def _summary(before, after):
    labels = {
        "min_length": "最小长度",
        "min_classes": "字符类别",
        "history": "历史密码",
        "max_age_days": "有效期（天）",
        "two_factor_roles": "须双因素的角色",
    }

    def shown(value):
        if isinstance(value, (tuple, list)):
            return "、".join(ROLES[r] for r in value) or "无"
        return str(value)

    changes = [
        f"{labels[k]} {shown(before[k])}→{shown(after[k])}" for k in labels if before[k] != after[k]
    ]
    return "修改口令与双因素策略：" + ("；".join(changes) or "未改动")


def save_policy(data, *, by):
    """Validate and store the policy from the page's form; audited with before and after."""
    values, errors = _clean(data)
    if errors:
        raise ValidationFailed("请修改标出的内容后再保存", fields=errors)
    before = asdict(_stored())
    policy = PasswordPolicy(**values)
    after = asdict(policy)
    stored = {**after, "two_factor_roles": list(policy.two_factor_roles)}
    with database.atomic():
        row = Setting.get_or_none(Setting.key == SETTING_KEY)
        if row is None:
            row = Setting.create(key=SETTING_KEY, value=stored, updated_by=by)
        else:
            row.value, row.updated_at, row.updated_by = stored, now(), by
            row.save()
        audit.record(
            by,
            "security.policy",
            row,
            _summary(before, after),
            {
                "before": {**before, "two_factor_roles": list(before["two_factor_roles"])},
                "after": stored,
            },
        )
    _forget()
    return policy


# -- checking a password ------------------------------------------------------------------------


@cache
def common_passwords():
    """The shipped list of common passwords, lower case (see the file's header for its origin)."""
    text = resources.files("inspect_app.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


_EDGES = re.compile(r"^[\d\W_]+|[\d\W_]+$")


def is_common(password):
    """A listed password, or a listed word with digits and symbols around it (Demo2026,
    Password1!, 2026qwerty): what guessing tools try first."""
    lowered = password.lower()
    listed = common_passwords()
    if lowered in listed:
        return True
    core = _EDGES.sub("", lowered)
    return len(core) >= 4 and core != lowered and core in listed


def problems(password, *, username="", policy=None):
    """What is wrong with `password` under the policy, as Chinese sentences (empty: acceptable).
    History is checked apart (`auth.service`), since it costs a hash per old password."""
    policy = policy or current_policy()
    found = []
    if len(password) < policy.min_length:
        found.append(f"密码至少 {policy.min_length} 位")
    classes = [name for name, pattern in CLASSES if pattern.search(password)]
    if len(classes) < policy.min_classes:
        found.append(
            f"密码须包含大写字母、小写字母、数字、符号中的至少 {policy.min_classes} 类"
            f"（现有 {len(classes)} 类）"
        )
    if username and len(username) >= 3 and username.lower() in password.lower():
        found.append("密码不能包含用户名")
    if is_common(password):
        found.append("密码过于常见（常用密码或常用词加数字），请换一个不易猜到的密码")
    return found


def check_password(password, *, username="", field_name="password"):
    """Raise ValidationFailed naming every rule `password` breaks."""
    found = problems(password, username=username)
    if found:
        message = "；".join(found)
        raise ValidationFailed(message, fields={field_name: message})


# -- two-factor coverage ------------------------------------------------------------------------


def two_factor_coverage():
    """(enrolled, required_total) over active accounts that must sign in with a second factor."""
    policy = current_policy()
    required = [
        user
        for user in User.select(User.id, User.role, User.totp_enabled_at).where(
            User.is_active == True
        )
        if policy.two_factor_required(user)
    ]
    enrolled = sum(1 for user in required if user.totp_enabled_at is not None)
    return enrolled, len(required)
