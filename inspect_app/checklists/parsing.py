"""Reading checklist files: YAML to a checked, normalised definition, every error with its line.

PyYAML's node tree keeps line numbers; we walk it ourselves so that an unknown key, a wrong
type or a duplicate code is reported as `file:line: message`, all of them at once.
"""

import difflib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import yaml

from inspect_app.vocab import (
    CHECKLIST_KINDS,
    COMPLIANCE_ANSWERS,
    EVIDENCE,
    METHODS,
    RESPONSE_TYPES,
    SEVERITIES,
    UNIT_TYPE_BY_LABEL,
)

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{2,59}$")
DEFAULT_SEVERITY = "一般"
DEFAULT_DEADLINE_DAYS = 10
MAX_DEADLINE_DAYS = 180


@dataclass(frozen=True)
class Problem:
    source: str
    line: int
    message: str

    def __str__(self):
        return f"{self.source}:{self.line}: {self.message}"


class ChecklistInvalid(Exception):
    def __init__(self, problems):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class Lined:
    """A YAML value with the line it starts on (1-based)."""

    __slots__ = ("value", "line")

    def __init__(self, value, line):
        self.value, self.line = value, line


class Reader:
    def __init__(self, source):
        self.source = source
        self.problems = []

    def problem(self, line, message):
        self.problems.append(Problem(self.source, line, message))

    # -- YAML nodes to Lined values -------------------------------------------------------------

    def load(self, text):
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                self.problem(1, "文件为空")
                return None
            return self._wrap(node, loader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            self.problem(mark.line + 1 if mark else 1, f"YAML 格式错误：{error.problem or error}")
        except yaml.YAMLError as error:
            self.problem(1, f"YAML 格式错误：{error}")
        finally:
            loader.dispose()
        return None

    def _wrap(self, node, loader):
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            mapping = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node)
                if not isinstance(key, str):
                    self.problem(key_node.start_mark.line + 1, f"字段名应为文本：{key!r}")
                    continue
                if key in mapping:
                    self.problem(
                        key_node.start_mark.line + 1,
                        f"字段 {key} 重复出现（第 {mapping[key][0]} 行已有）",
                    )
                    continue
                mapping[key] = (key_node.start_mark.line + 1, self._wrap(value_node, loader))
            return Lined({k: v for k, (_, v) in mapping.items()}, line)
        if isinstance(node, yaml.SequenceNode):
            return Lined([self._wrap(child, loader) for child in node.value], line)
        return Lined(loader.construct_object(node), line)

    # -- typed getters: each reports its own problem and returns None when the value is unusable ---

    def fields(self, lined, allowed, where):
        """The mapping's keys as {key: Lined}, after reporting unknown keys."""
        if not isinstance(lined.value, dict):
            self.problem(lined.line, f"{where}应为键值对（mapping）")
            return None
        for key, value in lined.value.items():
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"，是否想写 {close[0]}？" if close else f"；可用字段：{', '.join(allowed)}"
                self.problem(value.line, f"{where}中有未知字段 {key}{hint}")
        return lined.value

    def required(self, mapping, key, owner):
        if key not in mapping or mapping[key].value is None:
            self.problem(owner.line, f"缺少必填字段 {key}")
            return None
        return mapping[key]

    def text(self, mapping, key, owner, *, required=False, max_length=None):
        lined = self.required(mapping, key, owner) if required else mapping.get(key)
        if lined is None or lined.value is None:
            return None
        if not isinstance(lined.value, str):
            hint = '（版本号请加引号，如 "2026.1"）' if key == "version" else ""
            self.problem(lined.line, f"字段 {key} 应为文本，实为 {_type_name(lined.value)}{hint}")
            return None
        value = lined.value.strip()
        if required and not value:
            self.problem(lined.line, f"字段 {key} 不能为空")
            return None
        if max_length and len(value) > max_length:
            self.problem(lined.line, f"字段 {key} 不能超过 {max_length} 个字")
        return value

    def number(self, mapping, key, owner, *, required=False, positive=False):
        lined = self.required(mapping, key, owner) if required else mapping.get(key)
        if lined is None or lined.value is None:
            return None
        value = lined.value
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.problem(lined.line, f"字段 {key} 应为数字，实为 {_type_name(value)}")
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.problem(lined.line, f"字段 {key} 应为数字，实为“{value}”")
            return None
        if not number.is_finite():
            self.problem(lined.line, f"字段 {key} 应为有限的数字")
            return None
        if positive and number <= 0:
            self.problem(lined.line, f"字段 {key} 应大于 0")
            return None
        if number != number.quantize(Decimal("0.01")):
            self.problem(lined.line, f"字段 {key} 最多保留两位小数")
            return None
        return number

    def integer(self, mapping, key, owner, *, low, high):
        lined = mapping.get(key)
        if lined is None or lined.value is None:
            return None
        if isinstance(lined.value, bool) or not isinstance(lined.value, int):
            self.problem(lined.line, f"字段 {key} 应为整数，实为 {_type_name(lined.value)}")
            return None
        if not low <= lined.value <= high:
            self.problem(lined.line, f"字段 {key} 应在 {low} 到 {high} 之间")
            return None
        return lined.value

    def boolean(self, mapping, key):
        lined = mapping.get(key)
        if lined is None:
            return False
        if not isinstance(lined.value, bool):
            self.problem(lined.line, f"字段 {key} 应为 true 或 false")
            return False
        return lined.value

    def items_of(self, mapping, key, owner, *, required=False):
        """A list field's elements (Lined), or [] after reporting."""
        lined = self.required(mapping, key, owner) if required else mapping.get(key)
        if lined is None or lined.value is None:
            return []
        if not isinstance(lined.value, list):
            self.problem(lined.line, f"字段 {key} 应为列表，实为 {_type_name(lined.value)}")
            return []
        if required and not lined.value:
            self.problem(lined.line, f"字段 {key} 至少要有一项")
        return lined.value

    def choices(self, mapping, key, owner, allowed, *, required=False, what="取值"):
        """A list of distinct texts, each among `allowed` (when given)."""
        chosen = []
        for element in self.items_of(mapping, key, owner, required=required):
            value = element.value
            if not isinstance(value, str):
                self.problem(element.line, f"{key} 中的每一项应为文本，实为 {_type_name(value)}")
            elif allowed is not None and value not in allowed:
                self.problem(
                    element.line, f"{key} 中的“{value}”不是有效的{what}，应为：{'、'.join(allowed)}"
                )
            elif value in chosen:
                self.problem(element.line, f"{key} 中的“{value}”重复")
            else:
                chosen.append(value)
        return chosen

    def one_of(self, mapping, key, owner, allowed, *, required=False, what="取值"):
        value = self.text(mapping, key, owner, required=required)
        if value is not None and value not in allowed:
            self.problem(
                mapping[key].line,
                f"{key} 的值“{value}”不是有效的{what}，应为：{'、'.join(allowed)}",
            )
            return None
        return value


def _type_name(value):
    return {
        dict: "键值对",
        list: "列表",
        str: "文本",
        int: "整数",
        float: "小数",
        bool: "布尔值",
    }.get(type(value), type(value).__name__)


def _points(number):
    return (
        None
        if number is None
        else str(number.normalize() if number != number.to_integral() else number.to_integral())
    )


TOP_KEYS = (
    "id",
    "title",
    "kind",
    "version",
    "description",
    "total_points",
    "applies_to",
    "sections",
)
SECTION_KEYS = ("code", "title", "max_points", "items")
ITEM_KEYS = (
    "code",
    "text",
    "methods",
    "guidance",
    "response",
    "failing",
    "require_when_failing",
    "max_points",
    "partial_points",
    "deductions",
    "failing_below",
    "failing_above",
    "unit",
    "min",
    "max",
    "options",
    "multiple",
    "applies_to",
    "finding",
)
DEDUCTION_KEYS = ("rule", "points", "per", "cap")
FINDING_KEYS = ("severity", "deadline_days", "measure")
# Keys that only make sense for some response types.
RESPONSE_KEYS = {
    "compliance": {"failing", "require_when_failing", "max_points", "partial_points"},
    "score": {"require_when_failing", "max_points", "deductions", "failing_below"},
    "number": {"require_when_failing", "unit", "min", "max", "failing_below", "failing_above"},
    "text": set(),
    "choice": {"failing", "require_when_failing", "options", "multiple"},
}
COMMON_ITEM_KEYS = {"code", "text", "methods", "guidance", "response", "applies_to", "finding"}


def parse_checklist(text, source="<checklist>"):
    """The normalised definition of a checklist file, or ChecklistInvalid listing every problem."""
    reader = Reader(source)
    root = reader.load(text)
    if root is None:
        raise ChecklistInvalid(reader.problems)
    top = reader.fields(root, TOP_KEYS, "清单")
    if top is None:
        raise ChecklistInvalid(reader.problems)
    definition = {
        "id": reader.text(top, "id", root, required=True),
        "title": reader.text(top, "title", root, required=True, max_length=200),
        "kind": reader.one_of(top, "kind", root, CHECKLIST_KINDS, required=True, what="清单类型"),
        "version": reader.text(top, "version", root, required=True, max_length=32),
        "description": reader.text(top, "description", root) or "",
        "total_points": _points(reader.number(top, "total_points", root, positive=True)),
        "applies_to": _unit_types(reader, top, root),
        "sections": [],
    }
    if definition["id"] and not SLUG.match(definition["id"]):
        reader.problem(
            top["id"].line, "id 只能由小写字母、数字和横线组成，3–60 位，如 dangjian-anfang"
        )
    item_lines = {}
    section_lines = {}
    for section_node in reader.items_of(top, "sections", root, required=True):
        section = _section(reader, section_node, definition, section_lines, item_lines)
        if section:
            definition["sections"].append(section)
    _check_points_add_up(reader, definition, top)
    if reader.problems:
        raise ChecklistInvalid(sorted(reader.problems, key=lambda p: p.line))
    return definition


def _unit_types(reader, mapping, owner):
    labels = reader.choices(
        mapping, "applies_to", owner, tuple(UNIT_TYPE_BY_LABEL), what="单位类型"
    )
    return [UNIT_TYPE_BY_LABEL[label] for label in labels]


def _section(reader, node, definition, section_lines, item_lines):
    fields = reader.fields(node, SECTION_KEYS, "部分")
    if fields is None:
        return None
    section = {
        "code": _code(reader, fields, node, section_lines, "部分编号"),
        "title": reader.text(fields, "title", node, required=True, max_length=200),
        "max_points": _points(reader.number(fields, "max_points", node, positive=True)),
        "line": node.line,
        "items": [],
    }
    for item_node in reader.items_of(fields, "items", node, required=True):
        item = _item(reader, item_node, definition, item_lines)
        if item:
            section["items"].append(item)
    return section


def _code(reader, fields, node, seen, what):
    code = reader.text(fields, "code", node, required=True, max_length=32)
    if code is None:
        return None
    if re.search(r"[\s/?#%]", code):
        reader.problem(fields["code"].line, f"{what} {code} 不能包含空格或 / ? # % 字符")
    elif isinstance(fields["code"].value, str) and code in seen:
        reader.problem(fields["code"].line, f"{what} {code} 重复（第 {seen[code]} 行已使用）")
    else:
        seen[code] = fields["code"].line
    return code


def _item(reader, node, definition, item_lines):
    fields = reader.fields(node, ITEM_KEYS, "检查项")
    if fields is None:
        return None
    item = {
        "code": _code(reader, fields, node, item_lines, "检查项编号"),
        "text": reader.text(fields, "text", node, required=True),
        "methods": reader.choices(fields, "methods", node, METHODS, required=True, what="检查方式"),
        "guidance": reader.text(fields, "guidance", node) or "",
        "response": reader.one_of(
            fields, "response", node, tuple(RESPONSE_TYPES), required=True, what="作答类型"
        ),
        "applies_to": _unit_types(reader, fields, node) or list(definition["applies_to"]),
    }
    where = f"检查项 {item['code'] or ''}".strip()
    response = item["response"]
    if response is None:
        return item
    for key in fields:
        if key in ITEM_KEYS and key not in COMMON_ITEM_KEYS and key not in RESPONSE_KEYS[response]:
            reader.problem(fields[key].line, f"{where}：作答类型 {response} 不使用字段 {key}")
    {
        "compliance": _compliance,
        "score": _score,
        "number": _number,
        "text": _text,
        "choice": _choice,
    }[response](reader, fields, node, item, where)
    if response != "text":
        item["require_when_failing"] = reader.choices(
            fields, "require_when_failing", node, tuple(EVIDENCE), what="佐证要求"
        )
    item["finding"] = _finding(reader, fields)
    return item


def _compliance(reader, fields, node, item, where):
    answerable = COMPLIANCE_ANSWERS[:3]
    if "failing" in fields:
        for element in reader.items_of(fields, "failing", node):
            if element.value == "不适用":
                reader.problem(element.line, f"{where}：“不适用”不能算作不合格答案")
        item["failing"] = reader.choices(
            fields, "failing", node, answerable, what="不合格答案（应在作答选项中）"
        )
    else:
        item["failing"] = ["不符合"]
    if "符合" in item["failing"]:
        reader.problem(fields["failing"].line, f"{where}：“符合”不能算作不合格答案")
    max_points = reader.number(fields, "max_points", node, positive=True)
    partial = reader.number(fields, "partial_points", node)
    if partial is not None and max_points is None:
        reader.problem(
            fields["partial_points"].line, f"{where}：设置 partial_points 时须同时设置 max_points"
        )
    elif partial is not None and not 0 <= partial <= max_points:
        reader.problem(
            fields["partial_points"].line,
            f"{where}：partial_points 应在 0 到 max_points（{max_points}）之间",
        )
    if max_points is not None and partial is None:
        partial = (max_points / 2).quantize(Decimal("0.01"))
    item["max_points"] = _points(max_points)
    item["partial_points"] = _points(partial)


def _score(reader, fields, node, item, where):
    max_points = reader.number(fields, "max_points", node, required=True, positive=True)
    item["max_points"] = _points(max_points)
    item["deductions"] = []
    for element in reader.items_of(fields, "deductions", node, required=True):
        rule = reader.fields(element, DEDUCTION_KEYS, "扣分规则")
        if rule is None:
            continue
        points = reader.number(rule, "points", element, required=True, positive=True)
        cap = reader.number(rule, "cap", element, positive=True)
        if max_points is not None:
            if cap is not None and cap > max_points:
                reader.problem(
                    rule["cap"].line,
                    f"{where}：扣分上限 cap（{cap}）超过本项分值 max_points（{max_points}）",
                )
            if points is not None and points > max_points:
                reader.problem(
                    rule["points"].line,
                    f"{where}：单次扣分（{points}）超过本项分值 max_points（{max_points}）",
                )
        item["deductions"].append(
            {
                "rule": reader.text(rule, "rule", element, required=True),
                "points": _points(points),
                "per": reader.text(rule, "per", element, max_length=8),
                "cap": _points(cap),
            }
        )
    below = reader.number(fields, "failing_below", node, positive=True)
    if below is not None and max_points is not None and below > max_points:
        reader.problem(
            fields["failing_below"].line,
            f"{where}：failing_below（{below}）超过本项分值 max_points（{max_points}）",
        )
    item["failing_below"] = _points(below)


def _number(reader, fields, node, item, where):
    low = reader.number(fields, "min", node)
    high = reader.number(fields, "max", node)
    if low is not None and high is not None and low > high:
        reader.problem(fields["min"].line, f"{where}：min（{low}）大于 max（{high}）")
    below = reader.number(fields, "failing_below", node)
    above = reader.number(fields, "failing_above", node)
    if below is not None and above is not None and below > above:
        reader.problem(
            fields["failing_below"].line,
            f"{where}：failing_below 大于 failing_above，任何数值都不合格",
        )
    item.update(
        unit=reader.text(fields, "unit", node, max_length=8) or "",
        min=_points(low),
        max=_points(high),
        failing_below=_points(below),
        failing_above=_points(above),
    )


def _text(reader, fields, node, item, where):
    item["failing"] = []


def _choice(reader, fields, node, item, where):
    options = reader.choices(fields, "options", node, None, required=True)
    if "options" in fields and len(options) < 2:
        reader.problem(fields["options"].line, f"{where}：options 至少要有两个不同的选项")
    item["options"] = options
    item["failing"] = reader.choices(
        fields, "failing", node, options or None, what="不合格答案（应在 options 中）"
    )
    if options and set(item["failing"]) >= set(options):
        reader.problem(fields["failing"].line, f"{where}：所有选项都算不合格，无法作出合格的回答")
    item["multiple"] = reader.boolean(fields, "multiple")


def _finding(reader, fields):
    lined = fields.get("finding")
    defaults = {"severity": DEFAULT_SEVERITY, "deadline_days": DEFAULT_DEADLINE_DAYS, "measure": ""}
    if lined is None:
        return defaults
    finding = reader.fields(lined, FINDING_KEYS, "问题默认值（finding）")
    if finding is None:
        return defaults
    return {
        "severity": reader.one_of(finding, "severity", lined, SEVERITIES, what="问题严重程度")
        or DEFAULT_SEVERITY,
        "deadline_days": reader.integer(
            finding, "deadline_days", lined, low=1, high=MAX_DEADLINE_DAYS
        )
        or DEFAULT_DEADLINE_DAYS,
        "measure": reader.text(finding, "measure", lined) or "",
    }


def _check_points_add_up(reader, definition, top):
    """Sections sum their items; the sheet sums its sections (百分制 sheets must add to 100)."""
    section_total = Decimal(0)
    for section in definition["sections"]:
        items_total = sum(
            (Decimal(i["max_points"]) for i in section["items"] if i.get("max_points")), Decimal(0)
        )
        if section["max_points"] is not None:
            if items_total != Decimal(section["max_points"]):
                reader.problem(
                    section["line"],
                    f"部分 {section['code']} 的分值 max_points 为 {section['max_points']}，但其检查项分值合计 {items_total}",
                )
            section_total += Decimal(section["max_points"])
        elif definition["total_points"] is not None:
            reader.problem(
                section["line"],
                f"清单设置了总分 total_points，部分 {section['code']} 须设置 max_points",
            )
    if definition["total_points"] is not None and section_total != Decimal(
        definition["total_points"]
    ):
        reader.problem(
            top["total_points"].line,
            f"总分 total_points 为 {definition['total_points']}，但各部分分值合计 {_points(section_total)}",
        )
    for section in definition["sections"]:
        section.pop("line", None)
