"""What an answer means under its item's rules: a clean value, whether it fails, what it scores.

Pure functions over the item spec stored with the checklist version (see docs/checklists.md).
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from inspect_app.errors import ValidationFailed
from inspect_app.vocab import COMPLIANCE_ANSWERS

MAX_TEXT = 2000
MAX_COUNT = 999
NOT_APPLICABLE = "不适用"


@dataclass(frozen=True)
class Evaluation:
    value: dict | None  # None = not answered
    failing: bool
    score: Decimal | None  # None = the item carries no points (or is 不适用)
    max_points: Decimal | None  # what the item counts towards the total; None when excluded


def _decimal(text, what):
    try:
        number = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{what}应为数字") from None
    if not number.is_finite():
        raise ValidationFailed(f"{what}应为数字")
    return number


def _points(spec, key):
    return Decimal(spec[key]) if spec.get(key) not in (None, "") else None


def clean_value(spec, form):
    """The answer as stored, from the submitted fields; None when the inspector cleared it.

    `form` is a mapping with getlist (request.form) holding value / values / score / d0, d1 …
    """
    response = spec["response"]
    code = spec["code"]
    if response == "compliance":
        value = (form.get("value") or "").strip()
        if not value:
            return None
        if value not in COMPLIANCE_ANSWERS:
            raise ValidationFailed(
                f"检查项 {code} 的答案“{value}”无效，应为：{'、'.join(COMPLIANCE_ANSWERS)}"
            )
        return {"value": value}
    if response == "choice":
        values = [v for v in form.getlist("value") if v.strip()]
        unknown = [v for v in values if v not in spec["options"]]
        if unknown:
            raise ValidationFailed(f"检查项 {code} 的选项“{unknown[0]}”不在可选范围内")
        if len(values) > 1 and not spec.get("multiple"):
            raise ValidationFailed(f"检查项 {code} 只能选择一个选项")
        return {"values": values} if values else None
    if response == "number":
        raw = (form.get("value") or "").strip()
        if not raw:
            return None
        number = _decimal(raw, f"检查项 {code} 的数值")
        low, high = _points(spec, "min"), _points(spec, "max")
        if low is not None and number < low:
            raise ValidationFailed(f"检查项 {code} 的数值不能小于 {low}")
        if high is not None and number > high:
            raise ValidationFailed(f"检查项 {code} 的数值不能大于 {high}")
        return {"value": str(number)}
    if response == "text":
        text = (form.get("value") or "").strip()
        if len(text) > MAX_TEXT:
            raise ValidationFailed(f"检查项 {code} 的记录不能超过 {MAX_TEXT} 字")
        return {"value": text} if text else None
    if response == "score":
        counts = {}
        for index, rule in enumerate(spec["deductions"]):
            raw = (form.get(f"d{index}") or "").strip()
            if not raw:
                continue
            try:
                count = int(raw)
            except ValueError:
                raise ValidationFailed(
                    f"检查项 {code} 第 {index + 1} 条扣分规则的次数应为整数"
                ) from None
            limit = MAX_COUNT if rule.get("per") else 1
            if not 0 <= count <= limit:
                raise ValidationFailed(
                    f"检查项 {code} 第 {index + 1} 条扣分规则的次数应在 0 到 {limit} 之间"
                )
            if count:
                counts[str(index)] = count
        raw_score = (form.get("score") or "").strip()
        if raw_score:
            awarded = _decimal(raw_score, f"检查项 {code} 的得分")
            maximum = Decimal(spec["max_points"])
            if awarded < 0 or awarded > maximum:
                raise ValidationFailed(
                    f"检查项 {code} 的得分应在 0 到 {spec['max_points']} 分之间（本项满分 {spec['max_points']} 分）"
                )
            if awarded != awarded.quantize(Decimal("0.01")):
                raise ValidationFailed(f"检查项 {code} 的得分最多保留两位小数")
            return {"counts": counts, "score": str(awarded)}
        if form.get("scored") == "1" or counts:
            return {"counts": counts}
        return None
    raise ValidationFailed(f"检查项 {code} 的作答类型 {response} 无法处理")


def deducted(spec, counts):
    """Points taken by the deduction rules, each rule capped, the item never below zero."""
    total = Decimal(0)
    for index, rule in enumerate(spec["deductions"]):
        taken = Decimal(rule["points"]) * counts.get(str(index), 0)
        cap = _points(rule, "cap")
        total += min(taken, cap) if cap is not None else taken
    return min(total, Decimal(spec["max_points"]))


def evaluate(spec, value):
    """Failing and score of a cleaned value under the item's rules."""
    max_points = _points(spec, "max_points")
    if value is None:
        return Evaluation(None, False, None, None)
    response = spec["response"]
    if response == "compliance":
        answer = value["value"]
        if answer == NOT_APPLICABLE:
            return Evaluation(value, False, None, None)
        score = None
        if max_points is not None:
            score = {"符合": max_points, "基本符合": _points(spec, "partial_points")}.get(
                answer, Decimal(0)
            )
        return Evaluation(value, answer in spec["failing"], score, max_points)
    if response == "choice":
        return Evaluation(value, any(v in spec["failing"] for v in value["values"]), None, None)
    if response == "number":
        number = Decimal(value["value"])
        below, above = _points(spec, "failing_below"), _points(spec, "failing_above")
        failing = (below is not None and number < below) or (above is not None and number > above)
        return Evaluation(value, failing, None, None)
    if response == "text":
        return Evaluation(value, False, None, None)
    # score
    if "score" in value:
        score = Decimal(value["score"])
    else:
        score = max_points - deducted(spec, value["counts"])
    below = _points(spec, "failing_below")
    failing = score < below if below is not None else score < max_points
    return Evaluation(value, failing, score, max_points)


def points_text(number):
    """5.00 -> "5", 4.50 -> "4.5": points as the sheets print them."""
    text = f"{Decimal(number):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def describe(spec, value):
    """The answer in words, for conflict messages and the printed record."""
    if value is None:
        return "未作答"
    if "values" in value:
        return "、".join(value["values"]) or "未选择"
    if spec["response"] == "score":
        if "score" in value:
            return f"{points_text(value['score'])} 分"
        return f"{points_text(Decimal(spec['max_points']) - deducted(spec, value['counts']))} 分"
    if spec["response"] == "number":
        return f"{value['value']}{spec.get('unit', '')}"
    return value["value"]
