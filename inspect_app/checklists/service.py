"""Checklists: loading files as frozen versions, and reading them back for browsing."""

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from inspect_app import audit
from inspect_app.checklists.parsing import ChecklistInvalid, Problem, parse_checklist
from inspect_app.db import database
from inspect_app.errors import NotFound
from inspect_app.models import Checklist, ChecklistItem, ChecklistVersion


@dataclass(frozen=True)
class LoadResult:
    source: str
    slug: str
    version: ChecklistVersion
    created: bool


def read_file(path):
    """(text, definition) of one file, or ChecklistInvalid with file:line problems."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ChecklistInvalid(
            [Problem(str(path), 1, "文件不是 UTF-8 编码，请另存为 UTF-8")]
        ) from None
    except OSError as error:
        raise ChecklistInvalid([Problem(str(path), 1, f"无法读取文件：{error.strerror}")]) from None
    return text, parse_checklist(text, str(path))


def validate_files(paths):
    """Every problem in every file (an empty list means all are valid)."""
    problems = []
    for path in paths:
        try:
            read_file(path)
        except ChecklistInvalid as invalid:
            problems.extend(invalid.problems)
    return problems


def content_hash(definition):
    """Identity of a checklist's content: comments and layout of the file do not count."""
    canonical = json.dumps(definition, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _store(definition, text, source, by):
    digest = content_hash(definition)
    checklist = Checklist.get_or_none(Checklist.slug == definition["id"])
    if checklist is None:
        checklist = Checklist.create(
            slug=definition["id"], title=definition["title"], kind=definition["kind"]
        )
    latest = checklist.versions.order_by(ChecklistVersion.number.desc()).first()
    if latest is not None and latest.content_hash == digest:
        return latest, False
    checklist.title, checklist.kind = definition["title"], definition["kind"]
    checklist.save()
    items = [item for section in definition["sections"] for item in section["items"]]
    version = ChecklistVersion.create(
        checklist=checklist,
        number=(latest.number + 1) if latest else 1,
        label=definition["version"],
        title=definition["title"],
        content_hash=digest,
        source_name=Path(source).name,
        source_text=text,
        definition=definition,
        total_points=Decimal(definition["total_points"]) if definition["total_points"] else None,
        item_count=len(items),
        loaded_by=by,
    )
    rows = []
    for section in definition["sections"]:
        for item in section["items"]:
            rows.append(
                {
                    "version": version,
                    "position": len(rows) + 1,
                    "section_code": section["code"],
                    "section_title": section["title"],
                    "code": item["code"],
                    "text": item["text"],
                    "response": item["response"],
                    "max_points": Decimal(item["max_points"]) if item.get("max_points") else None,
                    "applies_to": item["applies_to"],
                    "spec": item,
                }
            )
    ChecklistItem.insert_many(rows).execute()
    audit.record(
        by,
        "checklist.load",
        version,
        f"载入清单 {definition['title']} 第 {version.number} 版（{definition['version']}）",
    )
    return version, True


def load_files(paths, *, by=None):
    """Load every file as a new version where its content changed. All files or none."""
    parsed = []
    problems = []
    for path in paths:
        try:
            parsed.append((path, *read_file(path)))
        except ChecklistInvalid as invalid:
            problems.extend(invalid.problems)
    slugs = {}
    for path, _, definition in parsed:
        if definition["id"] in slugs:
            problems.append(
                Problem(
                    str(path), 1, f"清单 id {definition['id']} 与 {slugs[definition['id']]} 重复"
                )
            )
        slugs[definition["id"]] = str(path)
    if problems:
        raise ChecklistInvalid(problems)
    results = []
    with database.atomic():
        for path, text, definition in parsed:
            version, created = _store(definition, text, str(path), by)
            results.append(LoadResult(str(path), definition["id"], version, created))
    return results


def folder_files(folder):
    return sorted(Path(folder).glob("*.yaml")) + sorted(Path(folder).glob("*.yml"))


def all_checklists():
    """Checklists with their newest version, newest first within kind."""
    latest = {}
    for version in ChecklistVersion.select().order_by(ChecklistVersion.number):
        latest[version.checklist_id] = version
    checklists = list(Checklist.select().order_by(Checklist.kind, Checklist.slug))
    return [(checklist, latest.get(checklist.id)) for checklist in checklists]


def get_checklist(slug):
    checklist = Checklist.get_or_none(Checklist.slug == slug)
    if checklist is None:
        raise NotFound(f"清单 {slug} 不存在")
    return checklist


def get_version(checklist, number=None):
    query = checklist.versions.order_by(ChecklistVersion.number.desc())
    if number is not None:
        query = query.where(ChecklistVersion.number == number)
    version = query.first()
    if version is None:
        raise NotFound("该清单版本不存在")
    return version


def sections_of(version):
    """[(section code, title, [items])] in file order, one query."""
    sections = []
    for item in version.items.order_by(ChecklistItem.position):
        if not sections or sections[-1][0] != item.section_code:
            sections.append((item.section_code, item.section_title, []))
        sections[-1][2].append(item)
    return sections


def get_item(version, code):
    item = version.items.where(ChecklistItem.code == code).first()
    if item is None:
        raise NotFound(f"检查项 {code} 不存在")
    return item
