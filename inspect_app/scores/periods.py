"""Assessment periods: month, quarter, half-year, year — each a code like 2026-Q4."""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from inspect_app.errors import NotFound

KINDS = {"month": "月", "quarter": "季度", "half": "半年", "year": "年度"}
_CODE = re.compile(r"^(\d{4})-(?:(M)(\d{1,2})|(Q)([1-4])|(H)([12])|(Y))$")
_LETTER = {"M": "month", "Q": "quarter", "H": "half", "Y": "year"}
_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}


@dataclass(frozen=True, order=True)
class Period:
    kind: str
    year: int
    number: int  # month 1-12, quarter 1-4, half 1-2, year 1

    @property
    def code(self):
        if self.kind == "year":
            return f"{self.year}-Y"
        return f"{self.year}-{self.kind[0].upper()}{self.number}"

    @property
    def start(self):
        return date(self.year, (self.number - 1) * _MONTHS[self.kind] + 1, 1)

    @property
    def end(self):
        month = self.number * _MONTHS[self.kind]
        first_after = date(self.year + month // 12, month % 12 + 1, 1)
        return first_after - timedelta(days=1)

    @property
    def label(self):
        if self.kind == "month":
            return f"{self.year}年{self.number}月"
        if self.kind == "quarter":
            return f"{self.year}年第{'一二三四'[self.number - 1]}季度"
        if self.kind == "half":
            return f"{self.year}年{'上下'[self.number - 1]}半年"
        return f"{self.year}年度"

    @property
    def previous(self):
        if self.number > 1:
            return Period(self.kind, self.year, self.number - 1)
        return Period(self.kind, self.year - 1, 12 // _MONTHS[self.kind])

    def __contains__(self, day):
        return self.start <= day <= self.end


def containing(kind, day):
    return Period(kind, day.year, (day.month - 1) // _MONTHS[kind] + 1)


def all_containing(day):
    """The month, quarter, half-year and year a day counts in."""
    return [containing(kind, day) for kind in KINDS]


def parse(code):
    """A period from its code; a malformed or out-of-range one is a 404 (it names nothing)."""
    match = _CODE.match(code or "")
    if not match:
        raise NotFound(f"考评周期“{code}”无效，应如 2026-M11、2026-Q4、2026-H2、2026-Y")
    year = int(match.group(1))
    if not 2000 <= year <= 2100:
        raise NotFound(f"考评周期“{code}”无效：年份超出范围")
    letter = next(g for g in match.groups()[1::2] if g) if not match.group(8) else "Y"
    if letter == "Y":
        return Period("year", year, 1)
    number = int(next(g for g in match.groups()[2::2] if g))
    if letter == "M" and not 1 <= number <= 12:
        raise NotFound(f"考评周期“{code}”无效：月份应在 1 到 12 之间")
    return Period(_LETTER[letter], year, number)
