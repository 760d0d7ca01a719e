"""How many gunicorn web workers and threads (WEB_WORKERS, WEB_THREADS).

Imports nothing of the app: bench/autosave.py loads this file on its own to learn what the
production config picks, without pulling Flask into its load generator."""

import multiprocessing
import os


def workers():
    return int(os.environ.get("WEB_WORKERS", multiprocessing.cpu_count() + 1))


def threads():
    # Threads, because a request mostly waits on the database or the disk, not the CPU.
    return int(os.environ.get("WEB_THREADS", 8))
