"""`inspect-app deploy …`: putting the app into service on a server."""

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from inspect_app.deploy import systemd


@click.group("deploy", cls=AppGroup)
def deploy_group():
    """Run the app as a service."""


@deploy_group.command("systemd")
@click.option("--user", default="inspect", show_default=True, help="运行服务的专用非特权用户")
@click.option(
    "--write", is_flag=True, help="写入单元文件和设置文件，并把实例目录交给该用户（需 root）"
)
@click.option(
    "--unit-dir", default=systemd.UNIT_DIR, show_default=True, type=click.Path(file_okay=False)
)
@click.option(
    "--env-file", default=systemd.ENV_FILE, show_default=True, type=click.Path(dir_okay=False)
)
def systemd_command(user, write, unit_dir, env_file):
    """Print (or write with --write) the systemd unit that runs web server and worker."""
    config = current_app.config
    service = systemd.Service(
        user=user,
        instance=Path(config["INSTANCE_PATH"]),
        upload_folder=Path(config["UPLOAD_FOLDER"]).resolve(),
        env_file=Path(env_file),
        serving=config["SERVING"],
    )
    if not write:
        click.echo(f"# {Path(unit_dir) / systemd.UNIT_NAME}")
        click.echo(service.unit())
        click.echo(f"# {env_file}（权限 600）")
        click.echo(service.environment(os.environ))
        click.echo(
            f"# 以 root 执行 inspect-app deploy systemd --user {user} --write 写入以上文件。",
            err=True,
        )
        return
    try:
        unit_path, env_path = systemd.write(service, os.environ, unit_dir=unit_dir)
    except systemd.DeployRefused as refused:
        raise click.ClickException(refused.message) from None
    click.echo(
        f"已写入 {unit_path} 和 {env_path}（权限 600）；实例目录 {service.instance} 已交给用户 {user}（目录 700、文件 600）。"
    )
    click.echo("启动并设为开机自启：")
    click.echo("  systemctl daemon-reload && systemctl enable --now inspect-app")
    click.echo("查看状态和日志：")
    click.echo("  systemctl status inspect-app; journalctl -u inspect-app -f")
