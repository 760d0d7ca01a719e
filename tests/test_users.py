"""Accounts under 三员分立: the system administrator makes accounts (with no role), the security
administrator grants roles, nobody grants themselves one; resets, deactivation, the trail."""

import pytest

from inspect_app.models import AuditEvent, User
from tests.conftest import Client


def _account(username):
    return User.get(User.username == username)


def _last(action):
    return AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.seq.desc())[0]


def test_a_new_account_has_no_role_until_the_security_administrator_grants_one(app, login, demo):
    sysadmin = login("xitong")
    response = sysadmin.post(
        "/users/new",
        {
            "username": "wf-lianluo",
            "display_name": "黄磊",
            "role": "secadmin",  # not the system administrator's to give: ignored
            "unit_id": demo["QH-NG-WF"].id,
            "password": "Start2026a",
        },
    )
    assert response.status_code == 303
    user = _account("wf-lianluo")
    assert (user.role, user.unit_id, user.must_change_password) == (
        "pending",
        demo["QH-NG-WF"].id,
        True,
    )
    assert response.headers["Location"] == f"/users/{user.id}"
    created = _last("user.create")
    assert created.actor.username == "xitong" and created.value_after["role"] == "pending"

    newcomer = Client(app)
    assert newcomer.login("wf-lianluo", "Start2026a").headers["Location"] == "/account/password"
    changed = newcomer.post(
        "/account/password",
        {"current": "Start2026a", "password": "Mine2026ab", "confirm": "Mine2026ab"},
    )
    assert changed.status_code == 303
    assert "您的账号尚未授予角色" in newcomer.get("/").get_data(as_text=True)
    assert newcomer.get(f"/units/{demo['QH-NG-WF'].id}").status_code == 403

    # the system administrator cannot grant it; the security administrator can
    assert (
        sysadmin.post(
            f"/users/{user.id}/role",
            {"role": "unit_liaison", "unit_id": demo["QH-NG-WF"].id, "reason": "区委组织部通知"},
        ).status_code
        == 403
    )
    granted = login("anquan").post(
        f"/users/{user.id}/role",
        {"role": "unit_liaison", "unit_id": demo["QH-NG-WF"].id, "reason": "区委组织部通知"},
    )
    assert granted.status_code == 303
    assert _account("wf-lianluo").role == "unit_liaison"
    grant = _last("user.grant_role")
    assert grant.actor.username == "anquan"
    assert (grant.value_before, grant.value_after) == (
        {"role": "pending"},
        {"role": "unit_liaison"},
    )
    assert grant.detail == {"reason": "区委组织部通知"}
    assert "依据：区委组织部通知" in grant.summary
    assert newcomer.get(f"/units/{demo['QH-NG-WF'].id}").status_code == 200
    assert newcomer.get(f"/units/{demo['QH-DF-HP'].id}").status_code == 403


def test_account_form_errors_are_specific_and_nothing_is_created(login, demo):
    before = User.select().count()
    response = login("xitong").post(
        "/users/new", {"username": "xitong", "display_name": "", "password": "abc"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("用户名 xitong 已存在", "请填写姓名", "密码至少 10 位"):
        assert message in body
    assert User.select().count() == before


def test_a_grant_names_what_is_missing(login, demo):
    pending = User.create(
        username="newcomer", display_name="新人", role="pending", password_hash="x"
    )
    response = login("anquan").post(
        f"/users/{pending.id}/role", {"role": "unit_head", "unit_id": "", "reason": ""}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "单位负责人必须绑定所属单位" in body and "请填写授权依据" in body
    assert _account("newcomer").role == "pending"


def test_staff_roles_are_not_bound_to_a_unit(login, demo):
    user = User.create(
        username="newinsp",
        display_name="新督查员",
        role="pending",
        unit=demo["QH-DF-HP"],
        password_hash="x",
    )
    login("anquan").post(
        f"/users/{user.id}/role",
        {"role": "inspector", "unit_id": demo["QH-DF-HP"].id, "reason": "督查室调入"},
    )
    assert (_account("newinsp").role, _account("newinsp").unit_id) == ("inspector", None)


@pytest.mark.parametrize("username", ["anquan", "xitong", "shenji"])
def test_nobody_changes_their_own_role(login, username):
    client = login(username)
    me = _account(username)
    response = client.post(
        f"/users/{me.id}/role", {"role": "secadmin", "unit_id": "", "reason": "自己给自己"}
    )
    assert response.status_code == 403
    assert _account(username).role == me.role
    refused = _last("access.denied")
    assert refused.actor_id == me.id and f"/users/{me.id}/role" in refused.summary


def test_an_administrator_role_waits_until_the_owner_replaced_the_initial_password(
    app, login, demo
):
    """Whoever created the account knows its first password: not while it holds admin rights."""
    login("xitong").post(
        "/users/new", {"username": "shenji2", "display_name": "新审计员", "password": "Start2026a"}
    )
    user = _account("shenji2")
    security = login("anquan")
    early = security.post(
        f"/users/{user.id}/role", {"role": "auditor", "unit_id": "", "reason": "审计岗"}
    )
    assert early.status_code == 422
    assert "请账号本人先登录并修改密码" in early.get_data(as_text=True)
    assert _account("shenji2").role == "pending"
    owner = Client(app)
    owner.login("shenji2", "Start2026a")
    owner.post(
        "/account/password",
        {"current": "Start2026a", "password": "Audit2026zz", "confirm": "Audit2026zz"},
    )
    later = security.post(
        f"/users/{user.id}/role", {"role": "auditor", "unit_id": "", "reason": "审计岗"}
    )
    assert later.status_code == 303 and _account("shenji2").role == "auditor"


def test_reset_password_ends_the_users_sessions(app, login):
    victim = login("ducha2")
    user = _account("ducha2")
    assert (
        login("xitong").post(f"/users/{user.id}/password", {"password": "Reset2026x"}).status_code
        == 303
    )
    assert victim.get("/").status_code == 302
    assert User.get_by_id(user.id).must_change_password
    again = Client(app)
    assert again.login("ducha2", "Reset2026x").headers["Location"] == "/account/password"
    assert again.get("/rounds").headers["Location"] == "/account/password"
    assert _last("user.reset_password").summary == "重置账号 ducha2 的密码（须在下次登录时修改）"


def test_administrators_accounts_are_the_security_administrators(login):
    """The system administrator cannot reset or switch off an administrator's account (nor their
    own); the security administrator looks after those, but not the business accounts."""
    sysadmin, security = login("xitong"), login("anquan")
    for target in ("anquan", "shenji", "xitong"):
        account = _account(target)
        assert (
            sysadmin.post(f"/users/{account.id}/password", {"password": "Reset2026x"}).status_code
            == 403
        )
        assert sysadmin.get(f"/users/{account.id}/edit").status_code == 403
    ducha2 = _account("ducha2")
    assert (
        security.post(f"/users/{ducha2.id}/password", {"password": "Reset2026x"}).status_code == 403
    )
    own = _account("anquan")
    assert security.post(f"/users/{own.id}/password", {"password": "Reset2026x"}).status_code == 403
    auditor = _account("shenji")
    assert (
        security.post(f"/users/{auditor.id}/password", {"password": "Reset2026x"}).status_code
        == 303
    )
    assert User.get_by_id(auditor.id).must_change_password


def test_deactivated_user_is_signed_out_at_next_request_and_the_change_is_recorded(login):
    victim = login("ducha2")
    user = _account("ducha2")
    response = login("xitong").post(
        f"/users/{user.id}/edit", {"display_name": user.display_name, "is_active": "0"}
    )
    assert response.status_code == 303
    assert victim.get("/").status_code == 302
    change = _last("user.update")
    assert (change.value_before, change.value_after) == ({"is_active": True}, {"is_active": False})


def test_a_unit_role_keeps_its_unit_when_edited(login, demo):
    user = _account("hp-lianluo")
    response = login("xitong").post(
        f"/users/{user.id}/edit", {"display_name": "刘芳", "unit_id": "", "is_active": "1"}
    )
    assert response.status_code == 422
    assert "单位联络员必须绑定所属单位" in response.get_data(as_text=True)
    assert _account("hp-lianluo").unit_id == demo["QH-DF-HP"].id


def test_the_security_administrator_sees_accounts_but_cannot_create_them(login):
    security = login("anquan")
    page = security.get("/users").get_data(as_text=True)
    assert "xitong" in page and "/users/new" not in page
    assert security.get("/users/new").status_code == 403
