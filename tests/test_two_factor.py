"""Two-factor sign-in (TOTP): enrolment by QR code, the second step of a sign-in, codes used once
and throttled, required for administrators and for the roles the policy names, the security
administrator's reset (issue 12, 身份鉴别)."""

from datetime import datetime, timedelta

import pyotp
import pytest
from werkzeug.datastructures import MultiDict

from inspect_app import clock
from inspect_app.auth import two_factor
from inspect_app.auth.policy import save_policy, two_factor_coverage
from inspect_app.auth.throttle import PAIR
from inspect_app.demo import DEMO_TOTP_SECRET
from inspect_app.models import AuditEvent, LoginAttempt, User, UserSession
from inspect_app.users.service import create_user
from tests.conftest import Client, current_code


def code_at(secret, moment=None):
    return pyotp.TOTP(secret).at(clock.timestamp() if moment is None else moment)


def stored_secret(app, username):
    with app.app_context():
        return two_factor.secret_of(User.get(User.username == username))


def password_step(client, username, password="Demo2026", **extra):
    response = client.post("/login", {"username": username, "password": password, **extra})
    assert response.status_code == 303 and response.headers["Location"] == "/login/code"
    return response


def require_for(*roles):
    data = MultiDict({"min_length": "10", "min_classes": "3", "history": "5", "max_age_days": "0"})
    for role in roles:
        data.add("two_factor_roles", role)
    save_policy(data, by=User.get(User.username == "anquan"))


def enrol(app, client, username):
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    code = code_at(stored_secret(app, username))
    response = client.post("/account/two-factor", {"action": "confirm", "code": code})
    assert response.status_code == 303
    client._token = None  # enrolment starts a new session
    return response


# -- enrolment ----------------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_the_secret_and_needs_a_first_code(app, login):
    client = login("duchaban")
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = stored_secret(app, "duchaban")
    assert "<svg" in page and "<path" in page  # the QR code, inline: no script, no request
    assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in page
    assert client.get("/account/two-factor").get_data(as_text=True).count(secret[:4]) >= 1
    assert stored_secret(app, "duchaban") == secret  # reloading keeps the same secret
    wrong = client.post("/account/two-factor", {"action": "confirm", "code": "000000"})
    assert wrong.status_code == 422 and "验证码不正确" in wrong.get_data(as_text=True)
    not_digits = client.post("/account/two-factor", {"action": "confirm", "code": "12ab"})
    assert not_digits.status_code == 422 and "6 位数字" in not_digits.get_data(as_text=True)
    assert User.get(User.username == "duchaban").totp_enabled_at is None
    assert client.post(
        "/account/two-factor", {"action": "confirm", "code": code_at(secret)}
    ).status_code == (303)
    assert User.get(User.username == "duchaban").totp_enabled_at is not None
    assert AuditEvent.get(AuditEvent.action == "user.two_factor_enable").object_id == (
        User.get(User.username == "duchaban").id
    )


def test_a_new_secret_can_be_asked_for_before_the_first_code(app, login):
    client = login("duchaban")
    client.get("/account/two-factor")
    first = stored_secret(app, "duchaban")
    client.post("/account/two-factor", {"action": "renew"})
    assert stored_secret(app, "duchaban") != first


def test_the_secret_is_stored_encrypted_with_the_instance_key(app, demo):
    stored = User.get(User.username == "xitong").totp_secret
    assert DEMO_TOTP_SECRET not in stored
    assert stored_secret(app, "xitong") == DEMO_TOTP_SECRET
    app.config["SECRET_KEY"] = "another-instance-key"
    client = Client(app)
    password_step(client, "xitong")
    refused = client.post("/login/code", {"code": code_at(DEMO_TOTP_SECRET)})
    assert refused.status_code == 409 and "无法解密" in refused.get_data(as_text=True)


# -- signing in with the second factor ----------------------------------------------------------


def test_nobody_is_signed_in_until_the_code_passes(app, demo):
    client = Client(app)
    password_step(client, "xitong", next="/units")
    assert client.get("/units").headers["Location"].startswith("/login?next=")
    assert UserSession.select().count() == 0
    page = client.get("/login/code")
    assert page.status_code == 200 and "6 位验证码" in page.get_data(as_text=True)
    wrong = client.post("/login/code", {"code": "000000"})
    assert wrong.status_code == 422 and "验证码不正确" in wrong.get_data(as_text=True)
    right = client.post("/login/code", {"code": current_code(app, "xitong")})
    assert right.status_code == 303 and right.headers["Location"] == "/units"  # `next` kept
    assert client.get("/units").status_code == 200
    failure, success = LoginAttempt.select().order_by(LoginAttempt.id)
    assert (failure.factor, failure.succeeded) == ("totp", False)
    assert (success.factor, success.succeeded) == ("totp", True)


def test_a_code_is_taken_once(app, demo):
    code = current_code(app, "xitong")
    first = Client(app)
    password_step(first, "xitong")
    assert first.post("/login/code", {"code": code}).status_code == 303
    second = Client(app)
    password_step(second, "xitong")
    replayed = second.post("/login/code", {"code": code})
    assert replayed.status_code == 422 and "已使用过" in replayed.get_data(as_text=True)


def test_codes_follow_the_apps_clock_with_one_step_of_slack(app, demo):
    clock.travel(datetime(2031, 3, 2, 10, 0))  # far from the machine's own date
    secret = DEMO_TOTP_SECRET
    for moment, accepted in (
        (lambda: clock.timestamp() - 30, True),  # the phone a step behind
        (lambda: datetime.now().timestamp(), False),  # the machine's clock, not the app's
        (lambda: clock.timestamp() - 90, False),  # three steps old
        (lambda: clock.timestamp(), True),
    ):
        User.update(totp_last_step=0).where(User.username == "xitong").execute()
        client = Client(app)
        password_step(client, "xitong")
        status = client.post("/login/code", {"code": code_at(secret, moment())}).status_code
        assert (status == 303) == accepted, moment()
        clock.travel(clock.now() + timedelta(minutes=20))  # out of the throttle's window


def test_wrong_codes_are_throttled_like_wrong_passwords(app, demo):
    client = Client(app)
    password_step(client, "xitong")
    for _ in range(PAIR.free):
        assert client.post("/login/code", {"code": "000000"}).status_code == 422
    held = client.post("/login/code", {"code": current_code(app, "xitong")})
    assert held.status_code == 429 and "秒后再试" in held.get_data(as_text=True)
    # and the password step from the same address waits too
    again = Client(app).post("/login", {"username": "xitong", "password": "Demo2026"})
    assert again.status_code == 429


def test_the_code_step_expires_after_five_minutes(app, demo):
    client = Client(app)
    password_step(client, "xitong")
    clock.travel(clock.now() + timedelta(minutes=6))
    response = client.post("/login/code", {"code": current_code(app, "xitong")})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_the_code_page_without_a_password_step_sends_to_the_login_page(client):
    response = client.get("/login/code")
    assert response.status_code == 303 and response.headers["Location"] == "/login"


# -- who must use it ----------------------------------------------------------------------------


def test_an_administrator_without_a_second_factor_must_enrol_before_anything_else(app, demo):
    create_user(
        {
            "username": "admin2",
            "display_name": "赵管理",
            "role": "sysadmin",
            "password": "Qinghe-adm-2027",
        },
        by=None,
    )
    User.update(must_change_password=False).where(User.username == "admin2").execute()
    client = Client(app)
    signed_in = client.post("/login", {"username": "admin2", "password": "Qinghe-adm-2027"})
    assert signed_in.headers["Location"] == "/account/two-factor"
    for url in ("/", "/users", "/units"):
        response = client.get(url)
        assert response.status_code == 303 and response.headers["Location"] == "/account/two-factor"
    refused = client.post("/users/new", {"username": "x"})
    assert refused.status_code == 303 and refused.headers["Location"] == "/account/two-factor"
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "必须使用双因素认证" in page
    enrol(app, client, "admin2")
    assert client.get("/users").status_code == 200
    # from now on the sign-in asks for a code
    password_step(Client(app), "admin2", password="Qinghe-adm-2027")


def test_the_policy_can_require_it_for_other_roles_and_coverage_counts_them(app, login):
    assert two_factor_coverage() == (3, 3)  # the demo's three administrators, enrolled
    office = login("duchaban")
    assert office.get("/rounds").status_code == 200
    require_for("supervisor")
    assert two_factor_coverage() == (3, 4)
    response = office.get("/rounds")  # a session already open is sent to enrol too
    assert response.status_code == 303 and response.headers["Location"] == "/account/two-factor"
    enrol(app, office, "duchaban")
    assert office.get("/rounds").status_code == 200
    assert two_factor_coverage() == (4, 4)


def test_an_optional_second_factor_can_be_turned_off_with_a_code_a_required_one_cannot(app, login):
    office = login("duchaban")
    enrol(app, office, "duchaban")
    clock.travel(clock.now() + timedelta(seconds=31))  # the next code
    off = office.post(
        "/account/two-factor", {"action": "disable", "code": current_code(app, "duchaban")}
    )
    assert off.status_code == 303
    assert User.get(User.username == "duchaban").totp_secret is None
    admin = login("xitong")
    refused = admin.post(
        "/account/two-factor", {"action": "disable", "code": current_code(app, "xitong")}
    )
    assert refused.status_code == 409 and "不能停用" in refused.get_data(as_text=True)


# -- the security administrator ---------------------------------------------------------------


def test_the_security_administrator_resets_a_lost_phone(app, login):
    office = login("duchaban")
    enrol(app, office, "duchaban")
    admin = login("anquan")
    page = admin.get("/security/accounts").get_data(as_text=True)
    assert "已绑定" in page and "重置双因素" in page
    user = User.get(User.username == "duchaban")
    assert admin.post(f"/security/accounts/{user.id}/two-factor/reset").status_code == 303
    user = User.get(User.username == "duchaban")
    assert user.totp_secret is None and user.totp_enabled_at is None
    assert office.get("/rounds").status_code == 302  # signed out everywhere
    event = AuditEvent.get(AuditEvent.action == "user.two_factor_reset")
    assert event.actor.username == "anquan" and event.object_id == user.id
    # not required for 督查办: the next sign-in is by password alone
    assert Client(app).login("duchaban").headers["Location"] == "/"


def test_a_security_administrator_cannot_reset_their_own_second_factor(app, login):
    admin = login("anquan")
    own = User.get(User.username == "anquan")
    page = admin.get("/security/accounts").get_data(as_text=True)
    assert f"/security/accounts/{own.id}/two-factor/reset" not in page
    refused = admin.post(f"/security/accounts/{own.id}/two-factor/reset")
    assert refused.status_code == 403
    assert "不能重置自己的双因素认证" in refused.get_data(as_text=True)
    assert User.get(User.username == "anquan").totp_enabled_at is not None
    assert not AuditEvent.select().where(AuditEvent.action == "user.two_factor_reset").exists()


def test_the_terminal_can_reset_a_second_factor_when_no_administrator_can_sign_in(app, demo):
    from flask.cli import FlaskGroup

    runner = app.test_cli_runner()
    result = runner.invoke(
        FlaskGroup(create_app=lambda: app), ["users", "reset-two-factor", "xitong"]
    )
    assert result.exit_code == 0, result.output
    assert User.get(User.username == "xitong").totp_enabled_at is None
    unknown = runner.invoke(
        FlaskGroup(create_app=lambda: app), ["users", "reset-two-factor", "nobody"]
    )
    assert unknown.exit_code == 1 and "账号 nobody 不存在" in unknown.output


# -- the demo -----------------------------------------------------------------------------------


def test_the_demo_administrators_are_enrolled_with_the_published_secret(app, checklists_loaded):
    from flask.cli import FlaskGroup

    result = app.test_cli_runner().invoke(FlaskGroup(create_app=lambda: app), ["demo"])
    assert result.exit_code == 0, result.output
    assert DEMO_TOTP_SECRET in result.output and "oathtool --totp -b" in result.output
    User.update(must_change_password=False).execute()
    for username in ("xitong", "anquan", "shenji"):
        assert stored_secret(app, username) == DEMO_TOTP_SECRET
        User.update(totp_last_step=0).where(User.username == username).execute()
        client = Client(app)
        password_step(client, username)
        assert client.post("/login/code", {"code": code_at(DEMO_TOTP_SECRET)}).status_code == 303


@pytest.mark.parametrize("username", ["duchaban", "ducha1", "hp-lianluo"])
def test_demo_accounts_other_than_the_administrator_sign_in_with_a_password(app, demo, username):
    assert Client(app).login(username).headers["Location"] == "/"
