"""Scoring rules beyond the checklist: process deductions and bonuses, stars, classes, 末位问责.

The defaults below apply unless INSPECT_SCORING_FILE names a YAML file in the same shape
(see README, "Scores, rankings and the dashboard"). The file is checked like a checklist file:
every problem as `file:line: message`, all at once.
"""

from dataclasses import dataclass
from decimal import Decimal

from inspect_app.checklists.parsing import ChecklistInvalid, Reader

# code -> (label, sign): the process rules the product knows; their weights are configuration.
PROCESS_RULES = {
    "overdue": ("整改任务逾期", -1),
    "missed_report": ("到期未报告整改进展", -1),
    "late_report": ("整改进展报告迟报", -1),
    "sent_back": ("整改被退回", -1),
    "early_close": ("提前完成整改销号", +1),
}
# Parameters that decide which events become lines (fixed per file, not per period kind).
LINE_PARAMETERS = {"late_report": "within_days", "early_close": "days_before"}

DEFAULT_TEXT = """\
process:
  overdue: {points: 2, cap: 10}
  missed_report: {points: 1, cap: 5}
  late_report: {points: 0.5, within_days: 10, cap: 3}
  sent_back: {points: 1, cap: 5}
  early_close: {points: 0.5, days_before: 3, cap: 2}
periods: {}
stars:
  - {stars: 5, min: 95}
  - {stars: 4, min: 90}
  - {stars: 3, min: 80}
  - {stars: 2, min: 70}
  - {stars: 1, min: 0}
classes:
  - {label: 一类, min: 90}
  - {label: 二类, min: 75}
  - {label: 三类, min: 0}
accountability:
  bottom: 1
  below: 60
"""


@dataclass(frozen=True)
class Weight:
    points: Decimal
    cap: Decimal | None


@dataclass(frozen=True)
class ScoringRules:
    process: dict  # rule code -> Weight
    by_kind: dict  # period kind -> {rule code -> Weight} overrides
    within_days: int  # late_report: working days allowed between progress reports
    days_before: int  # early_close: closed at least this many working days before the deadline
    stars: tuple  # ((stars, min), …) highest first
    classes: tuple  # ((label, min), …) best first
    bottom: int  # the bottom N of each ranking is flagged (0: none)
    below: Decimal | None  # any total under this is flagged

    def weights(self, kind):
        return {**self.process, **self.by_kind.get(kind, {})}

    def stars_for(self, total):
        return next((n for n, low in self.stars if total >= low), 0)

    def class_for(self, total):
        return next((label for label, low in self.classes if total >= low), "")

    def class_rank(self, label):
        """0 for the best class; larger is worse."""
        return [c for c, _ in self.classes].index(label) if label else len(self.classes)


def _weight(reader, lined, code, *, extra=()):
    fields = reader.fields(lined, ("points", "cap", *extra), f"规则 {code} ")
    if fields is None:
        return None, {}
    points = reader.number(fields, "points", lined, required=True)
    cap = reader.number(fields, "cap", lined, positive=True)
    if points is not None and points < 0:
        reader.problem(
            fields["points"].line, f"规则 {code} 的 points 不能为负数（扣分或加分由规则决定）"
        )
    if points is not None and cap is not None and cap < points:
        reader.problem(fields["cap"].line, f"规则 {code} 的上限 cap 不能小于每次的分值 points")
    extras = {key: reader.integer(fields, key, lined, low=1, high=60) for key in extra}
    return (Weight(points, cap) if points is not None else None), extras


def _rules(reader, lined, where, *, with_parameters):
    fields = reader.fields(lined, tuple(PROCESS_RULES), where)
    weights, parameters = {}, {}
    for code, value in (fields or {}).items():
        if code not in PROCESS_RULES:
            continue
        extra = (LINE_PARAMETERS[code],) if with_parameters and code in LINE_PARAMETERS else ()
        weight, found = _weight(reader, value, code, extra=extra)
        if weight is not None:
            weights[code] = weight
        parameters.update(found)
    return weights, parameters


def _thresholds(reader, mapping, key, owner, label_key):
    result = []
    for element in reader.items_of(mapping, key, owner, required=True):
        fields = reader.fields(element, (label_key, "min"), f"{key} 的一项")
        if fields is None:
            continue
        low = reader.number(fields, "min", element, required=True)
        if label_key == "stars":
            label = reader.integer(fields, "stars", element, low=1, high=10)
            if label is None and "stars" not in fields:
                reader.problem(element.line, "缺少必填字段 stars")
        else:
            label = reader.text(fields, "label", element, required=True, max_length=8)
        if low is None or label is None:
            continue
        if result and low >= result[-1][1]:
            reader.problem(element.line, f"{key} 应按 min 从高到低排列")
        result.append((label, low))
    return tuple(result)


def parse_rules(text, source="<scoring>"):
    """ScoringRules from YAML text, or ChecklistInvalid listing every problem with its line."""
    reader = Reader(source)
    top = reader.load(text)
    if top is None:
        raise ChecklistInvalid(reader.problems)
    fields = reader.fields(top, ("process", "periods", "stars", "classes", "accountability"), "")
    if fields is None:
        raise ChecklistInvalid(reader.problems)
    process, parameters = {}, {}
    if reader.required(fields, "process", top):
        process, parameters = _rules(reader, fields["process"], "process ", with_parameters=True)
        written = fields["process"].value if isinstance(fields["process"].value, dict) else {}
        for code in PROCESS_RULES:
            if code not in written:
                reader.problem(
                    fields["process"].line, f"process 缺少规则 {code}（不计分请写 points: 0）"
                )
        for code, key in LINE_PARAMETERS.items():
            if code in process and parameters.get(key) is None:
                reader.problem(fields["process"].line, f"规则 {code} 须写 {key}（工作日数）")
    by_kind = {}
    kinds = fields.get("periods")
    if kinds is not None and kinds.value:
        from inspect_app.scores.periods import KINDS

        for kind, value in (reader.fields(kinds, tuple(KINDS), "periods ") or {}).items():
            if kind in KINDS:
                by_kind[kind], _ = _rules(reader, value, f"periods.{kind} ", with_parameters=False)
    stars = _thresholds(reader, fields, "stars", top, "stars")
    classes = _thresholds(reader, fields, "classes", top, "label")
    bottom, below = 0, None
    if reader.required(fields, "accountability", top):
        duty = reader.fields(fields["accountability"], ("bottom", "below"), "accountability ")
        if duty is not None:
            bottom = reader.integer(duty, "bottom", fields["accountability"], low=0, high=100) or 0
            below = reader.number(duty, "below", fields["accountability"])
    if reader.problems:
        raise ChecklistInvalid(reader.problems)
    return ScoringRules(
        process=process,
        by_kind=by_kind,
        within_days=parameters["within_days"],
        days_before=parameters["days_before"],
        stars=stars,
        classes=classes,
        bottom=bottom,
        below=below,
    )


DEFAULT_RULES = parse_rules(DEFAULT_TEXT, "<默认计分规则>")


def rules_of(config):
    return config.get("SCORING_RULES") or DEFAULT_RULES


_current = [DEFAULT_RULES]


def configure(app):
    """The rules services use when they write lines outside a request's view (task events,
    sign-off); create_app sets them from the app's configuration."""
    _current[0] = rules_of(app.config)


def current():
    return _current[0]


def load_file(path):
    """The rules in `path`; a broken file stops the app with every problem listed."""
    from pathlib import Path

    try:
        return parse_rules(Path(path).read_text(encoding="utf-8"), str(path))
    except OSError as error:
        raise SystemExit(f"{path}: 无法读取计分规则文件：{error.strerror}") from None
    except ChecklistInvalid as invalid:
        raise SystemExit(f"计分规则文件有误：\n{invalid}") from None
