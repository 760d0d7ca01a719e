"""What a hostile tester found (issue 12), each with the reproduction that failed before the fix."""

import io
import re
import zipfile

import pytest
from openpyxl import load_workbook
from werkzeug.datastructures import MultiDict

from inspect_app.models import Finding, Inspection, Task, User

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
