"""What a hostile tester found (issue 12), each with the reproduction that failed before the fix."""

import io
import re
import zipfile

import pytest
from openpyxl import load_workbook
from werkzeug.datastructures import MultiDict

from inspect_app.models import Finding, Inspection, Task, User
from tests.test_access import _routes, arguments  # noqa: F401,F811  (arguments: the fixture)

FORMULA = '=HYPERLINK("http://evil.example/","点击查看")'


def formulas_in(xlsx):
    """<f> elements in any sheet: what Excel or WPS would run."""
    book = zipfile.ZipFile(io.BytesIO(xlsx))
    return [
        name
        for name in book.namelist()
        if name.startswith("xl/worksheets/") and b"<f>" in book.read(name)
    ]


def test_a_units_report_that_looks_like_a_formula_stays_text_in_the_ledger(login, published_round):
    office, unit = login("duchaban"), login("hp-lianluo")
    findings = [f.id for f in Finding.select().where(Finding.status == "confirmed")]
    office.post(
        f"/rounds/{published_round.id}/tasks/new",
        MultiDict(
            [("finding_ids", str(i)) for i in findings] + [("measures", "+cmd|' /C calc'!A0")]
        ),
    )
    task = Task.get()
    unit.post(f"/tasks/{task.id}/actions/acknowledge", {"text": ""})
    assert unit.post(f"/tasks/{task.id}/actions/report", {"text": FORMULA}).status_code == 303
    xlsx = office.get("/tasks/ledger.xlsx").data
    assert formulas_in(xlsx) == []
    values = [c.value for row in load_workbook(io.BytesIO(xlsx)).active.iter_rows() for c in row]
    assert any(isinstance(v, str) and v.startswith(FORMULA) for v in values)  # exactly as typed
    assert "+cmd|' /C calc'!A0" in values


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t=", "\r="])
def test_every_export_writes_text_that_starts_like_a_formula_as_text(start):
    from openpyxl import Workbook

    from inspect_app.spreadsheet import append_row

    book = Workbook()
    append_row(book.active, [f"{start}1+1", "正常文字", 3, -2])
    out = io.BytesIO()
    book.save(out)
    assert formulas_in(out.getvalue()) == []
    cells = list(load_workbook(out).active[1])
    assert cells[0].value.replace("\n", "\r") == f"{start}1+1" and cells[0].data_type == "s"
    assert (cells[2].value, cells[3].value) == (3, -2)  # numbers stay numbers


def test_dashboard_tables_keep_formula_like_text_as_text():
    """Every dashboard .xlsx goes through export.workbook (finding texts, unit names, notes)."""
    from inspect_app.dashboard import export

    xlsx = export.workbook([("典型问题", ["问题", "次数"], [[FORMULA, 3], ["-单位", 1]])])
    assert formulas_in(xlsx) == []
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet.cell(3, 1).value == FORMULA and sheet.cell(4, 1).value == "-单位"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/notices/new", "unit_id"),
        ("/rounds/{round}/teams", "leader_id"),
        ("/inspections/{inspection}/findings/merge", "finding_ids"),
        ("/rounds/{round}/inspections/{inspection}/team", "team_id"),
    ],
)
def test_ids_of_thousands_of_digits_are_refused_not_a_crash(login, planned_round, url, field):
    inspection = Inspection.select().where(Inspection.round == planned_round.id).first()
    office = login("duchaban")
    huge = "9" * 5000
    data = {
        "kind": "rectification",
        "round_id": str(planned_round.id),
        "name": "第二组",
        field: huge,
    }
    response = office.post(url.format(round=planned_round.id, inspection=inspection.id), data)
    assert 400 <= response.status_code < 500, response.status_code
    assert re.search(r"[\u4e00-\u9fff]", response.get_data(as_text=True))  # a Chinese message
    assert User.select().count() > 0  # nothing broke


def test_notice_text_drops_bidi_and_zero_width_controls_and_long_strings_wrap(
    login, demo, published_round, tmp_path
):
    import subprocess
    from html.parser import unescape

    from inspect_app.models import Notice

    finding = Finding.select().first()
    Finding.update(
        description="限期\u202e改整\u202c完成\u200b到位，见" + "A" * 400,
        measure="x" * 300,
    ).where(Finding.id == finding.id).execute()
    office = login("duchaban")
    response = office.post(
        "/notices/new",
        {"kind": "rectification", "round_id": published_round.id, "unit_id": demo["QH-DF-HP"].id},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    pdf = office.get(f"/notices/{Notice.get().id}/pdf").data
    (tmp_path / "n.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftotext", "-bbox", str(tmp_path / "n.pdf"), str(tmp_path / "n.html")], check=True
    )
    boxes = (tmp_path / "n.html").read_text(encoding="utf-8")
    words = re.findall(
        r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', boxes
    )
    text = unescape("".join(w[2] for w in words))
    assert "\u202e" not in text and "\u200b" not in text and "限期改整完成到位" in text
    right_edge = 595.3 - 26 / 25.4 * 72  # A4 width less the 26 mm right margin, in points
    assert max(float(x_max) for _, x_max, _ in words) <= right_edge + 2


# --- sec-harden: security headers (item 11) ----------------------------------------------------

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def assert_security_headers(response, where=""):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (where, name)
    policy = response.headers.get("Content-Security-Policy", "")
    directives = dict(
        (part.split(" ", 1) + [""])[:2] for part in (p.strip() for p in policy.split(";")) if part
    )
    assert directives.get("frame-ancestors") == "'none'", (where, policy)
    assert "unsafe-inline" not in directives.get("script-src", ""), (where, policy)
    assert "unsafe-eval" not in directives.get("script-src", ""), (where, policy)
    if response.mimetype == "text/html":
        assert directives.get("script-src") == "'self'", (where, policy)
        assert directives.get("style-src") == "'self'", (where, policy)
        assert directives.get("object-src") == "'none'", (where, policy)
    else:
        assert directives.get("script-src") == "'none'", (where, policy)


@pytest.fixture
def every_route(app, arguments):  # noqa: F811
    """(method, url) of every route, with arguments naming real objects (as test_access)."""

    def urls():
        for rule, method in sorted(_routes(app), key=lambda rm: rm[0].endpoint == "auth.logout"):
            values = {**arguments, **(rule.defaults or {})}
            yield method, rule.build({name: values[name] for name in rule.arguments})[1]

    return urls


@pytest.mark.parametrize("username", [None, "duchaban", "hp-lianluo"])
def test_every_route_answers_with_the_security_headers(app, every_route, username):
    """Pages, fragments, downloads, redirects, refusals and errors of every route: signed out,
    as 督查办 (who reaches most of them) and as a unit user (who is refused most)."""
    from tests.conftest import Client

    client = Client(app)
    if username:
        client.login(username)
    kinds = set()
    for method, url in every_route():
        response = client.get(url) if method == "GET" else client.post(url, {})
        response.close()
        assert_security_headers(response, f"{method} {url} as {username}")
        kinds.add((response.status_code // 100, response.mimetype))
    # the walk did meet pages, files, redirects and refusals
    assert {(2, "text/html"), (3, "text/html"), (4, "text/html")} <= kinds
    if username == "duchaban":
        assert {(2, "application/pdf"), (2, "image/jpeg"), (2, "text/css")} <= kinds


def test_fragments_errors_and_crashes_carry_the_headers_too(app, demo):
    from inspect_app.auth.access import requires
    from inspect_app.auth.permissions import PUBLIC
    from tests.conftest import Client

    app.add_url_rule("/boom", "boom", requires(PUBLIC)(lambda: 1 / 0))
    office = Client(app)
    office.login("duchaban")
    fragment = office.get("/units?q=和平", headers={"HX-Request": "true", "HX-Target": "results"})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert_security_headers(fragment, "fragment")
    missing = office.get("/no-such-page")
    assert missing.status_code == 404
    assert_security_headers(missing, "404")
    json_answer = office.get("/healthz")
    assert json_answer.mimetype == "application/json"
    assert_security_headers(json_answer, "healthz")
    crash = office.get("/boom")
    assert crash.status_code == 500
    assert_security_headers(crash, "500")


def test_the_plain_port_and_its_ca_page_carry_the_headers(tmp_path, monkeypatch):
    from inspect_app.deploy.plain import create_plain_app

    monkeypatch.setenv("INSPECT_INSTANCE_PATH", str(tmp_path))
    for name in ("PORT", "INSPECT_HTTP_PORT", "INSPECT_PUBLIC_URL", "INSPECT_TLS"):
        monkeypatch.delenv(name, raising=False)
    plain = create_plain_app().test_client()
    for url, status in (("/ca", 200), ("/ca.crt", 200), ("/ca.pem", 200), ("/login", 302)):
        response = plain.get(url, headers={"Host": "10.1.2.3:5080"})
        assert response.status_code == status, url
        assert_security_headers(response, url)
    for host in ("[::1", "10.1.2.3:5080"):
        odd = plain.open("/ca", method="PATCH", headers={"Host": host})
        assert odd.status_code >= 300, host
        assert_security_headers(odd, f"PATCH /ca {host}")


def test_no_template_has_inline_script_event_handlers_or_javascript_links():
    """What the Content-Security-Policy would refuse in a browser, found in the source."""
    from tests.conftest import PROJECT

    pattern = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\bhx-on|javascript:|\bstyle\s*=|<style",
        re.IGNORECASE,
    )
    found = []
    for path in sorted((PROJECT / "templates").rglob("*.html")):
        if path.name.endswith(".pdf.html"):
            continue  # rendered by WeasyPrint into a PDF, never served to a browser
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(PROJECT)}:{number}: {line.strip()[:80]}")
    assert found == []


# --- sec-harden: a shared tablet's outbox belongs to its author (item 4) ---------------------


def test_a_save_typed_by_one_inspector_is_refused_under_another_ones_session(login, inspection):
    """The replay the shared tablet did: 孙丽 (ducha1) typed offline, 赵强 (zuzhang) signed in on
    the same browser, and the outbox sent 孙丽's edit with 赵强's cookie."""
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Answer
    from tests.inspection_fixtures import save

    code = next(s["code"] for s in sheet_of(inspection).items if s["response"] == "compliance")
    typed_by = login("ducha1")
    next_one = login("zuzhang")
    next_one.user_id = typed_by.user_id  # the entry names the account it was typed under
    response = save(next_one, inspection, code, {"value": "不符合", "note": "孙丽离线时录入"})
    assert response.status_code == 409
    assert response.json["wrong_author"] is True
    assert "孙丽" in response.json["error"] and "赵强" in response.json["error"]
    assert not Answer.select().exists()

    del next_one.user_id  # an entry that names nobody is refused as well
    response = save(next_one, inspection, code, {"value": "不符合"})
    assert response.status_code == 422 and "录入人" in response.json["error"]
    next_one.user_id = 10**60  # nor can a made-up id slip through
    assert save(next_one, inspection, code, {"value": "不符合"}).status_code == 409
    assert not Answer.select().exists()

    assert save(typed_by, inspection, code, {"value": "不符合", "note": "本人"}).status_code == 200
    assert Answer.get().updated_by.username == "ducha1"


def test_a_plain_form_post_naming_another_author_gets_the_error_page(login, inspection):
    import uuid

    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Answer, User

    code = sheet_of(inspection).items[0]["code"]
    response = login("zuzhang").post(
        f"/inspections/{inspection.id}/answers/{code}",
        {
            "value": "符合",
            "base_revision": "0",
            "client_id": uuid.uuid4().hex,
            "author": str(User.get(User.username == "ducha1").id),
        },
    )
    assert response.status_code == 409 and "孙丽" in response.get_data(as_text=True)
    assert not Answer.select().exists()


# --- sec-harden: image decoding bounded in memory and concurrency (item 5) -------------------

MEMORY_PROBE = """
import json, resource, sys
from inspect_app.errors import ValidationFailed
from inspect_app.inspections import photos
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    result = list(photos._decode(data).size)
except ValidationFailed as error:
    result = error.message
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"grown_mb": grown / 1024, "result": result}))
"""


def decode_in_fresh_process(path):
    """(peak memory growth in MB, size or refusal) of decoding `path` as an upload is decoded,
    in a process of its own: Pillow's pixel buffers are C memory that tracemalloc cannot see."""
    import json
    import subprocess
    import sys

    from tests.conftest import PROJECT

    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout)
    return report["grown_mb"], report["result"]


def test_a_tiny_png_declaring_7700_by_7700_pixels_is_refused_before_decoding(
    login, inspection, published_round, tmp_path
):
    """The tester's 187 KB PNG cost half a gigabyte to decode; now its header is enough."""
    from PIL import Image

    from inspect_app.models import Photo, TaskFile
    from tests.test_inspections import upload

    path = tmp_path / "bomb.png"
    Image.new("1", (7700, 7700), 1).save(path)
    assert path.stat().st_size < 200_000
    grown, result = decode_in_fresh_process(path)
    assert "像素过大" in result and "7700×7700" in result and "2400 万像素" in result
    assert grown < 20, f"decoding the refused image took {grown:.0f} MB"

    inspector = login("ducha1")
    code = sheet_of_first_compliance(inspection)
    refused = upload(inspector, inspection, code, path.read_bytes(), name="现场.png")
    assert refused.status_code == 422 and "像素过大" in refused.json["error"]
    assert Photo.select().count() == 0

    office, unit = login("duchaban"), login("hp-lianluo")
    findings = [f.id for f in Finding.select().where(Finding.status == "confirmed")]
    office.post(
        f"/rounds/{published_round.id}/tasks/new",
        MultiDict([("finding_ids", str(i)) for i in findings]),
    )
    task = Task.get()
    unit.post(f"/tasks/{task.id}/actions/acknowledge", {"text": ""})
    report = unit.post(
        f"/tasks/{task.id}/actions/report",
        {"text": "已整改", "files": (io.BytesIO(path.read_bytes()), "整改后.png")},
        content_type="multipart/form-data",
    )
    assert report.status_code == 422
    assert "“整改后.png”的像素过大" in report.get_data(as_text=True)
    assert TaskFile.select().count() == 0


def sheet_of_first_compliance(inspection):
    from inspect_app.inspections.service import sheet_of

    return next(s["code"] for s in sheet_of(inspection).items if s["response"] == "compliance")


def test_a_48_megapixel_camera_photo_is_decoded_at_a_quarter_of_its_pixels(tmp_path):
    """A phone's full-resolution JPEG is still accepted (it only needs 2560 px), without ever
    holding its 48 million pixels."""
    from PIL import Image

    path = tmp_path / "camera.jpg"
    Image.new("L", (8000, 6000), 128).save(path, quality=80)
    grown, result = decode_in_fresh_process(path)
    assert result == [2560, 1920]
    assert grown < 60, f"decoding took {grown:.0f} MB (the full image alone is 144 MB as RGB)"


def test_uploads_beyond_the_decoding_budget_are_told_the_server_is_busy(login, inspection):
    """While other uploads hold the process's decoding budget, a photo is refused with 503 at
    once (the tablet's outbox retries it) rather than decoded or queued; then it goes through."""
    from inspect_app.inspections import photos
    from inspect_app.models import Photo
    from tests.inspection_fixtures import jpeg_bytes
    from tests.test_inspections import upload

    inspector = login("ducha1")
    code = sheet_of_first_compliance(inspection)
    with photos.decoding(photos.DECODING_BUDGET - 1000):
        busy = upload(inspector, inspection, code, jpeg_bytes((1600, 1200)))
        assert busy.status_code == 503 and "服务器正忙" in busy.json["error"]
        small = upload(inspector, inspection, code, jpeg_bytes((30, 30)))  # fits what is left
        assert small.status_code == 200
    assert Photo.select().count() == 1
    assert upload(inspector, inspection, code, jpeg_bytes((1600, 1200))).status_code == 200
    assert photos._in_flight == 0


# --- sec-harden: 国密 SM3 beside SHA-256 on issued notices ------------------------------------


def sm3_of(data):
    import hashlib

    return hashlib.new("sm3", data).hexdigest()


@pytest.fixture
def issued_notice(login, demo, published_round):
    from inspect_app.models import Notice

    office, leader = login("duchaban"), login("lingdao")
    response = office.post(
        "/notices/new",
        {"kind": "rectification", "round_id": published_round.id, "unit_id": demo["QH-DF-HP"].id},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    notice = Notice.get()
    assert leader.post(f"/notices/{notice.id}/approve").status_code == 303
    assert office.post(f"/notices/{notice.id}/issue").status_code == 303
    return Notice.get_by_id(notice.id)


def test_an_issued_notice_records_sm3_and_the_public_page_shows_and_checks_both(
    app, client, login, issued_notice
):
    import hashlib

    from inspect_app.models import AuditEvent

    data = login("duchaban").get(f"/notices/{issued_notice.id}/pdf").data
    assert issued_notice.sha256 == hashlib.sha256(data).hexdigest()
    assert issued_notice.sm3 == sm3_of(data) != issued_notice.sha256
    issue_event = AuditEvent.get(AuditEvent.action == "notice.issue")
    assert issued_notice.sm3 in str(issue_event.detail)

    url = f"/v/{issued_notice.verify_token}"
    page = client.get(url).get_data(as_text=True)
    assert issued_notice.sha256 in page and issued_notice.sm3 in page and "SM3（国密）" in page
    original = client.post(
        url, {"file": (io.BytesIO(data), "n.pdf")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "文件是印发的原件" in original
    assert "SHA-256：一致" in original and "SM3（国密）：一致" in original
    changed = client.post(
        url, {"file": (io.BytesIO(data + b"%"), "n.pdf")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "并非印发的原件" in changed
    assert "SHA-256：不一致" in changed and "SM3（国密）：不一致" in changed


def test_a_stored_file_whose_sm3_no_longer_matches_is_not_handed_out(app, login, issued_notice):
    from inspect_app.models import Notice

    Notice.update(sm3="0" * 64).where(Notice.id == issued_notice.id).execute()
    response = login("duchaban").get(f"/notices/{issued_notice.id}/pdf")
    assert response.status_code == 409 and "SM3 不一致" in response.get_data(as_text=True)


def test_a_notice_issued_before_sm3_gets_it_from_its_intact_file_on_the_public_page(
    app, client, login, issued_notice
):
    from inspect_app.models import Notice

    right = issued_notice.sm3
    Notice.update(sm3=None).where(Notice.id == issued_notice.id).execute()
    page = client.get(f"/v/{issued_notice.verify_token}").get_data(as_text=True)
    assert right in page and Notice.get_by_id(issued_notice.id).sm3 == right


def test_migration_m0015_backfills_sm3_only_from_files_that_are_the_original(tmp_path, monkeypatch):
    import hashlib
    from datetime import datetime

    from inspect_app.db import open_database
    from inspect_app.migrations import migrate

    uploads = tmp_path / "uploads"
    (uploads / "notices").mkdir(parents=True)
    monkeypatch.setenv("INSPECT_UPLOAD_FOLDER", str(uploads))
    good, bad = b"%PDF-1.7 original", b"%PDF-1.7 original, edited"
    (uploads / "notices" / "good.pdf").write_bytes(good)
    (uploads / "notices" / "bad.pdf").write_bytes(bad)
    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    db.connect()
    try:
        migrate(db, target=14)
        for token, name, recorded in (
            ("t-good", "good.pdf", hashlib.sha256(good).hexdigest()),
            ("t-bad", "bad.pdf", hashlib.sha256(good).hexdigest()),  # file changed since
            ("t-gone", "gone.pdf", hashlib.sha256(good).hexdigest()),
        ):
            db.execute_sql(
                "INSERT INTO notice (kind, status, title, main_to, copy_to, context, created_at,"
                " pdf_file, sha256, verify_token) VALUES ('reminder', 'issued', '催办通知', '和平社区',"
                " '', '{}', ?, ?, ?, ?)",
                (datetime(2026, 5, 1), name, recorded, token),
            )
        assert migrate(db) == [15]
        rows = dict(db.execute_sql("SELECT verify_token, sm3 FROM notice").fetchall())
        assert rows == {"t-good": sm3_of(good), "t-bad": None, "t-gone": None}
    finally:
        db.close()


# --- sec-harden: rare characters (CJK Ext-B–F) print (item 10) -------------------------------


def pdf_text_and_fonts(pdf):
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    return "".join(page.extract_text() for page in reader.pages), fonts


def test_a_name_in_cjk_extension_b_previews_is_approved_and_issued_in_hanamin(
    login, demo, published_round
):
    """𠀀 (U+20000) and 𪚥 (U+2A6A5) are in no Fandol or Noto face: they used to stop preview,
    审签 and 印发 of the whole notice, with its findings already locked."""
    from inspect_app.models import Notice

    finding = Finding.select().where(Finding.status == "confirmed").first()
    Finding.update(description="责任人张𠀀𪚥未按期提交整改报告，𫠠𬺰同志补签").where(
        Finding.id == finding.id
    ).execute()
    office, leader = login("duchaban"), login("lingdao")
    response = office.post(
        "/notices/new",
        {"kind": "rectification", "round_id": published_round.id, "unit_id": demo["QH-DF-HP"].id},
    )
    assert response.status_code == 303
    notice = Notice.get()
    preview = office.get(f"/notices/{notice.id}/pdf")
    assert preview.status_code == 200, preview.get_data(as_text=True)
    text, fonts = pdf_text_and_fonts(preview.data)
    assert "张𠀀𪚥" in text and "𫠠𬺰" in text  # Ext-B, Ext-C and Ext-E
    assert any("HanaMin" in font for font in fonts), fonts
    assert leader.post(f"/notices/{notice.id}/approve").status_code == 303
    assert office.post(f"/notices/{notice.id}/issue").status_code == 303
    issued = office.get(f"/notices/{notice.id}/pdf")
    assert "张𠀀𪚥" in pdf_text_and_fonts(issued.data)[0]


def test_the_renderer_names_fonts_hanazono_when_it_is_missing(monkeypatch):
    from inspect_app.notices import render

    monkeypatch.setattr(render, "_installed_families", lambda: {"Noto Serif CJK SC"})
    missing = render.missing_fonts()
    assert any("fonts-hanazono" in name for name in missing), missing
    assert not any("fonts-noto-cjk" in name for name in missing)


def test_every_font_stack_of_the_official_layout_ends_in_hanamin():
    from inspect_app.notices import render

    css = (render.STYLE_DIR / "gbt9704.css").read_text()
    stacks = re.findall(r"font-family:\s*([^;]+);", css)
    assert stacks and all('"HanaMinA", "HanaMinB"' in stack for stack in stacks), stacks


# --- sec-harden: every free-text field has a maximum length (item 9) --------------------------


def _database_state():
    """Every row of every table: what a refused request must leave as it was."""
    from inspect_app import models
    from inspect_app.db import BaseModel

    tables = [
        m
        for m in vars(models).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel
    ]
    return {m.__name__: sorted(map(repr, m.select().tuples())) for m in tables}


@pytest.fixture
def everything_to_write_into(app, login, demo, published_round, planned_round):
    """An object of every kind a form writes text into, each in the state its form needs."""
    from datetime import timedelta

    from inspect_app import clock
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import AccountabilityFlag, ExtensionRequest, Notice

    office, unit = login("duchaban"), login("hp-lianluo")
    findings = [f.id for f in Finding.select().where(Finding.status == "confirmed")]
    response = office.post(
        f"/rounds/{published_round.id}/tasks/new",
        MultiDict([("finding_ids", str(findings[0]))]),
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    task = Task.get()
    assert unit.post(f"/tasks/{task.id}/actions/acknowledge", {"text": ""}).status_code == 303
    asked = unit.post(
        f"/tasks/{task.id}/extensions",
        {"requested_deadline": (task.deadline + timedelta(days=10)).isoformat(), "reason": "人手"},
    )
    assert asked.status_code == 303, asked.get_data(as_text=True)
    closed = office.post(
        f"/rounds/{published_round.id}/tasks/new",
        MultiDict([("finding_ids", str(findings[1]))]),
    )
    assert closed.status_code == 303
    closed_task = Task.select().order_by(Task.id.desc()).get()
    Task.update(status="closed", closed_at=clock.now()).where(Task.id == closed_task.id).execute()
    late = office.post(
        f"/rounds/{published_round.id}/tasks/new",
        MultiDict([("finding_ids", str(findings[2]))]),
    )
    assert late.status_code == 303
    late_task = Task.select().order_by(Task.id.desc()).get()
    drafted = office.post(
        "/notices/new",
        {"kind": "rectification", "round_id": published_round.id, "unit_id": demo["QH-DF-HP"].id},
    )
    assert drafted.status_code == 303
    flag = AccountabilityFlag.create(
        unit=demo["QH-DF-YB"],
        period="2026-Q4",
        scope="type:community",
        scope_label="社区排名",
        reason="排名末位",
        total=50,
        rank=2,
        of_count=2,
    )
    signed_off = Inspection.get(Inspection.round == published_round.id)
    unassigned = Finding.create(
        inspection=signed_off,
        description="档案柜未上锁",
        measure="档案柜加锁",
        severity="一般",
        deadline_days=10,
        status="confirmed",
    )
    extra = Finding.create(
        inspection=signed_off,
        description="宣传栏内容未更新",
        measure="更新宣传栏",
        severity="一般",
        deadline_days=10,
        status="confirmed",
    )
    fresh = office.post(
        f"/rounds/{published_round.id}/tasks/new",
        MultiDict([("finding_ids", str(extra.id)), ("deadline", "2027-06-30")]),
    )
    assert fresh.status_code == 303, fresh.get_data(as_text=True)
    fresh_task = Task.select().order_by(Task.id.desc()).get()
    unit.post(f"/tasks/{fresh_task.id}/actions/acknowledge", {"text": ""})
    clock.travel(late_task.deadline + timedelta(days=5))  # late enough for 催办
    inspection = Inspection.get(Inspection.round == planned_round.id)
    sheet = sheet_of(inspection)
    from inspect_app.findings.service import add_adhoc
    from tests.inspection_fixtures import make_round

    draft = add_adhoc(
        inspection,
        {"description": "台账未归档", "severity": "一般", "deadline_days": "10"},
        by=User.get(User.username == "ducha1"),
    )

    wucha = make_round(demo, slug="wucha-wugai-wucu", unannounced=False, units=("QH-DF-YB",))
    with_text = Inspection.get(Inspection.round == wucha.id)
    return {
        "round": planned_round.id,
        "published": published_round.id,
        "inspection": inspection.id,
        "compliance": next(s["code"] for s in sheet.items if s["response"] == "compliance"),
        "with_text": with_text.id,
        "text_item": next(s["code"] for s in sheet_of(with_text).items if s["response"] == "text"),
        "finding": unassigned.id,
        "signed_off": signed_off.id,
        "task": task.id,
        "request": ExtensionRequest.get().id,
        "closed_task": closed_task.id,
        "fresh_task": fresh_task.id,
        "draft_finding": draft.id,
        "late_task": late_task.id,
        "notice": Notice.get().id,
        "flag": flag.id,
        "unit": demo["QH-DF-HP"].id,
        "user": User.get(User.username == "hp-lianluo").id,
    }


def long(n):
    return "长" * n


# (who, url, form, words the 422 answer must contain: the field and its limit)
OVER_LONG = [
    ("xitong", "/units/new", {"code": "X" * 33, "name": "单位", "type": "community"}, "最长 32 位"),
    (
        "xitong",
        "/units/new",
        {"code": "QH-X", "name": long(101), "type": "community"},
        "单位名称不能超过 100",
    ),
    (
        "xitong",
        "/units/{unit}/edit",
        {"code": "QH-DF-HP", "name": "和平社区党委", "type": "community", "secretary": long(33)},
        "党组织书记不能超过 32",
    ),
    (
        "xitong",
        "/units/{unit}/edit",
        {"code": "QH-DF-HP", "name": "和平社区党委", "type": "community", "contact_name": long(33)},
        "联系人不能超过 32",
    ),
    (
        "xitong",
        "/units/{unit}/edit",
        {
            "code": "QH-DF-HP",
            "name": "和平社区党委",
            "type": "community",
            "contact_phone": "1" * 33,
        },
        "联系电话",
    ),
    (
        "xitong",
        "/users/new",
        {
            "username": "u" * 65,
            "display_name": "张三",
            "role": "inspector",
            "password": "Abcdef123456",
        },
        "3–64 位",
    ),
    (
        "xitong",
        "/users/new",
        {
            "username": "zhangsan",
            "display_name": long(65),
            "role": "inspector",
            "password": "Abcdef123456",
        },
        "姓名不能超过 64",
    ),
    (
        "xitong",
        "/users/{user}/edit",
        {"display_name": long(65), "role": "unit_liaison", "unit_id": "{unit}"},
        "姓名不能超过 64",
    ),
    (None, "/login", {"username": "u" * 65, "password": "x"}, "用户名不能超过 64"),
    (
        "duchaban",
        "/rounds/new",
        {
            "name": long(201),
            "checklist": "dangjian-anfang",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-05",
            "unit_types": "community",
        },
        "批次名称不能超过 200",
    ),
    (
        "duchaban",
        "/rounds/new",
        {
            "name": "批次",
            "description": long(2001),
            "checklist": "dangjian-anfang",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-05",
            "unit_types": "community",
        },
        "说明不能超过 2000",
    ),
    (
        "duchaban",
        "/rounds/{round}/teams",
        {"name": long(65), "leader_id": "{leader}"},
        "组名不能超过 64",
    ),
    (
        "ducha1",
        "/inspections/{inspection}/answers/{compliance}",
        {
            "value": "符合",
            "note": long(2001),
            "base_revision": "0",
            "client_id": "long-note-01",
            "author": "{ducha1}",
        },
        "情况说明不能超过 2000",
    ),
    (
        "ducha1",
        "/inspections/{with_text}/answers/{text_item}",
        {
            "value": long(2001),
            "base_revision": "0",
            "client_id": "long-text-01",
            "author": "{ducha1}",
        },
        "记录不能超过 2000",
    ),
    (
        "ducha1",
        "/inspections/{inspection}/findings",
        {"description": long(2001), "severity": "一般", "deadline_days": "10"},
        "问题描述不能超过 2000",
    ),
    (
        "ducha1",
        "/inspections/{inspection}/findings",
        {"description": "问题", "severity": "一般", "deadline_days": "10", "measure": long(2001)},
        "整改措施不能超过 2000",
    ),
    ("duchaban", "/inspections/{signed_off}/reopen", {"reason": long(1001)}, "原因不能超过 1000"),
    (
        "ducha1",
        "/inspections/{inspection}/findings/{draft_finding}",
        {"description": long(2001), "severity": "一般", "deadline_days": "10"},
        "问题描述不能超过 2000",
    ),
    (
        "ducha1",
        "/inspections/{inspection}/findings/{draft_finding}/dismiss",
        {"reason": long(1001)},
        "撤销理由不能超过 1000",
    ),
    (
        "duchaban",
        "/rounds/{published}/tasks/new",
        {"finding_ids": "{finding}", "measures": long(4001)},
        "整改措施不能超过 4000",
    ),
    (
        "duchaban",
        "/rounds/{published}/tasks/new",
        {"finding_ids": "{finding}", "title": long(201)},
        "任务名称不能超过 200",
    ),
    (
        "duchaban",
        "/rounds/{published}/tasks/new",
        {"finding_ids": "{finding}", "responsible_person": long(33)},
        "整改责任人不能超过 32",
    ),
    ("hp-lianluo", "/tasks/{task}/actions/report", {"text": long(4001)}, "不能超过 4000"),
    (
        "hp-lianluo",
        "/tasks/{fresh_task}/extensions",
        {"requested_deadline": "2027-07-30", "reason": long(2001)},
        "延期理由不能超过 2000",
    ),
    (
        "duchaban",
        "/tasks/{task}/extensions/{request}",
        {"decision": "refuse", "note": long(2001)},
        "审批意见不能超过 2000",
    ),
    ("duchaban", "/tasks/{closed_task}/revisit", {"note": long(2001)}, "回访情况不能超过 2000"),
    (
        "duchaban",
        "/tasks/{late_task}/escalations",
        {"level": "remind", "decision": "skip", "note": long(2001)},
        "决定说明不能超过 2000",
    ),
    ("duchaban", "/flags/{flag}", {"rung": "none", "note": long(2001)}, "说明不能超过 2000"),
    (
        "duchaban",
        "/notices/{notice}/edit",
        {"title": long(501), "main_to": "和平社区党委"},
        "标题不能超过500",
    ),
    (
        "duchaban",
        "/notices/{notice}/edit",
        {"title": "通知", "main_to": long(501)},
        "主送机关不能超过500",
    ),
    (
        "duchaban",
        "/notices/{notice}/edit",
        {"title": "通知", "main_to": "和平社区党委", "copy_to": long(501)},
        "抄送不能超过500",
    ),
    ("lingdao", "/notices/{notice}/send-back", {"reason": long(1001)}, "退回理由不能超过 1000"),
    (
        "duchaban",
        "/notice-templates/reminder",
        {
            "layout": "letter",
            "letterhead": long(101),
            "number_prefix": "区督催",
            "title": "催办",
            "main_to": "单位",
            "body": "<p>正文</p>",
            "signature": "督查室",
        },
        "发文机关标志不能超过100",
    ),
    (
        "duchaban",
        "/notice-templates/reminder",
        {
            "layout": "letter",
            "letterhead": "督查室",
            "number_prefix": "区督催",
            "title": long(2001),
            "main_to": "单位",
            "body": "<p>正文</p>",
            "signature": "督查室",
        },
        "标题不能超过2000",
    ),
    ("duchaban", "/holidays/2027/preview", {"text": long(20001)}, "通知全文不能超过 20000"),
    (
        "duchaban",
        "/holidays/2026/days",
        {"day": "2026-12-31", "kind": "holiday", "name": long(41)},
        "节日名称不能超过 40",
    ),
]


def test_every_text_field_refuses_an_over_long_value_naming_the_field_and_its_limit(
    app, login, everything_to_write_into
):
    """The survey of every form that takes free text: an over-long value is a 422 whose message
    names the field and its limit, and not one row of the database changes."""
    from tests.conftest import Client

    ids = everything_to_write_into | {
        "leader": User.get(User.username == "zuzhang").id,
        "ducha1": User.get(User.username == "ducha1").id,
    }
    clients = {who: login(who) if who else Client(app) for who, *_ in OVER_LONG}
    before = _database_state()
    problems = []
    for who, url, form, words in OVER_LONG:
        data = MultiDict()
        for name, value in form.items():
            data.add(name, value.format(**ids) if "{" in value else value)
        response = clients[who].post(url.format(**ids), data)
        text = response.get_data(as_text=True)
        if response.status_code != 422 or words not in text:
            said = re.findall(r"[\u4e00-\u9fff][^<>\n]{0,60}不能超过[^<>\n]{0,30}", text)[:2]
            problems.append(f"{url} {list(form)}: {response.status_code}, {words!r} not in {said}")
    assert problems == [], "\n".join(problems)
    assert _database_state() == before


def test_an_over_long_sheet_cell_is_refused_by_the_unit_import(login):
    from openpyxl import Workbook

    from inspect_app.models import Unit

    book = Workbook()
    book.active.append(["单位编码", "单位名称", "单位类型"])
    book.active.append(["QH-NEW", long(101), "社区"])
    out = io.BytesIO()
    book.save(out)
    count = Unit.select().count()
    response = login("xitong").post(
        "/units/import",
        {"file": (io.BytesIO(out.getvalue()), "units.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "单位名称不能超过 100" in response.get_data(as_text=True)
    assert Unit.select().count() == count
