"""The password policy (身份鉴别): rules, history, expiry, the security administrator's page, and
every place a password is set (issue 12, item 6)."""

from datetime import timedelta

import pytest
from werkzeug.datastructures import MultiDict

from inspect_app import clock
from inspect_app.auth.policy import (
    DEFAULT_POLICY,
    current_policy,
    is_common,
    problems,
    save_policy,
)
from inspect_app.models import AuditEvent, Setting, User
from tests.conftest import Client


def change(client, current, new):
    return client.post("/account/password", {"current": current, "password": new, "confirm": new})


def set_policy(**values):
    form = {"min_length": "10", "min_classes": "3", "history": "5", "max_age_days": "0"}
    form.update({k: str(v) for k, v in values.items() if k != "two_factor_roles"})
    data = MultiDict(list(form.items()))
    for role in values.get("two_factor_roles", ()):
        data.add("two_factor_roles", role)
    return save_policy(data, by=User.get(User.username == "anquan"))


def test_the_default_policy_is_what_the_issue_asks(app):
    policy = current_policy()
    assert policy == DEFAULT_POLICY
    assert (policy.min_length, policy.min_classes, policy.history, policy.max_age_days) == (
        10,
        3,
        5,
        0,
    )
    assert policy.two_factor_roles == ()


@pytest.mark.parametrize(
    "password",
    ["Password1", "Demo2026", "qwerty12", "abc123456", "woaini1314", "1qaz2wsx", "P@ssw0rd2026"],
)
def test_the_testers_and_other_common_passwords_are_common(password):
    assert is_common(password)


@pytest.mark.parametrize("password", ["Qinghe-dc-2027", "Wang2026jg", "lmq8#Kx2pz"])
def test_ordinary_strong_passwords_are_not_common(password):
    assert not is_common(password)


def test_a_common_password_is_refused_even_where_length_and_classes_would_pass(app, demo):
    set_policy(min_length=8)
    assert problems("Dragon2026!", username="ducha1") == [
        "密码过于常见（常用密码或常用词加数字），请换一个不易猜到的密码"
    ]
    assert problems("Qinghe-dc-2027", username="ducha1") == []


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Password1", "密码至少 10 位"),
        ("Dragon2026!", "密码过于常见"),
        ("qwerty12", "至少 3 类"),
        ("Ducha1-2026x", "密码不能包含用户名"),  # the username and a little more
        ("ducha11", "密码不能包含用户名"),
        ("abcdefghijkl", "（现有 1 类）"),
    ],
)
def test_self_service_change_refuses_weak_passwords_with_the_rule_they_break(
    login, password, message
):
    response = change(login("ducha1"), "Demo2026", password)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_a_recent_password_cannot_come_back_but_one_older_than_the_history_can(app, login):
    set_policy(history=3)
    client = login("ducha1")
    passwords = ["Demo2026", "Sunli-2027-a", "Sunli-2027-b", "Sunli-2027-c", "Sunli-2027-d"]
    for old, new in zip(passwords, passwords[1:], strict=False):
        assert change(client, old, new).status_code == 303
        client._token = None
    # the last three: d (the current one), c and b
    again = change(client, "Sunli-2027-d", "Sunli-2027-b")
    assert again.status_code == 422
    assert "新密码不能与最近 3 次用过的密码相同" in again.get_data(as_text=True)
    assert change(client, "Sunli-2027-d", "Sunli-2027-a").status_code == 303


def test_the_history_starts_with_the_password_an_account_has(app, login):
    """Accounts that existed before the history (the migration seeds it) and new ones alike."""
    client = login("ducha1")
    assert change(client, "Demo2026", "Sunli-2027-a").status_code == 303
    client._token = None
    assert change(client, "Sunli-2027-a", "Sunli-2027-b").status_code == 303
    client._token = None
    refused = change(client, "Sunli-2027-b", "Sunli-2027-a")
    assert refused.status_code == 422 and "最近 5 次" in refused.get_data(as_text=True)


def test_an_expired_password_leads_every_page_to_the_change_page(app, login):
    set_policy(max_age_days=90)
    client = login("ducha1")
    assert client.get("/").status_code == 200
    clock.travel(clock.now() + timedelta(days=91))
    client = login("ducha1")
    response = client.get("/rounds")
    assert response.status_code == 303 and response.headers["Location"] == "/account/password"
    page = client.get("/account/password").get_data(as_text=True)
    assert "已超过安全策略规定的有效期" in page
    assert change(client, "Demo2026", "Sunli-2027-a").status_code == 303
    client._token = None
    assert client.get("/rounds").status_code == 200


def test_a_sign_in_with_an_expired_password_goes_straight_to_the_change_page(app, demo):
    set_policy(max_age_days=30)
    clock.travel(clock.now() + timedelta(days=31))
    response = Client(app).login("ducha1")
    assert response.headers["Location"] == "/account/password"


def test_expiry_off_means_passwords_never_expire(app, login):
    clock.travel(clock.now() + timedelta(days=3650))
    assert login("ducha1").get("/rounds").status_code == 200


# -- the security administrator's page ---------------------------------------------------------


def test_the_policy_page_shows_the_rules_and_refuses_bad_values_field_by_field(login):
    admin = login("anquan")
    page = admin.get("/security/policy").get_data(as_text=True)
    assert "口令与双因素策略" in page and "至少 10 位" in page and "已绑定 3 / 应绑定 3" in page
    # the three administrators always need a second factor; a pending account has no role
    for always in ("sysadmin", "secadmin", "auditor", "pending"):
        assert f'value="{always}"' not in page
    refused = admin.post(
        "/security/policy",
        {
            "min_length": "6",
            "min_classes": "2",
            "history": "x",
            "max_age_days": "-1",
            "two_factor_roles": "janitor",
        },
    )
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    for message in (
        "最小长度应为 8–64 之间的整数",
        "字符类别数应为 3–4 之间的整数",
        "不得重复的历史密码个数应为 0–24 之间的整数",
        "密码有效期（天，0 为不限）应为 0–3650 之间的整数",
        "不能选择这个角色：janitor",
    ):
        assert message in body
    assert not Setting.select().exists()


def test_a_policy_change_is_stored_audited_and_applies_at_once(login):
    admin = login("anquan")
    response = admin.post(
        "/security/policy",
        {
            "min_length": "12",
            "min_classes": "4",
            "history": "8",
            "max_age_days": "180",
            "two_factor_roles": "supervisor",
        },
    )
    assert response.status_code == 303
    policy = current_policy()
    assert (policy.min_length, policy.min_classes, policy.history, policy.max_age_days) == (
        12,
        4,
        8,
        180,
    )
    assert policy.two_factor_roles == ("supervisor",)
    event = AuditEvent.get(AuditEvent.action == "security.policy")
    assert event.actor.username == "anquan"
    assert "最小长度 10→12" in event.summary and "须双因素的角色 无→督查办" in event.summary
    assert event.detail["before"]["min_length"] == 10 and event.detail["after"]["min_length"] == 12
    refused = change(login("ducha1"), "Demo2026", "Sunli-2027a")  # 11 long, all four classes
    assert refused.status_code == 422 and "密码至少 12 位" in refused.get_data(as_text=True)


def test_the_policy_is_read_from_each_database_not_from_another_tests(app):
    """The in-process cache is per database: a fresh database has the default policy."""
    assert current_policy() == DEFAULT_POLICY


# -- every place a password is set -------------------------------------------------------------


def test_an_administrator_cannot_create_or_reset_an_account_with_a_weak_password(login):
    admin = login("xitong")
    created = admin.post(
        "/users/new",
        {"username": "newbie", "display_name": "新人", "role": "inspector", "password": "Demo2026"},
    )
    assert created.status_code == 422 and "密码过于常见" in created.get_data(as_text=True)
    user = User.get(User.username == "ducha2")
    reset = admin.post(f"/users/{user.id}/password", {"password": "ducha2-2026X"})
    assert reset.status_code == 422 and "密码不能包含用户名" in reset.get_data(as_text=True)


def test_a_reset_does_not_tell_the_administrator_which_passwords_the_owner_had(app, login):
    """A temporary password is never checked against the owner's history: a refusal would
    confirm a guess at their old password. The owner must change it at next sign-in anyway."""
    owner = login("ducha1")
    assert change(owner, "Demo2026", "Sunli-2027-a").status_code == 303
    user = User.get(User.username == "ducha1")
    reset = login("xitong").post(f"/users/{user.id}/password", {"password": "Sunli-2027-a"})
    assert reset.status_code == 303
    assert User.get(User.username == "ducha1").must_change_password


def test_the_forms_describe_the_policy_in_force(app, login):
    set_policy(min_length=14)
    admin = login("xitong")
    assert "至少 14 位" in admin.get("/users/new").get_data(as_text=True)
    assert "至少 14 位" in login("ducha1").get("/account/password").get_data(as_text=True)
