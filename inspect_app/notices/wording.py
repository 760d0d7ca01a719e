"""The adjustable wording of notices: Jinja2 templates an admin edits, versioned per kind.

Templates run in Jinja's sandbox with autoescaping, so a template can only format the data it
is given, and a finding's text is printed as text even if it looks like HTML. Undefined names
are errors, so a typo is caught at preview instead of printing an empty gap in a notice. The
sandbox runs in worker processes bounded in time and memory (bounded.py, sandbox.py).
"""

import re
from functools import cache
from pathlib import Path

import yaml
from markupsafe import Markup

from inspect_app import audit
from inspect_app.db import database
from inspect_app.errors import ValidationFailed
from inspect_app.models import NoticeTemplate
from inspect_app.notices import bounded, sandbox
from inspect_app.notices.kinds import KINDS, sample_context

LAYOUTS = {"file": "文件格式（红头、发文字号、红色分隔线）", "letter": "信函格式（红色双线）"}
# field → (label, is Jinja, max length)
FIELDS = {
    "layout": ("版式", False, 8),
    "letterhead": ("发文机关标志", False, 100),
    "number_prefix": ("发文字号前缀", False, 16),
    "title": ("标题", True, 2000),
    "main_to": ("主送机关", True, 2000),
    "body": ("正文", True, 50000),
    "signature": ("发文机关署名", False, 100),
    "copy_to": ("抄送", True, 2000),
    "printed_by": ("印发机关", False, 100),
}
MAX_SPAN = 50  # rowspan/colspan: huge spans make the layout engine run for minutes
_SPAN = re.compile(r"""(?i)\b(rowspan|colspan)(\s*=\s*["']?)(\d+)""")


def _cap_spans(html):
    return _SPAN.sub(lambda m: m.group(1) + m.group(2) + str(min(int(m.group(3)), MAX_SPAN)), html)


@cache
def _defaults():
    return yaml.safe_load((Path(__file__).parent / "defaults.yaml").read_text(encoding="utf-8"))


def current(kind):
    """The template in force for `kind`: the newest saved version, or the shipped wording."""
    saved = (
        NoticeTemplate.select()
        .where(NoticeTemplate.kind == kind)
        .order_by(NoticeTemplate.version.desc())
        .first()
    )
    return saved or NoticeTemplate(kind=kind, version=0, **_defaults()[kind])


def versions(kind):
    return list(
        NoticeTemplate.select()
        .where(NoticeTemplate.kind == kind)
        .order_by(NoticeTemplate.version.desc())
    )


def _refusal(error):
    """The form's error for a template the worker could not render (see bounded.render)."""
    name = error.get("field")
    label = FIELDS[name][0] if name in FIELDS else "公文模板"
    kind = error["kind"]
    if kind == "syntax":
        line, message = error["line"], error["message"]
        return ValidationFailed(
            f"{label}第{line}行有语法错误：{message}", fields={name: f"第{line}行：{message}"}
        )
    messages = {
        "render": f"无法生成：{error.get('message')}",
        "too_long": f"生成的内容过长（超过{sandbox.MAX_OUTPUT}字）",
        "time": f"无法生成：运行超过 {bounded.WALL_SECONDS} 秒仍未完成（可能有过大的循环），已停止",
        "memory": f"无法生成：运行所需内存超过 {bounded.MEMORY_MB} MB 的上限（可能生成了过长的内容），已停止",
        "died": "无法生成：模板运行超出了时间或内存的限制，已停止",
    }
    message = messages[kind]
    return ValidationFailed(label + message, fields={name: message} if name else {})


def fill(template, context):
    """The texts of a notice from `template` and the notice's data. The Jinja fields are rendered
    in a bounded worker process (bounded.py); a template it refuses is a ValidationFailed."""
    sources = {
        name: getattr(template, name) or "" for name, (_, is_jinja, _) in FIELDS.items() if is_jinja
    }
    outcome = bounded.render(sources, context)
    if "error" in outcome:
        raise _refusal(outcome["error"])
    rendered = outcome["texts"]
    texts = {}
    for name, (_, is_jinja, _) in FIELDS.items():
        if not is_jinja:
            texts[name] = getattr(template, name) or ""
        elif name == "body":
            texts[name] = Markup(_cap_spans(rendered[name]))
        else:  # one-line fields: no markup, whitespace collapsed
            texts[name] = " ".join(rendered[name].split())
    return texts


def clean(kind, data):
    """Validated field values from a form; raises with a message per bad field."""
    if kind not in KINDS:
        raise ValidationFailed("没有这种公文")
    values, errors = {}, {}
    for name, (label, _, limit) in FIELDS.items():
        value = (data.get(name) or "").replace("\r\n", "\n")
        if name != "body":
            value = value.strip()
        if not value.strip() and name not in ("copy_to", "printed_by"):
            errors[name] = f"请填写{label}"
        elif len(value) > limit:
            errors[name] = f"{label}不能超过{limit}个字符"
        values[name] = value
    if values["layout"] not in LAYOUTS and "layout" not in errors:
        errors["layout"] = "版式只能是文件格式或信函格式"
    if errors:
        raise ValidationFailed("公文模板有误：" + "；".join(errors.values()), fields=errors)
    draft = NoticeTemplate(kind=kind, **values)
    fill(draft, sample_context(kind))  # every name the template uses must exist
    return draft


def save(kind, data, *, by):
    draft = clean(kind, data)
    with database.atomic():
        latest = current(kind)
        draft.version = latest.version + 1
        draft.created_by = by
        draft.save(force_insert=True)
        audit.record(
            by, "notice_template.save", draft, f"修改{KINDS[kind].label}模板（第{draft.version}版）"
        )
    return draft
