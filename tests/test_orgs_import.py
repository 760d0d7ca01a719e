"""Importing the organisation tree from .xlsx: every bad row reported, nothing half-imported."""

import io

from openpyxl import Workbook, load_workbook

from inspect_app.models import Unit

HEADER = [
    "单位编码",
    "单位名称",
    "单位类型",
    "上级单位编码",
    "组织形式",
    "党组织书记",
    "联系人",
    "联系电话",
    "排序号",
]


def sheet(*rows, header=HEADER):
    book = Workbook()
    book.active.append(header)
    for row in rows:
        book.active.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, data, name="单位.xlsx"):
    return client.post(
        "/units/import", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def test_import_creates_a_tree_with_parents_named_later_in_the_sheet(login, demo):
    data = sheet(
        ["QH-XQ-01", "明珠社区党委", "社区", "QH-XQ", "党委", "杨光", "", "0371-1234567", 1],
        ["QH-XQ", "新区街道党工委", "街道", "QH", "党工委", "钱进", "", "", 2],
        ["QH-DF-HP", "和平社区党委（更名）", "社区", "QH-DF", "党委", "张敏", "刘芳", "", 3],
    )
    response = upload(login("xitong"), data)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert "新增 2 个单位，更新 1 个单位" in body
    community = Unit.get(Unit.code == "QH-XQ-01")
    assert community.parent.code == "QH-XQ" and community.parent.parent.code == "QH"
    assert community.type == "community"
    assert Unit.get(Unit.code == "QH-DF-HP").name == "和平社区党委（更名）"


def test_every_bad_row_is_reported_and_nothing_is_imported(login, demo):
    before = {u.code: u.name for u in Unit.select()}
    data = sheet(
        ["QH-OK-1", "正常的一行", "社区", "QH-DF", "", "", "", "", ""],
        ["", "缺编码", "社区", "QH", "", "", "", "", ""],
        ["QH-BAD-TYPE", "类型错", "居委会", "QH", "", "", "", "", ""],
        ["QH-OK-1", "重复编码", "社区", "QH", "", "", "", "", ""],
        ["QH-ORPHAN", "上级不存在", "社区", "QH-NOWHERE", "", "", "", "", ""],
        ["QH-PHONE", "电话错", "社区", "QH", "", "", "", "电话号码", ""],
        ["QH-FORM", "组织形式错", "社区", "QH", "党小组", "", "", "", ""],
    )
    response = upload(login("xitong"), data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "未导入任何数据" in body
    expected = [
        ("3", "单位编码不能为空"),
        ("4", "单位类型“居委会”无效"),
        ("5", "与第 2 行重复"),
        ("6", "QH-NOWHERE 既不在表中，也不在系统中"),
        ("7", "联系电话格式不正确"),
        ("8", "组织形式“党小组”无效"),
    ]
    for row, message in expected:
        assert f"<td>{row}</td>" in body and message in body
    assert {u.code: u.name for u in Unit.select()} == before


def test_cycle_between_rows_is_reported(login, demo):
    data = sheet(
        ["QH-A", "甲", "社区", "QH-B", "", "", "", "", ""],
        ["QH-B", "乙", "社区", "QH-A", "", "", "", "", ""],
    )
    response = upload(login("xitong"), data)
    assert response.status_code == 422
    assert "形成循环" in response.get_data(as_text=True)
    assert not Unit.select().where(Unit.code.in_(["QH-A", "QH-B"])).exists()


def test_missing_and_unknown_headers_are_reported(login, demo):
    data = sheet(["QH-X", "某单位"], header=["单位编码", "单位名称", "备注栏"])
    body = upload(login("xitong"), data).get_data(as_text=True)
    assert "缺少必填列“单位类型”" in body
    assert "无法识别的列名“备注栏”" in body


def test_a_file_that_is_not_xlsx_is_refused_clearly(login, demo):
    response = upload(login("xitong"), b"%PDF-1.4 not a spreadsheet", name="单位.xlsx")
    assert response.status_code == 422
    assert "请上传 Excel 2007 及以上版本的 .xlsx 文件" in response.get_data(as_text=True)


def test_empty_upload_is_refused(login, demo):
    response = login("xitong").post("/units/import", {}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "请选择要上传的 .xlsx 文件" in response.get_data(as_text=True)


def test_numeric_codes_typed_into_excel_import_as_text(login, demo):
    data = sheet([1001, "数字编码单位", "机关", "QH", "", "", "", 65100000, ""])
    assert upload(login("xitong"), data).status_code == 200
    unit = Unit.get(Unit.code == "1001")
    assert unit.contact_phone == "65100000"


def test_template_download_is_a_valid_sheet_with_the_expected_headers(login):
    response = login("xitong").get("/units/import/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert [cell.value for cell in book.active[1]] == HEADER
