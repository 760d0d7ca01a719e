"""Importing the organisation tree from an .xlsx sheet: all rows or none."""

import io
import zipfile
from dataclasses import dataclass

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from inspect_app import audit
from inspect_app.db import database
from inspect_app.errors import ValidationFailed
from inspect_app.models import Unit, now
from inspect_app.orgs.service import clean_unit_fields
from inspect_app.vocab import UNIT_TYPES

# header -> field; the first three are required.
COLUMNS = {
    "单位编码": "code",
    "单位名称": "name",
    "单位类型": "type",
    "上级单位编码": "parent_code",
    "组织形式": "org_form",
    "党组织书记": "secretary",
    "联系人": "contact_name",
    "联系电话": "contact_phone",
    "排序号": "sort_order",
}
LABELS = {fieldname: header for header, fieldname in COLUMNS.items()}
REQUIRED_HEADERS = ("单位编码", "单位名称", "单位类型")
MAX_ROWS = 5000


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str


class ImportFailed(ValidationFailed):
    def __init__(self, errors):
        super().__init__(
            f"导入未执行：共发现 {len(errors)} 处错误，请修改后重新上传（未导入任何数据）"
        )
        self.errors = errors


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores typed-in codes such as 1001 as numbers
    return str(value).strip()


def read_rows(data):
    """[(row number, {field: text})] from the first sheet, or ImportFailed for a bad file or header."""
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ImportFailed(
            [RowError(0, "", "无法读取文件：请上传 Excel 2007 及以上版本的 .xlsx 文件")]
        ) from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [_cell_text(cell) for cell in next(rows, ())]
    errors = []
    positions = {}
    for index, title in enumerate(header):
        if not title:
            continue
        if title not in COLUMNS:
            errors.append(
                RowError(1, title, f"无法识别的列名“{title}”，可用列名：{'、'.join(COLUMNS)}")
            )
        elif COLUMNS[title] in positions:
            errors.append(RowError(1, title, f"列“{title}”重复出现"))
        else:
            positions[COLUMNS[title]] = index
    for title in REQUIRED_HEADERS:
        if COLUMNS[title] not in positions:
            errors.append(RowError(1, title, f"缺少必填列“{title}”"))
    if errors:
        book.close()
        raise ImportFailed(errors)
    records = []
    for number, cells in enumerate(rows, start=2):
        values = {
            name: _cell_text(cells[i]) if i < len(cells) else "" for name, i in positions.items()
        }
        if not any(values.values()):
            continue
        records.append((number, values))
        if len(records) > MAX_ROWS:
            book.close()
            raise ImportFailed([RowError(number, "", f"一次最多导入 {MAX_ROWS} 行")])
    book.close()
    if not records:
        raise ImportFailed([RowError(2, "", "表格中没有数据行")])
    return records


def _find_cycles(parent_of):
    """Codes that end up above themselves."""
    looping = set()
    for start in parent_of:
        seen, code = set(), start
        while code in parent_of and code not in seen:
            seen.add(code)
            code = parent_of[code]
        if code == start:
            looping.add(start)
    return looping


def check_rows(records):
    """Every problem in the sheet, by row and column; the database is only read."""
    errors, by_code = [], {}
    for number, values in records:
        cleaned, problems = clean_unit_fields(values)
        for fieldname, message in problems.items():
            errors.append(RowError(number, LABELS[fieldname], message))
        code = cleaned["code"]
        if code and "code" not in problems:
            if code in by_code:
                errors.append(
                    RowError(number, "单位编码", f"单位编码 {code} 与第 {by_code[code][0]} 行重复")
                )
            else:
                by_code[code] = (number, cleaned, values.get("parent_code", ""))
    existing = {unit.code: unit for unit in Unit.select()}
    code_of = {unit.id: code for code, unit in existing.items()}
    parent_of = {code: code_of[unit.parent_id] for code, unit in existing.items() if unit.parent_id}
    for code, (number, _, parent_code) in by_code.items():
        if parent_code:
            parent_of[code] = parent_code
        else:
            parent_of.pop(code, None)
        if parent_code and parent_code not in by_code and parent_code not in existing:
            errors.append(
                RowError(
                    number, "上级单位编码", f"上级单位编码 {parent_code} 既不在表中，也不在系统中"
                )
            )
        elif parent_code == code:
            errors.append(RowError(number, "上级单位编码", "上级单位不能是本单位"))
    for code in sorted(_find_cycles(parent_of) & set(by_code)):
        number = by_code[code][0]
        if parent_of.get(code) != code:
            errors.append(
                RowError(number, "上级单位编码", "上下级关系形成循环（某单位成了自己的下级）")
            )
    return sorted(errors, key=lambda e: (e.row, e.column)), by_code


def import_units(data, *, by):
    """Create or update units from the sheet; returns (created, updated). All-or-nothing."""
    records = read_rows(data)
    errors, by_code = check_rows(records)
    if errors:
        raise ImportFailed(errors)
    created = updated = 0
    with database.atomic():
        units = {unit.code: unit for unit in Unit.select()}
        for code, (_, cleaned, _) in by_code.items():
            unit = units.get(code)
            if unit is None:
                unit = units[code] = Unit(**cleaned)
                created += 1
            else:
                for key, value in cleaned.items():
                    setattr(unit, key, value)
                updated += 1
            unit.updated_at = now()
            unit.save()
        # Parents after everyone exists, so a row may name a parent further down the sheet.
        for code, (_, _, parent_code) in by_code.items():
            unit = units[code]
            unit.parent = units[parent_code] if parent_code else None
            unit.save(only=[Unit.parent])
        audit.record(
            by,
            "unit.import",
            None,
            f"从表格导入单位：新增 {created} 个，更新 {updated} 个",
            {"codes": sorted(by_code)},
        )
    return created, updated


def template_workbook():
    """A blank sheet with the expected headers and two example rows, as .xlsx bytes."""
    book = Workbook()
    sheet = book.active
    sheet.title = "单位"
    sheet.append(list(COLUMNS))
    sheet.append(
        [
            "QH",
            "中共清河区委",
            UNIT_TYPES["district"],
            "",
            "党委",
            "",
            "区委组织部",
            "0371-6000000",
            1,
        ]
    )
    sheet.append(
        [
            "QH-DF",
            "东风街道党工委",
            UNIT_TYPES["subdistrict"],
            "QH",
            "党工委",
            "张伟",
            "李娜",
            "0371-6000001",
            10,
        ]
    )
    for column, width in zip("ABCDEFGHI", (14, 28, 12, 14, 10, 12, 12, 16, 8), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
