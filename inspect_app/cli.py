"""The `inspect-app` command (also `flask --app inspect_app …`)."""

import os
import sys
from getpass import getpass
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup

from inspect_app.checklists import service as checklists
from inspect_app.checklists.parsing import ChecklistInvalid
from inspect_app.db import upgrade
from inspect_app.errors import ValidationFailed
from inspect_app.models import Unit, User
from inspect_app.vocab import ROLES


def register_commands(app):
    app.cli.add_command(demo_command)
    app.cli.add_command(setup_command)
    app.cli.add_command(users_group)
    app.cli.add_command(checklists_group)
    app.cli.add_command(scores_group)
    app.cli.add_command(calendar_group)
    from inspect_app.deploy.commands import deploy_group

    app.cli.add_command(deploy_group)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(audit_group)


def _print_accounts(accounts):
    from inspect_app.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    if not accounts:
        click.echo("演示账号均已存在，未新建。")
        return
    click.echo(f"已创建演示账号（初始密码均为 {DEMO_PASSWORD}，首次登录时须修改）：")
    for username, display_name, role, unit in accounts:
        click.echo(f"  {username:<12} {role:<6} {display_name}{'  ' + unit if unit else ''}")
    from inspect_app.auth.permissions import is_administrator

    created = User.select().where(User.username.in_([username for username, *_ in accounts]))
    admins = [user.username for user in created if is_administrator(user)]
    if admins:
        click.echo(
            f"系统管理员（{'、'.join(admins)}）登录须输入双因素验证码：在手机身份验证器中手动添加"
            f"密钥 {DEMO_TOTP_SECRET}（基于时间），或在本机执行 oathtool --totp -b {DEMO_TOTP_SECRET}"
        )


def _print_rounds(rounds):
    for round_ in rounds:
        click.echo(f"已创建演示督查批次：{round_.name}")


@click.command("demo")
def demo_command():
    """Load the demo district, its accounts and the shipped checklists."""
    from inspect_app.demo import load_demo, load_demo_activity

    if current_app.config["PRODUCTION"]:
        raise click.ClickException("生产模式（INSPECT_PRODUCTION=1）下不载入演示数据")
    upgrade()
    _load_checklists(None)
    _print_accounts(load_demo())
    _print_rounds(load_demo_activity())


@click.command("setup")
@click.option(
    "--production",
    is_flag=True,
    help="生产环境：不载入演示数据，空数据库时创建首个系统管理员（也可设 INSPECT_PRODUCTION=1）",
)
@click.option("--admin-username", help="首个系统管理员的用户名（不给则在终端询问）")
@click.option("--admin-name", help="首个系统管理员的姓名（不给则在终端询问）")
@click.option(
    "--admin-password-stdin",
    is_flag=True,
    help="从标准输入读取首个管理员的密码（一行）；也可用环境变量 INSPECT_ADMIN_PASSWORD",
)
def setup_command(production, admin_username, admin_name, admin_password_stdin):
    """Upgrade the database and load changed checklists; then, on an empty database, add the demo
    data, or in production ask for the first administrator."""
    production = production or current_app.config["PRODUCTION"]
    if not production and (admin_username or admin_name or admin_password_stdin):
        raise click.ClickException(
            "--admin-username、--admin-name、--admin-password-stdin 只用于 --production"
        )
    applied = upgrade()
    if applied:
        click.echo(f"数据库迁移完成：{', '.join(f'{v:04d}' for v in applied)}")
    _load_checklists(None)
    if production:
        if User.select().exists():
            click.echo("数据库已有账号，保留现有数据。")
            _warn_about_demo_accounts()
        else:
            password = _password_from_automation(admin_password_stdin)
            user = _first_admin(admin_username, admin_name, password)
            click.echo(f"已创建首个系统管理员 {user.username}（{user.display_name}）。")
            click.echo("首次登录后须用手机身份验证器绑定双因素认证（扫描页面上的二维码）。")
        return
    if not Unit.select().exists() and not User.select().exists():
        from inspect_app.demo import load_demo, load_demo_activity

        _print_accounts(load_demo())
        _print_rounds(load_demo_activity())
    else:
        click.echo("数据库已有数据，保留现有数据。")


def _warn_about_demo_accounts():
    from inspect_app.demo import ACCOUNTS

    names = [name for name, *_ in ACCOUNTS] + ["admin"]  # the demo's one administrator until m0014
    present = [u.username for u in User.select().where(User.username.in_(names))]
    if present:
        click.echo(
            f"注意：数据库中有演示账号（{'、'.join(present)}）。正式使用前请在“账号管理”中停用它们。",
            err=True,
        )


def _password_from_automation(from_stdin):
    """The first administrator's password for scripted installs: one line on stdin, or
    INSPECT_ADMIN_PASSWORD; None means ask at the terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.ClickException("--admin-password-stdin：标准输入中没有读到密码")
        return line.rstrip("\r\n")
    return os.environ.get("INSPECT_ADMIN_PASSWORD") or None


FIRST_ADMIN_LABELS = {"username": "用户名", "display_name": "姓名", "password": "密码"}


def _first_admin(username, display_name, password):
    """Create the first administrator, asking at the terminal for whatever the flags did not give;
    a refused answer is asked again, a refused flag stops with its message."""
    from inspect_app.users.service import create_first_admin

    click.echo("数据库中还没有任何账号，请创建首个系统管理员。")
    values = {"username": username, "display_name": display_name, "password": password}
    given = {field for field, value in values.items() if value}
    try:
        for _attempt in range(5):
            if not values["username"]:
                values["username"] = click.prompt("用户名", default="", show_default=False)
            if not values["display_name"]:
                values["display_name"] = click.prompt("姓名", default="", show_default=False)
            if not values["password"]:
                values["password"] = _ask_password()
            try:
                return create_first_admin(values)
            except ValidationFailed as refused:
                for field, message in refused.fields.items():
                    click.echo(f"{FIRST_ADMIN_LABELS.get(field, field)}：{message}", err=True)
                if not refused.fields or set(refused.fields) & given:
                    raise click.ClickException(refused.message) from None
                for field in refused.fields:
                    values[field] = None
    except click.Abort:
        raise click.ClickException(
            "没有读到输入，未创建管理员。请在终端中运行 inspect-app setup --production 按提示填写，"
            "或用 --admin-username、--admin-name 加 INSPECT_ADMIN_PASSWORD（或 --admin-password-stdin）"
        ) from None
    raise click.ClickException("多次输入无效，未创建管理员")


def _ask_password():
    from inspect_app.auth.policy import current_policy

    while True:
        first = click.prompt(
            f"密码（{current_policy().describe()}）",
            default="",
            show_default=False,
            hide_input=True,
        )
        if not first:
            click.echo("密码：密码不能为空", err=True)
            continue
        again = click.prompt("再次输入密码", default="", show_default=False, hide_input=True)
        if first == again:
            return first
        click.echo("密码：两次输入的密码不一致，请重新输入", err=True)


@click.group("users")
def users_group():
    """Manage accounts."""


@users_group.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="姓名")
@click.option(
    "--role",
    required=True,
    type=click.Choice(list(ROLES)),
    help="角色代码：" + "，".join(f"{code} {label}" for code, label in ROLES.items()),
)
@click.option("--unit", "unit_code", help="所属单位编码（单位联络员/负责人必填）")
@click.option("--password", help="初始密码；不给则交互输入")
def create_user_command(username, display_name, role, unit_code, password):
    """Create an account with any role, at the server's shell (in the app, accounts start with no
    role and the security administrator grants one)."""
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


@users_group.command("reset-password")
@click.argument("username")
@click.option("--password", help="临时密码；不给则交互输入")
def reset_password_command(username, password):
    """Give an account a temporary password (e.g. a locked-out administrator); its owner must
    change it at the next sign-in."""
    from inspect_app.users.service import reset_password

    upgrade()
    user = User.get_or_none(User.username == username)
    if user is None:
        raise click.ClickException(f"账号 {username} 不存在")
    if password is None:
        password = getpass("临时密码：")
    try:
        reset_password(user, password, by=None)
    except ValidationFailed as error:
        raise click.ClickException("；".join(error.fields.values()) or error.message) from None
    click.echo(f"已重置 {username} 的密码；下次登录时须修改密码。")


@users_group.command("reset-two-factor")
@click.argument("username")
def reset_two_factor_command(username):
    """Clear an account's second factor (a lost phone, e.g. the security administrator's own);
    it enrols again at next sign-in where the policy requires it."""
    from inspect_app.auth import two_factor

    upgrade()
    user = User.get_or_none(User.username == username)
    if user is None:
        raise click.ClickException(f"账号 {username} 不存在")
    two_factor.reset(user, by=None)
    click.echo(f"已重置 {username} 的双因素认证；该账号的登录会话已全部结束。")


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


@click.command("backup")
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False),
    help="备份目录（默认为 INSPECT_BACKUP_DIR，未设置时为 instance/backups）",
)
def backup_command(folder):
    """Write one consistent archive of the instance (database, uploads and issued notices, secret
    key, job queue, manifest of SHA-256 sums) while the app keeps running."""
    from inspect_app import backup

    try:
        archive = backup.make_archive(current_app.config, folder=folder)
    except backup.BackupFailed as error:
        raise click.ClickException(f"备份失败：{error}") from None
    _describe(archive.manifest)
    _record_backup(archive)
    click.echo(f"已备份到 {archive.path}（{archive.size / 1048576:.1f} MB）")
    click.echo(f"备份文件的 SHA-256：{archive.sha256}（请与备份文件分开记录，以便日后核对）")


def _record_backup(archive):
    """An archive holds every record and the secret key: its making is in the audit trail (when
    the database is upgraded far enough to have one)."""
    from inspect_app import audit
    from inspect_app.db import database
    from inspect_app.migrations import state

    with database.connection_context():
        if state(database).current:
            audit.record(
                None,
                "system.backup",
                None,
                f"命令行备份：{archive.path.name}（{archive.size / 1048576:.1f} MB）",
                {"sha256": archive.sha256},
            )


def _describe(manifest):
    files = manifest["files"]
    uploads = sum(1 for name in files if name.startswith("uploads/"))
    notices = sum(1 for name in files if name.startswith("uploads/notices/"))
    click.echo(
        f"  数据库（{manifest['database']['kind']}，结构版本 {manifest['schema']['version']:04d}），"
        f"上传文件 {uploads} 个（其中公文 {notices} 个），"
        f"{'含' if manifest.get('secret_key') else '不含'}密钥，"
        f"{'含' if 'instance/queue.db' in files else '不含'}任务队列；"
        f"备份于 {manifest['created_at']}，程序版本 {manifest['app_version']}"
    )


@click.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="只校验备份文件（SHA-256 与清单），不恢复")
def restore_command(archive, check):
    """Check an archive against its manifest and restore it into this empty instance (stop the
    web server and the worker first)."""
    from inspect_app import backup
    from inspect_app.migrations import compare

    try:
        if check:
            manifest = backup.verify_archive(archive)
            _describe(manifest)
            click.echo(f"{archive}：全部 {len(manifest['files'])} 个文件与清单一致。")
            return
        manifest = backup.restore_archive(archive, current_app.config)
    except (backup.ArchiveRefused, backup.BackupFailed) as error:
        raise click.ClickException(str(error)) from None
    _describe(manifest)
    click.echo(f"已从 {archive} 恢复。")
    if manifest.get("secret_key") and os.environ.get("SECRET_KEY"):
        click.echo("注意：设置了环境变量 SECRET_KEY，它优先于恢复的 instance/secret_key。")
    ledger = {int(v): n for v, n in manifest["schema"]["migrations"]}
    if compare(ledger).pending:
        click.echo("备份的数据库结构比本程序旧：请运行 inspect-app setup 升级后再启动服务。")


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
    from inspect_app import audit

    audit.record(None, "scores.rebuild", None, "命令行：重算全部得分和周期汇总")
    click.echo(
        f"已重算得分：{ScoreLine.select().count()} 条得分明细，"
        f"{UnitScore.select().count()} 条周期汇总。"
    )


@click.group("calendar", cls=AppGroup)
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


@click.group("audit", cls=AppGroup)
def audit_group():
    """The audit trail (安全审计): verify its hash chain, prune records older than 180 days."""


@audit_group.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    metavar="N:HASH",
    help="核对第 N 条记录仍在且哈希为 HASH（此前记在服务器之外的链尾）",
)
def audit_verify_command(anchors):
    """Walk the hash chain; exit 1 naming the first record that does not fit."""
    from inspect_app.audit import service

    upgrade()
    verdict = service.verify()
    if not verdict.ok:
        click.echo(f"审计链校验失败：{verdict.problem}", err=True)
        click.echo(f"（此前的 {verdict.count} 条记录校验通过）", err=True)
        sys.exit(1)
    problems = []
    for anchor in anchors:
        seq, _, expected = anchor.partition(":")
        if not seq.strip().isdigit() or not expected.strip():
            raise click.ClickException(f"--anchor {anchor}：应写成 条号:哈希，如 1234:9f2c…")
        problem = service.check_anchor(int(seq), expected)
        if problem:
            problems.append(problem)
    for problem in problems:
        click.echo(f"审计链校验失败：{problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo(verdict.summary)
    if verdict.pruned_through:
        click.echo(f"第 {verdict.pruned_through} 条及以前的记录已按保留期清理（有清理检查点）。")
    if verdict.count:
        click.echo(
            f"请把链尾（{verdict.head_seq}:{verdict.head_hash}）记在服务器之外，"
            "日后用 --anchor 核对，可发现被截断或整链改写的记录。"
        )


@audit_group.command("prune")
@click.option(
    "--before",
    required=True,
    help="删除此日期（YYYY-MM-DD）以前的审计记录；须早于今天 180 天以上",
)
def audit_prune_command(before):
    """Delete records older than DATE (at least 180 days ago), leaving a checkpoint record."""
    from datetime import date

    from inspect_app.audit import service

    try:
        day = date.fromisoformat(before.strip())
    except ValueError:
        raise click.ClickException(f"--before {before}：日期应写成 YYYY-MM-DD") from None
    upgrade()
    try:
        deleted = service.prune(day, by=None)
    except service.RetentionRefused as refused:
        raise click.ClickException(refused.message) from None
    if deleted:
        click.echo(f"已删除 {day.isoformat()} 以前的审计记录 {deleted} 条，并记录了清理检查点。")
    else:
        click.echo(f"{day.isoformat()} 以前没有可清理的审计记录。")
