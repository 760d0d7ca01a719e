"""Backups: one archive holding everything an instance needs, taken while it runs, and restored
only into an empty instance after its manifest has been checked.

An archive (tar.gz) holds
  database/inspect.sqlite3   SQLite's online backup API: one consistent snapshot, WAL included
  database/inspect.pgdump    or pg_dump's custom format (one repeatable-read snapshot)
  instance/secret_key        if the key lives in the instance folder (not in SECRET_KEY)
  instance/queue.db          the background jobs' queue, by the same backup API
  instance/tls/              the local certificate authority and server certificate (HTTPS)
  uploads/…                  photos, evidence files, issued notices (uploads/notices/*.pdf)
  manifest.json              SHA-256 and size of every file above, the schema ledger, app
                             version and time; written last
The database is copied first, then the files: a file is stored before the row that names it
is committed (photos, notice PDFs), so every file the copied database names is in the archive.
"""

import contextlib
import glob
import hashlib
import importlib.metadata
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from inspect_app import clock

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database/inspect.sqlite3"
PG_FILE = "database/inspect.pgdump"
LABELS = {"manual": "手动", "daily": "每日", "pre-upgrade": "升级前"}
_NAME = re.compile(r"^inspect-(manual|daily|pre-upgrade)-(\d{8})-(\d{6})(-\d+)?\.tar\.gz$")


class BackupFailed(Exception):
    """The backup could not be made; the message says why, in Chinese."""


class ArchiveRefused(Exception):
    """The archive is damaged or does not fit; nothing was restored."""


@dataclass
class Archive:
    path: Path
    sha256: str
    size: int
    manifest: dict


# -- the database ----------------------------------------------------------------------------


def database_kind(url):
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise BackupFailed(f"不支持的数据库地址：{url}")


def sqlite_path(url):
    return Path(unquote(urlsplit(url).path)[1:] if url.startswith("sqlite:///") else url)


def _sqlite_copy(source, target):
    """SQLite's online backup API: a consistent copy while others write (WAL content included)."""
    src = sqlite3.connect(f"{Path(source).resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        if dst.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise BackupFailed(f"{source} 的备份副本未通过完整性检查")
    finally:
        dst.close()
        src.close()


def _pg_tool(name):
    """The newest PostgreSQL client of that name: Debian's /usr/lib/postgresql/<n>/bin, or PATH.
    pg_dump must not be older than the server, so the newest wins."""

    def major(path):
        return int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=major)
    tool = found[-1] if found else shutil.which(name)
    if not tool:
        raise BackupFailed(
            f"找不到 {name}：PostgreSQL 数据库的备份与恢复需要它，请安装 postgresql-client 软件包"
        )
    return tool


def _pg_environment(url):
    """libpq settings from the URL; the password goes in the environment, not the command line."""
    parts = urlsplit(url)
    env = {**os.environ, "PGDATABASE": unquote(parts.path.lstrip("/"))}
    for key, value in (
        ("PGHOST", parts.hostname),
        ("PGPORT", parts.port),
        ("PGUSER", parts.username and unquote(parts.username)),
        ("PGPASSWORD", parts.password and unquote(parts.password)),
    ):
        if value:
            env[key] = str(value)
    return env


def _run_pg(tool, args, url, what):
    result = subprocess.run(
        [_pg_tool(tool), *args],
        env=_pg_environment(url),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["（无输出）"])[-1]
        raise BackupFailed(f"{what}失败（{tool} 退出码 {result.returncode}）：{detail}")


def _pg_connect(url):
    import psycopg2

    parts = urlsplit(url)
    return psycopg2.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username and unquote(parts.username),
        password=parts.password and unquote(parts.password),
        dbname=unquote(parts.path.lstrip("/")),
    )


def _ledger_sqlite(path):
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT version, name FROM schema_migration").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


def _ledger_pg(url):
    connection = _pg_connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('schema_migration')")
            if cursor.fetchone()[0] is None:
                return []
            cursor.execute("SELECT version, name FROM schema_migration")
            return cursor.fetchall()
    finally:
        connection.close()


def _dump_database(url, staging):
    """The database into `staging`; returns (archive name, ledger as [(version, name)])."""
    if database_kind(url) == "sqlite":
        source = sqlite_path(url)
        if not source.is_file():
            raise BackupFailed(f"数据库文件 {source} 不存在")
        target = staging / SQLITE_FILE
        target.parent.mkdir(parents=True)
        _sqlite_copy(source, target)
        return SQLITE_FILE, _ledger_sqlite(target)
    target = staging / PG_FILE
    target.parent.mkdir(parents=True)
    # the ledger first: a migration while pg_dump runs would show as a newer dump than recorded
    ledger = _ledger_pg(url)
    _run_pg("pg_dump", ["--format=custom", "--no-owner", f"--file={target}"], url, "pg_dump 备份")
    return PG_FILE, ledger


def has_data(url):
    """Whether any table other than the migrations ledger holds a row."""
    if database_kind(url) == "sqlite":
        path = sqlite_path(url)
        if not path.is_file() or path.stat().st_size == 0:
            return False
        connection = sqlite3.connect(path)
        try:
            tables = [
                row[0]
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' AND name != 'schema_migration'"
                )
            ]
            return any(
                connection.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() for t in tables
            )
        finally:
            connection.close()
    connection = _pg_connect(url)
    try:
        with connection.cursor() as cursor:
            for table in _pg_tables(cursor):
                if table == "schema_migration":
                    continue
                cursor.execute(f'SELECT 1 FROM "{table}" LIMIT 1')
                if cursor.fetchone():
                    return True
        return False
    finally:
        connection.close()


def _pg_tables(cursor):
    cursor.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    )
    return [row[0] for row in cursor.fetchall()]


# -- making an archive -----------------------------------------------------------------------


class _Hashing:
    """A file object that hashes what tarfile reads from it."""

    def __init__(self, stream):
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        data = self.stream.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _add(tar, arcname, path, files):
    info = tar.gettarinfo(str(path), arcname)
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    with open(path, "rb") as stream:
        hashing = _Hashing(stream)
        tar.addfile(info, hashing)
    files[arcname] = {"sha256": hashing.digest.hexdigest(), "size": hashing.size}


def _upload_files(upload_folder, skip):
    root = Path(upload_folder)
    if not root.is_dir():
        return []
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if Path(folder, d).resolve() not in skip)
        for name in sorted(names):
            if name.endswith(".part"):  # being written; its row is not committed yet
                continue
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                found.append((path.relative_to(root).as_posix(), path))
    return found


def _app_version():
    try:
        return importlib.metadata.version("inspect-app")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _free_name(folder, label, moment):
    stem = f"inspect-{label}-{moment:%Y%m%d-%H%M%S}"
    path, n = folder / f"{stem}.tar.gz", 1
    while path.exists() or path.with_name(path.name + ".part").exists():
        n += 1
        path = folder / f"{stem}-{n}.tar.gz"
    return path


def make_archive(config, *, folder=None, label="manual"):
    """One archive of the instance described by `config` (the app's config) in `folder`
    (default: BACKUP_FOLDER); written as .part and renamed when complete, owner-only."""
    if label not in LABELS:
        raise ValueError(label)
    folder = Path(folder or config["BACKUP_FOLDER"]).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise BackupFailed(f"无法创建备份目录 {folder}：{error.strerror}") from error
    instance = Path(config["INSTANCE_PATH"])
    moment = clock.now().replace(microsecond=0)
    target = _free_name(folder, label, moment)
    partial = target.with_name(target.name + ".part")
    files = {}
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=folder) as staging_name:
        staging = Path(staging_name)
        try:
            database_file, ledger = _dump_database(config["DATABASE_URL"], staging)
            queue = instance / "queue.db"
            queue_copy = None
            if queue.is_file():
                queue_copy = staging / "queue.db"
                _sqlite_copy(queue, queue_copy)
            secret = instance / "secret_key"
            with (
                open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as raw,
                tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar,
            ):
                _add(tar, database_file, staging / database_file, files)
                if queue_copy:
                    _add(tar, "instance/queue.db", queue_copy, files)
                if secret.is_file():
                    _add(tar, "instance/secret_key", secret, files)
                # the local CA: restored, tablets that installed its certificate still trust us
                for path in sorted((instance / "tls").glob("*")):
                    if path.is_file():
                        _add(tar, f"instance/tls/{path.name}", path, files)
                skip = {folder, instance.resolve()}
                for relative, path in _upload_files(config["UPLOAD_FOLDER"], skip):
                    try:
                        _add(tar, f"uploads/{relative}", path, files)
                    except FileNotFoundError:  # removed since the listing; its row is gone too
                        continue
                manifest = {
                    "format": FORMAT,
                    "app": "inspect-app",
                    "app_version": _app_version(),
                    "created_at": moment.isoformat(),
                    "label": label,
                    "database": {
                        "kind": database_kind(config["DATABASE_URL"]),
                        "file": database_file,
                    },
                    "schema": {
                        "version": max((v for v, _ in ledger), default=0),
                        "migrations": sorted([int(v), n] for v, n in ledger),
                    },
                    "secret_key": "instance/secret_key" if secret.is_file() else None,
                    "files": files,
                }
                data = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(data), 0o600, int(moment.timestamp())
                tar.addfile(info, io.BytesIO(data))
        except BaseException as error:
            partial.unlink(missing_ok=True)
            if isinstance(error, OSError | sqlite3.Error):
                raise BackupFailed(f"写入备份 {target} 时出错：{error}") from error
            raise
    os.replace(partial, target)
    return Archive(target, _sha256_of(target), target.stat().st_size, manifest)


def _sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- daily backups and retention ---------------------------------------------------------------


def daily(config):
    """The day's backup, if today has none yet (the worker asks every hour and at start, so a
    server switched off at night still gets one a day); keeps the newest BACKUP_KEEP dailies.
    Returns the new Archive, or None."""
    keep = config["BACKUP_KEEP"]
    if keep <= 0:
        return None
    folder = Path(config["BACKUP_FOLDER"])
    today = f"{clock.today():%Y%m%d}"
    if any(_NAME.match(p.name).group(2) == today for p in _dailies(folder)):
        prune(folder, keep)
        return None
    archive = make_archive(config, folder=folder, label="daily")
    prune(folder, keep)
    return archive


def _dailies(folder):
    """Daily archives, oldest first (by the time in their names)."""
    if not Path(folder).is_dir():
        return []
    found = []
    for path in Path(folder).iterdir():
        match = _NAME.match(path.name)
        if match and match.group(1) == "daily":
            found.append((match.group(2), match.group(3), int((match.group(4) or "-1")[1:]), path))
    return [path for *_, path in sorted(found)]


def newest_archive(folder):
    """(path, label, moment) of the newest archive of any kind in `folder`, by the moment in its
    name (the app's clock when it was made), or None."""
    if not Path(folder).is_dir():
        return None
    found = []
    for path in Path(folder).iterdir():
        match = _NAME.match(path.name)
        if match:
            moment = datetime.strptime(match.group(2) + match.group(3), "%Y%m%d%H%M%S")
            found.append((moment, path, match.group(1)))
    if not found:
        return None
    moment, path, label = max(found)
    return path, label, moment


def prune(folder, keep):
    """Delete all but the newest `keep` daily archives; manual and pre-upgrade ones stay."""
    dailies = _dailies(folder)
    removed = dailies[: max(0, len(dailies) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


# -- checking an archive -----------------------------------------------------------------------


def _safe_name(name):
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and ".." not in path.parts
        and path.parts
        and path.parts[0] in ("database", "instance", "uploads", MANIFEST)
    )


def _read_member(stream, destination):
    """Hash a member (and write it to `destination`, owner-only); returns its sha256 and size."""
    digest, size = hashlib.sha256(), 0
    with contextlib.ExitStack() as stack:
        out = None
        if destination is not None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            out = stack.enter_context(open(os.open(destination, flags, 0o600), "wb"))
        while block := stream.read(1 << 20):
            digest.update(block)
            size += len(block)
            if out:
                out.write(block)
    return {"sha256": digest.hexdigest(), "size": size}


def verify_archive(archive, *, into=None):
    """Read the whole archive, hashing every file (and unpacking it into `into`), and check it
    against its manifest. Returns the manifest; raises ArchiveRefused naming the first problem."""
    archive = Path(archive)
    if not archive.is_file():
        raise ArchiveRefused(f"{archive}：文件不存在")
    seen, manifest_data, current = {}, None, None
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                current = member.name
                if not member.isfile() or not _safe_name(member.name):
                    raise ArchiveRefused(
                        f"{archive}：含有不应出现的条目 {member.name}（不是本系统生成的备份，已拒绝）"
                    )
                if member.name in seen or (member.name == MANIFEST and manifest_data is not None):
                    raise ArchiveRefused(f"{archive}：条目 {member.name} 出现了两次")
                stream = tar.extractfile(member)
                if member.name == MANIFEST:
                    manifest_data = stream.read()
                    continue
                destination = None
                if into is not None:
                    destination = Path(into, *PurePosixPath(member.name).parts)
                seen[member.name] = _read_member(stream, destination)
    except ArchiveRefused:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        where = f"（读到 {current} 时中断）" if current else ""
        raise ArchiveRefused(
            f"{archive}：备份文件不完整或已损坏{where}，可能被截断：{error}"
        ) from error
    if manifest_data is None:
        raise ArchiveRefused(f"{archive}：没有清单 {MANIFEST}，不是完整的备份文件（可能被截断）")
    try:
        manifest = json.loads(manifest_data.decode("utf-8"))
        listed = manifest["files"]
        manifest["database"]["file"], manifest["schema"]["migrations"]  # noqa: B018
    except (ValueError, KeyError, TypeError) as error:
        raise ArchiveRefused(f"{archive}：清单 {MANIFEST} 无法读取（{error!r}）") from error
    if manifest.get("format") != FORMAT:
        raise ArchiveRefused(
            f"{archive}：清单格式 {manifest.get('format')} 不是本程序认识的格式 {FORMAT}"
        )
    for name, expected in sorted(listed.items()):
        if name not in seen:
            raise ArchiveRefused(f"{archive}：清单中的 {name} 不在备份文件中（备份不完整）")
        if seen[name] != {"sha256": expected.get("sha256"), "size": expected.get("size")}:
            raise ArchiveRefused(
                f"{archive}：{name} 与清单记录的 SHA-256 不一致（文件被改动或损坏），已拒绝"
            )
    extra = sorted(set(seen) - set(listed))
    if extra:
        raise ArchiveRefused(f"{archive}：{extra[0]} 不在清单中（备份文件被改动），已拒绝")
    if manifest["database"]["file"] not in seen:
        raise ArchiveRefused(f"{archive}：备份中没有数据库文件")
    return manifest


# -- restoring ---------------------------------------------------------------------------------


def _not_empty(config):
    """Why the target instance is not empty (Chinese sentences); [] when it is."""
    problems = []
    url = config["DATABASE_URL"]
    if database_kind(url) == "sqlite":
        path = sqlite_path(url)
        if path.is_file() and path.stat().st_size > 0:
            connection = sqlite3.connect(path)
            try:
                tables = connection.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                ).fetchone()[0]
            finally:
                connection.close()
            if tables:
                problems.append(f"数据库 {path} 已有 {tables} 张表")
    else:
        try:
            connection = _pg_connect(url)
        except Exception as error:
            raise ArchiveRefused(
                f"无法连接目标数据库（{error}）。请先创建一个空的 PostgreSQL 数据库再恢复"
            ) from error
        try:
            with connection.cursor() as cursor:
                tables = _pg_tables(cursor)
        finally:
            connection.close()
        if tables:
            name = urlsplit(url).path.lstrip("/")
            problems.append(f"数据库 {name} 已有 {len(tables)} 张表（例如 {tables[0]}）")
    uploads = Path(config["UPLOAD_FOLDER"])
    if uploads.is_dir() and any(p.is_file() for p in uploads.rglob("*")):
        problems.append(f"上传目录 {uploads} 中已有文件")
    queue = Path(config["INSTANCE_PATH"]) / "queue.db"
    if queue.is_file() and queue.stat().st_size > 0:
        connection = sqlite3.connect(queue)
        try:
            waiting = 0
            for table in ("task", "schedule"):
                with contextlib.suppress(sqlite3.OperationalError):
                    waiting += connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            connection.close()
        if waiting:
            problems.append(f"任务队列 {queue} 中有 {waiting} 个待办任务")
    return problems


def restore_archive(archive, config):
    """Check the archive, then write it into the empty instance `config` describes. The instance
    must not be in use (stop the web server and the worker first). Returns the manifest."""
    from inspect_app.migrations import compare

    instance = Path(config["INSTANCE_PATH"])
    instance.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=instance) as staging_name:
        staging = Path(staging_name)
        manifest = verify_archive(archive, into=staging)
        kind = database_kind(config["DATABASE_URL"])
        if manifest["database"]["kind"] != kind:
            raise ArchiveRefused(
                f"{archive}：备份来自 {manifest['database']['kind']} 数据库，当前配置的是 {kind}，"
                "不能直接恢复"
            )
        ledger = {int(v): n for v, n in manifest["schema"]["migrations"]}
        problems = compare(ledger).problems
        if problems:
            raise ArchiveRefused(
                f"{archive}：备份中的数据库与本程序版本不符：" + "；".join(problems)
            )
        occupied = _not_empty(config)
        if occupied:
            raise ArchiveRefused(
                "恢复只写入空的实例，以免覆盖现有数据："
                + "；".join(occupied)
                + "。请换一个空的实例目录和数据库（或先把它们移走），再恢复。"
            )
        if kind == "sqlite":
            target = sqlite_path(config["DATABASE_URL"])
            target.parent.mkdir(parents=True, exist_ok=True)
            for stale in (
                target.with_name(target.name + "-wal"),
                target.with_name(target.name + "-shm"),
            ):
                stale.unlink(missing_ok=True)
            shutil.move(staging / SQLITE_FILE, target.with_name(target.name + ".restoring"))
            os.replace(target.with_name(target.name + ".restoring"), target)
        else:
            _run_pg(
                "pg_restore",
                [
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                    # only the name: host, port, user and password come from the environment
                    f"--dbname={_pg_environment(config['DATABASE_URL'])['PGDATABASE']}",
                    str(staging / PG_FILE),
                ],
                config["DATABASE_URL"],
                "pg_restore 恢复",
            )
        uploads = Path(config["UPLOAD_FOLDER"])
        for name in manifest["files"]:
            if name.startswith("uploads/"):
                destination = uploads / PurePosixPath(name).relative_to("uploads")
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(staging / name, destination)
        if "instance/queue.db" in manifest["files"]:
            queue = instance / "queue.db"
            for stale in (queue.with_name("queue.db-wal"), queue.with_name("queue.db-shm")):
                stale.unlink(missing_ok=True)
            os.replace(staging / "instance/queue.db", queue)
        if manifest.get("secret_key"):
            os.replace(staging / "instance/secret_key", instance / "secret_key")
            os.chmod(instance / "secret_key", 0o600)
        tls = [name for name in manifest["files"] if name.startswith("instance/tls/")]
        if tls:
            (instance / "tls").mkdir(mode=0o700, exist_ok=True)
            for name in tls:
                target = instance / "tls" / PurePosixPath(name).name
                os.replace(staging / name, target)
                os.chmod(target, 0o600)
    return manifest
