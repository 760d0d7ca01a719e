from flask import Blueprint, current_app, flash, g, redirect, url_for

from inspect_app.auth.access import requires
from inspect_app.checklists import service
from inspect_app.checklists.parsing import ChecklistInvalid
from inspect_app.vocab import EVIDENCE, RESPONSE_TYPES, UNIT_TYPES
from inspect_app.web import render

bp = Blueprint("checklists", __name__, url_prefix="/checklists")


@bp.get("")
@requires("checklist.view")
def index():
    return render("checklists/list.html", checklists=service.all_checklists())


@bp.get("/<slug>")
@requires("checklist.view")
def show(slug):
    checklist = service.get_checklist(slug)
    return _version_page(checklist, service.get_version(checklist))


@bp.get("/<slug>/versions/<int:number>")
@requires("checklist.view")
def version(slug, number):
    checklist = service.get_checklist(slug)
    return _version_page(checklist, service.get_version(checklist, number))


def _version_page(checklist, version):
    versions = list(checklist.versions.order_by(checklist.versions.model.number.desc()))
    return render(
        "checklists/version.html",
        checklist=checklist,
        version=version,
        versions=versions,
        sections=service.sections_of(version),
        response_types=RESPONSE_TYPES,
        unit_types=UNIT_TYPES,
    )


@bp.get("/<slug>/versions/<int:number>/source")
@requires("checklist.view")
def source(slug, number):
    checklist = service.get_checklist(slug)
    return render(
        "checklists/source.html",
        checklist=checklist,
        version=service.get_version(checklist, number),
    )


@bp.get("/<slug>/versions/<int:number>/items/<code>")
@requires("checklist.view")
def preview_item(slug, number, code):
    checklist = service.get_checklist(slug)
    version = service.get_version(checklist, number)
    item = service.get_item(version, code)
    return render(
        "checklists/item_preview.html",
        checklist=checklist,
        version=version,
        item=item,
        spec=item.spec,
        evidence=EVIDENCE,
        unit_types=UNIT_TYPES,
        response_types=RESPONSE_TYPES,
    )


@bp.post("/reload")
@requires("checklist.load")
def reload():
    """Load the files in checklists/ again: changed files become new versions."""
    files = service.folder_files(current_app.config["CHECKLIST_FOLDER"])
    try:
        results = service.load_files(files, by=g.user)
    except ChecklistInvalid as invalid:
        return render(
            "checklists/list.html",
            status=422,
            checklists=service.all_checklists(),
            problems=invalid.problems,
        )
    changed = [r for r in results if r.created]
    if changed:
        names = "、".join(f"{r.version.title}（第 {r.version.number} 版）" for r in changed)
        flash(f"已载入 {len(changed)} 个新版本：{names}", "success")
    else:
        flash(f"共检查 {len(results)} 个清单文件，内容均无变化，未产生新版本", "info")
    return redirect(url_for("checklists.index"), code=303)
