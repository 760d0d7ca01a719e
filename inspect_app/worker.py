"""The background worker: a huey consumer on a SQLite queue in the instance folder.

`make run` starts it beside the web server (gunicorn's `when_ready` hook runs
`python -m inspect_app.worker`); it renders batches of notices so that web requests stay quick,
and makes the daily backup (a periodic task, see inspect_app/backup.py).
"""

import logging

from huey import SqliteHuey, crontab

from inspect_app.config import instance_path

_folder = instance_path()
_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
huey = SqliteHuey("inspect_app", filename=str(_folder / "queue.db"))
_app = None


def bind(app):
    """Run tasks with this app (tests, or a process that already has one)."""
    global _app
    _app = app


def _application():
    global _app
    if _app is None:
        from inspect_app import create_app

        _app = create_app()
    return _app


@huey.task()
def run_notice_batch(batch_id, base_url):
    from inspect_app.db import database
    from inspect_app.notices import batches

    app = _application()
    with app.app_context():
        database.connect(reuse_if_open=True)
        try:
            batches.run(batch_id, upload_folder=app.config["UPLOAD_FOLDER"], base_url=base_url)
        finally:
            database.close()


@huey.periodic_task(crontab(minute="7"))
def daily_backup():
    """Every hour (and once at start): the day's backup, if it has none yet, and retention."""
    from inspect_app import backup

    app = _application()
    try:
        archive = backup.daily(app.config)
    except backup.BackupFailed as error:
        logging.getLogger("inspect_app.worker").error("daily backup failed: %s", error)
        return
    if archive is not None:
        logging.getLogger("inspect_app.worker").info(
            "daily backup written: %s (%d bytes)", archive.path, archive.size
        )


def main():
    from inspect_app.deploy import logs

    logs.configure("worker")
    from inspect_app.notices import render

    _application()
    try:
        render.renderer()  # import WeasyPrint and load the fonts once, before the first job
    except render.RenderRefused as error:
        logging.error("%s", error)
    daily_backup()  # a server switched off overnight gets its daily backup soon after start
    # poll at least once a second, so a batch starts while the user watches its progress bar
    huey.create_consumer(workers=1, worker_type="thread", periodic=True, max_delay=1.0).run()


if __name__ == "__main__":
    # Run the module's own copy, not __main__: huey names tasks by module, and the web processes
    # enqueue them as inspect_app.worker.run_notice_batch.
    from inspect_app import worker

    worker.main()
