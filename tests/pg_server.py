"""A throwaway PostgreSQL server for the test run, from Debian's packages, on a free local port."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin_dir():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError(
            "找不到 PostgreSQL（initdb）。请执行 make test，它会安装 Debian 的 postgresql 软件包。"
        )
    return Path(candidates[-1]).parent


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl start; as root the server runs as the `postgres` system user."""

    def __init__(self):
        self.bin = _bin_dir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="inspect-pg-"))
        self.data = self.root / "data"
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = "postgres"
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def _run(self, *args):
        command = [str(self.bin / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(
            command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root
        )

    def start(self):
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "inspect",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL 未能在 30 秒内启动")

    def url(self, database):
        return f"postgresql://inspect@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements):
        """Run statements (CREATE/DROP DATABASE) outside a transaction."""
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="inspect", dbname="postgres"
        )
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def stop(self):
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
