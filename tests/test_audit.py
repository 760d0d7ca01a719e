"""安全审计: what is recorded (who, when, where, what, before → after), the hash chain and its
verification, concurrent writers, retention and pruning, and the auditor's search and export."""

import csv
import io
import threading
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from inspect_app import audit, clock
from inspect_app.audit import chain, service
from inspect_app.db import database
from inspect_app.models import AuditEvent, User
from tests.conftest import Client


def _invoke(app, *args):
    from flask.cli import FlaskGroup

    return app.test_cli_runner().invoke(FlaskGroup(create_app=lambda: app), list(args))


def _events(action=None):
    query = AuditEvent.select().order_by(AuditEvent.seq)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(query)


def _as_database_owner(sql, params=()):
    """What someone with the database's owner rights can do: drop the trigger that refuses
    updates, then change a record directly."""
    if database.param == "?":
        database.execute_sql("DROP TRIGGER IF EXISTS audit_event_append_only")
    else:
        database.execute_sql("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
    database.execute_sql(sql.replace("%s", database.param), params)


@pytest.fixture
def trail(app):
    """Ten records, as the CLI and the worker write them."""
    for n in range(1, 11):
        audit.record(None, "test.entry", None, f"第 {n} 件事")
    return _events()


# -- the chain ---------------------------------------------------------------------------------


def test_every_record_is_numbered_without_gaps_and_chained(trail):
    assert [e.seq for e in trail] == list(range(1, 11))
    assert trail[0].prev_hash == chain.GENESIS
    for before, after in zip(trail, trail[1:], strict=False):
        assert after.prev_hash == before.row_hash
    assert all(len(e.row_hash) == 64 for e in trail)
    verdict = service.verify()
    assert verdict.ok and verdict.count == 10
    assert (verdict.head_seq, verdict.head_hash) == (10, trail[-1].row_hash)


def test_the_digest_is_sm3_of_the_canonical_record(trail):
    import hashlib

    first = trail[0]
    row = {column: getattr(first, column, None) for column in chain.COLUMNS}
    row["actor_id"], row["detail"] = first.actor_id, None
    row["value_before"] = row["value_after"] = None
    expected = hashlib.new("sm3", chain.canonical(row).encode()).hexdigest()
    assert first.row_hash == expected


def test_cli_verify_passes_and_prints_the_head(app, trail):
    result = _invoke(app, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert f"共 10 条记录，链尾为第 10 条（SM3 {trail[-1].row_hash}）" in result.output


def test_the_database_refuses_to_change_a_record(app, trail):
    with pytest.raises(Exception, match="append-only"), database.atomic():
        database.execute_sql("UPDATE audit_event SET summary = 'x' WHERE seq = 3")
    assert AuditEvent.get(AuditEvent.seq == 3).summary == "第 3 件事"
    record = AuditEvent.get(AuditEvent.seq == 3)
    record.summary = "改过"
    with pytest.raises(TypeError, match="append-only"):
        record.save()


def test_verify_names_an_edited_record(app, trail):
    edited = trail[4]
    _as_database_owner("UPDATE audit_event SET summary = %s WHERE id = %s", ("无事发生", edited.id))
    result = _invoke(app, "audit", "verify")
    assert result.exit_code == 1
    assert (
        f"审计链校验失败：第 5 条记录（编号 {edited.id}）的内容与其哈希不符：该记录写入后被修改过"
        in result.output
    )
    assert "此前的 4 条记录校验通过" in result.output


def test_verify_names_a_record_edited_with_its_digest_recomputed(app, trail):
    edited = trail[4]
    row = {c: getattr(edited, c, None) for c in chain.COLUMNS}
    row.update(summary="无事发生", detail=None, value_before=None, value_after=None)
    _as_database_owner(
        "UPDATE audit_event SET summary = %s, row_hash = %s WHERE id = %s",
        ("无事发生", chain.row_hash(row), edited.id),
    )
    verdict = service.verify()
    assert not verdict.ok and verdict.broken_seq == 6
    assert "第 6 条记录" in verdict.problem and "第 5 条被改动后重算了哈希" in verdict.problem


def test_verify_names_a_deleted_middle_record(app, trail):
    database.execute_sql(f"DELETE FROM audit_event WHERE seq = {database.param}", (6,))
    result = _invoke(app, "audit", "verify")
    assert result.exit_code == 1
    assert f"第 6 条记录缺失：已被删除（其后的第 7 条记录，编号 {trail[6].id}" in result.output


def test_verify_names_deleted_first_records(app, trail):
    database.execute_sql("DELETE FROM audit_event WHERE seq <= 2")
    verdict = service.verify()
    assert not verdict.ok and verdict.problem.startswith("第 1 条至第 2 条记录缺失")


def test_a_cut_off_tail_is_found_against_a_head_noted_elsewhere(app, trail):
    noted = f"{trail[-1].seq}:{trail[-1].row_hash}"
    assert _invoke(app, "audit", "verify", "--anchor", noted).exit_code == 0
    database.execute_sql("DELETE FROM audit_event WHERE seq >= 9")
    assert service.verify().ok  # the chain alone cannot tell
    result = _invoke(app, "audit", "verify", "--anchor", noted)
    assert result.exit_code == 1 and "第 10 条记录不在审计表中" in result.output
    bad = _invoke(app, "audit", "verify", "--anchor", "ten")
    assert bad.exit_code == 1 and "应写成 条号:哈希" in bad.output


def test_concurrent_writers_never_fork_the_chain(app):
    """Threads with their own connections append at once (on PostgreSQL as on SQLite): every
    record gets its own number and the chain verifies."""
    writers, each = 6, 15
    barrier = threading.Barrier(writers)
    failures = []

    def write(n):
        try:
            with database.connection_context():
                barrier.wait()
                for i in range(each):
                    audit.record(None, "test.concurrent", None, f"写入者 {n} 第 {i} 条")
        except Exception as error:  # reported below, with the others
            failures.append(repr(error))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    seqs = [e.seq for e in _events()]
    assert seqs == list(range(1, writers * each + 1))
    assert service.verify().ok


# -- retention ---------------------------------------------------------------------------------


def test_prune_refuses_anything_younger_than_180_days(app, trail):
    today = clock.today()
    too_recent = (today - timedelta(days=179)).isoformat()
    result = _invoke(app, "audit", "prune", "--before", too_recent)
    assert result.exit_code == 1
    latest = (today - timedelta(days=180)).isoformat()
    assert f"审计记录至少保留 180 天：只能清理 {latest} 以前的记录" in result.output
    assert len(_events()) == 10
    garbled = _invoke(app, "audit", "prune", "--before", "去年")
    assert garbled.exit_code == 1 and "日期应写成 YYYY-MM-DD" in garbled.output


def test_prune_removes_old_records_and_leaves_the_chain_verifiable(app):
    clock.travel(datetime(2026, 1, 5, 9, 0))
    for n in range(5):
        audit.record(None, "test.old", None, f"一月的第 {n} 件事")
    clock.travel(datetime(2026, 11, 23, 9, 0))
    for n in range(3):
        audit.record(None, "test.new", None, f"十一月的第 {n} 件事")
    result = _invoke(app, "audit", "prune", "--before", "2026-05-01")
    assert result.exit_code == 0, result.output
    assert "已删除 2026-05-01 以前的审计记录 5 条" in result.output
    kept = _events()
    assert [e.action for e in kept] == ["test.new"] * 3 + ["audit.prune"]
    checkpoint = kept[-1]
    assert checkpoint.detail["through_seq"] == 5 and checkpoint.detail["deleted"] == 5
    verdict = service.verify()
    assert verdict.ok and verdict.pruned_through == 5 and verdict.count == 4
    assert _invoke(app, "audit", "prune", "--before", "2026-05-01").output.startswith(
        "2026-05-01 以前没有可清理的审计记录"
    )
    # a kept record deleted later is still found
    database.execute_sql("DELETE FROM audit_event WHERE seq = 6")
    verdict = service.verify()
    assert not verdict.ok and verdict.problem.startswith("第 6 条记录缺失")


def test_prune_never_removes_the_newest_record(app):
    clock.travel(datetime(2026, 1, 5, 9, 0))
    for n in range(3):
        audit.record(None, "test.old", None, f"第 {n} 件事")
    clock.travel(datetime(2026, 11, 23, 9, 0))
    assert service.prune(date(2026, 5, 1), by=None) == 2
    assert [e.action for e in _events()] == ["test.old", "audit.prune"]
    assert service.verify().ok


def test_prune_refuses_a_broken_chain(app):
    clock.travel(datetime(2026, 1, 5, 9, 0))
    for n in range(3):
        audit.record(None, "test.old", None, f"第 {n} 件事")
    clock.travel(datetime(2026, 11, 23, 9, 0))
    database.execute_sql("DELETE FROM audit_event WHERE seq = 2")
    result = _invoke(app, "audit", "prune", "--before", "2026-05-01")
    assert result.exit_code == 1 and "审计链校验未通过，不清理任何记录" in result.output
    assert len(_events()) == 2


# -- what is recorded ----------------------------------------------------------------------------


def test_sign_ins_failures_delays_refusals_and_sign_outs_are_recorded_with_the_address(app, demo):
    from inspect_app.auth.throttle import PAIR

    tablet = Client(app)
    tablet.http.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    for _ in range(PAIR.free):
        tablet.post("/login", {"username": "duchaban", "password": "wrong-pass-1"})
    assert (
        tablet.post("/login", {"username": "duchaban", "password": "Demo2026"}).status_code == 429
    )
    clock.travel(clock.now() + timedelta(minutes=20))  # past the delay and the throttle's window
    tablet.post("/login", {"username": "nobody", "password": "wrong-pass-1"})
    tablet.login("ducha1")
    assert tablet.get("/users").status_code == 403
    tablet.post("/logout")
    office = User.get(User.username == "duchaban")
    inspector = User.get(User.username == "ducha1")
    seen = [
        (e.action, e.actor_id, e.actor_username, e.address, e.object_id)
        for e in _events()
        if e.action.startswith(("auth.", "access."))
    ]
    failed = ("auth.login_failed", None, "duchaban", "10.1.2.3", office.id)
    assert seen == [
        *[failed] * PAIR.free,
        ("auth.delayed", None, "duchaban", "10.1.2.3", None),
        ("auth.throttled", None, "duchaban", "10.1.2.3", None),
        ("auth.login_failed", None, "nobody", "10.1.2.3", None),
        ("auth.login", inspector.id, "ducha1", "10.1.2.3", inspector.id),
        ("access.denied", inspector.id, "ducha1", "10.1.2.3", None),
        ("auth.logout", inspector.id, "ducha1", "10.1.2.3", inspector.id),
    ]
    delayed = _events("auth.delayed")[0]
    assert delayed.summary == "账号 duchaban 从 10.1.2.3 登录失败次数过多，下次尝试须等待 5 秒"
    assert _events("auth.throttled")[0].detail == {"wait_seconds": 5}
    assert "GET /users" in _events("access.denied")[0].summary
    assert _events("auth.login_failed")[-1].summary == "登录失败：用户名不存在"
    assert all(e.at == clock.now().replace(microsecond=0) for e in _events("auth.login"))


def test_a_sign_in_with_a_second_factor_records_a_wrong_code_and_the_success(app, demo):
    from tests.conftest import current_code

    client = Client(app)
    client.post("/login", {"username": "xitong", "password": "Demo2026"})
    assert client.post("/login/code", {"code": "000000"}).status_code == 422
    assert client.post("/login/code", {"code": current_code(app, "xitong")}).status_code == 303
    sysadmin = User.get(User.username == "xitong")
    failed, signed_in = _events("auth.login_failed")[0], _events("auth.login")[0]
    assert (failed.actor_username, failed.object_id) == ("xitong", sysadmin.id)
    assert failed.summary == "登录失败：验证码错误"
    assert signed_in.actor_id == sysadmin.id and signed_in.detail == {"factor": "totp"}
    assert signed_in.summary == "登录成功（密码 + 手机验证码）"


def test_a_password_change_and_a_refused_csrf_token_are_recorded(app, login):
    client = login("ducha2")
    client.post(
        "/account/password",
        {"current": "Demo2026", "password": "Zhou2026jj", "confirm": "Zhou2026jj"},
    )
    assert _events("auth.change_password")[0].actor.username == "ducha2"
    assert client.post("/notifications/read", {"csrf_token": "forged"}).status_code == 400
    refused = _events("access.csrf_refused")[0]
    assert refused.actor.username == "ducha2" and "POST /notifications/read" in refused.summary


def test_behind_a_trusted_proxy_the_recorded_address_is_the_clients(app, demo):
    from dataclasses import replace

    from inspect_app import create_app
    from inspect_app.deploy import serving

    configured = replace(
        app.config["SERVING"],
        tls=serving.OFF,
        http_port=None,
        trusted_proxies=1,
        public_url="https://ducha.example.gov.cn",
    )
    proxied = create_app(
        {
            **{k: app.config[k] for k in ("DATABASE_URL", "TESTING", "UPLOAD_FOLDER")},
            "SERVING": configured,
            "PUBLIC_URL": configured.public_url,
        }
    )
    client = Client(proxied)
    client.http.environ_base["REMOTE_ADDR"] = "10.0.0.1"
    client.post(
        "/login",
        {"username": "nobody", "password": "wrong-pass-1"},
        headers={"X-Forwarded-For": "172.16.5.9"},
    )
    assert _events("auth.login_failed")[0].address == "172.16.5.9"


def test_a_unit_change_keeps_the_values_before_and_after(login, demo):
    unit = demo["QH-DF-HP"]
    form = {
        "name": unit.name,
        "code": unit.code,
        "type": unit.type,
        "org_form": unit.org_form,
        "parent_id": unit.parent_id,
        "secretary": "新书记",
        "contact_name": unit.contact_name,
        "contact_phone": unit.contact_phone,
        "sort_order": unit.sort_order,
    }
    assert login("xitong").post(f"/units/{unit.id}/edit", form).status_code == 303
    change = _events("unit.update")[0]
    assert (change.value_before, change.value_after) == (
        {"secretary": unit.secretary},
        {"secretary": "新书记"},
    )
    assert change.actor.username == "xitong" and change.object_id == unit.id


def test_business_changes_are_recorded(app, login, demo, published_round):
    """Sign-off and publication (the fixture), tasks' transitions and escalation decisions."""
    from werkzeug.datastructures import MultiDict

    from inspect_app.models import Finding, Task
    from inspect_app.rectification import service as tasks

    actions = {e.action for e in _events()}
    assert {"finding.create", "inspection.signed_off", "round.publish"} <= actions
    office = User.get(User.username == "duchaban")
    form = MultiDict(
        [("finding_ids", str(f.id)) for f in Finding.select().where(Finding.status == "confirmed")]
        + [("lead_unit_id", str(demo["QH-DF-HP"].id))]
    )
    task = tasks.create_task(published_round, form, by=office)
    tasks.act(Task.get_by_id(task.id), "acknowledge", by=User.get(User.username == "hp-lianluo"))
    created, acknowledged = _events("task.create")[0], _events("task.acknowledge")[0]
    assert created.object_id == task.id and created.actor_id == office.id
    assert (acknowledged.value_before, acknowledged.value_after) == (
        {"status": "assigned"},
        {"status": "acknowledged"},
    )
    assert acknowledged.summary == f"整改任务 #{task.id}：签收"
    assert service.verify().ok


def test_a_record_keeps_text_and_refuses_what_json_cannot_hold(app):
    from decimal import Decimal

    event = audit.record(
        None,
        "test.values",
        None,
        "值",
        {"when": date(2026, 11, 23), "points": Decimal("91.50"), "ids": {3, 1}},
    )
    assert AuditEvent.get_by_id(event.id).detail == {
        "when": "2026-11-23",
        "points": "91.50",
        "ids": [1, 3],
    }
    with pytest.raises(TypeError):
        audit.record(None, "test.values", None, "值", {"x": object()})


# -- the auditor's pages -----------------------------------------------------------------------


def test_the_auditor_searches_by_user_action_object_date_and_address(app, login, demo):
    tablet = Client(app)
    tablet.http.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    tablet.login("ducha1")
    sysadmin = login("xitong")
    sysadmin.post(f"/units/{demo['QH-DF-FX'].id}/active", {"active": "0"})
    ducha2 = User.get(User.username == "ducha2")
    sysadmin.post(f"/users/{ducha2.id}/password", {"password": "Reset2026x"})
    auditor = login("shenji")
    # by user: what the account did, and what was done to it
    assert "重置账号 ducha2 的密码" in auditor.get("/audit?user=ducha2").get_data(as_text=True)
    assert "重置账号 ducha2" in auditor.get("/audit?user=王建国").get_data(as_text=True)
    page = auditor.get("/audit?user=ducha1&action=auth").get_data(as_text=True)
    assert "登录成功" in page and "10.9.8.7" in page and "停用单位" not in page
    page = auditor.get(f"/audit?object_type=unit&object_id={demo['QH-DF-FX'].id}").get_data(
        as_text=True
    )
    assert "停用单位 复兴社区党支部" in page and "is_active：True → False" in page
    assert "登录成功" not in auditor.get("/audit?address=10.1.").get_data(as_text=True)
    assert "10.9.8.7" in auditor.get("/audit?address=10.9.").get_data(as_text=True)
    today = clock.today().isoformat()
    assert "停用单位" in auditor.get(f"/audit?since={today}&until={today}").get_data(as_text=True)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    assert "共 0 条" in auditor.get(f"/audit?since={tomorrow}").get_data(as_text=True)
    fragment = auditor.get("/audit?text=复兴", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)


@pytest.mark.parametrize(
    "query, message",
    [
        ("since=2026-13-01", "开始日期应为 YYYY-MM-DD 格式的日期"),
        ("since=2026-11-23&until=2026-11-01", "结束日期不能早于开始日期"),
        ("object_id=abc", "对象编号应为数字"),
        ("action=drop", "没有这类操作"),
    ],
)
def test_bad_search_values_are_refused_naming_the_field(login, query, message):
    response = login("shenji").get(f"/audit?{query}")
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    export = login("shenji").get(f"/audit/export.xlsx?{query}")
    assert export.status_code == 422


def test_exports_keep_formula_like_text_as_text_and_are_recorded(app, login, demo):
    audit.record(None, "test.hostile", None, '=HYPERLINK("http://evil.example","点击查看")')
    auditor = login("shenji")
    response = auditor.get("/audit/export.xlsx?text=HYPERLINK")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["序号", "时间", "操作人"] and header[-1] == "哈希（SM3）"
    cell = sheet.cell(row=2, column=header.index("内容") + 1)
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s" and cell.quotePrefix
    text = auditor.get("/audit/export.csv?text=HYPERLINK").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][header.index("内容")] == "'" + '=HYPERLINK("http://evil.example","点击查看")'
    exported = _events("audit.export")
    assert [e.summary for e in exported] == [
        "导出审计记录 1 条（.xlsx）",
        "导出审计记录 1 条（.csv）",
    ]
    assert exported[0].actor.username == "shenji"


def test_the_verify_button_reports_and_is_recorded(app, login, demo):
    auditor = login("shenji")
    page = auditor.post("/audit/verify").get_data(as_text=True)
    assert "审计链完整" in page and "SM3" in page
    victim = _events()[0]  # the auditor's own sign-in
    _as_database_owner("UPDATE audit_event SET address = %s WHERE id = %s", ("1.2.3.4", victim.id))
    page = auditor.post("/audit/verify").get_data(as_text=True)
    assert f"第 1 条记录（编号 {victim.id}）的内容与其哈希不符" in page
    assert [e.detail["ok"] for e in _events("audit.verify")] == [True, False]


def test_nobody_but_the_auditor_reads_the_trail_not_even_the_administrators(login, demo):
    for username in ("xitong", "anquan", "duchaban", "lingdao"):
        assert login(username).get("/audit").status_code == 403, username
        assert login(username).get("/audit/export.xlsx").status_code == 403, username
    assert login("shenji").get("/audit").status_code == 200
