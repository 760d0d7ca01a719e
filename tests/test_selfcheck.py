"""等保自查 (/security/self-check): every control with its live state, green or red with the
reason, read live from the policy, the throttle, the audit chain, backups and TLS."""

import re
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from inspect_app import backup, clock
from inspect_app.db import database
from inspect_app.models import User
from inspect_app.selfcheck import service

ROW = re.compile(
    r'<tr class="check-(ok|fail)">\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>'
    r"\s*<td>.*?</td>\s*<td>([^<]*)</td>",
    re.S,
)


def rows(client, **kwargs):
    """{item: (green?, state, reason)} as the page shows them."""
    response = client.get("/security/self-check", **kwargs)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return {
        item: (verdict == "ok", state, reason) for verdict, item, state, reason in ROW.findall(page)
    }


@pytest.fixture
def checks(login, demo):
    return lambda username="anquan", **kwargs: rows(login(username), **kwargs)


def test_both_the_security_administrator_and_the_auditor_see_every_control(checks):
    for username in ("anquan", "shenji"):
        found = checks(username)
        assert list(found) == [
            "口令复杂度与定期更换",
            "双因素鉴别（管理员）",
            "登录失败处理",
            "登录连接超时自动退出",
            "三员分立",
            "管理员不接触业务数据",
            "默认拒绝",
            "审计记录防篡改",
            "审计记录保留",
            "数据备份",
            "HTTPS",
        ]
    assert (
        found["三员分立"][0]
        and "系统管理员 1 个，安全管理员 1 个，安全审计员 1 个" in found["三员分立"][1]
    )
    assert found["管理员不接触业务数据"][0] and found["默认拒绝"][0]
    assert found["审计记录防篡改"][0] and "SM3 哈希链" in found["审计记录防篡改"][1]
    assert found["审计记录保留"][0] and "系统启用不足 180 天" in found["审计记录保留"][2]


def test_password_policy_and_two_factor_show_the_live_policy_and_coverage(app, checks, login):
    found = checks()
    green, state, reason = found["口令复杂度与定期更换"]
    assert state.startswith("至少 10 位，至少 3 类字符，不得与最近 5 次相同，不过期；常见口令库 ")
    assert not green and "口令未设有效期" in reason  # 等保 asks for 定期更换
    assert found["双因素鉴别（管理员）"] == (
        True,
        "须使用双因素的账号 3 个，已绑定 3 个（三员必须）",
        "须使用双因素的账号均已绑定",
    )
    secadmin = login("anquan")
    saved = secadmin.post(
        "/security/policy",
        {
            "min_length": "12",
            "min_classes": "4",
            "history": "8",
            "max_age_days": "90",
            "two_factor_roles": "supervisor",
        },
    )
    assert saved.status_code == 303
    found = rows(secadmin)
    green, state, _ = found["口令复杂度与定期更换"]
    assert green and state.startswith(
        "至少 12 位，至少 4 类字符，不得与最近 8 次相同，有效期 90 天"
    )
    assert found["双因素鉴别（管理员）"] == (
        False,
        "须使用双因素的账号 4 个，已绑定 3 个（三员必须，另有督查办）",
        "还有 1 个须使用双因素的账号尚未绑定",
    )


def test_login_failure_handling_shows_the_throttles_delays(checks):
    green, state, reason = checks()["登录失败处理"]
    assert green and "同一账号在同一地址失败 3 次、同一地址失败 10 次后" in state
    assert "最长 15 分钟" in state and "不锁定账号" in state and "记入审计" in reason


def test_a_broken_audit_chain_turns_red_naming_the_record(checks, login):
    first = login("xitong")  # one record: a sign-in
    assert first.get("/").status_code == 200
    database.execute_sql(
        "DROP TRIGGER IF EXISTS audit_event_append_only"
        + ("" if database.param == "?" else " ON audit_event")
    )
    database.execute_sql("UPDATE audit_event SET summary = '无事' WHERE seq = 1")
    green, state, reason = checks()["审计记录防篡改"]
    assert not green and reason.startswith("第 1 条记录") and "被修改过" in reason


def test_role_separation_turns_red_without_an_auditor_or_with_one_person_holding_two(checks):
    User.update(is_active=False).where(User.username == "shenji").execute()
    green, _, reason = checks()["三员分立"]
    assert not green and reason == "尚无在用的安全审计员账号"
    User.update(is_active=True).where(User.username == "shenji").execute()
    User.update(display_name="王建国").where(User.username == "shenji").execute()
    green, _, reason = checks()["三员分立"]
    assert not green and "王建国 同时持有两种管理员角色的账号" in reason


def test_backup_age_is_read_from_the_newest_archive(app, checks, tmp_path):
    app.config["BACKUP_FOLDER"] = str(tmp_path / "backups")
    green, state, reason = checks()["数据备份"]
    assert not green and reason == "未找到任何备份"
    archive = backup.make_archive(app.config, label="manual")
    green, state, _ = checks()["数据备份"]
    assert green and archive.path.name in state
    clock.travel(clock.now() + timedelta(days=3))
    green, _, reason = checks()["数据备份"]
    assert not green and reason == "最新备份已是 3 天前，超过 2 天"


def test_https_is_green_only_over_https_with_a_valid_certificate(app, checks, tmp_path):
    from inspect_app.deploy import tls

    app.config["SERVING"] = replace(app.config["SERVING"], tls_folder=tmp_path / "tls")
    green, state, reason = checks()["HTTPS"]
    assert not green and reason == "服务器证书不存在（服务启动时生成）"
    tls.server_certificate(tmp_path / "tls", tls.Names.of(dns=["localhost"]))
    green, state, reason = checks()["HTTPS"]
    assert not green and reason == "本次访问未经 HTTPS 到达" and "本系统 CA 签发" in state
    green, state, reason = checks(base_url="https://localhost")["HTTPS"]
    assert green and "本次访问使用 HTTPS" in state
    assert re.search(r"剩余 39[67] 天", state)


def test_a_long_idle_timeout_is_red(app, checks):
    app.config["SESSION_IDLE_SECONDS"] = 3 * 3600
    green, state, reason = checks()["登录连接超时自动退出"]
    assert not green and "空闲 180 分钟" in state and "超时设置过长" in reason


def test_the_retention_row_counts_the_oldest_records_age(app):
    from inspect_app import audit
    from inspect_app.audit import service as trail

    clock.travel(datetime(2026, 1, 5, 9, 0))
    audit.record(None, "test.old", None, "一月")
    clock.travel(datetime(2026, 11, 23, 9, 0))
    check = service.audit_retention(trail.verify(), clock.today())
    assert check.ok and check.reason == "已保留超过 180 天"
    assert check.state == "最早记录 2026-01-05（322 天前），要求至少保留 180 天"
