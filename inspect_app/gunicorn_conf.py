"""Production server settings for `make run` (gunicorn -c python:inspect_app.gunicorn_conf)."""

import multiprocessing
import os

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
