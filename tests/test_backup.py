"""Backups: one archive while tablets keep saving, checked by its manifest, restored into an empty
instance with nothing acknowledged missing and every issued notice verifying by its hash."""

import io
import json
import os
import sqlite3
import stat
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from flask.cli import FlaskGroup
from huey import SqliteHuey

from inspect_app import backup, create_app
from inspect_app.db import database
from inspect_app.migrations import state
from tests.conftest import PROJECT, TEST_MOMENT, Client

SECRET = "f" * 64


@pytest.fixture
def app(db_url, tmp_path):
    """The app with an instance folder of its own: secret key, job queue, uploads, backups."""
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secret_key").write_text(SECRET)
    os.chmod(instance / "secret_key", 0o600)
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "UPLOAD_FOLDER": str(instance / "uploads"),
            "BACKUP_FOLDER": str(tmp_path / "backups"),
            "CHECKLIST_FOLDER": str(PROJECT / "checklists"),
        }
    )
    yield app
    _close()


def _close():
    if not database.is_closed():
        database.close()
    if hasattr(database.obj, "close_all"):
        database.obj.close_all()


def _queue_with_a_job(instance):
    queue = SqliteHuey("inspect_app", filename=str(Path(instance) / "queue.db"))
    queue.storage.enqueue(b"a job waiting for the worker", 0)
    queue.storage.close()


@pytest.fixture
def fresh_instance(db_kind, request, tmp_path):
    """Settings for an empty instance on a new, empty database: where a backup is restored."""
    root = tmp_path / "restored"
    if db_kind == "sqlite":
        url = f"sqlite:///{root / 'inspect.db'}"
    else:
        postgres = request.getfixturevalue("postgres")
        name = f"r_{uuid.uuid4().hex[:12]}"
        postgres.admin(f"CREATE DATABASE {name}")
        request.addfinalizer(lambda: postgres.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        url = postgres.url(name)
    return {
        "DATABASE_URL": url,
        "TESTING": True,
        "INSTANCE_PATH": str(root / "instance"),
        "UPLOAD_FOLDER": str(root / "instance" / "uploads"),
        "BACKUP_FOLDER": str(root / "backups"),
        "CHECKLIST_FOLDER": str(PROJECT / "checklists"),
    }


def _cli(app, *args):
    return app.test_cli_runner().invoke(FlaskGroup(create_app=lambda: app), list(args))


def test_backup_during_autosave_load_restores_every_acknowledged_save(
    app, login, demo, checklists_loaded, db_kind, fresh_instance, tmp_path
):
    from inspect_app.demo import load_demo_activity
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Inspection, Notice, User
    from inspect_app.notices import service as notices
    from tests.inspection_fixtures import make_round, save

    with app.app_context():
        load_demo_activity()  # issues 和平社区's 整改通知书; 迎宾社区's waits, approved
        approved = Notice.get(Notice.status == "approved")
        notices.issue(
            approved,
            by=User.get(User.username == "duchaban"),
            upload_folder=app.config["UPLOAD_FOLDER"],
            base_url="http://127.0.0.1:5000/",
        )
    issued = {n.verify_token: n.sha256 for n in Notice.select().where(Notice.status == "issued")}
    assert len(issued) == 2
    _queue_with_a_job(app.config["INSTANCE_PATH"])
    round_ = make_round(demo)
    inspection = Inspection.get(
        Inspection.round == round_.id, Inspection.unit == demo["QH-DF-HP"].id
    )

    # four tablets, each saving its own items again and again
    codes = [s["code"] for s in sheet_of(inspection).items if s["response"] == "compliance"]
    tablets = [(login(name), codes[k::4]) for k, name in enumerate(["ducha1", "zuzhang"] * 2)]
    acknowledged, failures, stop = [], [], threading.Event()

    def tablet(client, items):
        revisions, turn = dict.fromkeys(items, 0), 0
        while not stop.is_set():
            code = items[turn % len(items)]
            turn += 1
            client_id = uuid.uuid4().hex
            value = "不符合" if turn % 2 else "符合"
            try:
                response = save(
                    client,
                    inspection,
                    code,
                    {"value": value},
                    base=revisions[code],
                    client_id=client_id,
                )
            except Exception as error:  # reported below
                failures.append(repr(error))
                return
            if response.status_code != 200:
                failures.append((code, response.status_code, response.get_data(as_text=True)))
                return
            revisions[code] = response.json["revision"]
            acknowledged.append((time.monotonic(), client_id, code, revisions[code]))

    def wait_for(count):
        deadline = time.monotonic() + 120
        while len(acknowledged) < count and not failures and time.monotonic() < deadline:
            time.sleep(0.01)

    threads = [threading.Thread(target=tablet, args=tablet_items) for tablet_items in tablets]
    for thread in threads:
        thread.start()
    try:
        wait_for(60)
        started = time.monotonic()
        if db_kind == "sqlite":  # acknowledged saves sit in the WAL, not yet in inspect.db
            wal = backup.sqlite_path(app.config["DATABASE_URL"]).with_name("test.db-wal")
            assert wal.stat().st_size > 0
        archive = backup.make_archive(app.config)
        finished = time.monotonic()
        wait_for(len(acknowledged) + 30)  # and the tablets went on saving
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    before = {a[1]: a for a in acknowledged if a[0] < started}
    during = [a for a in acknowledged if started <= a[0] < finished]
    after = [a for a in acknowledged if a[0] >= finished]
    assert len(before) >= 60 and after
    print(
        f"saves acknowledged before/during/after the backup: {len(before)}/{len(during)}/{len(after)}"
    )
    assert stat.S_IMODE(archive.path.stat().st_mode) == 0o600
    assert archive.manifest["schema"]["migrations"] == [
        [v, n] for v, n in sorted(state_of(app).recorded.items())
    ]
    _close()

    restored = create_app(fresh_instance)
    result = _cli(restored, "restore", str(archive.path))
    assert result.exit_code == 0, result.output
    assert "已从" in result.output and "公文 2 个" in result.output
    from inspect_app.models import Answer, SaveReceipt

    receipts = {r.client_id: r for r in SaveReceipt.select()}
    missing = sorted(set(before) - set(receipts))
    assert missing == [], f"{len(missing)} acknowledged saves missing from the restored database"
    answers = {a.item_code: a for a in Answer.select().where(Answer.inspection == inspection.id)}
    for _, _, code, revision in before.values():
        assert answers[code].revision >= revision
    for receipt in receipts.values():  # no save without its answer, or the reverse
        assert Answer.get_by_id(receipt.answer_id).revision >= receipt.revision
    # every issued notice is there and verifies by its SHA-256
    restored_notices = Notice.select().where(Notice.status == "issued")
    assert {n.verify_token: n.sha256 for n in restored_notices} == issued
    http = Client(restored)
    for notice in restored_notices:
        data = notices.stored_pdf(notice, fresh_instance["UPLOAD_FOLDER"])
        assert notices.digests(data) == (notice.sha256, notice.sm3)  # stored_pdf checked both
        page = http.post(f"/v/{notice.verify_token}", {"file": (io.BytesIO(data), "n.pdf")})
        body = page.get_data(as_text=True)
        assert "SHA-256：一致" in body and "SM3（国密）：一致" in body
    instance = Path(fresh_instance["INSTANCE_PATH"])
    assert (instance / "secret_key").read_text() == SECRET
    assert stat.S_IMODE((instance / "secret_key").stat().st_mode) == 0o600
    queue = sqlite3.connect(instance / "queue.db")
    assert queue.execute("SELECT count(*) FROM task").fetchone()[0] == 1
    queue.close()
    assert http.get("/healthz").status_code == 200
    http.login("ducha1")
    assert http.get(f"/inspections/{inspection.id}").status_code == 200
    _close()


def state_of(app):
    with app.app_context():
        database.connect(reuse_if_open=True)
        try:
            return state(database)
        finally:
            database.close()


# -- the manifest guards the archive -----------------------------------------------------------


@pytest.fixture
def small_archive(app, demo, app_clock):
    notices = Path(app.config["UPLOAD_FOLDER"]) / "notices"
    notices.mkdir(parents=True)
    (notices / "abc.pdf").write_bytes(b"%PDF-1.7 an issued notice")
    (notices / "half-written.pdf.part").write_bytes(b"%PDF-1.7 still being written")
    tls = Path(app.config["INSTANCE_PATH"]) / "tls"
    tls.mkdir(mode=0o700, exist_ok=True)
    (tls / "ca.key").write_bytes(b"-----BEGIN PRIVATE KEY----- the local CA")
    app_clock.travel(TEST_MOMENT)  # the clock ticks on: the fixtures above may take a second
    archive = backup.make_archive(app.config)
    _close()
    return archive.path


def _members(path):
    with tarfile.open(path, "r:gz") as tar:
        return [(m, tar.extractfile(m).read()) for m in tar]


def _rewrite(source, target, change):
    with tarfile.open(target, "w:gz") as tar:
        for member, data in change(_members(source)):
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return target


def test_archive_holds_the_files_and_a_manifest_of_their_hashes(small_archive):
    members = dict((m.name, data) for m, data in _members(small_archive))
    manifest = json.loads(members["manifest.json"])
    assert set(manifest["files"]) == set(members) - {"manifest.json"}
    assert "uploads/notices/abc.pdf" in members
    assert not any(name.endswith(".part") for name in members)
    assert manifest["created_at"] == "2026-11-23T09:00:00"  # the app's clock
    assert manifest["secret_key"] == "instance/secret_key"
    assert manifest["schema"]["version"] == max(v for v, _ in manifest["schema"]["migrations"])
    assert backup.verify_archive(small_archive) == manifest


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda ms: [
                (m, d.replace(b"issued", b"forged") if m.name.endswith("abc.pdf") else d)
                for m, d in ms
            ],
            "uploads/notices/abc.pdf 与清单记录的 SHA-256 不一致",
        ),
        (
            lambda ms: [(m, d) for m, d in ms if not m.name.endswith("abc.pdf")],
            "清单中的 uploads/notices/abc.pdf 不在备份文件中",
        ),
        (
            lambda ms: [*ms, (tarfile.TarInfo("uploads/extra.txt"), b"slipped in")],
            "uploads/extra.txt 不在清单中",
        ),
        (
            lambda ms: [(m, d) for m, d in ms if m.name != "manifest.json"],
            "没有清单 manifest.json",
        ),
        (
            lambda ms: [*ms, (tarfile.TarInfo("../../etc/cron.d/evil"), b"* * * * * root sh")],
            "含有不应出现的条目 ../../etc/cron.d/evil",
        ),
    ],
    ids=["changed", "missing", "extra", "no-manifest", "outside"],
)
def test_a_tampered_archive_is_refused_naming_the_file(
    small_archive, fresh_instance, tmp_path, damage, message
):
    tampered = _rewrite(small_archive, tmp_path / "tampered.tar.gz", damage)
    target = create_app(fresh_instance)
    for args in (("restore", "--check", str(tampered)), ("restore", str(tampered))):
        result = _cli(target, *args)
        assert result.exit_code == 1, result.output
        assert message in result.output
    assert not Path(fresh_instance["UPLOAD_FOLDER"]).exists()
    assert not list(Path(fresh_instance["INSTANCE_PATH"]).glob(".restore-*"))
    assert not Path(fresh_instance["INSTANCE_PATH"], "secret_key").exists()


def test_a_truncated_archive_is_refused(small_archive, fresh_instance, tmp_path):
    data = small_archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    result = _cli(create_app(fresh_instance), "restore", str(cut))
    assert result.exit_code == 1
    assert f"{cut}：备份文件不完整或已损坏" in result.output and "可能被截断" in result.output
    if fresh_instance["DATABASE_URL"].startswith("sqlite"):
        assert not backup.sqlite_path(fresh_instance["DATABASE_URL"]).exists()
    else:
        assert not backup.has_data(fresh_instance["DATABASE_URL"])


def test_restore_refuses_an_instance_that_has_data(app, small_archive):
    from inspect_app.models import User

    before = User.select().count()
    result = _cli(app, "restore", str(small_archive))
    assert result.exit_code == 1
    assert "恢复只写入空的实例" in result.output
    assert "已有" in result.output and "张表" in result.output
    assert "上传目录" in result.output
    assert User.select().count() == before


def test_restore_refuses_a_backup_from_a_newer_program(small_archive, fresh_instance, tmp_path):
    def newer(members):
        for member, data in members:
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest["schema"]["migrations"].append([9999, "m9999_future"])
                data = json.dumps(manifest).encode()
            yield member, data

    archive = _rewrite(small_archive, tmp_path / "newer.tar.gz", newer)
    result = _cli(create_app(fresh_instance), "restore", str(archive))
    assert result.exit_code == 1
    assert "m9999_future" in result.output and "不要降级" in result.output


def test_restore_into_the_other_kind_of_database_is_refused(small_archive, db_kind, tmp_path):
    other_url, kinds = f"sqlite:///{tmp_path / 'other.db'}", ("postgresql", "sqlite")
    if db_kind == "sqlite":
        other_url, kinds = "postgresql://nobody@127.0.0.1:1/none", ("sqlite", "postgresql")
    other = create_app(
        {
            "DATABASE_URL": other_url,
            "INSTANCE_PATH": str(tmp_path / "other"),
            "UPLOAD_FOLDER": str(tmp_path / "other" / "uploads"),
        }
    )
    result = _cli(other, "restore", str(small_archive))
    assert result.exit_code == 1
    assert f"备份来自 {kinds[0]} 数据库，当前配置的是 {kinds[1]}" in result.output


def test_backup_command_writes_the_archive_where_asked_and_says_its_hash(
    app, demo, app_clock, tmp_path
):
    app_clock.travel(TEST_MOMENT)
    result = _cli(app, "backup", "--to", str(tmp_path / "elsewhere"))
    assert result.exit_code == 0, result.output
    archives = list((tmp_path / "elsewhere").glob("inspect-manual-20261123-090000.tar.gz"))
    assert len(archives) == 1
    assert backup._sha256_of(archives[0]) in result.output
    assert stat.S_IMODE((tmp_path / "elsewhere").stat().st_mode) == 0o700
    app_clock.travel(TEST_MOMENT)
    second = _cli(app, "backup", "--to", str(tmp_path / "elsewhere"))  # the same second
    assert second.exit_code == 0
    assert (tmp_path / "elsewhere" / "inspect-manual-20261123-090000-2.tar.gz").is_file()
    checked = _cli(app, "restore", "--check", str(archives[0]))
    assert checked.exit_code == 0 and "与清单一致" in checked.output


def test_backup_of_an_unreachable_database_fails_clearly(tmp_path):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'absent.db'}",
            "INSTANCE_PATH": str(tmp_path),
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "BACKUP_FOLDER": str(tmp_path / "backups"),
        }
    )
    result = _cli(app, "backup")
    assert result.exit_code == 1
    assert f"备份失败：数据库文件 {tmp_path / 'absent.db'} 不存在" in result.output
    assert list((tmp_path / "backups").iterdir()) == []  # no half-written archive left


# -- every day, kept for a while -------------------------------------------------------------


def test_daily_backup_once_a_day_keeping_the_newest(app, demo, app_clock, tmp_path):
    from datetime import datetime

    from inspect_app import worker

    folder = Path(app.config["BACKUP_FOLDER"])
    app.config["BACKUP_KEEP"] = 3
    app_clock.travel(TEST_MOMENT)
    backup.make_archive(app.config, label="manual")
    worker.bind(app)
    try:
        for day in range(20, 26):  # six days, the worker asking twice each day
            for hour in (1, 15):
                app_clock.travel(datetime(2026, 11, day, hour, 7))
                worker.daily_backup.call_local()
    finally:
        worker.bind(None)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "inspect-daily-20261123-010700.tar.gz",
        "inspect-daily-20261124-010700.tar.gz",
        "inspect-daily-20261125-010700.tar.gz",
        "inspect-manual-20261123-090000.tar.gz",  # retention is for the daily ones only
    ]
    app.config["BACKUP_KEEP"] = 0  # no daily backups
    app_clock.travel(datetime(2026, 11, 26, 1, 7))
    assert backup.daily(app.config) is None
    assert len(list(folder.iterdir())) == 4


def test_daily_backup_is_a_periodic_task_of_the_worker():
    from inspect_app import worker

    periodic = [t.name for t in worker.huey._registry.periodic_tasks]
    assert "daily_backup" in [name.rsplit(".", 1)[-1] for name in periodic]


def test_the_worker_process_makes_the_days_backup_when_it_starts(tmp_path):
    """The command gunicorn's hook runs: at start it backs up a day that has no backup yet."""
    import subprocess

    from inspect_app.deploy.companions import WORKER_COMMAND

    instance = tmp_path / "instance"
    db_path = instance / "inspect.db"
    env = {
        **os.environ,
        "INSPECT_INSTANCE_PATH": str(instance),
        "INSPECT_DATABASE_URL": f"sqlite:///{db_path}",
        "INSPECT_BACKUP_KEEP": "5",
        "INSPECT_TODAY": "2026-11-23",
    }
    setup = subprocess.run(
        [*WORKER_COMMAND[:1], "-m", "inspect_app.cli", "init-db"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert setup.returncode == 0, setup.stderr
    log = tmp_path / "worker.log"
    with open(log, "w") as output:
        process = subprocess.Popen(WORKER_COMMAND, env=env, stdout=output, stderr=output)
        try:
            deadline = time.monotonic() + 60
            found = []
            while not found and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2)
                found = list((instance / "backups").glob("inspect-daily-20261123-*.tar.gz"))
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert found, log.read_text()
    assert "daily backup written" in log.read_text()
    manifest = backup.verify_archive(found[0])
    assert manifest["label"] == "daily" and manifest["database"]["kind"] == "sqlite"


def test_the_local_certificate_authority_comes_back_with_a_restore(small_archive, fresh_instance):
    """Tablets installed the CA's certificate: a restored server must keep the same CA."""
    backup.restore_archive(small_archive, fresh_instance)
    key = Path(fresh_instance["INSTANCE_PATH"]) / "tls" / "ca.key"
    assert key.read_bytes() == b"-----BEGIN PRIVATE KEY----- the local CA"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
