"""Writing .xlsx files for people who open them in Excel or WPS: what users typed stays text.

openpyxl writes any string that starts with "=" as a formula, and spreadsheet programs also run
text starting with + - @ (and tab or CR before them) as one: a unit's progress report reading
=HYPERLINK("http://…") would become a live link in the district's 整改台账. Such cells are written
as strings with Excel's own quote prefix (the hidden leading apostrophe), so they read exactly as
typed, stay text when edited, and never run.
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def append_row(sheet, values):
    """sheet.append(values), with text that a spreadsheet would run kept as text."""
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
            cell.data_type = "s"
            cell.quotePrefix = True
