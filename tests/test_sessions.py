"""Sessions live on the server: ending one (logout, password change, deactivation, reset, an
administrator's 强制下线) ends it for every copy of its cookie at once; idle and absolute limits
run on the app's clock."""

from datetime import timedelta

import pytest

from inspect_app import clock
from inspect_app.models import User, UserSession
from tests.conftest import Client


def copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie (and the CSRF token of its
    pages, which a thief reads along with it)."""
    thief = Client(app)
    thief._token = client.token()  # first: the page that makes the token may rewrite the cookie
    cookie = client.http.get_cookie("inspect_session")
    thief.http.set_cookie("inspect_session", cookie.value)
    return thief


def assert_signed_out(browser):
    # The POST first: the GET's answer clears the cookie, and a thief replays the copy as it was.
    post = browser.post("/notifications/read")
    assert post.status_code == 302 and post.headers["Location"].startswith("/login?next=")
    page = browser.get("/tasks")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=/tasks")


def assert_signed_in(browser):
    assert browser.get("/tasks").status_code == 200
    post = browser.post("/notifications/read")
    assert post.status_code == 303 and not post.headers["Location"].startswith("/login")


def _logout(app, victim, login):
    assert victim.post("/logout").status_code == 303


def _change_password(app, victim, login):
    changed = victim.post(
        "/account/password",
        {"current": "Demo2026", "password": "Liming-2027x", "confirm": "Liming-2027x"},
    )
    assert changed.status_code == 303
    victim._token = None  # a new session, with a new CSRF token
    assert_signed_in(victim)  # the browser that changed it goes on, with a new session


def _deactivate(app, victim, login):
    admin = login("xitong")  # a business account: the system administrator's
    user = User.get(User.username == "duchaban")
    response = admin.post(
        f"/users/{user.id}/edit",
        {"display_name": user.display_name, "role": user.role, "unit_id": "", "is_active": "0"},
    )
    assert response.status_code == 303


def _sign_out_everywhere(app, victim, login):
    admin = login("xitong")
    user = User.get(User.username == "duchaban")
    response = admin.post(f"/users/{user.id}/sessions/end")
    assert response.status_code == 303
    assert "结束 1 个登录会话" in admin.get(response.headers["Location"]).get_data(as_text=True)


def _reset_password(app, victim, login):
    admin = login("xitong")
    user = User.get(User.username == "duchaban")
    assert admin.post(f"/users/{user.id}/password", {"password": "Temp-2027-qh"}).status_code == 303


def _reset_two_factor(app, victim, login):
    admin = login("anquan")  # second factors are the security administrator's
    user = User.get(User.username == "duchaban")
    response = admin.post(f"/security/accounts/{user.id}/two-factor/reset")
    assert response.status_code == 303


@pytest.mark.parametrize(
    "ending",
    [
        _logout,
        _change_password,
        _deactivate,
        _sign_out_everywhere,
        _reset_password,
        _reset_two_factor,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_copied_cookie_stops_working_the_moment_its_session_ends(app, login, ending):
    victim = login("duchaban")
    thief = copy_of(app, victim)
    assert_signed_in(thief)
    ending(app, victim, login)
    assert_signed_out(thief)


def test_logout_ends_only_that_session(app, login):
    tablet, desktop = login("ducha1"), login("ducha1")
    assert UserSession.select().count() == 2
    tablet.post("/logout")
    assert_signed_out(tablet)
    assert_signed_in(desktop)
    assert UserSession.select().count() == 1


def test_password_change_ends_other_sessions_and_the_new_password_signs_in(app, login):
    tablet = login("ducha1")
    desktop = login("ducha1")
    response = desktop.post(
        "/account/password",
        {"current": "Demo2026", "password": "Sunli-2027qh", "confirm": "Sunli-2027qh"},
    )
    assert response.status_code == 303
    assert desktop.get("/").status_code == 200
    assert tablet.get("/").status_code == 302
    assert Client(app).login("ducha1", "Sunli-2027qh").status_code == 303


def test_the_table_holds_a_hash_of_the_token_not_the_token(app, login):
    client = login("ducha1")
    cookie = client.http.get_cookie("inspect_session").value
    (row,) = UserSession.select()
    assert len(row.token_hash) == 64
    from flask.sessions import SecureCookieSessionInterface

    with app.test_request_context():
        token = SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie)["sid"]
    assert token not in row.token_hash and row.token_hash not in cookie
    assert row.address == "127.0.0.1"


def test_a_session_idle_longer_than_the_limit_ends(app, login):
    client = login("ducha1")
    clock.travel(clock.now() + timedelta(seconds=app.config["SESSION_IDLE_SECONDS"] - 60))
    assert client.get("/").status_code == 200  # activity within the limit keeps it alive
    clock.travel(clock.now() + timedelta(seconds=app.config["SESSION_IDLE_SECONDS"] - 60))
    assert client.get("/").status_code == 200
    clock.travel(clock.now() + timedelta(seconds=app.config["SESSION_IDLE_SECONDS"] + 1))
    response = client.get("/units")
    assert response.status_code == 302 and "expired=1" in response.headers["Location"]
    assert UserSession.select().count() == 0  # and its row is gone


def test_a_session_ends_after_twelve_hours_however_active(app, login):
    client = login("ducha1")
    for _ in range(11):
        clock.travel(clock.now() + timedelta(hours=1))
        assert client.get("/").status_code == 200
    clock.travel(clock.now() + timedelta(minutes=58))
    assert client.get("/").status_code == 200
    clock.travel(clock.now() + timedelta(minutes=3))
    response = client.get("/")
    assert response.status_code == 302 and "expired=1" in response.headers["Location"]


def test_last_activity_is_written_at_most_once_a_minute(app, login):
    client = login("ducha1")
    (row,) = UserSession.select()
    client.get("/")
    assert UserSession.get().last_seen_at == row.last_seen_at
    clock.travel(clock.now() + timedelta(seconds=61))
    client.get("/")
    assert UserSession.get().last_seen_at > row.last_seen_at


def test_sessions_past_their_limits_are_swept_at_the_next_sign_in(app, login):
    login("ducha1")
    clock.travel(clock.now() + timedelta(hours=3))
    login("ducha2")
    assert [s.user.username for s in UserSession.select()] == ["ducha2"]


def test_the_account_page_lists_its_sessions_and_signs_out_everywhere(app, login):
    login("ducha1")
    login("ducha1")
    admin = login("xitong")
    user = User.get(User.username == "ducha1")
    page = admin.get(f"/users/{user.id}").get_data(as_text=True)
    assert "登录会话" in page and page.count("127.0.0.1") == 2 and "强制下线" in page
    response = admin.post(f"/users/{user.id}/sessions/end")
    assert response.status_code == 303
    assert "该账号当前没有登录会话" in admin.get(f"/users/{user.id}").get_data(as_text=True)
    from inspect_app.models import AuditEvent

    event = AuditEvent.get(AuditEvent.action == "user.sign_out_everywhere")
    assert event.actor.username == "xitong" and event.object_id == user.id
    assert "结束 2 个会话" in event.summary


def test_sign_out_everywhere_belongs_to_whoever_manages_the_account(login):
    """三员分立: the system administrator ends business accounts' sessions, the security
    administrator the administrators'; nobody their own here (that is 退出)."""
    sysadmin, secadmin = login("xitong"), login("anquan")
    xitong = User.get(User.username == "xitong")
    anquan = User.get(User.username == "anquan")
    ducha1 = User.get(User.username == "ducha1")
    assert sysadmin.post(f"/users/{anquan.id}/sessions/end").status_code == 403
    assert sysadmin.post(f"/users/{xitong.id}/sessions/end").status_code == 403
    assert secadmin.post(f"/users/{ducha1.id}/sessions/end").status_code == 403
    assert "强制下线" not in sysadmin.get(f"/users/{anquan.id}").get_data(as_text=True)
    assert sysadmin.get("/units").status_code == 200
    assert secadmin.post(f"/users/{xitong.id}/sessions/end").status_code == 303
    assert sysadmin.get("/units").headers["Location"].startswith("/login?next=")
