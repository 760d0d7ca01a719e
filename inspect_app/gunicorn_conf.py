"""Production server settings for `make run` (gunicorn -c python:inspect_app.gunicorn_conf)."""

import multiprocessing
import os
import sys

# 0.0.0.0 so tablets on the LAN reach the server.
bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
# Threads, because a request mostly waits on the database or the disk, not the CPU.
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("WEB_THREADS", 8))
timeout = 60
# Tablets save every few seconds: keep their connections open between saves.
keepalive = 75
graceful_timeout = 20
accesslog = os.environ.get("ACCESS_LOG", "-")
# Each worker opens its own connections after the fork.
preload_app = False


# The background worker (notice batches) lives and dies with the web server, so `make run` is
# the only command to start. If it dies, it is started again when gunicorn reloads or reaps a
# web worker.
_worker = None
WORKER_COMMAND = [sys.executable, "-m", "inspect_app.worker"]


def _start_worker(log):
    import subprocess

    global _worker
    _worker = subprocess.Popen(WORKER_COMMAND)
    log.info("background worker started (pid %s)", _worker.pid)


def when_ready(server):
    _start_worker(server.log)


def on_reload(server):
    if _worker is not None and _worker.poll() is not None:
        _start_worker(server.log)


def child_exit(server, worker):
    # a cheap moment to notice a dead background worker and bring it back
    if _worker is not None and _worker.poll() is not None:
        _start_worker(server.log)


def on_exit(server):
    if _worker is not None and _worker.poll() is None:
        _worker.terminate()
        try:
            _worker.wait(timeout=10)
        except Exception:
            _worker.kill()
