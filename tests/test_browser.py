"""What a person does on a tablet: headless Chromium (Debian's) at 1024×768, driven by Playwright,
over HTTPS with a certificate from the app's own CA (fixtures in tests/browser_fixtures.py).

Screenshots land in tests/artifacts/ for a human to look at.
"""

import socket
import ssl
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from inspect_app import clock
from inspect_app.demo import DEMO_PASSWORD
from inspect_app.deploy import tls
from inspect_app.models import User
from tests.browser_fixtures import LAN_NAME, Served, shot, sign_in

pytestmark = pytest.mark.browser


def test_the_live_servers_certificate_verifies_against_the_apps_ca(live_server, test_tls):
    """What Chromium checks below, checked again by Python's ssl: chain and name."""
    port = int(live_server.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(test_tls.ca))
    for name in ("127.0.0.1", "localhost"):
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=name) as wrapped,
        ):
            assert wrapped.version() in ("TLSv1.2", "TLSv1.3")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_tablet_opens_the_plain_address_installs_the_ca_and_lands_on_https(
    browser, live_server, test_tls, db_kind
):
    """http://<server>:5080/ sends the tablet to HTTPS; /ca hands it the certificate; over HTTPS
    the LAN name is a secure context (service workers, crypto.subtle), over plain HTTP not.
    Once the tablet trusts the server, HSTS sends its http://<name>:5080 requests to
    https://<name>:5080, which the plain port answers too."""
    from inspect_app.config import instance_path
    from inspect_app.deploy.plain import PlainServer, certificate_files, create_plain_app
    from inspect_app.deploy.serving import from_environment

    port = int(live_server.rsplit(":", 1)[1])
    serving = replace(from_environment(instance_path()), port=port, tls_folder=test_tls.folder)
    app = create_plain_app({"SERVING": serving})
    plain = Served(app, server=PlainServer("127.0.0.1", 0, app, certificate_files(serving)))
    context = browser.new_context(
        viewport={"width": 768, "height": 1024},
        locale="zh-CN",
        has_touch=True,
        accept_downloads=True,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"http://{LAN_NAME}:{plain.port}/ca")
        assert page.evaluate("window.isSecureContext") is False
        assert tls.fingerprint(tls.load_certificate(test_tls.ca)) in page.inner_text("#ca-sha256")
        shot(page, "00-ca-page-768x1024", db_kind)
        with page.expect_download() as download:
            page.click("text=下载证书（inspect-ca.crt）")
        assert download.value.suggested_filename == "inspect-ca.crt"
        from cryptography import x509

        downloaded = x509.load_der_x509_certificate(Path(download.value.path()).read_bytes())
        assert downloaded == tls.load_certificate(test_tls.ca)

        page.goto(f"http://{LAN_NAME}:{plain.port}/login?next=/")
        assert page.url == f"https://{LAN_NAME}:{port}/login?next=/"
        assert page.title().startswith("登录")
        assert page.evaluate("window.isSecureContext") is True
        assert page.evaluate("typeof crypto.subtle.digest") == "function"
        assert page.evaluate("'serviceWorker' in navigator") is True

        # HSTS now holds for the name on every port; the plain port answers over TLS as well.
        page.goto(f"http://{LAN_NAME}:{plain.port}/ca")
        assert page.url == f"https://{LAN_NAME}:{plain.port}/ca"
        assert tls.fingerprint(tls.load_certificate(test_tls.ca)) in page.inner_text("#ca-sha256")
    finally:
        context.close()
        plain.stop()


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


def test_sysadmin_import_page_and_bad_sheet_on_a_tablet(tablet, live_server, db_kind, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["单位编码", "单位名称", "单位类型"])
    book.active.append(["QH-NEW", "", "社区"])
    path = tmp_path / "bad.xlsx"
    book.save(path)
    sign_in(tablet, live_server, "xitong")
    tablet.goto(f"{live_server}/units/import")
    tablet.set_input_files("input[type=file]", str(path))
    tablet.click("button:has-text('校验并导入')")
    tablet.wait_for_selector("article.errors")
    assert "单位名称不能为空" in tablet.inner_text("article.errors")
    shot(tablet, "05-import-errors-1024x768", db_kind)


def test_inspector_fills_a_whole_checklist_by_tapping_and_submits(
    tablet, live_server, inspection, db_kind, tmp_path
):
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Answer, Finding, Inspection
    from tests.inspection_fixtures import jpeg_bytes

    photo = tmp_path / "现场.jpg"
    photo.write_bytes(jpeg_bytes((1600, 1200)))
    page = tablet
    sign_in(page, live_server, "ducha1")
    page.click(f"a[href='/inspections/{inspection.id}']")
    page.wait_for_selector("form[data-autosave]")
    items = sheet_of(inspection).items
    failing = [s for s in items if s["response"] == "compliance"][:2]
    for spec in items:
        item = page.locator(f"#item-{spec['code']}")
        if spec["response"] == "compliance":
            answer = "不符合" if spec in failing else "符合"
            item.locator(f".seg:has(input[value='{answer}'])").click()
        elif spec["response"] == "choice":
            option = next(o for o in spec["options"] if o not in spec["failing"])
            item.locator(f".seg:has(input[value='{option}'])").click()
        elif spec["response"] == "number":
            item.locator("input[name=value]").fill(
                str(int(float(spec.get("failing_below") or 0)) + 2)
            )
        elif spec["response"] == "score":
            item.locator("[data-full-marks]").click()
        else:
            item.locator("textarea[name=value]").fill("现场查看情况良好")
    for spec in failing:
        item = page.locator(f"#item-{spec['code']}")
        item.locator("textarea[name=note]").fill("近三个月会议记录缺失，现场无法提供")
        if "photo" in spec["require_when_failing"]:
            item.locator(".photo-form input[type=file][capture]").set_input_files(str(photo))
            item.locator(".thumbs img").wait_for()
    # (selectors, not wait_for_function: its polling evaluates strings, which the CSP forbids)
    page.wait_for_selector("#outbox-state[data-state=saved]", timeout=30_000)
    required = [s for s in items if s["response"] != "text"]
    assert page.inner_text("#progress-answered") == str(len(required))
    assert page.inner_text("#progress-failing") == str(len(failing))
    assert Answer.select().where(
        Answer.inspection == inspection.id, Answer.value.is_null(False)
    ).count() == len(items)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "06-inspection-filled-1024x768", db_kind)

    page.click("button:has-text('提交检查结果')")
    page.wait_for_selector("#findings article.finding")
    assert Inspection.get_by_id(inspection.id).status == "submitted"
    assert page.locator("#findings article.finding").count() == len(failing)
    assert Finding.select().where(Finding.inspection == inspection.id).count() == len(failing)
    assert page.locator("form[data-autosave]").count() == 0  # locked
    page.locator("#findings").scroll_into_view_if_needed()
    shot(page, "07-findings-after-submit-1024x768", db_kind)


def test_an_answer_tapped_offline_is_saved_when_the_network_returns(
    browser, live_server, inspection, db_kind
):
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Answer

    context = browser.new_context(
        viewport={"width": 1024, "height": 768}, locale="zh-CN", has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, live_server, "zuzhang")
    page.goto(f"{live_server}/inspections/{inspection.id}")
    spec = next(s for s in sheet_of(inspection).items if s["response"] == "compliance")
    context.set_offline(True)
    page.locator(f"#item-{spec['code']} .seg:has(input[value='基本符合'])").click()
    page.wait_for_selector(f"#item-{spec['code']} .save-state[data-state=retrying]")
    assert not Answer.select().where(Answer.inspection == inspection.id).exists()
    context.set_offline(False)
    page.wait_for_selector(f"#item-{spec['code']} .save-state[data-state=saved]")
    answer = Answer.get(Answer.inspection == inspection.id, Answer.item_code == spec["code"])
    assert answer.value == {"value": "基本符合"} and answer.revision == 1
    context.close()


def test_supervisor_plans_a_round_and_forms_a_team_on_a_tablet(tablet, live_server, db_kind):
    from inspect_app.models import Inspection, Round

    page = tablet
    sign_in(page, live_server, "duchaban")
    page.click("text=督查批次")
    page.wait_for_url(f"{live_server}/rounds")
    page.click("text=新建督查批次")
    page.wait_for_selector("input[name=name]")
    page.fill("input[name=name]", "2026年12月社区党建暗访")
    page.select_option("select[name=checklist]", "dangjian-anfang")
    page.fill("input[name=starts_on]", "2026-12-01")
    page.fill("input[name=ends_on]", "2026-12-15")
    page.check("input[name=unit_types][value=community]")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "08-new-round-1024x768", db_kind)
    page.click("button:has-text('创建批次')")
    page.wait_for_selector("text=下一步：组建督查组")
    round_ = Round.get(Round.name == "2026年12月社区党建暗访")
    assert round_.unannounced and round_.inspections.count() == 9
    page.select_option("select[name=leader_id]", label="赵强")
    page.check("input[name=member_ids] >> nth=0")
    for box in page.locator("input[name=inspection_ids]").all()[:5]:
        box.check()
    page.click("button:has-text('组建')")
    page.wait_for_selector("text=已组建")
    assert (
        Inspection.select()
        .where(Inspection.round == round_.id, Inspection.team.is_null(False))
        .count()
        == 5
    )
    shot(page, "09-round-page-1024x768", db_kind)


def test_unit_reports_progress_with_a_photo_and_the_supervisor_sends_back_then_closes(
    browser, live_server, published_round, db_kind, tmp_path
):
    from werkzeug.datastructures import MultiDict

    from inspect_app.models import Finding, Task, User
    from inspect_app.rectification import service
    from tests.inspection_fixtures import jpeg_bytes

    findings = MultiDict(
        [("finding_ids", str(f.id)) for f in Finding.select().where(Finding.status == "confirmed")]
    )
    task = service.create_task(published_round, findings, by=User.get(User.username == "duchaban"))
    photo = tmp_path / "整改后.jpg"
    photo.write_bytes(jpeg_bytes((1200, 900), (30, 160, 30)))

    def as_user(username, viewport=(1024, 768)):
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN", has_touch=True
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        sign_in(page, live_server, username)
        page.goto(f"{live_server}/tasks/{task.id}")
        return context, page

    def press(page, label):
        page.click(f"button:has-text('{label}')")
        page.wait_for_selector(".flash-success")

    context, page = as_user("hp-lianluo", (768, 1024))
    press(page, "签收")
    page.fill("textarea[name=text]", "已在党员活动室悬挂党旗和入党誓词，补齐支委会记录")
    page.set_input_files("input[name=files]", str(photo))
    press(page, "报告整改进展")
    assert page.is_visible("a.file-link:has-text('整改后.jpg')")
    press(page, "提交单位审核")
    shot(page, "10-task-unit-submitted-768x1024", db_kind)
    context.close()

    context, page = as_user("hp-fuzeren")
    press(page, "单位负责人审核通过")
    context.close()

    context, page = as_user("duchaban")
    page.fill(
        "form:has(button:has-text('退回重新整改')) input[name=text]", "照片未体现入党誓词，请补充"
    )
    page.locator("button:has-text('退回重新整改')").click()
    page.wait_for_selector(".flash-success")
    context.close()

    context, page = as_user("hp-lianluo")
    assert page.is_visible("text=督查办退回：照片未体现入党誓词，请补充")
    page.fill("textarea[name=text]", "补拍入党誓词照片")
    page.set_input_files("input[name=files]", str(photo))
    press(page, "报告整改进展")
    press(page, "提交单位审核")
    context.close()
    context, page = as_user("hp-fuzeren")
    press(page, "单位负责人审核通过")
    context.close()

    context, page = as_user("duchaban")
    press(page, "核验销号")
    assert page.inner_text(".page-head .status") == "已销号"
    shot(page, "11-task-closed-1024x768", db_kind)
    context.close()
    task = Task.get_by_id(task.id)
    assert task.status == "closed" and task.sent_back_count == 1


def test_supervisor_issues_a_rounds_notices_with_a_progress_bar_and_the_unit_signs(
    browser, live_server, published_two_units, worker, db_kind
):
    from inspect_app.models import Notice

    round_id = published_two_units.id

    def as_user(username, viewport=(1024, 768)):
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN", has_touch=True
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        sign_in(page, live_server, username)
        return context, page

    context, page = as_user("duchaban")
    page.goto(f"{live_server}/rounds/{round_id}/notices")
    page.click("button:has-text('全部起草并预览')")
    page.wait_for_selector("#batch-progress progress")
    page.wait_for_selector("a:has-text('下载压缩包')")  # htmx polled the bar to the end
    assert page.is_visible("text=已完成：2 份")
    shot(page, "11-notice-batch-done-1024x768", db_kind)
    context.close()

    context, page = as_user("lingdao")
    page.goto(f"{live_server}/rounds/{round_id}/notices")
    page.click("button:has-text('全部审签')")
    page.wait_for_selector(".flash-success")
    context.close()

    context, page = as_user("duchaban")
    page.goto(f"{live_server}/rounds/{round_id}/notices")
    page.click("button:has-text('全部印发')")
    page.wait_for_selector("a:has-text('下载压缩包')")
    page.goto(f"{live_server}/notices")
    assert page.is_visible("text=区督改〔2026〕1号") and page.is_visible("text=0/1")
    shot(page, "12-notice-register-1024x768", db_kind)
    notice = Notice.select().where(Notice.number == "区督改〔2026〕1号").get()
    page.goto(f"{live_server}/notices/{notice.id}")
    shot(page, "13-notice-issued-1024x768", db_kind)
    context.close()

    unit = "hp-lianluo" if notice.unit.code == "QH-DF-HP" else "yb-lianluo"
    context, page = as_user(unit, (768, 1024))
    page.goto(f"{live_server}/notices")
    page.click(f"a:has-text('{notice.title}')")
    page.click("button:has-text('签收')")
    page.wait_for_selector(".flash-success")
    assert page.is_visible("text=本单位已于")
    shot(page, "14-notice-signed-by-unit-768x1024", db_kind)
    context.close()


def test_dashboard_and_ranking_on_a_tablet_both_ways_round(
    browser, app, demo, checklists_loaded, db_kind, test_tls
):
    """A leader reads the dashboard at 1024×768 and 768×1024, follows a bar to the list behind it,
    and opens the ranking; the demo's two 考评 rounds give it a tie, movement and a bottom unit."""
    from inspect_app.demo import load_demo_activity

    with app.app_context():  # the demo issues a notice, stored under the app's upload folder
        load_demo_activity()
    served = Served(app, test_tls.context)
    base = f"https://127.0.0.1:{served.port}"
    try:
        for width, height in ((1024, 768), (768, 1024)):
            context = browser.new_context(
                viewport={"width": width, "height": height}, locale="zh-CN", has_touch=True
            )
            page = context.new_page()
            page.set_default_timeout(10_000)
            sign_in(page, base, "lingdao")
            page.click("text=督查看板")
            page.wait_for_url(f"{base}/dashboard")
            assert page.locator("svg.chart.hbars a").count() > 0
            assert page.locator("svg.chart.line circle").count() >= 2
            shot(page, f"20-dashboard-{width}x{height}", db_kind)
            if width == 1024:
                with page.expect_navigation():
                    page.locator("svg.chart.hbars a").first.click()
                assert "/problems" in page.url
                assert page.locator("table").count() >= 1
                page.goto(f"{base}/rankings")
                assert "社区排名" in page.inner_text("main")
                assert page.locator("tr.flagged").count() >= 1
                shot(page, f"21-ranking-{width}x{height}", db_kind)
            context.close()
    finally:
        served.stop()


def test_a_user_whose_password_was_set_by_someone_else_is_taken_to_change_it(
    tablet, live_server, db_kind
):
    """Marked after the page was loaded (as when an administrator's change reaches a signed-in
    user): the next htmx search lands on the whole change page, not inside the results region;
    once changed, the app is open again."""

    page = tablet
    sign_in(page, live_server, "duchaban")
    page.goto(f"{live_server}/units")
    User.update(must_change_password=True).where(User.username == "duchaban").execute()
    page.fill("input[name=q]", "迎宾")
    page.wait_for_url(f"{live_server}/account/password")
    assert page.locator("#results").count() == 0
    assert "请先修改为只有您自己知道的密码" in page.inner_text("main")
    assert page.locator("text=组织架构").count() == 0  # no menu that would lead nowhere
    with page.expect_response(lambda r: r.url == f"{live_server}/") as refused:
        page.click("a.brand")  # a boosted link: the change page again
    assert refused.value.status == 303
    page.wait_for_load_state()
    assert page.url == f"{live_server}/account/password"
    shot(page, "20-forced-password-change-1024x768", db_kind)
    page.fill("input[name=current]", DEMO_PASSWORD)
    page.fill("input[name=password]", "Liming2026x")
    page.fill("input[name=confirm]", "Liming2026x")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.click("text=组织架构")
    page.wait_for_url(f"{live_server}/units")
    assert not User.get(User.username == "duchaban").must_change_password


def test_an_inspector_enrols_a_phone_by_qr_code_and_signs_in_with_its_code(
    tablet, live_server, db_kind
):
    import pyotp

    page = tablet
    sign_in(page, live_server, "ducha1")
    page.click("li.who details")  # the account menu
    page.click("text=双因素认证")
    page.wait_for_url(f"{live_server}/account/two-factor")
    qr = page.locator("figure.qr svg")
    assert qr.bounding_box()["width"] >= 150  # big enough for a phone to scan
    secret = page.inner_text("code.secret").replace(" ", "")
    shot(page, "34-two-factor-enrolment-1024x768", db_kind)
    page.fill("input[name=code]", pyotp.TOTP(secret).at(clock.timestamp()))
    page.click("button:has-text('完成绑定')")
    page.wait_for_url(f"{live_server}/")
    assert "双因素认证已启用" in page.inner_text("#flash")
    page.click("li.who details")
    page.click("text=退出登录")
    page.wait_for_url(f"{live_server}/login")
    page.fill("input[name=username]", "ducha1")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/login/code")
    shot(page, "35-sign-in-code-1024x768", db_kind)
    clock.travel(clock.now() + timedelta(seconds=30))  # the enrolment's code is spent
    page.fill("input[name=code]", pyotp.TOTP(secret).at(clock.timestamp()))
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server}/")


# -- 节假日安排 and the 交办 form's deadline ----------------------------------------------------


def test_supervisor_sees_the_gap_pastes_the_notice_and_assigns_a_2027_deadline(
    tablet, live_server, published_round, db_kind
):
    from inspect_app.models import Finding, Task
    from tests.test_holidays import notice

    Finding.update(deadline_days=30).execute()
    clock.travel(date(2026, 12, 1))
    page = tablet
    sign_in(page, live_server, "duchaban")
    assert page.is_visible("text=2027 年的节假日安排尚未录入")  # the home page's reminder

    # 交办: ticking a finding asks the server for the deadline it would assign
    page.goto(f"{live_server}/rounds/{published_round.id}/tasks/new")
    with page.expect_response(lambda r: "/tasks/new?" in r.url):
        page.locator("input[name=finding_ids]").first.check()
    page.wait_for_selector("#deadline-field .calendar-gap")
    assert page.get_attribute("#deadline-field input", "aria-invalid") == "true"
    page.locator("#deadline-field").scroll_into_view_if_needed()
    shot(page, "30-assign-deadline-gap-1024x768", db_kind)

    # the link in the message leads to the year; pasting the notice previews, then saves
    page.click("#deadline-field .calendar-gap a")
    page.wait_for_url(f"{live_server}/holidays/2027")
    page.fill("textarea[name=text]", notice("2027-example.txt"))
    page.click("button:has-text('预览')")
    page.wait_for_selector("#preview")
    page.locator("#preview header").scroll_into_view_if_needed()
    assert page.is_visible("text=放假 27 天，调休上班 5 天。2027 年此前未录入。")
    shot(page, "31-holidays-preview-1024x768", db_kind)
    page.click("button:has-text('确认保存')")
    page.wait_for_selector(".flash-success")
    assert page.is_visible("text=办公室录入")
    page.set_viewport_size({"width": 768, "height": 1024})
    page.locator("h1").scroll_into_view_if_needed()
    shot(page, "32-holidays-2027-768x1024", db_kind)
    page.set_viewport_size({"width": 1024, "height": 768})

    page.goto(f"{live_server}/rounds/{published_round.id}/tasks/new")
    for box in page.locator("input[name=finding_ids]").all():
        with page.expect_response(lambda r: "/tasks/new?" in r.url):  # one swap at a time
            box.check()
    page.wait_for_selector("#deadline-field .deadline-hint strong:has-text('2027-01-13')")
    page.locator("#deadline-field").scroll_into_view_if_needed()
    shot(page, "33-assign-deadline-suggested-1024x768", db_kind)
    page.click("button:has-text('交办')")
    page.wait_for_selector(".flash-success")
    assert Task.get().deadline == date(2027, 1, 13)


def test_three_administrators_make_an_account_grant_it_a_role_and_find_it_in_the_trail(
    browser, tablet, live_server, db_kind
):
    """三员分立 on a PC-sized screen: the 系统管理员 makes an account (no role), the 安全管理员
    grants one, the 安全审计员 finds both steps in the audit trail and on the self-check."""
    page = tablet
    sign_in(page, live_server, "xitong")
    page.click("text=账号管理")
    page.click("text=新建账号")
    page.fill("input[name=username]", "zhou-new")
    page.fill("input[name=display_name]", "周新")
    page.fill("input[name=password]", "Zhou-xin-2026")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=已新建账号 zhou-new")
    assert "待授权" in page.inner_text("main")
    assert page.locator("text=授予或变更角色").count() == 0  # not the system administrator's
    assert page.locator("text=督查批次").count() == 0  # no business menu for administrators

    security = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    second = security.new_page()
    sign_in(second, live_server, "anquan")
    second.click("text=账号管理")
    second.click("text=待授权（1）")
    second.click("text=周新")
    second.select_option("select[name=role]", "inspector")
    second.fill("input[name=reason]", "督查室调入（组通〔2026〕12号）")
    second.click("text=保存角色")
    second.wait_for_selector("text=已变更账号 zhou-new 的角色")
    assert User.get(User.username == "zhou-new").role == "inspector"
    shot(second, "21-role-granted-1024x768", db_kind)
    second.click("text=等保自查")
    second.wait_for_selector("table.selfcheck")
    assert "三员分立" in second.inner_text("table.selfcheck")
    shot(second, "22-self-check-1024x768", db_kind)
    security.close()

    auditing = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    third = auditing.new_page()
    sign_in(third, live_server, "shenji")
    third.click("text=审计记录")
    third.fill("input[name=user]", "zhou-new")
    third.click("button:has-text('查询')")
    third.wait_for_selector("text=组通〔2026〕12号")
    rows = third.inner_text("table.audit")
    assert "新建账号 zhou-new（待授权）" in rows and "role：pending → inspector" in rows
    shot(third, "23-audit-trail-1024x768", db_kind)
    third.click("text=校验审计链")
    third.wait_for_selector("text=审计链完整")
    auditing.close()
