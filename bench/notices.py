"""Notice rendering benchmark: a typical 3-page 整改通知书 against the same content as bare HTML.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/notices.py --quick     # under a minute
    .venv/bin/python bench/notices.py             # more repetitions, steadier figures

It builds a throwaway SQLite database (migrations, checklists, demo accounts) in a temporary
directory, adds 50 communities to a published 暗访 round, each with 3 findings from different
sections of the checklist (so that its 整改通知书 runs to three pages: two of text, one attachment
table), and drafts and approves their notices. Then, in one process and with one renderer, as
the web workers and the background worker do:

* ``notice_ms_p50``: what issuing renders for one notice — the admin template filled from the
  frozen data, the GB/T 9704 HTML with QR code and number, WeasyPrint to PDF bytes.
* ``floor_ms_p50``: the same text (title, paragraphs, attachment table) as bare HTML with the
  same fonts and nothing else, through the same WeasyPrint: what any PDF of this content costs.
* ``ratio`` = notice_ms_p50 / floor_ms_p50; ``pdf_kb``; ``pages``.
* ``batch_50_s``: the background job issuing the 50 approved notices (numbering, rendering,
  storing with SHA-256, the zip), timed end to end as the worker runs it.
* ``peak_rss_mb``: the process's peak resident memory.

Targets (from the issue): notice p50 <= 300 ms, ratio <= 1.5, PDF <= 300 KB, batch of 50 <= 20 s.
Progress goes to stderr; stdout holds only the ``name: value`` lines.
"""

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log(message):
    print(message, file=sys.stderr, flush=True)


def build_district(units=50, findings_per_unit=3):
    from werkzeug.datastructures import MultiDict

    from inspect_app.checklists import service as checklists
    from inspect_app.db import database
    from inspect_app.demo import load_demo
    from inspect_app.models import ChecklistItem, Finding, Inspection, Round, Unit, User, now
    from inspect_app.rounds import service as rounds

    load_demo()
    checklists.load_files(checklists.folder_files(str(ROOT / "checklists")))
    office = User.get(User.username == "duchaban")
    street = Unit.get(Unit.type == "subdistrict")
    with database.atomic():
        created = [
            Unit.create(
                code=f"BENCH-{n:03d}",
                name=f"示范街道第{n}社区党委",
                type="community",
                parent=street,
                secretary="王明",
                sort_order=1000 + n,
            )
            for n in range(1, units + 1)
        ]
    form = MultiDict(
        [
            ("name", "2026年第四季度基层党建暗访督查"),
            ("checklist", "dangjian-anfang"),
            ("starts_on", "2026-11-02"),
            ("ends_on", "2026-11-13"),
            ("unannounced", "1"),
        ]
        + [("unit_ids", str(u.id)) for u in created]
    )
    round_ = rounds.create_round(form, by=office)
    items = list(
        ChecklistItem.select()
        .where(ChecklistItem.version == round_.checklist_version_id)
        .order_by(ChecklistItem.position)
    )
    step = max(1, len(items) // findings_per_unit)
    chosen = items[::step][:findings_per_unit]
    with database.atomic():
        for inspection in Inspection.select().where(Inspection.round == round_.id):
            Finding.insert_many(
                [
                    {
                        "inspection": inspection.id,
                        "item_code": item.code,
                        "status": "confirmed",
                        "description": f"{item.text[:30]}：现场查看发现未落实，相关台账资料不全，"
                        "部分记录由一人代写，未体现党员发言内容，需补齐并规范。",
                        "severity": "一般",
                        "deadline_days": 10,
                        "measure": "对照要求逐项补齐资料，明确责任人，支部书记审核签字后报送。",
                    }
                    for item in chosen
                ]
            ).execute()
        Inspection.update(status="signed_off", signed_off_at=now()).where(
            Inspection.round == round_.id
        ).execute()
        Round.update(published_at=now(), published_by=office).where(Round.id == round_.id).execute()
    return Round.get_by_id(round_.id)


def floor_html(notice, texts):
    """The same words as the notice, as plain HTML: no GB/T layout, no QR, no letterhead."""
    from markupsafe import escape

    from inspect_app.notices.kinds import attachments

    tables = ""
    for a in attachments(notice.kind, notice.context):
        head = "".join(f"<th>{escape(c)}</th>" for c in a["columns"])
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in a["rows"]
        )
        tables += f"<h2>{escape(a['title'])}</h2><table><tr>{head}</tr>{rows}</table>"
    return (
        f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><body>'
        f"<h1>{escape(texts['title'])}</h1><p>{escape(texts['main_to'])}：</p>{texts['body']}"
        f"<p>{escape(texts['signature'])}</p>{tables}</body></html>"
    )


# Each element in the face the notice prints it in (标题 bold Song, 一、 黑体, （一） 楷体, body
# 仿宋), so that the floor embeds the same fonts; nothing else of the GB/T layout.
FLOOR_CSS = """
@page { size: A4; margin: 25mm; }
html { font-family: "FandolFang"; font-size: 16pt; line-height: 28.95pt; }
h1 { font-family: "FandolSong"; font-weight: bold; }
h2, th { font-family: "FandolHei"; font-weight: normal; }
h3 { font-family: "FandolKai"; font-weight: normal; }
table { border-collapse: collapse; font-size: 12pt; }
td, th { border: 0.5pt solid black; }
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under a minute)")
    args = parser.parse_args()
    repeat = 15 if args.quick else 60

    work = Path(tempfile.mkdtemp(prefix="inspect-bench-notices-"))
    os.environ["INSPECT_INSTANCE_PATH"] = str(work / "instance")
    try:
        from inspect_app import create_app
        from inspect_app.db import database, upgrade
        from inspect_app.models import Notice, NoticeBatch, User
        from inspect_app.notices import batches, documents, render, service

        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
                "UPLOAD_FOLDER": str(work / "uploads"),
            }
        )
        with app.app_context():
            upgrade()
            database.connect(reuse_if_open=True)
            log("building 50 units with 3 findings each …")
            round_ = build_district()
            office = User.get(User.username == "duchaban")
            leader = User.get(User.username == "lingdao")
            for unit in batches._units_needing_notice(round_):
                service.draft_rectification(round_, unit, by=office)
            batches.approve_all(round_, by=leader)
            notice = Notice.select().where(Notice.round == round_.id).first()
            texts = service.texts_of(notice)

            renderer = render.renderer()
            log("warming up …")

            def one_notice():
                html = service._html(
                    notice,
                    number="区督改〔2026〕12号",
                    verify_url="http://10.1.2.3:5000/v/" + notice.verify_token,
                )
                return documents.pdf(html, texts["layout"])

            def one_floor():
                fonts = render.font_face_css()
                return renderer.pdf(floor_html(notice, texts), fonts + FLOOR_CSS)

            for _ in range(3):
                one_notice()
                one_floor()
            notice_ms, floor_ms = [], []
            for _ in range(repeat):  # alternate, so both see the same machine
                started = time.perf_counter()
                pdf, pages = one_notice()
                notice_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                one_floor()
                floor_ms.append((time.perf_counter() - started) * 1000)
            log(f"rendered {repeat} notices and {repeat} floors")

            started = time.perf_counter()
            batch = NoticeBatch.create(
                round=round_, kind="rectification", action="issue", total=50, created_by=office
            )
            batches.run(
                batch.id,
                upload_folder=app.config["UPLOAD_FOLDER"],
                base_url="http://10.1.2.3:5000/",
            )
            batch_s = time.perf_counter() - started
            batch = NoticeBatch.get_by_id(batch.id)
            if batch.status != "done" or batch.done_count != 50:
                raise SystemExit(f"batch did not complete: {batch.status} {batch.error}")
            sizes = [n.pdf_size for n in Notice.select().where(Notice.round == round_.id)]

        notice_p50 = statistics.median(notice_ms)
        floor_p50 = statistics.median(floor_ms)
        figures = {
            "notice_ms_p50": round(notice_p50, 1),
            "notice_ms_p90": round(statistics.quantiles(notice_ms, n=10)[-1], 1),
            "floor_ms_p50": round(floor_p50, 1),
            "ratio": round(notice_p50 / floor_p50, 2),
            "pdf_kb": round(len(pdf) / 1024, 1),
            "pages": pages,
            "batch_50_s": round(batch_s, 2),
            "batch_50_pdf_kb_max": round(max(sizes) / 1024, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        for name, value in figures.items():
            print(f"{name}: {value}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
