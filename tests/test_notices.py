"""Official notices: GB/T 9704 PDFs checked through their text, fonts, size and pixels; the
draft → 审签 → 印发 → 签收 lifecycle; numbering; verification; templates; safety; batches."""

import hashlib
import io
import re
import subprocess
import threading
import time
import zipfile
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from PIL import Image
from pypdf import PdfReader
from werkzeug.datastructures import MultiDict

from inspect_app import clock
from inspect_app.models import (
    EscalationDecision,
    Finding,
    Notice,
    NoticeRecipient,
    NoticeTemplate,
    Notification,
    Task,
    User,
)
from inspect_app.notices import render, service

FINDINGS = ("党员活动室未悬挂党旗和入党誓词", "近6个月支委会记录缺失3次", "党费收缴台账未按月登记")


# -- helpers: read a PDF the way a reviewer would ---------------------------------------------


def pdf_text(data):
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def flat(text):
    return re.sub(r"\s+", "", text)


def embedded_fonts(data):
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            descendants = font.get("/DescendantFonts")
            target = descendants[0].get_object() if descendants else font
            descriptor = target.get("/FontDescriptor")
            if descriptor is not None:
                descriptor = descriptor.get_object()
                if any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                    names.add(str(font["/BaseFont"]))
    return names


def first_page_png(data, tmp_path):
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    return Image.open(next(tmp_path.glob("p-*.png"))).convert("RGB")


def red_rows(image):
    """Rows (as a fraction of the page height) holding clearly red pixels."""
    rows = set()
    for y in range(image.height):
        for x in range(0, image.width, 2):
            r, g, b = image.getpixel((x, y))
            if r > 180 and g < 120 and b < 120:
                rows.add(y / image.height)
                break
    return sorted(rows)


def draft_rectification(client, round_, unit):
    return client.post(
        "/notices/new", {"kind": "rectification", "round_id": round_.id, "unit_id": unit.id}
    )


@pytest.fixture
def issued(app, login, demo, published_round, fixed_today):
    """The 整改通知书 of 和平社区 for the published round, drafted, approved and issued."""
    office, leader = login("duchaban"), login("lingdao")
    response = draft_rectification(office, published_round, demo["QH-DF-HP"])
    assert response.status_code == 303, response.get_data(as_text=True)
    notice = Notice.get()
    assert leader.post(f"/notices/{notice.id}/approve").status_code == 303
    response = office.post(f"/notices/{notice.id}/issue")
    assert response.status_code == 303, response.get_data(as_text=True)
    return Notice.get_by_id(notice.id)


# -- the document ---------------------------------------------------------------------------


def test_issued_rectification_notice_reads_like_the_official_document(
    app, login, issued, demo, tmp_path
):
    data = login("duchaban").get(f"/notices/{issued.id}/pdf").data
    assert data.startswith(b"%PDF")
    text = flat(pdf_text(data))
    assert issued.number == "区督改〔2026〕1号" and issued.number in text
    assert flat("中共示范区委督查室") in text
    assert "和平社区" in text and "：" in text  # 主送机关 line ends with a full-width colon
    for finding in FINDINGS:
        assert flat(finding) in text
    assert "收到通知后10个工作日内" in text  # no task yet: the finding's own time limit
    assert "2026年11月23日" in text  # 成文日期 in Chinese, no leading zeros
    assert "附件：问题及整改任务清单" in text and "抄送：" in text
    reader = PdfReader(io.BytesIO(data))
    for page in reader.pages:  # A4: 595.28 × 841.89 pt
        assert abs(float(page.mediabox.width) - 595.28) < 1
        assert abs(float(page.mediabox.height) - 841.89) < 1
    fonts = embedded_fonts(data)
    assert any("FandolFang" in f for f in fonts), fonts  # body 仿宋
    assert any("FandolSong" in f for f in fonts), fonts  # 标题 and 红头 in bold Song
    image = first_page_png(data, tmp_path)
    rows = red_rows(image)
    assert rows, "no red on page 1"
    # 信函格式: red 发文机关标志 and double line near the top, second double line near the bottom
    assert min(rows) < 0.2 and max(rows) > 0.9
    assert issued.sha256 == hashlib.sha256(data).hexdigest()
    assert issued.page_count == len(reader.pages) and issued.pdf_size == len(data)


def test_circular_is_a_red_header_document_with_ranking_and_problem_list(
    app, login, demo, published_round, fixed_today, tmp_path
):
    office = login("duchaban")
    response = office.post("/notices/new", {"kind": "circular", "round_id": published_round.id})
    assert response.status_code == 303, response.get_data(as_text=True)
    notice = Notice.get()
    assert [r.unit.code for r in notice.recipients] == ["QH-DF-HP"]
    data = office.get(f"/notices/{notice.id}/pdf").data
    text = flat(pdf_text(data))
    assert "草稿" in text  # an unissued notice is marked and has no number
    assert "区督通〔2026〕号" in text
    assert "中共示范区委督查室文件" in text and "情况的通报" in text
    assert "共检查1个单位" in text and "共发现问题3个" in text
    assert "附件：问题清单" in text and "得分排名表" not in text  # 暗访 checklist: not scored
    for finding in FINDINGS:
        assert flat(finding) in text
    rows = red_rows(first_page_png(data, tmp_path))
    # 文件格式: 发文机关标志 about 72 mm from the top edge (0.24 of 297 mm), red rule below it
    assert any(0.2 < r < 0.3 for r in rows) and max(rows) < 0.45


def test_circular_ranks_scored_units_with_ties_shared(
    app, login, demo, checklists_loaded, fixed_today
):
    from inspect_app.models import Inspection, Round
    from tests.inspection_fixtures import make_round

    round_ = make_round(
        demo, slug="bannian-kaoping", unannounced=False, units=("QH-DF-HP", "QH-DF-YB", "QH-NG-WF")
    )
    scores = {"QH-DF-HP": 88, "QH-DF-YB": 92.5, "QH-NG-WF": 88}
    for inspection in Inspection.select().where(Inspection.round == round_.id):
        inspection.score, inspection.max_score = scores[inspection.unit.code], 100
        inspection.status = "signed_off"
        inspection.save()
    Round.update(published_at=round_.created_at).where(Round.id == round_.id).execute()
    office = login("duchaban")
    assert (
        office.post("/notices/new", {"kind": "circular", "round_id": round_.id}).status_code == 303
    )
    notice = Notice.get()
    ranking = [(r["rank"], r["unit"], r["tied"]) for r in notice.context["ranking"]]
    assert ranking[0] == (1, demo["QH-DF-YB"].name, False)
    assert {r[0] for r in ranking[1:]} == {2} and all(r[2] for r in ranking[1:])  # 并列第2
    text = flat(pdf_text(office.get(f"/notices/{notice.id}/pdf").data))
    assert "附件：1.得分排名表" in text and "2.问题清单" in text
    assert "2（并列）" in text and "92.5/100" in text and "88/100" in text


def test_monthly_or_quarterly_circular_is_drafted_from_the_rankings(
    app, login, demo, checklists_loaded, fixed_today
):
    from inspect_app.demo import load_demo_activity

    with app.app_context():
        load_demo_activity()  # two signed-off 考评 rounds a quarter apart
    office = login("duchaban")
    page = office.get("/circular?period=2026-Q4").get_data(as_text=True)
    assert "起草考评通报" in page
    response = office.post("/notices/new", {"kind": "period_circular", "period": "2026-Q4"})
    assert response.status_code == 303, response.get_data(as_text=True)
    notice = Notice.get(Notice.kind == "period_circular")
    ranked = [r for board in notice.context["rankings"] for r in board["rows"]]
    assert notice.recipients.count() == len(ranked) == notice.context["ranked"] > 1
    text = flat(pdf_text(office.get(f"/notices/{notice.id}/pdf").data))
    assert "关于2026年第四季度基层党建工作考评情况的通报" in text
    assert "得分排名表" in text and ranked[0]["unit"] in text and ranked[-1]["unit"] in text
    again = office.post("/notices/new", {"kind": "period_circular", "period": "2026-Q4"})
    assert again.headers["Location"] == f"/notices/{notice.id}"  # one open draft per period
    empty = office.post("/notices/new", {"kind": "period_circular", "period": "2025-M01"})
    assert empty.status_code == 409 and "没有已发布的计分考评结果" in empty.get_data(as_text=True)
    bad = office.post("/notices/new", {"kind": "period_circular", "period": "2026-Q9"})
    assert bad.status_code == 404


def test_a_period_circular_never_carries_an_unpublished_rounds_results(
    app, login, demo, checklists_loaded, fixed_today
):
    """考评通报 goes to every ranked unit: a round signed off but not yet published (暗访 above
    all) must not reach them through its rankings or typical problems."""
    from inspect_app.demo import load_demo_activity
    from inspect_app.models import Round

    with app.app_context():
        load_demo_activity()
    this_quarter = Round.get(Round.name == "本季度党建工作考评（社区）")
    Round.update(published_at=None).where(Round.id == this_quarter.id).execute()
    office = login("duchaban")
    response = office.post("/notices/new", {"kind": "period_circular", "period": "2026-Q4"})
    assert response.status_code == 409
    assert "尚未发布" in response.get_data(as_text=True) and this_quarter.name in response.get_data(
        as_text=True
    )
    assert not Notice.select().where(Notice.kind == "period_circular").exists()
    from inspect_app.rounds import service as rounds

    rounds.publish(Round.get_by_id(this_quarter.id), by=User.get(User.username == "duchaban"))
    response = office.post("/notices/new", {"kind": "period_circular", "period": "2026-Q4"})
    assert response.status_code == 303


def test_every_kind_renders_from_its_shipped_template(app, demo):
    from inspect_app.notices import batches, kinds, wording

    for code in kinds.KINDS:
        current = wording.current(code)
        form = {name: getattr(current, name) for name in wording.FIELDS}
        with app.test_request_context():
            data = batches.template_preview(code, form)
        text = flat(pdf_text(data))
        assert "模板预览" in text and current.number_prefix in text, code


# -- lifecycle --------------------------------------------------------------------------------


def test_approval_needs_a_second_person_and_issuing_needs_approval(
    app, login, demo, published_round, fixed_today
):
    office = login("duchaban")
    draft_rectification(office, published_round, demo["QH-DF-HP"])
    notice = Notice.get()
    assert office.post(f"/notices/{notice.id}/issue").status_code == 409  # not approved yet
    assert office.post(f"/notices/{notice.id}/approve").status_code == 403  # own draft
    assert login("zuzhang").post(f"/notices/{notice.id}/approve").status_code == 403
    leader = login("lingdao")
    response = leader.post(f"/notices/{notice.id}/send-back", {"reason": ""})
    assert response.status_code == 422 and "请说明退回理由" in response.get_data(as_text=True)
    assert leader.post(f"/notices/{notice.id}/approve").status_code == 303
    assert Notice.get_by_id(notice.id).status == "approved"
    assert leader.post(f"/notices/{notice.id}/issue").status_code == 403  # the office issues
    # drafting the same unit's notice again leads to the one already there
    again = draft_rectification(office, published_round, demo["QH-DF-HP"])
    assert again.status_code == 303 and again.headers["Location"] == f"/notices/{notice.id}"
    assert Notice.select().count() == 1


def test_a_second_supervisor_who_rewrote_a_draft_cannot_also_approve_it(
    app, login, demo, published_round, fixed_today
):
    from inspect_app.auth.service import hash_password
    from inspect_app.demo import DEMO_PASSWORD

    User.create(
        username="duchaban2",
        display_name="王强",
        role="supervisor",
        password_hash=hash_password(DEMO_PASSWORD),
    )
    draft_rectification(login("duchaban"), published_round, demo["QH-DF-HP"])
    notice = Notice.get()
    other = login("duchaban2")
    edited = other.post(
        f"/notices/{notice.id}/edit",
        {"title": "关于和平社区限期整改的通知", "main_to": notice.main_to, "copy_to": ""},
    )
    assert edited.status_code == 303
    refused = other.post(f"/notices/{notice.id}/approve")
    assert refused.status_code == 403 and "修改过这份公文" in refused.get_data(as_text=True)
    assert Notice.get_by_id(notice.id).status == "draft"
    assert login("lingdao").post(f"/notices/{notice.id}/approve").status_code == 303


def test_issued_notice_is_frozen_and_a_correction_is_a_new_notice(
    app, login, issued, published_round
):
    office = login("duchaban")
    first = office.get(f"/notices/{issued.id}/pdf").data
    for action in ("edit", "refresh", "approve", "discard"):
        response = office.post(f"/notices/{issued.id}/{action}", {"title": "改标题"})
        assert response.status_code == 409, action
    # the data behind it changes; the issued document does not
    Finding.update(description="已改写的问题").execute()
    assert office.get(f"/notices/{issued.id}/pdf").data == first
    response = office.post(f"/notices/{issued.id}/correct")
    assert response.status_code == 303
    correction = Notice.get(Notice.supersedes == issued.id)
    assert correction.status == "draft" and correction.number is None
    assert "已改写的问题" in flat(pdf_text(office.get(f"/notices/{correction.id}/pdf").data))
    assert login("lingdao").post(f"/notices/{correction.id}/approve").status_code == 303
    assert office.post(f"/notices/{correction.id}/issue").status_code == 303
    correction = Notice.get_by_id(correction.id)
    assert correction.number == "区督改〔2026〕2号"  # the next number of the kind and year
    page = login("lingdao").get(f"/notices/{issued.id}").get_data(as_text=True)
    assert "本文已被更正" in page and correction.number in page


def test_a_tampered_file_is_never_handed_out(app, login, issued):
    from pathlib import Path

    path = Path(app.config["UPLOAD_FOLDER"]) / "notices" / issued.pdf_file
    path.write_bytes(path.read_bytes() + b"%tampered")
    response = login("duchaban").get(f"/notices/{issued.id}/pdf")
    assert response.status_code == 409
    assert "SHA-256 不一致" in response.get_data(as_text=True)


def test_numbers_run_per_kind_and_year(app, demo, fixed_today):
    from inspect_app.db import database

    with database.atomic():
        assert [service._next_number("rectification", 2026) for _ in range(3)] == [1, 2, 3]
        assert service._next_number("circular", 2026) == 1
        assert service._next_number("rectification", 2027) == 1


def test_addressed_unit_acknowledges_and_the_register_shows_who_has_not(app, login, issued, demo):
    office = login("duchaban")
    register = office.get("/notices?unacknowledged=1").get_data(as_text=True)
    assert issued.number in register and "0/1" in register
    other = login("yb-lianluo")
    assert other.get(f"/notices/{issued.id}").status_code == 403
    assert other.get(f"/notices/{issued.id}/pdf").status_code == 403
    assert other.post(f"/notices/{issued.id}/acknowledge").status_code == 403
    unit = login("hp-lianluo")
    assert Notification.select().where(Notification.notice == issued.id).count() >= 1
    assert issued.number in unit.get("/notices").get_data(as_text=True)
    assert (
        unit.get(f"/notices/{issued.id}/pdf").data == office.get(f"/notices/{issued.id}/pdf").data
    )
    assert unit.post(f"/notices/{issued.id}/acknowledge").status_code == 303
    unread = Notification.select().where(
        Notification.notice == issued.id, Notification.read_at.is_null()
    )
    assert unread.count() == 0  # the 请签收 message is done with once the unit has signed
    assert unit.post(f"/notices/{issued.id}/acknowledge").status_code == 409
    recipient = NoticeRecipient.get(NoticeRecipient.notice == issued.id)
    assert recipient.acknowledged_by.username == "hp-lianluo"
    assert issued.number not in office.get("/notices?unacknowledged=1").get_data(as_text=True)
    assert "1/1" in office.get("/notices").get_data(as_text=True)


def test_units_never_see_drafts(app, login, demo, published_round, fixed_today):
    office = login("duchaban")
    draft_rectification(office, published_round, demo["QH-DF-HP"])
    notice = Notice.get()
    unit = login("hp-lianluo")
    assert unit.get(f"/notices/{notice.id}").status_code == 403
    assert unit.get(f"/notices/{notice.id}/pdf").status_code == 403
    assert notice.title not in unit.get("/notices").get_data(as_text=True)


def test_units_learn_of_a_correction_only_once_it_is_issued(app, login, issued):
    office, unit = login("duchaban"), login("hp-lianluo")
    assert office.post(f"/notices/{issued.id}/correct").status_code == 303
    correction = Notice.get(Notice.supersedes == issued.id)
    page = unit.get(f"/notices/{issued.id}").get_data(as_text=True)
    assert "本文已被更正" not in page and f"/notices/{correction.id}" not in page
    assert login("lingdao").post(f"/notices/{correction.id}/approve").status_code == 303
    assert office.post(f"/notices/{correction.id}/issue").status_code == 303
    page = unit.get(f"/notices/{issued.id}").get_data(as_text=True)
    assert "本文已被更正" in page and Notice.get_by_id(correction.id).number in page


def test_a_nul_character_anywhere_is_a_400_and_changes_nothing(
    app, client, login, demo, published_round, fixed_today
):
    """PostgreSQL text cannot hold NUL: it must be refused, not become a 500 from the database."""
    office = login("duchaban")
    draft_rectification(office, published_round, demo["QH-DF-HP"])
    notice = Notice.get()
    form = {"title": "标题\x00", "main_to": notice.main_to, "copy_to": ""}
    response = office.post(f"/notices/{notice.id}/edit", form)
    assert response.status_code == 400 and "无效字符" in response.get_data(as_text=True)
    assert Notice.get_by_id(notice.id).title == notice.title
    refused = office.post(f"/notices/{notice.id}/send-back", {"reason": "\x00"})
    assert refused.status_code == 400
    leader = login("lingdao")
    assert leader.get("/problems?period=2026-Q4&section=%00").status_code == 400
    assert leader.get("/problems.xlsx?period=2026-Q4&item=%00").status_code == 400
    assert client.get("/v/%00").status_code == 400


# -- verification -----------------------------------------------------------------------------


def test_qr_code_leads_to_a_public_page_that_checks_a_file(app, client, login, issued):
    data = login("duchaban").get(f"/notices/{issued.id}/pdf").data
    url = f"/v/{issued.verify_token}"
    page = client.get(url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert issued.number in text and issued.sha256 in text and "有效" in text
    ok = client.post(
        url, {"file": (io.BytesIO(data), "notice.pdf")}, content_type="multipart/form-data"
    )
    assert "是印发的原件" in ok.get_data(as_text=True)
    bad = client.post(
        url, {"file": (io.BytesIO(data + b" "), "notice.pdf")}, content_type="multipart/form-data"
    )
    assert "不一致" in bad.get_data(as_text=True)
    assert client.get("/v/no-such-token").status_code == 404


def test_the_qr_code_printed_on_the_pdf_encodes_the_verification_address(
    app, login, issued, tmp_path
):
    """Read the QR code back off page 1: sample each module and compare with the expected code."""
    import segno

    expected = segno.make(f"http://localhost/v/{issued.verify_token}", error="m")
    matrix = [list(row) for row in expected.matrix]
    data = login("duchaban").get(f"/notices/{issued.id}/pdf").data
    pdf = tmp_path / "n.pdf"
    pdf.write_bytes(data)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "300",
            "-f",
            "1",
            "-l",
            "1",
            "-gray",
            "-png",
            str(pdf),
            str(tmp_path / "q"),
        ],
        check=True,
    )
    page = Image.open(next(tmp_path.glob("q-*.png"))).convert("L")
    # the code sits in the top margin at the right, above the red 发文机关标志 (30 mm down)
    corner = page.crop((int(page.width * 0.6), 0, page.width, int(page.height * 0.095)))
    left, top, right, _ = corner.point(lambda v: 255 if v < 128 else 0).getbbox()
    size = right - left  # the caption 扫码核验 under the code is narrower than the code
    assert 15 < size / 300 * 25.4 < 19  # about 17 mm wide
    n = len(matrix)
    module = size / n
    read = [
        [
            corner.getpixel((int(left + (x + 0.5) * module), int(top + (y + 0.5) * module))) < 128
            for x in range(n)
        ]
        for y in range(n)
    ]
    wrong = sum(read[y][x] != bool(matrix[y][x]) for y in range(n) for x in range(n))
    assert wrong == 0, f"{wrong} of {n * n} modules differ"


def test_draft_tokens_do_not_verify(app, client, login, demo, published_round, fixed_today):
    draft_rectification(login("duchaban"), published_round, demo["QH-DF-HP"])
    assert client.get(f"/v/{Notice.get().verify_token}").status_code == 404


# -- safety -----------------------------------------------------------------------------------


class _Trap(BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):  # noqa: N802
        _Trap.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def trap():
    server = HTTPServer(("127.0.0.1", 0), _Trap)
    _Trap.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_html_and_urls_in_findings_cannot_make_the_renderer_fetch(
    app, login, demo, published_round, fixed_today, trap, tmp_path
):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = (
        f'<img src="{trap}/img.png"><link rel="stylesheet" href="{trap}/x.css">'
        f'<iframe src="file://{secret}"></iframe><style>@import url({trap}/i.css);</style>'
        f" 见 {trap}/page 和 file://{secret}"
    )
    Finding.update(description=hostile).where(Finding.description == FINDINGS[0]).execute()
    office = login("duchaban")
    draft_rectification(office, published_round, demo["QH-DF-HP"])
    notice = Notice.get()
    data = office.get(f"/notices/{notice.id}/pdf").data
    text = flat(pdf_text(data))
    assert flat('<img src="') in text  # printed as text, not obeyed
    assert "TOP-SECRET" not in text
    assert _Trap.hits == []
    assert render.renderer().last_refused == []  # nothing was even attempted


def test_even_an_admin_template_cannot_fetch_outside_the_app(app, login, trap, tmp_path):
    from inspect_app.notices import batches, wording

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    current = wording.current("reminder")
    form = {name: getattr(current, name) for name in wording.FIELDS}
    form["body"] = (
        f'<p>催办</p><img src="{trap}/beacon.png"><img src="file://{secret}">'
        f'<img src="file:///etc/passwd">'
    )
    with app.test_request_context():
        data = batches.template_preview("reminder", form)
    assert _Trap.hits == []
    assert "TOP-SECRET" not in pdf_text(data)
    refused = render.renderer().last_refused
    assert f"{trap}/beacon.png" in refused and f"file://{secret}" in refused


def test_sandboxed_templates_refuse_python_internals_and_report_errors_by_line(app, login):
    office = login("duchaban")
    page = office.get("/notice-templates/reminder").get_data(as_text=True)
    assert "催办通知模板" in page
    from inspect_app.notices import wording

    current = wording.current("reminder")
    form = {name: getattr(current, name) for name in wording.FIELDS}
    bad_syntax = office.post("/notice-templates/reminder", form | {"body": "<p>a</p>\n{% if %}"})
    assert bad_syntax.status_code == 422
    assert "正文第2行有语法错误" in bad_syntax.get_data(as_text=True)
    typo = office.post("/notice-templates/reminder", form | {"title": "{{ unit.nmae }}"})
    assert typo.status_code == 422 and "标题无法生成" in typo.get_data(as_text=True)
    escape = office.post(
        "/notice-templates/reminder",
        form | {"body": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
    )
    assert escape.status_code == 422
    assert NoticeTemplate.select().count() == 0  # nothing bad was saved
    preview = office.post(
        "/notice-templates/reminder/preview", form | {"title": "关于加快整改的催办函"}
    )
    assert preview.status_code == 200 and preview.mimetype == "application/pdf"
    assert "关于加快整改的催办函" in flat(pdf_text(preview.data))
    saved = office.post("/notice-templates/reminder", form | {"title": "关于加快整改的催办函"})
    assert saved.status_code == 303
    assert wording.current("reminder").version == 1
    assert wording.current("reminder").title == "关于加快整改的催办函"


@pytest.mark.parametrize(
    "body",
    [
        '<p style="font-size: 99999999999px">催办</p>',  # WeasyPrint divides by zero
        '<p style="font-size: 1e308px">催办</p>',  # and overflows
        "{% macro again() %}{{ again() }}{% endmacro %}{{ again() }}",  # recursion
    ],
)
def test_a_template_that_cannot_be_printed_is_refused_when_saved_not_when_issued(app, login, body):
    from inspect_app.notices import wording

    office = login("duchaban")
    current = wording.current("reminder")
    form = {name: getattr(current, name) for name in wording.FIELDS} | {"body": body}
    preview = office.post("/notice-templates/reminder/preview", form)
    assert preview.status_code == 422
    saved = office.post("/notice-templates/reminder", form)
    assert saved.status_code == 422
    assert "催办通知模板" in saved.get_data(as_text=True)  # the form again, with the message
    assert NoticeTemplate.select().count() == 0


def test_a_document_the_renderer_chokes_on_is_a_refusal_not_a_crash(app):
    html = '<html><body><p style="font-size: 99999999999px">x</p></body></html>'
    with pytest.raises(render.RenderRefused) as error:
        render.renderer().pdf(html, "")
    assert "无法排版" in error.value.message


def test_renderer_refuses_without_the_official_fonts(monkeypatch, tmp_path):
    monkeypatch.setattr(render, "FONT_DIR", tmp_path)
    with pytest.raises(render.RenderRefused) as error:
        render.Renderer()
    assert "FandolFang-Regular.otf" in error.value.message
    assert str(tmp_path) in error.value.message  # where it looked, so an admin knows where to copy


def test_a_character_no_font_can_show_stops_the_render(
    app, login, demo, published_round, fixed_today
):
    Finding.update(description="活动室\ue000未挂牌").where(
        Finding.description == FINDINGS[0]
    ).execute()
    office = login("duchaban")
    draft_rectification(office, published_round, demo["QH-DF-HP"])
    response = office.get(f"/notices/{Notice.get().id}/pdf")
    assert response.status_code == 409
    assert "U+E000" in response.get_data(as_text=True)


# -- notices from tasks and escalations ---------------------------------------------------------


@pytest.fixture
def late_task(app, login, published_round, fixed_today, monkeypatch):
    findings = [f.id for f in Finding.select().where(Finding.status == "confirmed")]
    response = login("duchaban").post(
        f"/rounds/{published_round.id}/tasks/new",
        MultiDict([("finding_ids", str(i)) for i in findings]),
    )
    assert response.status_code == 303
    task = Task.get()
    clock.travel(date(2026, 12, 21))  # 10 working days late
    return task


def test_reminder_lists_the_units_late_tasks(app, login, demo, late_task):
    office = login("duchaban")
    response = office.post("/notices/new", {"kind": "reminder", "unit_id": demo["QH-DF-HP"].id})
    assert response.status_code == 303, response.get_data(as_text=True)
    notice = Notice.get()
    text = flat(pdf_text(office.get(f"/notices/{notice.id}/pdf").data))
    assert late_task.title.replace(" ", "") in text and "已逾期10个工作日" in text
    nothing_late = office.post("/notices/new", {"kind": "reminder", "unit_id": demo["QH-DF-YB"].id})
    assert nothing_late.status_code == 409
    assert "没有逾期或临期" in nothing_late.get_data(as_text=True)


def test_summons_is_drafted_from_a_recorded_escalation_decision(app, login, demo, late_task):
    office = login("duchaban")
    decision = EscalationDecision.create(
        task=late_task,
        level="talk",
        rank=3,
        applied=True,
        note="多次催办无果",
        decided_by=User.get(User.username == "duchaban"),
    )
    response = office.post(f"/escalations/{decision.id}/notice")
    assert response.status_code == 303
    notice = Notice.get()
    assert notice.kind == "summons" and notice.escalation_id == decision.id
    text = flat(pdf_text(office.get(f"/notices/{notice.id}/pdf").data))
    assert "约谈" in text and "多次催办无果" in text and "逾期10个工作日" in text
    declined = EscalationDecision.create(
        task=late_task,
        level="accountability",
        rank=5,
        applied=False,
        note="已整改",
        decided_by=User.get(User.username == "duchaban"),
    )
    assert office.post(f"/escalations/{declined.id}/notice").status_code == 409


def test_bad_drafting_requests_get_clear_errors(app, login, demo, planned_round, fixed_today):
    office = login("duchaban")
    cases = [
        ({"kind": "nonsense"}, 422, "请选择公文种类"),
        ({"kind": "rectification", "round_id": "abc"}, 422, "请选择督查批次"),
        (
            {"kind": "rectification", "round_id": planned_round.id, "unit_id": demo["QH-DF-HP"].id},
            409,
            "尚未发布",
        ),
        ({"kind": "reminder", "unit_id": "99999999"}, 404, "没有这个单位"),
        ({"kind": "summons", "decision_id": "1"}, 404, "没有这条问责决定"),
    ]
    for data, status, message in cases:
        response = office.post("/notices/new", data)
        assert response.status_code == status, data
        assert message in response.get_data(as_text=True), data


# -- batch ------------------------------------------------------------------------------------


def _wait_for(client, batch_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fragment = client.get(f"/notices/batches/{batch_id}", headers={"HX-Request": "true"})
        body = fragment.get_data(as_text=True)
        assert "<html" not in body  # htmx polls get the progress block only
        if "已完成" in body or "失败" in body:
            return body
        time.sleep(0.2)
    raise AssertionError("batch did not finish")


def test_a_rounds_notices_are_drafted_approved_and_issued_in_the_background(
    app, login, published_two_units, worker
):
    round_ = published_two_units  # 和平社区 and 迎宾社区

    office, leader = login("duchaban"), login("lingdao")
    response = office.post(f"/rounds/{round_.id}/notices/batch", {"action": "draft"})
    assert response.status_code == 303
    batch_url = response.headers["Location"]
    assert "已完成：2 份" in _wait_for(office, batch_url.rsplit("/", 1)[1])
    drafts = list(Notice.select().where(Notice.round == round_.id))
    assert len(drafts) == 2 and {n.status for n in drafts} == {"draft"}
    archive = zipfile.ZipFile(io.BytesIO(office.get(batch_url + "/zip").data))
    assert len(archive.namelist()) == 2
    assert all("草稿" in pdf_text(archive.read(name)) for name in archive.namelist())
    # a second drafting batch finds nothing new to draft, but previews the open drafts again
    assert leader.post(f"/rounds/{round_.id}/notices/approve").status_code == 303
    response = office.post(f"/rounds/{round_.id}/notices/batch", {"action": "issue"})
    assert response.status_code == 303
    issue_url = response.headers["Location"]
    assert "已完成：2 份" in _wait_for(office, issue_url.rsplit("/", 1)[1])
    numbers = sorted(n.number for n in Notice.select().where(Notice.round == round_.id))
    assert numbers == ["区督改〔2026〕1号", "区督改〔2026〕2号"]
    archive = zipfile.ZipFile(io.BytesIO(office.get(issue_url + "/zip").data))
    for name in archive.namelist():
        notice = Notice.get(Notice.number == name.split("_")[0])
        assert hashlib.sha256(archive.read(name)).hexdigest() == notice.sha256
    nothing = office.post(f"/rounds/{round_.id}/notices/batch", {"action": "issue"})
    assert nothing.status_code == 409 and "没有已审签" in nothing.get_data(as_text=True)


def test_a_batch_zip_keeps_both_notices_of_units_sharing_a_name(
    app, login, published_two_units, worker, demo
):
    from inspect_app.models import Unit

    Unit.update(name="机关党支部").where(Unit.code.in_(["QH-DF-HP", "QH-DF-YB"])).execute()
    office = login("duchaban")
    response = office.post(f"/rounds/{published_two_units.id}/notices/batch", {"action": "draft"})
    assert response.status_code == 303
    assert "已完成：2 份" in _wait_for(office, response.headers["Location"].rsplit("/", 1)[1])
    archive = zipfile.ZipFile(io.BytesIO(office.get(response.headers["Location"] + "/zip").data))
    names = archive.namelist()
    assert len(names) == len(set(names)) == 2
    texts = {flat(pdf_text(archive.read(name))) for name in names}
    assert len(texts) == 2  # two different notices, not one twice


def test_the_worker_process_that_make_run_starts_renders_a_batch(
    app, login, published_two_units, tmp_path
):
    """The same command gunicorn's hook runs, as a separate process on the test's database.

    The batch is queued first and the worker started after it: huey's idle wait never wakes under
    libfaketime, and the suite must pass under `faketime`; the first poll still finds the job.
    """
    import os

    from inspect_app import worker as background
    from inspect_app.deploy.companions import WORKER_COMMAND

    background.huey.flush()
    env = {
        **os.environ,
        "INSPECT_DATABASE_URL": app.config["DATABASE_URL"],
        "INSPECT_UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"],
        "INSPECT_TODAY": clock.today().isoformat(),  # the worker's clock on the test's day
    }
    office = login("duchaban")
    response = office.post(f"/rounds/{published_two_units.id}/notices/batch", {"action": "draft"})
    assert response.status_code == 303
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        process = subprocess.Popen(WORKER_COMMAND, env=env, stdout=output, stderr=output)
    try:
        body = _wait_for(office, response.headers["Location"].rsplit("/", 1)[1])
        assert "已完成：2 份" in body
    finally:
        process.terminate()
        process.wait(timeout=20)
        background.huey.flush()
    # Its log says what it did, without WeasyPrint's eight INFO lines per document.
    printed = log.read_text()
    assert "[worker]" in printed and "Huey consumer started" in printed
    assert "weasyprint" not in printed and "Step 1 - Fetching" not in printed


def test_two_issuers_at_once_get_consecutive_numbers(app, login, published_two_units):
    """Two 印发 clicks on two notices at the same moment, each in its own connection."""
    from inspect_app.db import database
    from inspect_app.notices import batches

    office = User.get(User.username == "duchaban")
    for unit in batches._units_needing_notice(published_two_units):
        service.draft_rectification(published_two_units, unit, by=office)
    batches.approve_all(published_two_units, by=User.get(User.username == "lingdao"))
    notices = list(Notice.select())
    barrier, errors = threading.Barrier(2), []

    def issue(notice_id):
        try:
            with app.app_context():
                database.connect(reuse_if_open=True)
                barrier.wait()
                service.issue(
                    Notice.get_by_id(notice_id),
                    by=office,
                    upload_folder=app.config["UPLOAD_FOLDER"],
                    base_url="http://localhost/",
                )
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            database.close()

    threads = [threading.Thread(target=issue, args=(n.id,)) for n in notices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(n.number_seq for n in Notice.select()) == [1, 2]


@pytest.mark.parametrize(
    "body, message",
    [
        ('{{ "x" * 10**9 }}', "无法生成"),
        ("{{ 2 ** 100000 }}", "无法生成"),
        ("{{ lipsum(100000) }}", "无法生成"),
        ("{% for i in range(99999) %}{{ unit.name * 50 }}{% endfor %}", "过长"),
    ],
)
def test_templates_cannot_make_huge_output(app, login, body, message):
    from inspect_app.notices import wording

    current = wording.current("reminder")
    form = {name: getattr(current, name) for name in wording.FIELDS} | {"body": body}
    response = login("duchaban").post("/notice-templates/reminder", form)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert NoticeTemplate.select().count() == 0


def test_huge_table_spans_in_a_template_are_capped_so_rendering_stays_quick(app, login):
    from inspect_app.notices import kinds, wording

    current = wording.current("reminder")
    body = '<table><tr><td rowspan="99999999" colspan="99999999">合计</td></tr></table>'
    form = {name: getattr(current, name) for name in wording.FIELDS} | {"body": body}
    started = time.monotonic()
    response = login("duchaban").post("/notice-templates/reminder/preview", form)
    assert response.status_code == 200 and time.monotonic() - started < 30
    texts = wording.fill(wording.clean("reminder", form), kinds.sample_context("reminder"))
    assert 'rowspan="50" colspan="50"' in str(texts["body"])


def test_the_public_page_names_a_correction_only_once_it_is_issued(app, client, login, issued):
    office = login("duchaban")
    assert office.post(f"/notices/{issued.id}/correct").status_code == 303
    page = client.get(f"/v/{issued.verify_token}").get_data(as_text=True)
    assert "有效" in page and "已被更正" not in page
    correction = Notice.get(Notice.supersedes == issued.id)
    assert login("lingdao").post(f"/notices/{correction.id}/approve").status_code == 303
    assert office.post(f"/notices/{correction.id}/issue").status_code == 303
    page = client.get(f"/v/{issued.verify_token}").get_data(as_text=True)
    assert "已被更正" in page and Notice.get_by_id(correction.id).number in page


def test_a_batch_whose_worker_died_does_not_block_the_round_forever(
    app, login, published_two_units, worker
):
    from datetime import timedelta

    from inspect_app.models import NoticeBatch

    dead = NoticeBatch.create(
        round=published_two_units,
        kind="rectification",
        action="draft",
        status="running",
        total=2,
        created_at=clock.now() - timedelta(hours=2),
    )
    office = login("duchaban")
    page = office.get(f"/notices/batches/{dead.id}").get_data(as_text=True)
    assert "长时间没有进展" in page
    response = office.post(f"/rounds/{published_two_units.id}/notices/batch", {"action": "draft"})
    assert response.status_code == 303
    assert NoticeBatch.get_by_id(dead.id).status == "failed"
    assert "已完成：2 份" in _wait_for(office, response.headers["Location"].rsplit("/", 1)[1])
