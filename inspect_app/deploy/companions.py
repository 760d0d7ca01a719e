"""The processes that run beside the web server, kept running by one small supervisor.

gunicorn's `when_ready` hook starts `python -m inspect_app.deploy.companions`, which starts
- the background worker (`python -m inspect_app.worker`, notice batches), and
- when serving HTTPS, the plain-HTTP port (`python -m inspect_app.deploy.plain`),
restarts either when it dies (waiting longer each time it dies young), renews the server
certificate when the machine's addresses change or it nears expiry, and stops them when gunicorn
stops (or dies). One supervisor rather than hooks in gunicorn: gunicorn reaps every child
process and only tells its hooks about its own web workers, so it cannot see a companion die.
"""

import logging
import os
import signal
import subprocess
import sys
import time

WORKER_COMMAND = [sys.executable, "-m", "inspect_app.worker"]
HTTP_COMMAND = [sys.executable, "-m", "inspect_app.deploy.plain"]
SUPERVISOR_COMMAND = [sys.executable, "-m", "inspect_app.deploy.companions"]

UPKEEP_SECONDS = 600
LIVED_LONG_ENOUGH = 30
MAX_DELAY = 60
STOP_SECONDS = 10

log = logging.getLogger("inspect_app.companions")


def child_environment():
    """Our environment, less systemd's notify socket: only gunicorn's master tells systemd the
    service is ready (a companion's own gunicorn would say so too, and be refused)."""
    return {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}


def commands(serving):
    wanted = {"worker": WORKER_COMMAND}
    if serving.http_port:
        wanted["http"] = HTTP_COMMAND
    return wanted


def certificate_upkeep(serving):
    """None, or a function that re-issues the server certificate when it no longer fits."""
    from inspect_app.deploy import tls
    from inspect_app.deploy.serving import LOCAL_CA

    if serving.tls != LOCAL_CA:
        return None

    def upkeep():
        tls.server_certificate(serving.tls_folder, tls.machine_names(serving.extra_names))

    return upkeep


class Companion:
    def __init__(self, name, command):
        self.name, self.command = name, command
        self.process, self.started, self.due, self.delay = None, 0.0, 0.0, 1

    def start(self, now):
        self.process = subprocess.Popen(self.command, env=child_environment())
        self.started = now
        log.info("started %s (pid %s)", self.name, self.process.pid)

    def check(self, now):
        if self.process is not None and self.process.poll() is None:
            return
        if self.process is not None:
            lived = now - self.started
            self.delay = 1 if lived >= LIVED_LONG_ENOUGH else min(self.delay * 2, MAX_DELAY)
            log.error(
                "%s exited with status %s after %.0f s; starting it again in %s s",
                self.name,
                self.process.returncode,
                lived,
                self.delay,
            )
            self.process, self.due = None, now + self.delay
        if now >= self.due:
            self.start(now)


class Supervisor:
    def __init__(self, wanted, *, upkeep=None, parent=None):
        self.companions = [Companion(name, command) for name, command in wanted.items()]
        self.upkeep, self.parent = upkeep, parent
        self.stopping = False

    def _stop(self, signum, frame):
        self.stopping = True

    def run(self):
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._stop)
        next_upkeep = 0.0
        while not self.stopping:
            now = time.monotonic()
            if self.parent is not None and os.getppid() != self.parent:
                log.error("the web server is gone; stopping")
                break
            for companion in self.companions:
                companion.check(now)
            if self.upkeep and now >= next_upkeep:
                next_upkeep = now + UPKEEP_SECONDS
                try:
                    self.upkeep()
                except Exception:  # a failed renewal must not stop the worker; try again later
                    log.exception("certificate upkeep failed")
            time.sleep(0.5)
        self.stop()

    def stop(self):
        running = [c.process for c in self.companions if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main():
    from inspect_app import config
    from inspect_app.deploy import logs
    from inspect_app.deploy.serving import from_environment

    logs.configure("companions")
    serving = from_environment(config.instance_path())
    Supervisor(commands(serving), upkeep=certificate_upkeep(serving), parent=os.getppid()).run()


if __name__ == "__main__":
    main()
