"""The `inspect-app` command (also `flask --app inspect_app …`)."""

import sys
from getpass import getpass
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup

from inspect_app.checklists import service as checklists
from inspect_app.checklists.parsing import ChecklistInvalid
from inspect_app.db import upgrade
from inspect_app.errors import ValidationFailed
from inspect_app.models import Unit, User


def register_commands(app):
    app.cli.add_command(demo_command)
    app.cli.add_command(setup_command)
    app.cli.add_command(users_group)
    app.cli.add_command(checklists_group)
    app.cli.add_command(scores_group)
    app.cli.add_command(calendar_group)
    from inspect_app.deploy.commands import deploy_group

    app.cli.add_command(deploy_group)


def _print_accounts(accounts):
    from inspect_app.demo import DEMO_PASSWORD

    if not accounts:
        click.echo("演示账号均已存在，未新建。")
        return
    click.echo(f"已创建演示账号（初始密码均为 {DEMO_PASSWORD}，正式使用前请修改）：")
    for username, display_name, role, unit in accounts:
        click.echo(f"  {username:<12} {role:<6} {display_name}{'  ' + unit if unit else ''}")


def _print_rounds(rounds):
    for round_ in rounds:
        click.echo(f"已创建演示督查批次：{round_.name}")


@click.command("demo")
def demo_command():
    """Load the demo district, its accounts and the shipped checklists."""
    from inspect_app.demo import load_demo, load_demo_activity

    upgrade()
    _load_checklists(None)
    _print_accounts(load_demo())
    _print_rounds(load_demo_activity())


@click.command("setup")
def setup_command():
    """Upgrade the database, load changed checklists, and add demo data to an empty database."""
    from inspect_app.demo import load_demo

    applied = upgrade()
    if applied:
        click.echo(f"数据库迁移完成：{', '.join(f'{v:04d}' for v in applied)}")
    _load_checklists(None)
    if not Unit.select().exists() and not User.select().exists():
        from inspect_app.demo import load_demo_activity

        _print_accounts(load_demo())
        _print_rounds(load_demo_activity())
    else:
        click.echo("数据库已有数据，保留现有数据。")


@click.group("users")
def users_group():
    """Manage accounts."""


@users_group.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="姓名")
@click.option(
    "--role",
    required=True,
    type=click.Choice(
        ["admin", "supervisor", "team_leader", "inspector", "unit_liaison", "unit_head", "leader"]
    ),
)
@click.option("--unit", "unit_code", help="所属单位编码（单位联络员/负责人必填）")
@click.option("--password", help="初始密码；不给则交互输入")
def create_user_command(username, display_name, role, unit_code, password):
    """Create an account."""
    from inspect_app.users.service import create_user

    upgrade()
    unit_id = ""
    if unit_code:
        unit = Unit.get_or_none(Unit.code == unit_code)
        if unit is None:
            raise click.ClickException(f"单位编码 {unit_code} 不存在")
        unit_id = str(unit.id)
    if password is None:
        password = getpass("初始密码：")
    try:
        user = create_user(
            {
                "username": username,
                "display_name": display_name,
                "role": role,
                "unit_id": unit_id,
                "password": password,
            },
            by=None,
        )
    except ValidationFailed as error:
        raise click.ClickException("；".join(error.fields.values()) or error.message) from None
    click.echo(f"已创建账号 {user.username}")


@click.group("checklists")
def checklists_group():
    """Validate and load checklist files."""


@checklists_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate_command(paths):
    """Check checklist files; print every problem as file:line: message."""
    problems = checklists.validate_files(paths)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"共 {len(problems)} 处错误。", err=True)
        sys.exit(1)
    click.echo(f"{len(paths)} 个文件均有效。")


@checklists_group.command("load")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False))
def load_command(paths):
    """Load files (default: every file in checklists/); changed files become new versions."""
    upgrade()
    _load_checklists(paths or None)


def _load_checklists(paths):
    files = paths or checklists.folder_files(current_app.config["CHECKLIST_FOLDER"])
    try:
        results = checklists.load_files(files)
    except ChecklistInvalid as invalid:
        for problem in invalid.problems:
            click.echo(str(problem), err=True)
        click.echo(f"共 {len(invalid.problems)} 处错误，未载入任何清单。", err=True)
        sys.exit(1)
    for result in results:
        state = "新版本" if result.created else "无变化"
        click.echo(
            f"  {result.slug}: 第 {result.version.number} 版（{result.version.label}）{state}"
        )


def main():
    from inspect_app import create_app

    cli = FlaskGroup(create_app=create_app, add_default_commands=True, help="督查督导系统命令行")
    cli.main(prog_name="inspect-app")


if __name__ == "__main__":
    main()


@click.group("scores")
def scores_group():
    """Scores and rankings."""


@scores_group.command("rebuild")
def scores_rebuild_command():
    """Recompute every score line and period total from the inspections and task trails."""
    from inspect_app.models import ScoreLine, UnitScore
    from inspect_app.scores.config import rules_of
    from inspect_app.scores.service import rebuild

    upgrade()
    rebuild(rules_of(current_app.config))
    click.echo(
        f"已重算得分：{ScoreLine.select().count()} 条得分明细，"
        f"{UnitScore.select().count()} 条周期汇总。"
    )


@click.group("calendar")
def calendar_group():
    """The working-day calendar (节假日安排)."""


@calendar_group.command("import")
@click.option("--year", required=True, type=int, help="通知所安排的年份")
@click.argument("path", type=click.Path(dir_okay=False))
def calendar_import_command(year, path):
    """Enter a year from the State Council's notice text (UTF-8). All or nothing."""
    from inspect_app.holidays import service
    from inspect_app.holidays.notice import NoticeUnreadable

    upgrade()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"{path}: 无法读取：{error.strerror}") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: 不是 UTF-8 编码的文本") from None
    try:
        days, diff = service.import_notice(year, text, by=None)
    except NoticeUnreadable as unreadable:
        for problem in unreadable.problems:
            click.echo(f"{path}:{problem.line}: {problem.message}（{problem.sentence}）", err=True)
        click.echo(f"共 {len(unreadable.problems)} 处无法读懂，未保存任何内容。", err=True)
        sys.exit(1)
    except ValidationFailed as error:
        raise click.ClickException(f"{path}: {error.message}") from None
    holidays = sum(1 for e in days.values() if e.kind == "holiday")
    click.echo(
        f"已录入 {year} 年节假日安排：放假 {holidays} 天，调休上班 {len(days) - holidays} 天"
        f"（与此前相比 {len(diff)} 天有变化）。"
    )


@calendar_group.command("show")
@click.argument("year", type=int)
def calendar_show_command(year):
    """One line per date that is not an ordinary day: YYYY-MM-DD holiday|workday name."""
    from inspect_app.holidays import workdays

    upgrade()
    calendar = workdays.current()
    if not calendar.knows(year):
        click.echo(
            workdays.gap_message(year) + "；请用 inspect-app calendar import 录入。", err=True
        )
        sys.exit(1)
    for day, entry in calendar.days_of(year).items():
        click.echo(f"{day.isoformat()} {entry.kind} {entry.name}")
