"""Issue 12 on a tablet (headless Chromium, as test_browser): the shared tablet's outbox and the
Content-Security-Policy seen from the browser."""

import pytest

from inspect_app.inspections.service import sheet_of
from inspect_app.models import Answer, User
from tests.browser_fixtures import shot, sign_in

pytestmark = pytest.mark.browser


def new_tablet(browser):
    context = browser.new_context(
        viewport={"width": 1024, "height": 768}, locale="zh-CN", has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def state_of(page, code):
    return page.eval_on_selector(f"#item-{code} .save-state", "e => e.dataset.state")


def sign_out(page):
    page.evaluate("document.querySelector('header.topbar details.dropdown').open = true")
    page.click("button:has-text('退出登录')")


def outbox(page, user):
    return page.evaluate(f"JSON.parse(localStorage.getItem('inspect-outbox-v2:{user.id}') || '[]')")


def test_an_offline_edit_is_never_saved_under_the_next_inspectors_name(
    browser, live_server, inspection, db_kind
):
    """孙丽 taps an answer while the tablet cannot reach the server and signs out: she is told
    that one record is unsent, goes back, then keeps it on the tablet. 赵强 signs in on the same
    browser, opens the same inspection, online: nothing of hers is sent under his name. When she
    signs in again, it is saved as hers."""
    sun, zhao = User.get(User.username == "ducha1"), User.get(User.username == "zuzhang")
    code = next(s["code"] for s in sheet_of(inspection).items if s["response"] == "compliance")
    context, page = new_tablet(browser)
    sent = []
    page.on("request", lambda r: sent.append(r) if "/answers/" in r.url else None)
    try:
        sign_in(page, live_server, "ducha1")
        page.click(f"a[href='/inspections/{inspection.id}']")
        page.wait_for_selector(f"#item-{code} form[data-autosave]")
        context.set_offline(True)
        page.locator(f"#item-{code} .seg:has(input[value='基本符合'])").click()
        page.wait_for_selector(f"#item-{code} .save-state[data-state=retrying]")
        # Back online, but the server still cannot be reached for saves (a flaky access point).
        page.route("**/answers/**", lambda route: route.abort())
        context.set_offline(False)

        sign_out(page)
        dialog = page.locator("#unsent-dialog")
        dialog.wait_for(state="visible")
        assert "还有 1 条未发送的记录" in dialog.inner_text()
        shot(page, "20-unsent-at-sign-out-1024x768", db_kind)
        dialog.locator("button[data-choice=send]").click()  # 返回发送: stays, tries again
        assert not dialog.is_visible() and page.url.endswith(f"/inspections/{inspection.id}")
        sign_out(page)
        dialog.locator("button[data-choice=keep]").click()
        page.wait_for_url(f"{live_server}/login")
        assert len(outbox(page, sun)) == 1 and not Answer.select().exists()
        page.unroute("**/answers/**")
        tried = len(sent)

        sign_in(page, live_server, "zuzhang")
        page.click(f"a[href='/inspections/{inspection.id}']")  # boosted: the same page script
        page.wait_for_selector(f"#item-{code} form[data-autosave]")
        page.wait_for_selector("#outbox-state[data-state=saved]")
        page.wait_for_timeout(1500)  # time for any retry the old page state might still run
        assert len(sent) == tried, "someone else's edit was sent under 赵强's session"
        assert not Answer.select().exists()
        assert state_of(page, code) == "empty"
        assert outbox(page, zhao) == [] and len(outbox(page, sun)) == 1

        sign_out(page)  # 赵强 has nothing unsent: no question asked
        page.wait_for_url(f"{live_server}/login")
        sign_in(page, live_server, "ducha1")
        page.click(f"a[href='/inspections/{inspection.id}']")
        page.wait_for_selector(f"#item-{code} .save-state[data-state=saved]")
        answer = Answer.get(Answer.inspection == inspection.id, Answer.item_code == code)
        assert answer.value == {"value": "基本符合"} and answer.updated_by_id == sun.id
        assert outbox(page, sun) == []
    finally:
        context.close()


def test_unsent_records_can_be_discarded_explicitly_at_sign_out(
    browser, live_server, inspection, db_kind
):
    sun = User.get(User.username == "ducha1")
    code = next(s["code"] for s in sheet_of(inspection).items if s["response"] == "compliance")
    context, page = new_tablet(browser)
    try:
        sign_in(page, live_server, "ducha1")
        page.goto(f"{live_server}/inspections/{inspection.id}")
        page.route("**/answers/**", lambda route: route.abort())
        page.locator(f"#item-{code} .seg:has(input[value='符合'])").click()
        page.wait_for_selector(f"#item-{code} .save-state[data-state=retrying]")
        sign_out(page)
        page.locator("#unsent-dialog button[data-choice=discard]").click()
        page.wait_for_url(f"{live_server}/login")
        assert outbox(page, sun) == []
        page.unroute("**/answers/**")
        sign_in(page, live_server, "ducha1")
        page.goto(f"{live_server}/inspections/{inspection.id}")
        page.wait_for_selector("#outbox-state[data-state=saved]")
        assert not Answer.select().exists()
    finally:
        context.close()


def test_pages_work_under_the_content_security_policy_without_a_single_violation(
    browser, live_server, inspection, published_round, db_kind, tmp_path
):
    """Sign-in, boosted navigation, a live search swapped in by htmx, an error page, the printable
    ledger, the dashboard, then autosave and a photo upload on the inspection page: all under the
    real policy (no bypass), and the browser reports no refusal."""
    from tests.inspection_fixtures import jpeg_bytes

    photo = tmp_path / "现场.jpg"
    photo.write_bytes(jpeg_bytes((1200, 900)))
    context, page = new_tablet(browser)
    problems = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            # (a 403 page or the missing favicon is "Failed to load resource": no policy matter)
            if m.type in ("error", "warning") and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        response = page.goto(f"{live_server}/login")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        sign_in(page, live_server, "duchaban")
        page.click("text=组织架构")
        page.wait_for_url(f"{live_server}/units")
        page.fill("input[name=q]", "迎宾")
        page.wait_for_selector("#results table")
        assert page.is_visible("#results >> text=迎宾社区党总支") and "q=" in page.url
        assert page.locator("#results >> text=和平社区党委").count() == 0
        page.click("text=整改任务")
        page.wait_for_url(f"{live_server}/tasks**")
        page.goto(f"{live_server}/tasks/ledger")
        assert page.eval_on_selector(".as-of", "e => getComputedStyle(e).textAlign") == "right"
        page.goto(f"{live_server}/dashboard")
        page.goto(f"{live_server}/users")  # 督查办 may not: the error page
        assert page.is_visible("text=没有权限")
        assert page.evaluate("document.querySelectorAll('style, [style]').length") == 0

        sign_out(page)
        page.wait_for_url(f"{live_server}/login")
        sign_in(page, live_server, "ducha1")
        page.click(f"a[href='/inspections/{inspection.id}']")
        spec = next(s for s in sheet_of(inspection).items if "photo" in s["require_when_failing"])
        item = page.locator(f"#item-{spec['code']}")
        item.locator(f".seg:has(input[value='{spec['failing'][0]}'])").click()
        page.wait_for_selector(f"#item-{spec['code']} .save-state[data-state=saved]")
        item.locator(".photo-form input[type=file][capture]").set_input_files(str(photo))
        item.locator(".thumbs img").wait_for()
        assert Answer.get(Answer.item_code == spec["code"]).updated_by.username == "ducha1"
        shot(page, "21-inspection-under-csp-1024x768", db_kind)
    finally:
        context.close()
    assert problems == []


def test_a_notice_pdf_opens_in_chromiums_viewer_under_the_download_policy(
    browser, live_server, demo, published_round
):
    """Downloads run no script (script-src 'none') but keep object-src: Chromium shows a PDF in
    its own viewer, an <embed> that object-src 'none' would blank on some versions."""
    from inspect_app.models import User
    from inspect_app.notices import service

    notice = service.draft_rectification(
        published_round, demo["QH-DF-HP"], by=User.get(User.username == "duchaban")
    )
    context, page = new_tablet(browser)
    try:
        sign_in(page, live_server, "duchaban")
        response = page.goto(f"{live_server}/notices/{notice.id}/pdf")
        policy = response.all_headers()["content-security-policy"]
        assert response.status == 200 and "script-src 'none'" in policy
        page.wait_for_timeout(1500)
        viewers = [f for f in page.frames if f.url.startswith("chrome-extension://")]
        assert viewers, [f.url for f in page.frames]
    finally:
        context.close()
