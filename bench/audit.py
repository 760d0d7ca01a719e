"""Audit trail benchmark: appending sealed records and verifying the whole chain.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/audit.py --quick     # 20,000 records per database, under a minute
    .venv/bin/python bench/audit.py             # 100,000 records per database

On a throwaway SQLite database and a throwaway PostgreSQL server (Debian's, as the tests start
it), both migrated:

* ``<db>_append_ms``: one record appended in its own transaction (what a sign-in or a change
  adds to its request), mean of 1,000.
* ``<db>_verify_s`` and ``<db>_verify_per_s``: `inspect-app audit verify` over every record.

Progress goes to stderr; stdout holds only the ``name: value`` lines.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSPECT_INSTANCE_PATH", tempfile.mkdtemp(prefix="bench-audit-"))


def run(kind, url, records):
    from inspect_app import audit
    from inspect_app.audit import service
    from inspect_app.db import database, open_database
    from inspect_app.migrations import migrate

    db = open_database(url)
    database.initialize(db)
    db.connect()
    migrate(db)
    started = time.perf_counter()
    for i in range(1000):
        audit.record(None, "bench.single", None, f"单条记录 {i}", {"i": i})
    print(f"{kind}_append_ms: {(time.perf_counter() - started):.3f}")
    print(f"filling {kind} with {records} records…", file=sys.stderr)
    for batch in range(records // 1000):
        with db.atomic():
            for i in range(1000):
                audit.record(
                    None,
                    "task.report",
                    None,
                    f"整改任务 #{batch}：报告整改进展：已按要求整改完毕，附现场照片三张",
                    {"task": batch, "i": i},
                    before={"status": "acknowledged"},
                    after={"status": "in_progress"},
                )
    started = time.perf_counter()
    verdict = service.verify()
    took = time.perf_counter() - started
    assert verdict.ok, verdict.problem
    print(f"{kind}_verify_s: {took:.2f}")
    print(f"{kind}_verify_per_s: {verdict.count / took:.0f}")
    db.close()
    if hasattr(db, "close_all"):
        db.close_all()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    records = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as folder:
        run("sqlite", f"sqlite:///{folder}/audit.db", records)
    from tests.pg_server import PostgresServer

    server = PostgresServer().start()
    try:
        server.admin("CREATE DATABASE bench")
        run("postgres", server.url("bench"), records)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
