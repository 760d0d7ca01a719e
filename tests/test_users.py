"""Accounts managed by the admin: roles, unit binding, password resets, the audit trail."""

from inspect_app.models import AuditEvent, User
from tests.conftest import Client


def test_admin_creates_a_unit_liaison_bound_to_a_unit(app, login, demo):
    client = login("admin")
    response = client.post(
        "/users/new",
        {
            "username": "wf-lianluo",
            "display_name": "黄磊",
            "role": "unit_liaison",
            "unit_id": demo["QH-NG-WF"].id,
            "password": "Start2026a",
        },
    )
    assert response.status_code == 303
    user = User.get(User.username == "wf-lianluo")
    assert user.unit_id == demo["QH-NG-WF"].id
    assert "已新建账号" in client.get("/users").get_data(as_text=True)
    assert user.must_change_password
    newcomer = Client(app)
    # the administrator chose the password: its owner replaces it before anything else
    assert newcomer.login("wf-lianluo", "Start2026a").headers["Location"] == "/account/password"
    assert newcomer.get(f"/units/{demo['QH-NG-WF'].id}").headers["Location"] == "/account/password"
    changed = newcomer.post(
        "/account/password",
        {"current": "Start2026a", "password": "Mine2026ab", "confirm": "Mine2026ab"},
    )
    assert changed.status_code == 303
    assert not User.get_by_id(user.id).must_change_password
    assert newcomer.get(f"/units/{demo['QH-NG-WF'].id}").status_code == 200
    assert newcomer.get(f"/units/{demo['QH-DF-HP'].id}").status_code == 403


def test_user_form_errors_are_specific_and_nothing_is_created(login, demo):
    before = User.select().count()
    response = login("admin").post(
        "/users/new",
        {
            "username": "admin",
            "display_name": "",
            "role": "unit_head",
            "unit_id": "",
            "password": "abc",
        },
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in (
        "用户名 admin 已存在",
        "请填写姓名",
        "单位负责人必须绑定所属单位",
        "密码至少 10 位",
    ):
        assert message in body
    assert User.select().count() == before


def test_staff_roles_are_not_bound_to_a_unit(login, demo):
    login("admin").post(
        "/users/new",
        {
            "username": "newinsp",
            "display_name": "新督查员",
            "role": "inspector",
            "unit_id": demo["QH-DF-HP"].id,
            "password": "Start2026a",
        },
    )
    assert User.get(User.username == "newinsp").unit_id is None


def test_reset_password_ends_the_users_sessions(app, login):
    victim = login("ducha2")
    admin = login("admin")
    user = User.get(User.username == "ducha2")
    assert admin.post(f"/users/{user.id}/password", {"password": "Reset2026x"}).status_code == 303
    assert victim.get("/").status_code == 302
    assert User.get_by_id(user.id).must_change_password
    again = Client(app)
    assert again.login("ducha2", "Reset2026x").headers["Location"] == "/account/password"
    assert again.get("/rounds").headers["Location"] == "/account/password"
    assert AuditEvent.select().where(AuditEvent.action == "user.reset_password").get().summary == (
        "重置账号 ducha2 的密码（须在下次登录时修改）"
    )


def test_admin_resetting_their_own_password_is_not_asked_to_change_it_again(login):
    admin = login("admin")
    user = User.get(User.username == "admin")
    assert admin.post(f"/users/{user.id}/password", {"password": "Reset2026x"}).status_code == 303
    assert not User.get_by_id(user.id).must_change_password


def test_admin_cannot_demote_or_deactivate_themselves(login):
    client = login("admin")
    me = User.get(User.username == "admin")
    response = client.post(
        f"/users/{me.id}/edit", {"display_name": "王建国", "role": "inspector", "is_active": "1"}
    )
    assert response.status_code == 422
    assert "不能修改或停用自己的账号角色" in response.get_data(as_text=True)
    assert User.get_by_id(me.id).role == "admin"


def test_deactivated_user_is_signed_out_at_next_request(login):
    victim = login("ducha2")
    user = User.get(User.username == "ducha2")
    login("admin").post(
        f"/users/{user.id}/edit",
        {"display_name": user.display_name, "role": "inspector", "is_active": "0"},
    )
    assert victim.get("/").status_code == 302


def test_audit_log_lists_admin_changes_read_only(login, demo):
    client = login("admin")
    client.post(f"/units/{demo['QH-DF-FX'].id}/active", {"active": "0"})
    page = client.get("/users/audit").get_data(as_text=True)
    assert "停用单位 复兴社区党支部" in page and "王建国" in page
    assert AuditEvent.select().count() >= 1
