"""Reading the State Council's yearly notice (国务院办公厅关于YYYY年部分节假日安排的通知).

Its body is a numbered list, one holiday per item, always in the same shape:

    二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。

Each item is read sentence by sentence: the holiday range (放假…), then the make-up working days
(…上班). Every date must fall in the year, every weekday in brackets must agree with its date and
every "共N天" with the range. Anything in an item that cannot be read is refused with its
sentence: nothing is guessed. Text outside the items (addressees, preamble, duty paragraph,
signature) carries no dates to import and is skipped, except that a year it names must be the year
being imported.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta

HOLIDAY, WORKDAY = "holiday", "workday"
KIND_LABELS = {HOLIDAY: "放假", WORKDAY: "调休上班"}
WEEKDAYS = "一二三四五六日"

_NUMERALS = "一二三四五六七八九十"
_ITEM = re.compile(rf"(?:^|(?<=[\n。]))[ \t　]*[{_NUMERALS}]+、[ \t　]*([^：:\n。，]{{1,20}})[：:]")
_DATE = r"(?:(\d{4})年)?(?:(\d{1,2})月)?(\d{1,2})日(?:[（(]([^）)]*)[）)])?"
_ONE_DATE = re.compile(_DATE)
_HOLIDAY = re.compile(
    rf"^{_DATE}(?:\s*(?:至|到|—|－|-|~|～)\s*{_DATE})?\s*"
    r"(?:放假(?:调休)?(?:(\d+)天)?(?:[，,]\s*(?:共(\d+)天|不调休|与周末连休))*|与周末连休)$"
)
_WORKDAY = re.compile(rf"^{_DATE}(?:\s*[、，,和及]\s*{_DATE})*\s*(?:上班|补班)$")
_WEEKDAY_IN_BRACKET = re.compile(r"(?:周|星期)([一二三四五六日天])")
_YEAR_IN_PREAMBLE = re.compile(r"(\d{4})年")


@dataclass(frozen=True)
class DayEntry:
    kind: str  # HOLIDAY or WORKDAY
    name: str  # the festival, as the notice names it: 春节, 国庆节、中秋节


@dataclass(frozen=True)
class Problem:
    line: int
    sentence: str
    message: str

    def __str__(self):
        return f"第 {self.line} 行：{self.message}（{self.sentence}）"


class NoticeUnreadable(Exception):
    def __init__(self, problems):
        super().__init__("；".join(str(p) for p in problems))
        self.problems = problems


def read_notice(text, year):
    """{date: DayEntry} for `year` from the notice `text`; NoticeUnreadable lists every problem."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    items = list(_ITEM.finditer(text))
    problems = []
    preamble = text[: items[0].start()] if items else text
    named = {int(y) for y in _YEAR_IN_PREAMBLE.findall(_title_and_intro(preamble))}
    if named and year not in named:
        problems.append(
            Problem(
                1,
                _first_line_with(preamble, str(min(named))),
                f"通知所说的年份是 {'、'.join(map(str, sorted(named)))} 年，与要录入的 {year} 年不符",
            )
        )
    if not items:
        problems.append(
            Problem(
                1,
                text.strip()[:40],
                "没有找到节假日条目（应为“一、元旦：1月1日（周四）放假1天，不调休。”的形式）",
            )
        )
        raise NoticeUnreadable(problems)
    days = {}
    for index, item in enumerate(items):
        end = items[index + 1].start() if index + 1 < len(items) else _end_of_item(text, item.end())
        name = item.group(1).strip()
        for offset, sentence in _sentences(text, item.end(), end):
            line = text.count("\n", 0, offset) + 1
            try:
                for day, entry in _read_sentence(sentence, name, year):
                    if day in days and days[day] != entry:
                        raise _Refused(
                            f"{_md(day)}已在前面列为{KIND_LABELS[days[day].kind]}（{days[day].name}）"
                        )
                    days[day] = entry
            except _Refused as refused:
                problems.append(Problem(line, sentence, str(refused)))
    if problems:
        raise NoticeUnreadable(problems)
    return dict(sorted(days.items()))


class _Refused(Exception):
    pass


def _read_sentence(sentence, name, year):
    if sentence.startswith("鼓励") or sentence.startswith("提倡"):
        return []  # advice to employers (e.g. 除夕 off); it changes no statutory day
    match = _HOLIDAY.match(sentence)
    if match:
        return _holiday_range(match, name, year)
    if _WORKDAY.match(sentence):
        dates = [_date(m.groups(), year, None) for m in _ONE_DATE.finditer(sentence)]
        return [(day, DayEntry(WORKDAY, name)) for day in dates]
    raise _Refused(
        "无法识别这句话：应为“M月D日（周X）至D日（周X）放假调休，共N天”或“M月D日（周X）上班”"
    )


def _holiday_range(match, name, year):
    groups = match.groups()
    first = _date(groups[0:4], year, None)
    last = _date(groups[4:8], year, first) if groups[6] else first
    if last < first:
        raise _Refused(f"结束日期{_md(last)}早于开始日期{_md(first)}")
    length = (last - first).days + 1
    for stated in (groups[8], groups[9]):
        if stated and int(stated) != length:
            raise _Refused(f"{_md(first)}至{_md(last)}共 {length} 天，与通知所写 {stated} 天不符")
    return [(first + timedelta(days=i), DayEntry(HOLIDAY, name)) for i in range(length)]


def _date(groups, year, after):
    """A date from (year, month, day, bracket); the month may be left out after a first date."""
    y, m, d, bracket = groups
    if y and int(y) != year:
        raise _Refused(f"日期写明 {y} 年，不在要录入的 {year} 年内")
    if m is None and after is None:
        raise _Refused(f"{d}日缺少月份")
    month = int(m) if m else after.month
    try:
        day = date(year, month, int(d))
    except ValueError:
        raise _Refused(f"{year}年{month}月{d}日不是有效日期") from None
    if bracket:
        said = _WEEKDAY_IN_BRACKET.search(bracket)
        if said and "一二三四五六日天".index(said.group(1)) % 7 != day.weekday():
            raise _Refused(f"{_md(day)}是周{WEEKDAYS[day.weekday()]}，通知写的是{said.group(0)}")
    return day


def _md(day):
    return f"{day.month}月{day.day}日"


def _sentences(text, start, end):
    """(offset, sentence) of each non-empty sentence between start and end."""
    offset = start
    for piece in re.split(r"(?<=。)", text[start:end]):
        stripped = piece.strip().rstrip("。").strip()
        if stripped:
            yield offset + (len(piece) - len(piece.lstrip())), re.sub(r"\s+", "", stripped)
        offset += len(piece)


def _end_of_item(text, start):
    """The last item runs to the end of its paragraph (the duty paragraph follows on a new line)."""
    newline = text.find("\n", start)
    return len(text) if newline < 0 else newline


def _title_and_intro(preamble):
    return "\n".join(line for line in preamble.splitlines() if "节假日" in line or "通知" in line)


def _first_line_with(text, needle):
    return next((line.strip() for line in text.splitlines() if needle in line), text.strip()[:40])
