"""Every table on the dashboard pages as plain rows, and those rows as an .xlsx workbook."""

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from inspect_app.scores.ranking import MOVES
from inspect_app.spreadsheet import append_row


def ranking_table(board):
    columns = [
        "名次",
        "单位",
        "清单得分",
        "过程扣加分",
        "总分",
        "星级",
        "类别",
        "上期类别",
        "变化",
        "并列说明",
        "末位问责",
    ]
    rows = [
        [
            r.rank,
            r.unit.name,
            float(r.checklist_score),
            float(sum((p[3] for p in r.process), 0)),
            float(r.total),
            "★" * r.stars,
            r.klass,
            r.previous_class or "—",
            MOVES[r.move],
            r.tie_note,
            "；".join(r.flag_reasons),
        ]
        for r in board.rows
    ]
    return (f"{board.period.label}{board.label}", columns, rows)


def problems_table(period, problems):
    columns = ["序号", "检查项", "内容", "所属部分", "出现次数", "涉及单位数"]
    rows = [
        [n, code, text, section, times, units]
        for n, (_, code, text, section, times, units) in enumerate(problems, start=1)
    ]
    return (f"{period.label}典型问题", columns, rows)


def lines_table(title, lines):
    columns = ["单位", "检查项", "内容", "所属部分", "失分", "第几次出现", "日期"]
    rows = [
        [
            line.unit.name,
            line.item_code,
            line.item_text,
            line.section_title,
            float(line.points),
            line.occurrence,
            line.day.isoformat(),
        ]
        for line in lines
    ]
    return (title, columns, rows)


def flags_table(flags, steps):
    labels = {s.code: s.label for s in steps}
    columns = ["周期", "单位", "排名范围", "名次", "总分", "原因", "决定", "说明", "决定时间"]
    rows = [
        [
            f.period,
            f.unit.name,
            f.scope_label,
            f"{f.rank}/{f.of_count}",
            float(f.total),
            f.reason,
            ("待决定" if f.decided_at is None else labels.get(f.rung, f.rung) or "不予问责"),
            f.note,
            f.decided_at.strftime("%Y-%m-%d %H:%M") if f.decided_at else "",
        ]
        for f in flags
    ]
    return ("末位问责", columns, rows)


def trace_tables(result):
    items = [
        [
            part.inspection.round.name,
            line.section_title,
            line.item_code,
            line.item_text,
            float(line.points),
            float(equivalent),
            "是" if line.failing else "否",
        ]
        for part in result.parts
        for line, equivalent in part.lines
    ]
    process = [
        [line.day.isoformat(), label, line.task.title, line.event_id, float(points)]
        for line, label, points in result.process_lines
    ]
    return [
        (
            f"{result.unit.name}{result.period.label}清单扣分",
            ["督查批次", "部分", "检查项", "内容", "失分（原分值）", "折算百分制", "不合格"],
            items,
        ),
        (
            "过程扣加分",
            ["日期", "规则", "整改任务", "办理记录编号", "分值"],
            process,
        ),
    ]


def circular_tables(data):
    tables = [ranking_table(board) for board in data.rankings]
    tables.append(problems_table(data.period, data.typical_problems))
    tables.append(
        (
            "整改情况",
            ["任务总数", "已销号", "未完成", "逾期", "整改完成率（%）"],
            [
                [
                    data.tasks.total,
                    data.tasks.closed,
                    data.tasks.open,
                    data.tasks.overdue,
                    data.tasks.rate,
                ]
            ],
        )
    )
    return tables


def workbook(tables):
    """One sheet per table: a title row, a bold header, the rows."""
    book = Workbook()
    book.remove(book.active)
    used = set()
    for title, columns, rows in tables:
        name = _sheet_name(title, used)
        sheet = book.create_sheet(name)
        append_row(sheet, [title])
        sheet["A1"].font = Font(bold=True, size=14)
        append_row(sheet, columns)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in rows:
            append_row(sheet, row)
        for index, column in enumerate(columns, start=1):
            longest = max([len(str(column))] + [len(str(r[index - 1])) for r in rows[:200]])
            sheet.column_dimensions[get_column_letter(index)].width = min(max(8, longest * 2), 60)
        for line in sheet.iter_rows(min_row=3):
            for cell in line:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(title, used):
    # Excel sheet names: at most 31 characters, none of []:*?/\ and unique in the book.
    name = "".join(c for c in title if c not in "[]:*?/\\")[:28] or "表"
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name[:26]}-{n}", n + 1
    used.add(candidate)
    return candidate
