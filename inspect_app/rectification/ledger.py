"""The 整改台账: the filtered tasks as the rows officials expect, for .xlsx and for print."""

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from inspect_app.models import TaskEvent
from inspect_app.rectification.service import STATUS_LABELS, findings_of, light
from inspect_app.spreadsheet import append_row

COLUMNS = (
    "序号",
    "问题",
    "整改措施",
    "责任单位",
    "协办单位",
    "责任人",
    "整改时限",
    "完成情况",
    "状态",
    "预警",
    "督查批次",
)
WIDTHS = (6, 48, 40, 22, 18, 10, 12, 40, 10, 8, 26)
LIGHTS = {"red": "逾期", "yellow": "临期", "green": "正常", None: "—"}
FILLS = {"red": "F4CCCC", "yellow": "FFF2CC", "green": "D9EAD3", "grey": "E7E6E6"}


def rows(tasks):
    findings = findings_of(tasks)
    latest = {}
    for event in (
        TaskEvent.select()
        .where(TaskEvent.task.in_([t.id for t in tasks]), TaskEvent.action == "report")
        .order_by(TaskEvent.id)
    ):
        latest[event.task_id] = event.text
    result = []
    for number, task in enumerate(tasks, start=1):
        colour = light(task)
        result.append(
            {
                "values": (
                    number,
                    "\n".join(
                        f"{i}. {f.description}"
                        for i, f in enumerate(findings.get(task.id, []), start=1)
                    ),
                    task.measures,
                    task.lead_unit.name,
                    "、".join(link.unit.name for link in task.co_units),
                    task.responsible_person,
                    task.deadline.isoformat(),
                    latest.get(task.id, "未报告"),
                    STATUS_LABELS[task.status],
                    LIGHTS[colour],
                    task.round.name,
                ),
                "light": colour,
            }
        )
    return result


def workbook(tasks, title):
    book = Workbook()
    sheet = book.active
    sheet.title = "整改台账"
    append_row(sheet, [title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(list(COLUMNS))
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in rows(tasks):
        append_row(sheet, list(row["values"]))
        if row["light"]:
            sheet.cell(sheet.max_row, len(COLUMNS) - 1).fill = PatternFill(
                "solid", fgColor=FILLS[row["light"]]
            )
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[chr(64 + index)].width = width
    for line in sheet.iter_rows(min_row=3):
        for cell in line:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
