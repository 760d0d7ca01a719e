"""Writing .xlsx files for people who open them in Excel or WPS: what users typed stays text.

openpyxl writes any string that starts with "=" as a formula, and spreadsheet programs also run
text starting with + - @ (and tab or CR before them) as one: a unit's progress report reading
=HYPERLINK("http://…") would become a live link in the district's 整改台账. Such cells are written
as strings with Excel's own quote prefix (the hidden leading apostrophe), so they read exactly as
typed, stay text when edited, and never run.
"""

from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _runs(value):
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def append_row(sheet, values):
    """sheet.append(values), with text that a spreadsheet would run kept as text. Works on
    write-only sheets too (large exports), where rows cannot be revisited."""
    if isinstance(sheet, WriteOnlyWorksheet):
        sheet.append([_text_cell(sheet, v) if _runs(v) else v for v in values])
        return
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if _runs(cell.value):
            cell.data_type = "s"
            cell.quotePrefix = True


def _text_cell(sheet, value):
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def safe_text(value):
    """For CSV, which has no quote prefix of its own: the apostrophe spreadsheets show as text."""
    return "'" + value if _runs(value) else value
