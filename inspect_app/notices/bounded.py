"""Admin templates are rendered by warm worker processes (sandbox.py), bounded in time and memory.

Jinja's sandbox keeps a template away from Python's internals but not from building a 100 MB
string (`|center(20000000)`, `"%20000000s" % x`) or looping 10⁸ times: the tester saved such a
template as the live one (preview 31 s, save 40 s). So every render of an admin template — the
save-time sample render, previews, drafting, issuing — runs in a worker process whose address
space is capped at MEMORY_MB and whose CPU time is capped per job; the caller waits at most
WALL_SECONDS and then kills it. A refused template costs at most that much, once.

Workers are started on first use (about 0.1 s: Python and Jinja only), kept warm and reused, at
most POOL_SIZE per app process; a thread that finds them all busy waits for one (a plain
blocking queue, no timed wait, which libfaketime would never wake). A killed or crashed worker
is replaced on the next use. After a fork (gunicorn's workers) a process starts its own.
"""

import atexit
import json
import logging
import os
import queue
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from inspect_app.errors import Busy

SANDBOX = Path(__file__).with_name("sandbox.py")
WALL_SECONDS = 4  # a real notice renders in milliseconds
CPU_SECONDS = 5  # the kernel's backstop should the wall-clock wait ever not end it
MEMORY_MB = 256  # address space of a worker (Python and Jinja take about 25 MB of it)
POOL_SIZE = 2
START_SECONDS = 30

log = logging.getLogger(__name__)
_TIMEOUT = object()
_CLOSED = object()


class _Worker:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(SANDBOX), str(MEMORY_MB)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self.buffer = bytearray()
        if self._read(time.monotonic() + START_SECONDS) in (_TIMEOUT, _CLOSED):
            self.kill()
            raise Busy("公文模板的运行进程无法启动，请稍后重试或联系系统管理员")

    def _read(self, deadline):
        """The next message, _TIMEOUT at the deadline, or _CLOSED if the worker is gone."""
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return _TIMEOUT
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return _CLOSED
            self.buffer += chunk
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        return json.loads(line)

    def run(self, sources, context):
        """(outcome, healthy): {"texts": …} or {"error": …}; healthy is False when this worker
        must not be used again."""
        job = {"sources": sources, "context": context, "cpu_seconds": CPU_SECONDS}
        try:
            self.process.stdin.write(json.dumps(job, ensure_ascii=False).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"error": {"kind": "died", "field": None}}, False
        deadline = time.monotonic() + WALL_SECONDS
        field = None
        while True:
            message = self._read(deadline)
            if message is _TIMEOUT:
                return {"error": {"kind": "time", "field": field}}, False
            if message is _CLOSED:
                return {"error": {"kind": "died", "field": field}}, False
            if "field" in message and len(message) == 1:
                field = message["field"]
                continue
            healthy = message.get("error", {}).get("kind") != "memory"
            return message, healthy

    def alive(self):
        return self.process.poll() is None

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()


class _Pool:
    """Slots of a LIFO queue: a warm worker, or None (a worker may be started there)."""

    def __init__(self, size):
        self.pid = os.getpid()
        self.slots = queue.LifoQueue()
        for _ in range(size):
            self.slots.put(None)
        self.workers = set()
        self.lock = threading.Lock()

    def render(self, sources, context):
        worker = self.slots.get()  # blocks while every worker is busy
        healthy = False
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    self._discard(worker)
                    worker = None
                worker = _Worker()
                with self.lock:
                    self.workers.add(worker)
            outcome, healthy = worker.run(sources, context)
            return outcome
        finally:
            if healthy:
                self.slots.put(worker)
            else:
                if worker is not None:
                    self._discard(worker)
                self.slots.put(None)

    def _discard(self, worker):
        with self.lock:
            self.workers.discard(worker)
        worker.kill()

    def close(self):
        with self.lock:
            workers, self.workers = list(self.workers), set()
        for worker in workers:
            worker.kill()


_pool = None
_pool_lock = threading.Lock()


def render(sources, context):
    """Render each template source with `context` in a bounded worker. Returns {"texts": {field:
    text}} or {"error": {"kind": syntax|render|too_long|memory|time|died, "field": …, …}}."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = _Pool(POOL_SIZE)  # a forked child never uses its parent's workers
        pool = _pool
    outcome = pool.render(sources, context)
    if outcome.get("error", {}).get("kind") in ("time", "memory", "died"):
        log.warning("notice template stopped: %s", outcome["error"])
    return outcome


@atexit.register
def _close():
    if _pool is not None and _pool.pid == os.getpid():
        _pool.close()
