"""Signing in and out, CSRF, the forced password change. Sessions: test_sessions.py; throttling:
test_throttle.py; the password policy: test_password_policy.py; 2FA: test_two_factor.py."""

from inspect_app.models import LoginAttempt, Unit, User
from tests.conftest import Client


def test_login_page_is_chinese_and_utf8(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<html lang="zh-CN"' in response.get_data(as_text=True)
    assert "登 录" in response.get_data(as_text=True)


def test_signed_out_visitor_is_sent_to_login_with_next(client):
    response = client.get("/units")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/units")


def test_htmx_request_without_session_gets_hx_redirect(client):
    response = client.get("/units", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_login_with_right_password_lands_on_home(app, demo):
    client = Client(app)
    response = client.login("duchaban")
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "李明" in page and "督查办" in page


def test_login_follows_only_local_next(app, demo):
    client = Client(app)
    ok = client.post("/login", {"username": "duchaban", "password": "Demo2026", "next": "/units"})
    assert ok.headers["Location"] == "/units"
    client = Client(app)
    evil = client.post(
        "/login",
        {"username": "duchaban", "password": "Demo2026", "next": "https://evil.example/"},
    )
    assert evil.headers["Location"] == "/"


def test_wrong_password_gets_a_clear_message(app, demo):
    client = Client(app)
    response = client.post("/login", {"username": "xitong", "password": "wrong-password1"})
    assert response.status_code == 422
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert LoginAttempt.select().where(LoginAttempt.succeeded == False).count() == 1


def test_unknown_user_gets_the_same_message_as_wrong_password(app, demo):
    response = Client(app).post("/login", {"username": "nobody", "password": "whatever1"})
    assert response.status_code == 422
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_deactivated_account_cannot_sign_in(app, demo):
    User.update(is_active=False).where(User.username == "ducha2").execute()
    response = Client(app).post("/login", {"username": "ducha2", "password": "Demo2026"})
    assert response.status_code == 422
    assert "已停用" in response.get_data(as_text=True)


def test_logout_ends_the_session(login):
    client = login("xitong")
    assert client.post("/logout").status_code == 303
    assert client.get("/units").status_code == 302


def test_post_without_csrf_token_is_refused_and_changes_nothing(login, demo):
    client = login("xitong")
    unit = demo["QH-DF-HP"]
    response = client.post(
        f"/units/{unit.id}/edit",
        {"name": "被篡改", "code": unit.code, "type": "community"},
        csrf=False,
    )
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert Unit.get_by_id(unit.id).name == "和平社区党委"


def test_forged_csrf_token_is_refused_for_htmx_too(login, demo):
    client = login("xitong")
    unit = demo["QH-DF-HP"]
    response = client.http.post(
        f"/units/{unit.id}/active",
        data={"active": "0"},
        headers={"HX-Request": "true", "X-CSRFToken": "forged.token.value"},
    )
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#flash"
    assert Unit.get_by_id(unit.id).is_active


def test_csrf_token_in_htmx_header_is_accepted(login, demo):
    client = login("xitong")
    unit = demo["QH-DF-FX"]
    response = client.http.post(
        f"/units/{unit.id}/active",
        data={"active": "0"},
        headers={"HX-Request": "true", "X-CSRFToken": client.token()},
    )
    assert response.status_code == 303
    assert not Unit.get_by_id(unit.id).is_active


def test_password_change_with_wrong_current_or_weak_password_is_refused(login):
    client = login("ducha1")
    wrong = client.post(
        "/account/password",
        {"current": "nope", "password": "Qh-river-2027", "confirm": "Qh-river-2027"},
    )
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.get_data(as_text=True)
    weak = client.post(
        "/account/password", {"current": "Demo2026", "password": "short", "confirm": "short"}
    )
    assert weak.status_code == 422 and "至少 10 位" in weak.get_data(as_text=True)
    mismatch = client.post(
        "/account/password",
        {"current": "Demo2026", "password": "Qh-river-2027", "confirm": "Other2026"},
    )
    assert mismatch.status_code == 422 and "不一致" in mismatch.get_data(as_text=True)


def test_passwords_are_stored_hashed(app, demo):
    user = User.get(User.username == "xitong")
    assert "Demo2026" not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


# -- a password someone else chose must be changed at first sign-in --------------------------


def test_demo_accounts_must_change_their_published_password_first(app):
    from inspect_app.demo import load_demo

    with app.app_context():
        load_demo()
    assert User.select().where(User.must_change_password == False).count() == 0
    client = Client(app)
    assert client.login("xitong").headers["Location"] == "/account/password"
    assert client.get("/").headers["Location"] == "/account/password"
    before = User.select().count()
    refused = client.post(
        "/users/new",
        {
            "username": "sneaky",
            "display_name": "某人",
            "role": "sysadmin",
            "password": "Sneaky2026",
        },
    )
    assert refused.status_code == 303 and refused.headers["Location"] == "/account/password"
    assert User.select().count() == before  # the POST was not carried out
    page = client.get("/account/password").get_data(as_text=True)
    assert "请先修改为只有您自己知道的密码" in page
    same = client.post(
        "/account/password", {"current": "Demo2026", "password": "Demo2026", "confirm": "Demo2026"}
    )
    assert same.status_code == 422 and "不能与当前密码相同" in same.get_data(as_text=True)
    changed = client.post(
        "/account/password",
        {"current": "Demo2026", "password": "Wang2026jg", "confirm": "Wang2026jg"},
    )
    assert changed.status_code == 303
    assert not User.get(User.username == "xitong").must_change_password
    assert client.get("/").status_code == 200
    # the other demo accounts still have to
    assert User.get(User.username == "duchaban").must_change_password


def test_change_page_reached_by_a_regions_htmx_request_takes_over_the_whole_page(login):
    client = login("ducha1")
    User.update(must_change_password=True).where(User.username == "ducha1").execute()
    redirected = client.get("/rounds", headers={"HX-Request": "true", "HX-Target": "main"})
    assert redirected.status_code == 303 and redirected.headers["Location"] == "/account/password"
    # the browser follows the 303 with the same headers; htmx then loads the page in full
    region = client.get("/account/password", headers={"HX-Request": "true", "HX-Target": "main"})
    assert region.status_code == 200 and region.headers["HX-Redirect"] == "/account/password"
    boosted = client.get("/account/password", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 200 and "HX-Redirect" not in boosted.headers
