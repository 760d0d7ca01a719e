"""What a person does on a tablet: headless Chromium (Debian's) at 1024×768, driven by Playwright.

Screenshots land in tests/artifacts/ for a human to look at.
"""

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from inspect_app.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--lang=zh-CN",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            "找不到 /usr/bin/chromium：请执行 make test，它会安装 Debian 的 chromium 软件包"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(app, demo, checklists_loaded):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def tablet(browser):
    context = browser.new_context(
        viewport={"width": 1024, "height": 768}, locale="zh-CN", has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, base, username):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def shot(page, name, db_kind):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{db_kind}.png"), full_page=False)


def test_login_tree_search_and_checklist_preview_on_a_tablet(tablet, live_server, db_kind):
    page = tablet
    page.goto(f"{live_server}/login")
    assert page.title().startswith("登录")
    shot(page, "01-login-1024x768", db_kind)

    page.fill("input[name=username]", "duchaban")
    page.fill("input[name=password]", "wrong-pass-1")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text(".flash-error")

    sign_in(page, live_server, "duchaban")
    page.click("text=组织架构")
    page.wait_for_url(f"{live_server}/units")
    page.wait_for_selector("text=和平社区党委")
    assert page.is_visible("text=和平社区党委")
    shot(page, "02-unit-tree-1024x768", db_kind)

    # Collapse a 街道 by tapping its row: its communities disappear.
    page.click("summary:has-text('东风街道党工委')")
    assert not page.is_visible("text=和平社区党委")

    # Live search swaps only the results region (htmx), and the URL follows.
    page.fill("input[name=q]", "迎宾")
    page.wait_for_selector("#results table")
    assert page.is_visible("#results >> text=迎宾社区党总支")
    assert page.locator("#results >> text=和平社区党委").count() == 0
    assert "q=" in page.url

    from inspect_app.models import ChecklistItem

    item = (
        ChecklistItem.select()
        .where(ChecklistItem.response == "compliance")
        .order_by(ChecklistItem.id)
        .first()
    )
    page.goto(f"{live_server}/checklists/{item.version.checklist.slug}")
    page.click(f"table.items td.code a:text-is('{item.code}')")
    page.wait_for_selector(".item-card")
    fail_option = page.locator(".seg-fail").first
    fail_option.click()
    assert fail_option.locator("input").is_checked()
    box = fail_option.bounding_box()
    assert box["height"] >= 48 and box["width"] >= 150, "answer buttons must be finger-sized"
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "03-checklist-preview-1024x768", db_kind)


def test_portrait_tablet_and_unit_user_view(browser, live_server, db_kind):
    context = browser.new_context(
        viewport={"width": 768, "height": 1024}, locale="zh-CN", has_touch=True
    )
    page = context.new_page()
    sign_in(page, live_server, "hp-lianluo")
    page.click("text=本单位")
    page.wait_for_url("**/units/*")
    assert page.is_visible("h1:has-text('和平社区党委')")
    assert page.locator("text=组织架构").count() == 0
    shot(page, "04-unit-user-768x1024", db_kind)
    response = page.goto(f"{live_server}/units")
    assert response.status == 403
    assert page.is_visible("text=没有权限")
    context.close()


def test_admin_import_page_and_bad_sheet_on_a_tablet(tablet, live_server, db_kind, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["单位编码", "单位名称", "单位类型"])
    book.active.append(["QH-NEW", "", "社区"])
    path = tmp_path / "bad.xlsx"
    book.save(path)
    sign_in(tablet, live_server, "admin")
    tablet.goto(f"{live_server}/units/import")
    tablet.set_input_files("input[type=file]", str(path))
    tablet.click("button:has-text('校验并导入')")
    tablet.wait_for_selector("article.errors")
    assert "单位名称不能为空" in tablet.inner_text("article.errors")
    shot(tablet, "05-import-errors-1024x768", db_kind)
