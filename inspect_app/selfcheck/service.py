"""等保自查: each control of GB/T 22239-2019 (level 3) the application answers for, with its live
state and a verdict. What cannot be read is said to be so, never assumed to be fine."""

from dataclasses import dataclass
from datetime import timedelta

from inspect_app import backup, clock
from inspect_app.audit import chain
from inspect_app.audit import service as audit_service
from inspect_app.auth import permissions, policy, throttle
from inspect_app.models import User
from inspect_app.vocab import ROLES

BACKUP_MAX_AGE = timedelta(days=2)
CERT_RENEW_WITHIN = timedelta(days=30)  # the app renews its own certificate from here on
IDLE_MAX_SECONDS = 2 * 3600
LIFETIME_MAX = timedelta(hours=12)
# Actions about business records: none may be open to an administrator (三员分立).
BUSINESS_PREFIXES = (
    "round.",
    "inspection.",
    "finding.",
    "task.",
    "escalation.",
    "notice.",
    "notice_template.",
    "score.",
    "ranking.",
)


@dataclass
class Check:
    area: str  # the control point (控制点) of GB/T 22239-2019, 8.1.4
    item: str
    state: str  # what the app found, live
    ok: bool
    reason: str  # why green or red, in Chinese


def password_policy():
    current = policy.current_policy()
    expiry = f"有效期 {current.max_age_days} 天" if current.max_age_days else "不过期"
    state = (
        f"至少 {current.min_length} 位，至少 {current.min_classes} 类字符，"
        f"不得与最近 {current.history} 次相同，{expiry}；"
        f"常见口令库 {len(policy.common_passwords())} 条；他人设置的密码首次登录须修改"
    )
    if not current.max_age_days:
        return Check(
            "身份鉴别",
            "口令复杂度与定期更换",
            state,
            False,
            "口令未设有效期，做不到定期更换：请在“安全策略”中设置有效期（如 90 天）",
        )
    return Check(
        "身份鉴别",
        "口令复杂度与定期更换",
        state,
        True,
        "口令复杂度、历史和有效期均由安全管理员配置并生效",
    )


def two_factor():
    enrolled, required = policy.two_factor_coverage()
    roles = policy.current_policy().two_factor_roles
    state = f"须使用双因素的账号 {required} 个，已绑定 {enrolled} 个（三员必须" + (
        f"，另有{'、'.join(ROLES[r] for r in roles)}）" if roles else "）"
    )
    if required == 0:
        return Check("身份鉴别", "双因素鉴别（管理员）", state, False, "没有任何账号被要求双因素")
    if enrolled < required:
        return Check(
            "身份鉴别",
            "双因素鉴别（管理员）",
            state,
            False,
            f"还有 {required - enrolled} 个须使用双因素的账号尚未绑定",
        )
    return Check("身份鉴别", "双因素鉴别（管理员）", state, True, "须使用双因素的账号均已绑定")


def login_failures():
    pair, address, account = throttle.PAIR, throttle.ADDRESS, throttle.ACCOUNT
    state = (
        f"同一账号在同一地址失败 {pair.free} 次、同一地址失败 {address.free} 次后，每次再试须等待，"
        f"{pair.first_wait} 秒起逐次加倍，最长 {pair.longest // 60} 分钟；"
        f"同一账号各处合计失败 {account.free} 次后，失败过的地址最长等待 {account.longest} 秒；"
        "不锁定账号，登录成功不清零地址的计数"
    )
    return Check(
        "身份鉴别",
        "登录失败处理",
        state,
        True,
        "已启用登录失败处理（渐进延时）：失败、延时和被拒的尝试均记入审计",
    )


def sessions(config):
    idle = config["SESSION_IDLE_SECONDS"]
    lifetime = config["PERMANENT_SESSION_LIFETIME"]
    state = (
        "会话保存在服务器上，退出、改密、停用和强制下线立即失效；"
        f"空闲 {idle // 60} 分钟自动退出，登录最长 {int(lifetime.total_seconds() // 3600)} 小时；"
        f"Cookie {'HttpOnly' if config.get('SESSION_COOKIE_HTTPONLY') else '非 HttpOnly'}、"
        f"{'Secure' if config.get('SESSION_COOKIE_SECURE') else '非 Secure'}"
    )
    if idle > IDLE_MAX_SECONDS or lifetime > LIFETIME_MAX:
        return Check(
            "身份鉴别",
            "登录连接超时自动退出",
            state,
            False,
            f"超时设置过长（空闲不应超过 {IDLE_MAX_SECONDS // 60} 分钟，登录不应超过 12 小时）",
        )
    if not config.get("SESSION_COOKIE_HTTPONLY"):
        return Check("身份鉴别", "登录连接超时自动退出", state, False, "会话 Cookie 不是 HttpOnly")
    return Check("身份鉴别", "登录连接超时自动退出", state, True, "已启用超时自动退出")


def role_separation():
    active = User.select(User.role, User.display_name).where(
        User.role.in_(list(permissions.ADMIN_ROLES)), User.is_active == True
    )
    counts = {role: 0 for role in ("sysadmin", "secadmin", "auditor")}
    roles_of_name = {}
    for user in active:
        counts[user.role] += 1
        roles_of_name.setdefault(user.display_name, set()).add(user.role)
    state = "，".join(f"{ROLES[role]} {n} 个" for role, n in counts.items())
    state += "；每个账号只有一个角色"
    missing = [ROLES[role] for role, n in counts.items() if n == 0]
    if missing:
        return Check("访问控制", "三员分立", state, False, f"尚无在用的{'、'.join(missing)}账号")
    shared = sorted(name for name, roles in roles_of_name.items() if len(roles) > 1)
    if shared:
        return Check(
            "访问控制",
            "三员分立",
            state,
            False,
            f"{'、'.join(shared)} 同时持有两种管理员角色的账号（按姓名），可能由同一人兼任",
        )
    return Check(
        "访问控制",
        "三员分立",
        state,
        True,
        "三种管理员各有账号，由不同人员持有；角色只能由安全管理员授予，不能授予自己",
    )


def least_privilege():
    rules = {
        **permissions.ROLE_RULES,
        **{action: roles for action, (roles, _) in permissions.OBJECT_RULES.items()},
    }
    leaks = sorted(
        action
        for action, roles in rules.items()
        if action.startswith(BUSINESS_PREFIXES) and set(roles) & permissions.ADMIN_ROLES
    )
    readers = set(permissions.ROLE_RULES["audit.view"])
    state = (
        f"业务操作 {sum(1 for a in rules if a.startswith(BUSINESS_PREFIXES))} 项；审计记录可读角色："
        + ("、".join(ROLES[r] for r in sorted(readers)))
    )
    if leaks:
        return Check(
            "访问控制",
            "管理员不接触业务数据",
            state,
            False,
            f"管理员角色可执行：{'、'.join(leaks)}",
        )
    if readers != {"auditor"}:
        return Check(
            "访问控制", "管理员不接触业务数据", state, False, "审计记录不只由安全审计员读取"
        )
    return Check(
        "访问控制",
        "管理员不接触业务数据",
        state,
        True,
        "三种管理员均不能访问督查、整改、公文和考评；审计记录只有安全审计员可读",
    )


def default_deny(routes_without_rule, route_count):
    state = f"共 {route_count} 个地址，未声明权限的 {len(routes_without_rule)} 个"
    if routes_without_rule:
        return Check(
            "访问控制", "默认拒绝", state, False, f"未声明权限：{'、'.join(routes_without_rule)}"
        )
    return Check("访问控制", "默认拒绝", state, True, "每个地址都声明了权限，未声明的一律拒绝")


def audit_chain(verdict):
    algorithm = chain.ALGORITHM.upper()
    if not verdict.ok:
        return Check(
            "安全审计",
            "审计记录防篡改",
            f"{algorithm} 哈希链；{verdict.problem}",
            False,
            verdict.problem,
        )
    state = f"{algorithm} 哈希链，{verdict.count} 条记录"
    if verdict.count:
        state += f"，链尾第 {verdict.head_seq} 条 {verdict.head_hash[:16]}…"
    return Check(
        "安全审计",
        "审计记录防篡改",
        state,
        True,
        "审计链完整：没有被修改、删除或插入的记录；数据库拒绝修改审计记录",
    )


def audit_retention(verdict, today):
    days = chain.RETENTION_DAYS
    if verdict.oldest_at is None:
        return Check("安全审计", "审计记录保留", "没有审计记录", False, "审计记录为空")
    age = (today - verdict.oldest_at.date()).days
    state = f"最早记录 {verdict.oldest_at:%Y-%m-%d}（{age} 天前），要求至少保留 {days} 天"
    if not verdict.ok:
        return Check("安全审计", "审计记录保留", state, False, "审计链不完整，无法确认保留情况")
    if age >= days:
        return Check("安全审计", "审计记录保留", state, True, f"已保留超过 {days} 天")
    if verdict.pruned_through:
        return Check(
            "安全审计",
            "审计记录保留",
            state,
            False,
            f"有清理记录，且保留的记录不足 {days} 天",
        )
    return Check(
        "安全审计",
        "审计记录保留",
        state,
        True,
        f"系统启用不足 {days} 天，全部记录均在；少于 {days} 天的记录任何人都不能删除",
    )


def backups(config, now):
    folder = config["BACKUP_FOLDER"]
    newest = backup.newest_archive(folder)
    if newest is None:
        return Check(
            "数据备份恢复", "数据备份", f"备份目录 {folder} 中没有备份", False, "未找到任何备份"
        )
    path, label, moment = newest
    age = now - moment
    state = f"最新备份 {path.name}（{backup.LABELS[label]}，{moment:%Y-%m-%d %H:%M}）"
    if config.get("BACKUP_KEEP", 0) <= 0:
        state += "；每日备份已关闭"
    if age > BACKUP_MAX_AGE:
        return Check(
            "数据备份恢复",
            "数据备份",
            state,
            False,
            f"最新备份已是 {age.days} 天前，超过 {BACKUP_MAX_AGE.days} 天",
        )
    return Check("数据备份恢复", "数据备份", state, True, "两天内有备份")


def transport(config, secure):
    from inspect_app.deploy import tls
    from inspect_app.deploy.serving import LOCAL_CA, OFF

    serving = config["SERVING"]
    this_request = "本次访问使用 HTTPS" if secure else "本次访问未使用 HTTPS"
    if serving.tls == OFF:
        state = f"由反向代理提供 HTTPS（{serving.public_url or '未设置 INSPECT_PUBLIC_URL'}）；{this_request}"
        if not serving.https:
            return Check("通信传输", "HTTPS", state, False, "未启用 HTTPS：口令和数据以明文传输")
        if not secure:
            return Check("通信传输", "HTTPS", state, False, "本次访问未经 HTTPS 到达")
        return Check(
            "通信传输",
            "HTTPS",
            state,
            True,
            "经反向代理使用 HTTPS；证书由代理管理，本机无法读取其有效期",
        )
    try:
        if serving.tls == LOCAL_CA:
            path = serving.tls_folder / tls.SERVER_CERT
            if not path.exists():
                return Check(
                    "通信传输",
                    "HTTPS",
                    f"尚未生成服务器证书；{this_request}",
                    False,
                    "服务器证书不存在（服务启动时生成）",
                )
            cert, source = tls.load_certificate(path), "本系统 CA 签发"
        else:
            cert, source = (
                tls.check_own_certificate(serving.cert_file, serving.key_file)[0],
                "单位自有证书",
            )
    except tls.TLSRefused as refused:
        return Check("通信传输", "HTTPS", f"证书不可用；{this_request}", False, refused.message)
    left = tls.expires_in(cert)
    state = f"{source}，有效期至 {cert.not_valid_after_utc:%Y-%m-%d}（剩余 {left.days} 天）；{this_request}"
    if left <= timedelta(0):
        return Check("通信传输", "HTTPS", state, False, "证书已过期")
    if left < CERT_RENEW_WITHIN:
        return Check("通信传输", "HTTPS", state, False, f"证书将在 {left.days} 天内过期")
    if not secure:
        return Check("通信传输", "HTTPS", state, False, "本次访问未经 HTTPS 到达")
    return Check("通信传输", "HTTPS", state, True, "全程 HTTPS，证书有效")


def run(config, *, secure, routes_without_rule, route_count):
    verdict = audit_service.verify()
    return [
        password_policy(),
        two_factor(),
        login_failures(),
        sessions(config),
        role_separation(),
        least_privilege(),
        default_deny(routes_without_rule, route_count),
        audit_chain(verdict),
        audit_retention(verdict, clock.today()),
        backups(config, clock.now()),
        transport(config, secure),
    ]
