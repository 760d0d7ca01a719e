"""节假日安排 and the 交办 form's deadline, on a tablet (headless Chromium, as test_browser)."""

from datetime import date

import pytest

from inspect_app import clock
from inspect_app.models import Finding, Task
from tests.test_browser import shot, sign_in
from tests.test_holidays import notice

pytestmark = pytest.mark.browser


def test_supervisor_sees_the_gap_pastes_the_notice_and_assigns_a_2027_deadline(
    tablet, live_server, published_round, db_kind
):
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
