"""`inspect-app deploy systemd`: the service that runs the app after boot, under its own user.

One unit runs what `make run` runs: gunicorn with inspect_app.gunicorn_conf, which starts the
background worker and the plain-HTTP port beside it and stops them with it. Settings go to an
environment file readable by root only (it may hold SECRET_KEY or a database password); the
unit file itself is world-readable.
"""

import os
import pwd
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from inspect_app.config import DATA_DIR
from inspect_app.deploy import files

UNIT_NAME = "inspect-app.service"
UNIT_DIR = "/etc/systemd/system"
ENV_FILE = "/etc/inspect-app/inspect-app.env"
# What the service needs from the environment of the shell that runs this command.
SETTING_PREFIXES = ("INSPECT_",)
SETTING_NAMES = ("PORT", "WEB_WORKERS", "WEB_THREADS", "SECRET_KEY", "ACCESS_LOG")


class DeployRefused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Service:
    user: str
    instance: Path
    upload_folder: Path
    env_file: Path
    serving: object
    bin_dir: Path = Path(sys.executable).parent
    project_root: Path = DATA_DIR  # the checkout (or the installed data folder)

    def unit(self):
        gunicorn = self.bin_dir / "gunicorn"
        serving = self.serving
        ports = (
            f"HTTPS 端口 {serving.port}" if serving.tls != "off" else f"HTTP 端口 {serving.port}"
        )
        if serving.http_port:
            ports += f"，HTTP 端口 {serving.http_port}（跳转与 /ca）"
        low_ports = [p for p in (serving.port, serving.http_port) if p and p < 1024]
        lines = [
            "[Unit]",
            f"Description=督查督导系统 inspect_app（{ports}，后台任务）",
            f"Documentation=file://{self.project_root / 'docs' / 'deployment.md'}",
            "After=network-online.target postgresql.service",
            "Wants=network-online.target",
            "",
            "[Service]",
            # gunicorn tells systemd once it listens: `systemctl start` waits for the certificate
            # and the sockets, and a failure to start is reported as one.
            "Type=notify",
            "NotifyAccess=main",
            f"User={self.user}",
            f"Group={self._group()}",
            f"WorkingDirectory={self.project_root}",
            f"EnvironmentFile={self.env_file}",
            # fontconfig keeps its cache here rather than in a home folder the user lacks
            f"Environment=XDG_CACHE_HOME={self.instance / 'cache'}",
            "ExecStart="
            + shlex.join(
                [
                    str(gunicorn),
                    "--config",
                    "python:inspect_app.gunicorn_conf",
                    "inspect_app:create_app()",
                ]
            ),
            "ExecReload=/bin/kill -HUP $MAINPID",
            # SIGTERM to gunicorn only: it stops its web workers and its companions in order;
            # whatever is left after TimeoutStopSec is killed.
            "KillMode=mixed",
            "TimeoutStopSec=40",
            "Restart=on-failure",
            "RestartSec=5",
            # Everything the service writes (database, uploads, notices, keys) is its own only.
            "UMask=0077",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "ProtectSystem=full",
            "ProtectKernelTunables=yes",
            "ProtectControlGroups=yes",
            "RestrictSUIDSGID=yes",
        ]
        if low_ports:
            lines.append("AmbientCapabilities=CAP_NET_BIND_SERVICE")
        lines += [
            "SyslogIdentifier=inspect-app",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
        return "\n".join(lines)

    def _group(self):
        try:
            return _group_name(pwd.getpwnam(self.user).pw_gid)
        except KeyError:
            return self.user

    def environment(self, environ):
        """The environment file: this shell's settings, with the instance folder made absolute."""
        values = {
            key: value
            for key, value in sorted(environ.items())
            if key.startswith(SETTING_PREFIXES) or key in SETTING_NAMES
        }
        values["INSPECT_INSTANCE_PATH"] = str(self.instance)
        values.setdefault("INSPECT_UPLOAD_FOLDER", str(self.upload_folder))
        lines = ["# 督查督导系统的设置（systemd EnvironmentFile；可能含密钥，仅 root 可读）"]
        lines += [f"{key}={_quote(value)}" for key, value in values.items()]
        return "\n".join(lines) + "\n"


def _group_name(gid):
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def useradd_command(user, instance):
    return shlex.join(
        [
            "useradd",
            "--system",
            "--user-group",
            "--home-dir",
            str(instance),
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            user,
        ]
    )


def unreachable_folders(path, uid):
    """Folders on the way to `path` that the service's user cannot pass through."""
    blocked = []
    for folder in [*reversed(Path(path).parents), Path(path)]:
        info = folder.stat()
        if info.st_uid != uid and not info.st_mode & 0o001:
            blocked.append(folder)
    return blocked


def write(service, environ, *, unit_dir):
    """Write the unit and the environment file, give the instance folder to the service's user
    (folders 0700, files 0600). Returns the paths written."""
    try:
        account = pwd.getpwnam(service.user)
    except KeyError:
        raise DeployRefused(
            f"系统用户 {service.user} 不存在。请先以 root 执行：\n  "
            + useradd_command(service.user, service.instance)
        ) from None
    if account.pw_uid == 0:
        raise DeployRefused(
            "服务不能以 root 身份运行，请指定一个专用的非特权用户（如 --user inspect）"
        )
    blocked = [
        folder
        for root in (service.project_root, service.bin_dir)
        for folder in unreachable_folders(root, account.pw_uid)
    ]
    if blocked:
        raise DeployRefused(
            f"用户 {service.user} 无法进入 {blocked[0]}（权限 {oct(blocked[0].stat().st_mode & 0o777)}），"
            f"无法读取程序 {service.project_root}。请把程序放到 /opt/inspect_app 等所有用户可进入的目录后重试"
        )
    unit_path = Path(unit_dir) / UNIT_NAME
    try:
        unit_path.parent.mkdir(parents=True, exist_ok=True)
        unit_path.write_text(service.unit(), encoding="utf-8")
        os.chmod(unit_path, 0o644)
        service.env_file.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(service.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(service.environment(environ))
        os.chmod(service.env_file, 0o600)
        for folder in (service.instance, service.upload_folder):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        files.restrict(
            [service.instance, service.upload_folder],
            recursive=True,
            owner=(account.pw_uid, account.pw_gid),
        )
    except PermissionError as error:
        raise DeployRefused(f"无权写入 {error.filename}：请以 root 身份执行（sudo）") from None
    return unit_path, service.env_file
