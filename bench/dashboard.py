"""Dashboard and ranking benchmark: a district of 1,000 units, 200 rounds, 200,000 answers and
20,000 tasks, on SQLite and on PostgreSQL.

    .venv/bin/python bench/dashboard.py --quick    # under a minute
    .venv/bin/python bench/dashboard.py            # more requests per page, steadier figures

For each database it builds a fresh, migrated database (PostgreSQL: a throwaway server from
Debian's packages, as the tests start it), loads the checklists, and generates the district in
bulk: 1 district, 20 streets with 700 communities, 279 departments, schools, state enterprises
and new organisations; 200 signed-off 半年考评 rounds from January 2025 to November 2026 over 31
or 32 units each (6,250 inspections × 32 answers = 200,000 answers, about 12 % of them losing
points); 20,000 tasks with their trails (assigned, acknowledged, reported, some sent back, most
closed, some overdue). Then `scores.service.rebuild` writes the score lines and period totals
the way sign-off and task events keep them, and the app's own pages are timed through Flask's
test client as 领导 (lingdao): the whole request, rendering included, no network.

Prints one `name: value` line each: `<db>_dashboard_ms_p50`, `<db>_ranking_ms_p50` (the
community ranking of the year 2026: 700 rows), their p90, the generation and rebuild times, the row counts and
`peak_rss_mb` (this process's peak resident memory). Target: both p50 ≤ 60 ms.
"""

import argparse
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_INSTANCE = tempfile.mkdtemp(prefix="inspect-bench-")
os.environ["INSPECT_INSTANCE_PATH"] = _INSTANCE

from inspect_app import create_app  # noqa: E402
from inspect_app.db import database  # noqa: E402

UNITS, ROUNDS, ANSWERS, TASKS = 1000, 200, 200_000, 20_000
PERIOD = "2026-Y"  # the heaviest period the pages show: every unit ranked, a year of lines


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def batches(rows, size=1000):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def generate(app, seed=7):
    from inspect_app.auth.service import hash_password
    from inspect_app.checklists import service as checklists
    from inspect_app.inspections.service import sheet_for
    from inspect_app.models import (
        Answer,
        Checklist,
        ChecklistVersion,
        Inspection,
        Round,
        Task,
        TaskEvent,
        Unit,
        User,
    )

    rng = random.Random(seed)
    with app.app_context():
        checklists.load_files(checklists.folder_files(app.config["CHECKLIST_FOLDER"]))
        version = (
            ChecklistVersion.select()
            .join(Checklist)
            .where(Checklist.slug == "bannian-kaoping")
            .get()
        )
        User.create(
            username="lingdao",
            display_name="陈志刚",
            role="leader",
            password_hash=hash_password("Demo2026"),
        )
        with database.atomic():
            district = Unit.create(code="D", name="中共测试区委", type="district")
            units = []
            streets = [
                Unit.create(
                    code=f"S{i:02d}",
                    name=f"第{i}街道党工委",
                    type="subdistrict",
                    parent=district,
                    sort_order=i,
                )
                for i in range(20)
            ]
            rows = [
                {
                    "code": f"C{i:03d}",
                    "name": f"第{i}社区党委",
                    "type": "community",
                    "parent": streets[i % 20].id,
                    "sort_order": 100 + i,
                }
                for i in range(700)
            ]
            others = (("department", 179), ("school", 60), ("soe", 20), ("new_org", 20))
            n = 0
            for kind, count in others:
                for _ in range(count):
                    rows.append(
                        {
                            "code": f"O{n:03d}",
                            "name": f"第{n}单位党支部",
                            "type": kind,
                            "parent": district.id,
                            "sort_order": 1000 + n,
                        }
                    )
                    n += 1
            for chunk in batches(rows):
                Unit.insert_many(chunk).execute()
            units = list(Unit.select().where(Unit.type != "district"))
            assert len(units) + 1 == UNITS, len(units)
        items = [(i.code, Decimal(i.max_points or 0)) for i in version.items]
        assert len(items) == 32
        rated = [u for u in units if u.type != "subdistrict"]
        start = date(2025, 1, 6)
        rounds = []
        for r in range(ROUNDS):
            ends = start + timedelta(days=r * 683 // (ROUNDS - 1))  # to 20 November 2026
            rounds.append(
                {
                    "name": f"第{r + 1}次党建考评",
                    "kind": "半年考评",
                    "checklist_version": version.id,
                    "starts_on": ends,
                    "ends_on": ends,
                    "published_at": datetime.now(),
                }
            )
        with database.atomic():
            for chunk in batches(rounds):
                Round.insert_many(chunk).execute()
        round_rows = list(Round.select().order_by(Round.id))
        per_round = ANSWERS // len(items) // ROUNDS  # 31.25 → 31 or 32 units per round
        inspections = []
        for r, round_ in enumerate(round_rows):
            count = per_round + (1 if r % 4 == 0 else 0)
            for unit in rng.sample(rated, count):
                inspections.append((round_, unit))
        assert len(inspections) * len(items) == ANSWERS, len(inspections)
        with database.atomic():
            rows = [
                {
                    "round": r.id,
                    "unit": u.id,
                    "status": "signed_off",
                    "signed_off_at": datetime.combine(r.ends_on, datetime.min.time()),
                }
                for r, u in inspections
            ]
            for chunk in batches(rows):
                Inspection.insert_many(chunk).execute()
        ids = {
            (i.round_id, i.unit_id): i.id
            for i in Inspection.select(Inspection.id, Inspection.round, Inspection.unit)
        }
        scores = {}
        answer_rows = []
        for round_, unit in inspections:
            inspection_id = ids[(round_.id, unit.id)]
            sheet = sheet_for(version.id, unit.type)
            got = top = Decimal(0)
            for code, maximum in items:
                lost = Decimal(0)
                if rng.random() < 0.12:
                    lost = min(maximum, Decimal(rng.choice((0.5, 1, 1, 2))))
                score = maximum - lost
                answer_rows.append(
                    {
                        "inspection": inspection_id,
                        "item_code": code,
                        "value": {"counts": {}},
                        "failing": lost > 0,
                        "score": score,
                        "revision": 1,
                    }
                )
                if code in sheet.by_code:
                    got, top = got + score, top + maximum
            scores[inspection_id] = (got, top)
        with database.atomic():
            for chunk in batches(answer_rows, 2000):
                Answer.insert_many(chunk).execute()
            for inspection_id, (got, top) in scores.items():
                Inspection.update(score=got, max_score=top).where(
                    Inspection.id == inspection_id
                ).execute()
        task_rows, plans = [], []
        for n in range(TASKS):
            round_, unit = inspections[rng.randrange(len(inspections))]
            assigned = round_.ends_on + timedelta(days=rng.randint(1, 5))
            deadline = assigned + timedelta(days=rng.randint(10, 30))
            fate = rng.random()
            if assigned > date(2026, 11, 1):
                fate = 0.99  # recent: still open
            plans.append((assigned, deadline, fate))
            task_rows.append(
                {
                    "round": round_.id,
                    "lead_unit": unit.id,
                    "title": f"整改任务{n}",
                    "measures": "限期整改",
                    "responsible_person": "书记",
                    "deadline": deadline,
                    "severity": "一般",
                    "status": "closed" if fate < 0.85 else "in_progress",
                    "sent_back_count": 1 if fate < 0.15 else 0,
                    "closed_at": None,
                }
            )
        with database.atomic():
            for chunk in batches(task_rows):
                Task.insert_many(chunk).execute()
        task_ids = [t.id for t in Task.select(Task.id).order_by(Task.id)]
        events = []
        for task_id, (assigned, deadline, fate) in zip(task_ids, plans, strict=True):
            at = datetime.combine(assigned, datetime.min.time()) + timedelta(hours=9)
            events.append(
                {
                    "task": task_id,
                    "at": at,
                    "action": "create",
                    "from_status": "",
                    "to_status": "assigned",
                    "detail": {"deadline": deadline.isoformat()},
                }
            )
            events.append(
                {
                    "task": task_id,
                    "at": at + timedelta(days=1),
                    "action": "acknowledge",
                    "from_status": "assigned",
                    "to_status": "acknowledged",
                }
            )
            events.append(
                {
                    "task": task_id,
                    "at": at + timedelta(days=rng.randint(2, 16)),
                    "action": "report",
                    "from_status": "acknowledged",
                    "to_status": "in_progress",
                    "text": "已整改",
                }
            )
            if fate < 0.85:
                closed = at + timedelta(days=rng.randint(8, 40))
                if fate < 0.15:
                    events.append(
                        {
                            "task": task_id,
                            "at": closed - timedelta(days=2),
                            "action": "send_back",
                            "from_status": "pending",
                            "to_status": "sent_back",
                            "text": "佐证不足",
                        }
                    )
                events.append(
                    {
                        "task": task_id,
                        "at": closed,
                        "action": "close",
                        "from_status": "pending",
                        "to_status": "closed",
                    }
                )
        with database.atomic():
            for chunk in batches(events, 2000):
                TaskEvent.insert_many(chunk).execute()
        return {
            "units": UNITS,
            "rounds": len(round_rows),
            "answers": len(answer_rows),
            "tasks": len(task_ids),
            "task_events": len(events),
        }


def time_pages(app, repeats):
    from tests.conftest import Client

    client = Client(app)
    client.login("lingdao", "Demo2026")
    pages = {
        "dashboard": f"/dashboard?period={PERIOD}",
        "ranking": f"/rankings?period={PERIOD}&scope=type:community",
    }
    figures = {}
    for name, url in pages.items():
        for _ in range(3):  # warm-up: templates compiled, caches filled
            assert client.get(url).status_code == 200, url
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            response = client.get(url)
            body = response.get_data()
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and body, url
        times.sort()
        figures[f"{name}_ms_p50"] = statistics.median(times)
        figures[f"{name}_ms_p90"] = times[int(len(times) * 0.9) - 1]
    return figures


def run(kind, url, repeats):
    from inspect_app.db import upgrade
    from inspect_app.scores.config import DEFAULT_RULES
    from inspect_app.scores.service import rebuild

    app = create_app(
        {"DATABASE_URL": url, "TESTING": True, "CHECKLIST_FOLDER": str(ROOT / "checklists")}
    )
    with app.app_context():  # upgrade reads the app's settings (backups, scoring rules)
        upgrade()
    started = time.perf_counter()
    counts = generate(app)
    generated = time.perf_counter() - started
    log(f"{kind}: generated {counts} in {generated:.1f} s")
    started = time.perf_counter()
    with app.app_context():
        rebuild(DEFAULT_RULES)
    rebuilt = time.perf_counter() - started
    with app.app_context():
        from inspect_app.models import ScoreLine, UnitScore

        lines, totals = ScoreLine.select().count(), UnitScore.select().count()
    log(f"{kind}: rebuilt {lines} score lines and {totals} period totals in {rebuilt:.1f} s")
    figures = time_pages(app, repeats)
    if not database.is_closed():
        database.close()
    if hasattr(database.obj, "close_all"):
        database.obj.close_all()
    result = {f"{kind}_{name}": round(value, 1) for name, value in figures.items()}
    result[f"{kind}_generate_s"] = round(generated, 1)
    result[f"{kind}_rebuild_s"] = round(rebuilt, 1)
    result[f"{kind}_score_lines"] = lines
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer timed requests (under a minute)"
    )
    parser.add_argument("--db", choices=("all", "sqlite", "postgres"), default="all")
    args = parser.parse_args(argv)
    repeats = 15 if args.quick else 60
    results = {}
    workdir = Path(tempfile.mkdtemp(prefix="inspect-bench-db-"))
    try:
        if args.db in ("all", "sqlite"):
            results.update(run("sqlite", f"sqlite:///{workdir / 'bench.db'}", repeats))
        if args.db in ("all", "postgres"):
            from tests.pg_server import PostgresServer

            server = PostgresServer().start()
            try:
                server.admin("CREATE DATABASE bench")
                results.update(run("postgres", server.url("bench"), repeats))
            finally:
                server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(_INSTANCE, ignore_errors=True)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for name, value in results.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
