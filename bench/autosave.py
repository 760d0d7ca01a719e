"""Autosave benchmark: the tablet's save path under load, against a bare Flask + peewee floor.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/autosave.py --quick     # under a minute
    .venv/bin/python bench/autosave.py             # a few minutes, steadier figures

What it starts (all on 127.0.0.1, in a temporary directory removed at the end):

* **the app** under its production server: gunicorn with ``inspect_app.gunicorn_conf`` (same
  workers and threads as production; the access log goes to /dev/null). The database is prepared
  with ``inspect-app setup`` (migrations, checklists, demo accounts), then extra inspector
  accounts, two rounds over every demo unit (党建暗访 and 五查五改五促 checklists) and one team
  per round holding all those inspectors.
* **the floor**: a bare Flask + peewee app defined here (``create_floor_app``): one POST endpoint
  at the same URL that parses the same multipart form and inserts one row into a SQLite WAL
  table, connecting and closing per request with the app's ``SQLITE_PRAGMAS``; served by the
  same gunicorn config. It is what any save costs on this stack before the app's own work.

Every simulated tablet logs in like a browser (GET /login, POST /login, GET a page for the
session's CSRF token) and saves like ``static/app.js``: a multipart POST to
``/inspections/<id>/answers/<code>`` with value, note, a fresh client_id, the base_revision
it last saw and its author's user id, ``Accept: application/json`` and ``X-CSRFToken``. Tablets own disjoint items, so a
409 means a bug. The load generator is asyncio with hand-written HTTP/1.1 over keep-alive
streams (standard library only); tablets of one account share its session cookie, which the
server cannot tell from separate logins.

Loads, run alternately on the app and the floor:

* **saturation**: 50 clients saving back to back (after a short warm-up that is not counted):
  ``autosave_rps``, ``floor_rps`` and ``ratio`` = autosave_rps / floor_rps.
* **field**: 200 tablets, each saving one answer every uniformly random 1-3 s (~100 saves/s):
  ``field_p50_ms`` / ``field_p99_ms`` for the app, ``floor_field_p99_ms`` for the floor; the
  latency of each request includes reconnecting when the server's keep-alive (2 s) has expired.
* **lost**: after both servers stopped, saves acknowledged with 200 whose effect is missing from
  the database: for the app an acknowledged client_id without a ``save_receipt`` row, or an item
  whose final revision is below its number of acknowledged saves; for the floor an acknowledged
  row that is not in the table.

Also printed: ``app_errors`` / ``floor_errors`` (non-200 responses and connection errors; the
app's split into ``app_sat_errors`` and ``app_field_errors``), peak memory during the loads
(``app_peak_rss_mb`` = sum of VmHWM of the gunicorn master and workers, ``floor_peak_rss_mb``,
``loadgen_peak_rss_mb``; the peaks are reset after the logins, whose scrypt hashing is reported
apart as ``app_login_peak_rss_mb``), server CPU per save and the load generator's own CPU.
Progress and diagnostics go to stderr; stdout holds only the ``name: value`` lines.

Targets (from the issue): ratio >= 0.6, field_p99_ms <= 25, lost = 0. Missing a target does not
change the exit status; it is non-zero only when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"  # the only address this benchmark talks to
BENCH_PASSWORD = "Bench2026x"
FLOOR_DB_ENV = "BENCH_FLOOR_DATABASE_URL"
REQUEST_TIMEOUT = 30.0  # seconds for one request, connect included
CLIENT_IDLE_LIMIT = 1.5  # reconnect before gunicorn's 2 s keep-alive closes an idle connection
BOOT_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
CSRF_RE = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
USER_RE = re.compile(r'data-user-id="(\d+)"')
COMPLIANCE_VALUES = ("符合", "不符合", "基本符合")


@dataclass(frozen=True)
class Profile:
    sat_clients: int
    sat_warmup: float
    sat_seconds: float
    tablets: int
    field_seconds: float
    accounts: int


QUICK = Profile(
    sat_clients=50, sat_warmup=1.0, sat_seconds=8.0, tablets=200, field_seconds=15.0, accounts=20
)
FULL = Profile(
    sat_clients=50, sat_warmup=3.0, sat_seconds=30.0, tablets=200, field_seconds=60.0, accounts=60
)


_T0 = time.monotonic()


def log(message):
    print(f"[bench {time.monotonic() - _T0:5.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The floor: a bare Flask + peewee app, imported by gunicorn as autosave:create_floor_app().
# Flask and peewee are imported inside so the load generator does not carry them.
# --------------------------------------------------------------------------------------------

FLOOR_SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_save (
    id INTEGER NOT NULL PRIMARY KEY,
    client_id VARCHAR(64) NOT NULL,
    inspection_id INTEGER NOT NULL,
    item_code VARCHAR(32) NOT NULL,
    value TEXT NOT NULL,
    note TEXT NOT NULL,
    saved_at DATETIME NOT NULL
)
"""


def create_floor_app():
    from datetime import datetime

    from flask import Flask, jsonify, request
    from peewee import CharField, DateTimeField, IntegerField, Model, TextField
    from playhouse.db_url import connect

    from inspect_app.db import SQLITE_PRAGMAS

    database = connect(os.environ[FLOOR_DB_ENV], pragmas=SQLITE_PRAGMAS, timeout=5)

    class FloorSave(Model):
        client_id = CharField(max_length=64)
        inspection_id = IntegerField()
        item_code = CharField(max_length=32)
        value = TextField()
        note = TextField()
        saved_at = DateTimeField(default=datetime.now)

        class Meta:
            table_name = "floor_save"

    FloorSave._meta.set_database(database)
    app = Flask("floor")

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(exc):
        if not database.is_closed():
            database.close()

    @app.post("/inspections/<int:inspection_id>/answers/<code>")
    def save(inspection_id, code):
        row = FloorSave.create(
            client_id=request.form.get("client_id", ""),
            inspection_id=inspection_id,
            item_code=code,
            value=request.form.get("value", ""),
            note=request.form.get("note", ""),
        )
        return jsonify(id=row.id, saved_at=row.saved_at.strftime("%H:%M:%S"))

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app


# --------------------------------------------------------------------------------------------
# Preparing the app's database (runs in a subprocess, so the load generator stays small).
# --------------------------------------------------------------------------------------------


def prepare_app_database(out_path, accounts):
    """Bench inspectors, two rounds over every unit, one team per round; writes the work list."""
    from werkzeug.datastructures import MultiDict

    from inspect_app import create_app
    from inspect_app.auth.service import hash_password
    from inspect_app.db import database
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import User
    from inspect_app.rounds import service as rounds
    from inspect_app.vocab import UNIT_TYPES

    app = create_app()
    with app.app_context(), database.connection_context():
        # One hash for every account, as the demo loader does: hashing 60 passwords costs seconds.
        password_hash = hash_password(BENCH_PASSWORD)
        bench_users = []
        with database.atomic():
            for n in range(1, accounts + 1):
                bench_users.append(
                    User.create(
                        username=f"bench{n:03d}",
                        display_name=f"测试{n:03d}",
                        role="inspector",
                        password_hash=password_hash,
                    )
                )
        supervisor = User.get(User.username == "duchaban")
        leader = User.get(User.username == "zuzhang")
        members = [User.get(User.username == name) for name in ("ducha1", "ducha2")] + bench_users
        pairs = []
        for slug, name in (
            ("dangjian-anfang", "压测批次：基层党建暗访"),
            ("wucha-wugai-wucu", "压测批次：五查五改五促"),
        ):
            form = MultiDict(
                [
                    ("name", name),
                    ("checklist", slug),
                    ("starts_on", "2026-11-20"),
                    ("ends_on", "2026-12-10"),
                    ("unannounced", "1"),
                ]
                + [("unit_types", code) for code in UNIT_TYPES]
            )
            round_ = rounds.create_round(form, by=supervisor)
            inspections = list(round_.inspections)
            rounds.add_team(
                round_,
                MultiDict(
                    [("name", "压测督查组"), ("leader_id", str(leader.id))]
                    + [("member_ids", str(user.id)) for user in members]
                    + [("inspection_ids", str(i.id)) for i in inspections]
                ),
                by=supervisor,
            )
            for inspection in inspections:
                for spec in sheet_of(inspection).items:
                    if spec["response"] == "compliance":
                        pairs.append([inspection.id, spec["code"]])
    result = {
        "accounts": [[user.username, BENCH_PASSWORD] for user in bench_users],
        "pairs": pairs,
        "inspections": len({p[0] for p in pairs}),
    }
    Path(out_path).write_text(json.dumps(result, ensure_ascii=False))


# --------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client over asyncio streams.
# --------------------------------------------------------------------------------------------


class ServerClosed(ConnectionError):
    """The server closed the connection before any byte of the response."""


@dataclass
class Response:
    status: int
    headers: dict
    cookies: list
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


def build_request(port, method, path, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def multipart(fields):
    """The body a browser's FormData makes (static/app.js posts FormData)."""
    boundary = "----benchFormBoundary" + uuid.uuid4().hex[:16]
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    ]
    parts.append(f"--{boundary}--\r\n")
    return f"multipart/form-data; boundary={boundary}", "".join(parts).encode("utf-8")


class Connection:
    """One keep-alive connection; reopened when idle too long or closed by the server."""

    def __init__(self, port, stats):
        self.port = port
        self.stats = stats
        self.reader = None
        self.writer = None
        self.last_used = 0.0

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def _open(self):
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.stats.connects += 1

    async def request(self, raw):
        async with asyncio.timeout(REQUEST_TIMEOUT):
            stale = (
                self.writer is None
                or self.reader.at_eof()
                or time.monotonic() - self.last_used > CLIENT_IDLE_LIMIT
            )
            if stale:
                self.close()
                await self._open()
            try:
                response = await self._exchange(raw)
            except ServerClosed:
                if stale:
                    raise
                # The server dropped a reused idle connection before reading the request:
                # nothing was applied, so send it again on a fresh one (as browsers do).
                self.stats.resent += 1
                self.close()
                await self._open()
                response = await self._exchange(raw)
        self.last_used = time.monotonic()
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    async def _exchange(self, raw):
        reader = self.reader
        try:
            self.writer.write(raw)
            await self.writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            self.close()
            if not error.partial:
                raise ServerClosed("connection closed before the response") from None
            raise
        except (ConnectionResetError, BrokenPipeError) as error:
            self.close()
            raise ServerClosed(str(error)) from None
        try:
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers, cookies = {}, []
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip()
                if name == "set-cookie":
                    cookies.append(value)
                else:
                    headers[name] = value
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = await self._chunked(reader)
            else:
                body = await reader.read()
                headers["connection"] = "close"
        except BaseException:
            self.close()
            raise
        return Response(status, headers, cookies, body)

    @staticmethod
    async def _chunked(reader):
        chunks = []
        for _ in range(100_000):  # bounded; the request timeout bounds the time
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            chunks.append((await reader.readexactly(size + 2))[:-2])
        raise ValueError("too many chunks")


# --------------------------------------------------------------------------------------------
# Tablets: sessions, items they own, the save protocol.
# --------------------------------------------------------------------------------------------


@dataclass
class Stats:
    connects: int = 0
    resent: int = 0
    errors: dict = field(default_factory=dict)

    def error(self, kind):
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def error_count(self):
        return sum(self.errors.values())

    def errors_since(self, before):
        return {k: n - before.get(k, 0) for k, n in self.errors.items() if n - before.get(k, 0)}


@dataclass
class Item:
    inspection_id: int
    code: str
    revision: int = 0  # the revision this tablet last saw
    acked: list = field(default_factory=list)  # client_ids acknowledged with 200


@dataclass
class Session:
    cookies: dict
    csrf: str
    user_id: str  # each save names its author, as the tablet's outbox does

    @property
    def cookie_header(self):
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())


def take_cookies(cookies, set_cookie_values):
    for raw in set_cookie_values:
        name, _, value = raw.split(";", 1)[0].partition("=")
        cookies[name.strip()] = value.strip()


async def login(port, username, password, stats):
    conn = Connection(port, stats)
    cookies = {}
    try:
        page = await conn.request(build_request(port, "GET", "/login"))
        take_cookies(cookies, page.cookies)
        match = CSRF_RE.search(page.text)
        if page.status != 200 or not match:
            raise RuntimeError(f"GET /login: {page.status}")
        body = urlencode(
            {"username": username, "password": password, "csrf_token": match.group(1)}
        ).encode()
        jar = Session(cookies, "", "")
        done = await conn.request(
            build_request(
                port,
                "POST",
                "/login",
                [
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Cookie", jar.cookie_header),
                ],
                body,
            )
        )
        take_cookies(cookies, done.cookies)
        if done.status != 303:
            raise RuntimeError(f"POST /login as {username}: {done.status}")
        page = await conn.request(
            build_request(port, "GET", "/account/password", [("Cookie", jar.cookie_header)])
        )
        take_cookies(cookies, page.cookies)
        match = CSRF_RE.search(page.text)
        user = USER_RE.search(page.text)
        if page.status != 200 or not match or not user:
            raise RuntimeError(f"GET /account/password as {username}: {page.status}")
        return Session(cookies, match.group(1), user.group(1))
    finally:
        conn.close()


class Tablet:
    def __init__(self, port, session, items, stats, rng):
        self.port = port
        self.session = session
        self.items = items
        self.stats = stats
        self.rng = rng
        self.conn = Connection(port, stats)
        self.turn = 0

    async def save(self):
        """One autosave of this tablet's next item; (ok, seconds) with ok None on no response."""
        item = self.items[self.turn % len(self.items)]
        self.turn += 1
        client_id = uuid.uuid4().hex
        value = self.rng.choice(COMPLIANCE_VALUES)
        note = "现场查看发现未落实，已当场指出" if value == "不符合" else ""
        content_type, body = multipart(
            [
                ("value", value),
                ("note", note),
                ("client_id", client_id),
                ("base_revision", str(item.revision)),
                ("author", self.session.user_id),
            ]
        )
        raw = build_request(
            self.port,
            "POST",
            f"/inspections/{item.inspection_id}/answers/{quote(item.code)}",
            [
                ("Accept", "application/json"),
                ("X-CSRFToken", self.session.csrf),
                ("Cookie", self.session.cookie_header),
                ("Content-Type", content_type),
            ],
            body,
        )
        started = time.perf_counter()
        try:
            response = await self.conn.request(raw)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ValueError,
        ) as error:
            self.conn.close()
            self.stats.error(type(error).__name__)
            return None, time.perf_counter() - started
        elapsed = time.perf_counter() - started
        if response.status != 200:
            self.stats.error(str(response.status))
            if response.status == 409:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    item.revision = response.json()["current"]["revision"]
            return False, elapsed
        try:
            revision = response.json().get("revision")
        except (ValueError, AttributeError):
            self.stats.error("200 without JSON")
            return False, elapsed
        item.acked.append(client_id)
        if isinstance(revision, int):
            item.revision = revision
        return True, elapsed

    def close(self):
        self.conn.close()


# --------------------------------------------------------------------------------------------
# Servers.
# --------------------------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def venv_tool(name):
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    return str(Path(sys.executable).parent / name)


class Server:
    """A gunicorn process group started with the app's production config."""

    def __init__(self, label, app_spec, env, log_path, extra_args=()):
        self.label = label
        self.port = int(env["PORT"])
        self.log_path = log_path
        self.peaks = {}  # pid -> highest VmHWM seen, kB
        self.cpu_ticks = {}  # pid -> utime+stime last seen
        command = [
            venv_tool("gunicorn"),
            "--config",
            "python:inspect_app.gunicorn_conf",
            "--bind",
            f"{HOST}:{self.port}",
            "--access-logfile",
            "/dev/null",
            # Its own control socket: two servers at once must not share ~/.gunicorn/gunicorn.ctl.
            "--control-socket",
            str(Path(log_path).with_suffix(".ctl")),
            *extra_args,
            app_spec,
        ]
        self.log_file = open(log_path, "wb")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, lines=30):
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, workers):
        deadline = time.monotonic() + BOOT_TIMEOUT
        stats = Stats()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} server exited:\n{self.log_tail()}")
            conn = Connection(self.port, stats)
            try:
                response = await conn.request(build_request(self.port, "GET", "/healthz"))
                if response.status == 200 and len(self.pids()) >= workers + 1:
                    return
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                pass
            finally:
                conn.close()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.label} server not ready in {BOOT_TIMEOUT:.0f} s")

    def pids(self):
        """The master and every process in its group (the workers)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == self.proc.pid:  # process group id
                found.append(int(entry))
        return found

    def sample(self):
        """Remember each process's peak RSS and CPU so far; returns the live pids."""
        live = []
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
            if match:
                self.peaks[pid] = max(self.peaks.get(pid, 0), int(match.group(1)))
            fields = stat[stat.rindex(")") + 2 :].split()
            self.cpu_ticks[pid] = int(fields[11]) + int(fields[12])
            live.append(pid)
        return live

    def reset_peaks(self):
        """Start peak RSS afresh (Linux: 5 > /proc/<pid>/clear_refs); False if not allowed."""
        done = True
        for pid in self.pids():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                done = False
        self.peaks.clear()
        return done

    def cpu_seconds(self):
        self.sample()
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self, live):
        return sum(self.peaks.get(pid, 0) for pid in live) / 1024

    def terminate(self):
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self):
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"{self.label} server did not stop in {STOP_TIMEOUT:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        self.log_file.close()


def gunicorn_workers():
    """Workers and threads the production config picks (readiness waits for every worker).

    The file is loaded on its own, not as inspect_app.deploy.sizing, so that importing it does
    not pull Flask into the load generator."""
    spec = importlib.util.spec_from_file_location(
        "_bench_sizing", ROOT / "inspect_app" / "deploy" / "sizing.py"
    )
    sizing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sizing)
    return sizing.workers(), sizing.threads()


# --------------------------------------------------------------------------------------------
# Loads.
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    label: str
    server: Server
    sessions: list
    items: list  # every Item, shared across phases (revisions carry over)
    stats: Stats = field(default_factory=Stats)

    def tablets(self, count, seed):
        """`count` tablets owning disjoint items; tablet i uses session i mod len(sessions)."""
        rng = random.Random(seed)
        return [
            Tablet(
                self.server.port,
                self.sessions[i % len(self.sessions)],
                self.items[i::count],
                self.stats,
                random.Random(rng.random()),
            )
            for i in range(count)
        ]


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))  # nearest rank
    return ordered[min(len(ordered), max(1, rank)) - 1]


async def saturation(target, profile):
    tablets = target.tablets(profile.sat_clients, seed=1)
    start = time.monotonic()
    window_start = start + profile.sat_warmup
    end = window_start + profile.sat_seconds
    counted, latencies = [0], []

    async def run(tablet):
        for _ in range(10_000_000):  # bounded; the deadline ends it long before
            if time.monotonic() >= end:
                return
            ok, elapsed = await tablet.save()
            finished = time.monotonic()
            if ok and window_start <= finished <= end:
                counted[0] += 1
                latencies.append(elapsed)
            if ok is None:
                await asyncio.sleep(0.05)  # connection trouble: do not spin

    errors_before = dict(target.stats.errors)
    cpu_before = target.server.cpu_seconds()
    own_before = time.process_time()
    await asyncio.sleep(0)
    try:
        await asyncio.gather(*(run(t) for t in tablets))
    finally:
        for tablet in tablets:
            tablet.close()
    wall = profile.sat_seconds
    server_cpu = target.server.cpu_seconds() - cpu_before
    own_cpu = time.process_time() - own_before
    total = time.monotonic() - start
    rps = counted[0] / wall
    return {
        "rps": rps,
        "p50_ms": percentile(latencies, 50) * 1000,
        "cpu_ms_per_save": 1000 * server_cpu / max(1, counted[0]) * (wall / total),
        "loadgen_cpu_pct": 100 * own_cpu / total,
        "errors": target.stats.errors_since(errors_before),
    }


async def field_load(target, profile):
    tablets = target.tablets(profile.tablets, seed=2)
    start = time.monotonic()
    end = start + profile.field_seconds
    latencies = []

    async def run(tablet):
        next_at = start + tablet.rng.uniform(0, 2)  # tablets do not start in step
        for _ in range(100_000):  # bounded; at least 1 s per turn
            now = time.monotonic()
            if next_at >= end:
                return
            if next_at > now:
                await asyncio.sleep(next_at - now)
            ok, elapsed = await tablet.save()
            if ok is not None:
                latencies.append(elapsed)
            next_at = max(next_at + tablet.rng.uniform(1.0, 3.0), time.monotonic())

    errors_before = dict(target.stats.errors)
    own_before = time.process_time()
    try:
        await asyncio.gather(*(run(t) for t in tablets))
    finally:
        for tablet in tablets:
            tablet.close()
    total = time.monotonic() - start
    return {
        "saves": len(latencies),
        "rate": len(latencies) / profile.field_seconds,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "loadgen_cpu_pct": 100 * (time.process_time() - own_before) / total,
        "errors": target.stats.errors_since(errors_before),
    }


# --------------------------------------------------------------------------------------------
# Lost saves.
# --------------------------------------------------------------------------------------------


def lost_in_app(db_path, items):
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        receipts = {row[0] for row in db.execute("SELECT client_id FROM save_receipt")}
        revisions = {
            (row[0], row[1]): row[2]
            for row in db.execute("SELECT inspection_id, item_code, revision FROM answer")
        }
    lost = 0
    for item in items:
        missing = sum(1 for cid in item.acked if cid not in receipts)
        shortfall = len(item.acked) - revisions.get((item.inspection_id, item.code), 0)
        lost += max(missing, shortfall, 0)
    return lost


def lost_in_floor(db_path, items):
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rows = {row[0] for row in db.execute("SELECT client_id FROM floor_save")}
    return sum(1 for item in items for cid in item.acked if cid not in rows)


# --------------------------------------------------------------------------------------------
# The run.
# --------------------------------------------------------------------------------------------


def run_checked(command, env, label, timeout=120):
    result = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{label} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


async def bench(profile, tmp, results):
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("INSPECT_")}
    base_env["ACCESS_LOG"] = "/dev/null"
    base_env.pop("PYTHONPATH", None)
    # Plain HTTP for both: what is measured is the app's work against the floor's, and TLS
    # would cost both the same. No plain-HTTP port beside them either.
    base_env["INSPECT_TLS"] = "off"
    app_env = {
        **base_env,
        "PORT": str(free_port()),
        "INSPECT_INSTANCE_PATH": str(tmp / "instance"),
        "INSPECT_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
    }
    floor_db = tmp / "floor.db"
    floor_env = {
        **base_env,
        "PORT": str(free_port()),
        FLOOR_DB_ENV: f"sqlite:///{floor_db}",
        # the production config still reads the app's settings: keep its files out of instance/
        "INSPECT_INSTANCE_PATH": str(tmp / "floor-instance"),
    }
    with sqlite3.connect(floor_db) as db:
        db.execute("PRAGMA journal_mode=wal")
        db.execute(FLOOR_SCHEMA)
    workers, threads = gunicorn_workers()
    log(f"gunicorn: {workers} workers x {threads} threads (inspect_app.gunicorn_conf)")

    servers = []
    try:
        # The floor boots while the app's database is prepared; both idle until measured.
        floor = Server(
            "floor",
            "autosave:create_floor_app()",
            floor_env,
            tmp / "floor.log",
            ["--pythonpath", str(BENCH_DIR)],
        )
        servers.append(floor)
        started = time.monotonic()
        run_checked([venv_tool("inspect-app"), "setup"], app_env, "inspect-app setup")
        # setup wrote the secret key; the app's workers boot (they open no database connection
        # until a request comes) while the benchmark's accounts and rounds are added.
        app = Server("app", "inspect_app:create_app()", app_env, tmp / "app.log")
        servers.append(app)
        work_file = tmp / "work.json"
        run_checked(
            [
                venv_tool("python"),
                str(Path(__file__).resolve()),
                "--prepare",
                str(work_file),
                "--accounts",
                str(profile.accounts),
            ],
            app_env,
            "preparing the app database",
        )
        work = json.loads(work_file.read_text())
        log(
            f"database ready in {time.monotonic() - started:.1f} s: {len(work['accounts'])} "
            f"inspectors, {work['inspections']} inspections, {len(work['pairs'])} items"
        )
        await asyncio.gather(app.wait_ready(workers), floor.wait_ready(workers))
        log(f"servers ready after {time.monotonic() - started:.1f} s")

        login_stats = Stats()
        started = time.monotonic()
        sem = asyncio.Semaphore(8)

        async def one_login(username, password):
            async with sem:
                return await login(app.port, username, password, login_stats)

        sessions = await asyncio.gather(*(one_login(u, p) for u, p in work["accounts"]))
        log(f"{len(sessions)} logins in {time.monotonic() - started:.1f} s")
        # Logging in hashes with scrypt (32 MiB each): report that peak on its own, then measure
        # the saves from a fresh peak.
        login_peak = app.peak_rss_mb(app.sample())
        peaks_reset = all([app.reset_peaks(), floor.reset_peaks()])
        if not peaks_reset:
            log("could not reset peak RSS; app_peak_rss_mb includes the logins")
        floor_session = Session({"inspect_session": "x" * 180}, "y" * 90, "1")

        def items():
            pairs = list(work["pairs"])
            random.Random(3).shuffle(pairs)  # spread each tablet's items over inspections
            return [Item(inspection_id, code) for inspection_id, code in pairs]

        app_target = Target("app", app, sessions, items())
        floor_target = Target("floor", floor, [floor_session], items())
        if len(app_target.items) < max(profile.tablets, profile.sat_clients):
            raise RuntimeError("not enough items for one per tablet")

        sat, fld = {}, {}
        for target in (app_target, floor_target):
            log(f"saturation on the {target.label}: {profile.sat_clients} clients")
            sat[target.label] = await saturation(target, profile)
            target.server.sample()
            log(f"  {sat[target.label]}")
        for target in (app_target, floor_target):
            log(f"field on the {target.label}: {profile.tablets} tablets")
            fld[target.label] = await field_load(target, profile)
            target.server.sample()
            log(f"  {fld[target.label]}")

        peaks = {}
        for target in (app_target, floor_target):
            live = target.server.sample()
            peaks[target.label] = target.server.peak_rss_mb(live)
            each = ", ".join(
                f"{pid}{'(master)' if pid == target.server.proc.pid else ''} "
                f"{target.server.peaks.get(pid, 0) / 1024:.0f}"
                for pid in sorted(live)
            )
            log(f"{target.label} peak RSS MB per process: {each}")
            restarted = len(set(target.server.peaks) - set(live))
            if restarted:
                log(f"{target.label}: {restarted} processes exited during the run")
        started = time.monotonic()
        for server in servers:
            server.terminate()
        for server in servers:
            server.stop()
        log(f"servers stopped in {time.monotonic() - started:.1f} s")

        lost_app = lost_in_app(tmp / "bench.db", app_target.items)
        lost_floor = lost_in_floor(floor_db, floor_target.items)
        for target in (app_target, floor_target):
            if target.stats.errors:
                log(f"{target.label} errors: {target.stats.errors}")
        if lost_app or lost_floor:
            log(f"lost: app {lost_app}, floor {lost_floor}")

        ratio = sat["app"]["rps"] / sat["floor"]["rps"] if sat["floor"]["rps"] else float("nan")
        results.update(
            {
                "autosave_rps": round(sat["app"]["rps"], 1),
                "floor_rps": round(sat["floor"]["rps"], 1),
                "ratio": round(ratio, 3),
                "field_p50_ms": round(fld["app"]["p50_ms"], 2),
                "field_p99_ms": round(fld["app"]["p99_ms"], 2),
                "floor_field_p50_ms": round(fld["floor"]["p50_ms"], 2),
                "floor_field_p99_ms": round(fld["floor"]["p99_ms"], 2),
                "field_max_ms": round(fld["app"]["max_ms"], 2),
                "field_saves_per_s": round(fld["app"]["rate"], 1),
                "lost": lost_app + lost_floor,
                "app_errors": app_target.stats.error_count,
                "floor_errors": floor_target.stats.error_count,
                "app_sat_errors": sum(sat["app"]["errors"].values()),
                "app_field_errors": sum(fld["app"]["errors"].values()),
                "autosave_sat_p50_ms": round(sat["app"]["p50_ms"], 2),
                "floor_sat_p50_ms": round(sat["floor"]["p50_ms"], 2),
                "app_cpu_ms_per_save": round(sat["app"]["cpu_ms_per_save"], 2),
                "floor_cpu_ms_per_save": round(sat["floor"]["cpu_ms_per_save"], 2),
                "app_peak_rss_mb": round(peaks["app"], 1),
                "floor_peak_rss_mb": round(peaks["floor"], 1),
                "app_login_peak_rss_mb": round(login_peak, 1),
                "loadgen_sat_cpu_pct": round(
                    max(sat["app"]["loadgen_cpu_pct"], sat["floor"]["loadgen_cpu_pct"]), 1
                ),
                "workers": workers,
                "threads": threads,
            }
        )
    finally:
        for server in servers:
            try:
                server.stop()
            except Exception as error:  # keep stopping the others
                log(f"stopping {server.label}: {error}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run, under a minute")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--prepare", metavar="OUT", help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=None, help="bench inspector accounts")
    args = parser.parse_args(argv)

    if args.prepare:
        prepare_app_database(args.prepare, args.accounts or QUICK.accounts)
        return 0

    profile = QUICK if args.quick else FULL
    if args.accounts:
        profile = Profile(**{**profile.__dict__, "accounts": args.accounts})

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    tmp = Path(tempfile.mkdtemp(prefix="inspect-bench-"))
    results = {}
    began = time.monotonic()
    try:
        asyncio.run(bench(profile, tmp, results))
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        log(f"benchmark could not run: {error}")
        return 1
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results["loadgen_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    results["elapsed_s"] = round(time.monotonic() - began, 1)
    for name, value in results.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
