"""Health, configuration and the command line, as an operator meets them."""

import os
import stat
import subprocess
import sys
from datetime import date

import pytest

from inspect_app import config
from inspect_app.migrations import head_version
from tests.conftest import Client


def test_healthz_reports_app_and_database_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "app": "up",
        "database": "up",
        "schema_version": head_version(),
        "schema_current": True,
    }


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSPECT_INSTANCE_PATH", str(tmp_path))
    first = config.from_environment()["SECRET_KEY"]
    second = config.from_environment()["SECRET_KEY"]
    key_file = tmp_path / "secret_key"
    assert first == second == key_file.read_text().strip()
    assert len(first) == 64
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_secret_key_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert config.from_environment()["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


def test_database_url_defaults_to_sqlite_in_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("INSPECT_DATABASE_URL", raising=False)
    assert config.from_environment()["DATABASE_URL"] == f"sqlite:///{tmp_path / 'inspect.db'}"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app, db_kind):
    from inspect_app.db import database

    if db_kind != "sqlite":
        return
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000


def _cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_setup_creates_demo_once_and_keeps_data_on_second_run(tmp_path):
    env = {
        **os.environ,
        "INSPECT_INSTANCE_PATH": str(tmp_path),
        "INSPECT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "INSPECT_TODAY": "2026-11-23",  # the demo is dated from the app's clock
    }
    first = _cli("setup", env=env)
    assert first.returncode == 0, first.stderr
    assert "xitong" in first.stdout and "hp-lianluo" in first.stdout
    assert "已创建演示督查批次：2026年第四季度基层党建暗访督查（东风街道）" in first.stdout
    issued = list((tmp_path / "uploads" / "notices").glob("*.pdf"))
    assert len(issued) == 1 and issued[0].read_bytes().startswith(b"%PDF")  # the demo notice
    created = _cli(
        "users",
        "create",
        "--username",
        "extra01",
        "--name",
        "新同志",
        "--role",
        "inspector",
        "--password",
        "Xin-tongzhi-01",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    rebuilt = _cli("scores", "rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "已重算得分" in rebuilt.stdout and "0 条得分明细" not in rebuilt.stdout
    second = _cli("setup", env=env)
    assert second.returncode == 0, second.stderr
    assert "保留现有数据" in second.stdout
    again = _cli(
        "users",
        "create",
        "--username",
        "extra01",
        "--name",
        "重复",
        "--role",
        "inspector",
        "--password",
        "Xin-tongzhi-01",
        env=env,
    )
    assert again.returncode != 0
    assert "已存在" in again.stderr


def test_cli_users_create_refuses_unit_role_without_unit(tmp_path):
    env = {
        **os.environ,
        "INSPECT_INSTANCE_PATH": str(tmp_path),
        "INSPECT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    result = _cli(
        "users",
        "create",
        "--username",
        "lonely",
        "--name",
        "某人",
        "--role",
        "unit_liaison",
        "--password",
        "Xin-tongzhi-01",
        env=env,
    )
    assert result.returncode != 0
    assert "必须绑定所属单位" in result.stderr


@pytest.mark.parametrize(
    "first_day",
    [date(2026, 12, 2), date(2027, 1, 4), date(2027, 10, 8), date(2030, 6, 15)],
)
def test_the_demo_is_coherent_whatever_day_it_is_first_loaded(app, checklists_loaded, first_day):
    """`make run` loads the demo relative to the app's clock; in a year the holiday calendar lacks,
    pages say so (with the link) instead of failing or counting calendar days."""
    from inspect_app import clock
    from inspect_app.demo import load_demo, load_demo_activity
    from inspect_app.models import Round, Task, User

    clock.travel(first_day)
    with app.app_context():  # the demo renders notice previews
        load_demo()
        load_demo_activity()
    User.update(must_change_password=False).execute()  # as the `demo` fixture does
    names = [r.name for r in Round.select()]
    assert any(f"{first_day.year}年第" in name for name in names), names
    assert all(
        r.ends_on <= first_day for r in Round.select().where(Round.published_at.is_null(False))
    )
    assert all(t.deadline >= first_day for t in Task.select())
    for username, urls in {
        "duchaban": ["/", "/rounds", "/tasks", "/tasks/escalations", "/notices", "/dashboard"],
        "lingdao": ["/", "/dashboard"],
        "hp-lianluo": ["/", "/tasks", "/notices", "/notifications"],
        "zuzhang": ["/", "/rounds"],
    }.items():
        client = Client(app)
        client.login(username)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (username, url, first_day)
            if not workdays_known(first_day.year) and url == "/tasks":
                assert f'href="/holidays/{first_day.year}"' in response.get_data(as_text=True)


def workdays_known(year):
    from inspect_app.holidays import workdays

    return workdays.knows(year)


# -- production set-up: no demo, the first administrator from the terminal -------------------


def _invoke(app, *args, input=None, env=None):
    from flask.cli import FlaskGroup

    return app.test_cli_runner().invoke(
        FlaskGroup(create_app=lambda: app), list(args), input=input, env=env
    )


def test_production_setup_asks_for_the_first_admin_and_loads_no_demo(app):
    from inspect_app.models import Round, Unit, User
    from tests.conftest import Client

    answers = [
        "王",  # a username too short: asked again
        "王建国",
        "",  # an empty password
        "abc12345",
        "abc12346",  # not the same twice
        "Password2026",
        "Password2026",  # a common word with digits
        "wangjg",  # the username asked again
        "wangjg-2026A",  # contains the username
        "wangjg-2026A",
    ]
    first = _invoke(app, "setup", "--production", input="\n".join(answers) + "\n")
    assert first.exit_code == 1, first.output
    assert "用户名：用户名为 3–64 位" in first.output
    assert "密码：密码不能为空" in first.output
    assert "两次输入的密码不一致" in first.output
    assert "密码：密码过于常见" in first.output
    assert "密码：密码不能包含用户名" in first.output
    assert "没有读到输入" in first.output  # the answers ran out before a valid set
    assert User.select().count() == 0
    result = _invoke(
        app,
        "setup",
        "--production",
        input="\n".join(["wangjg", "王建国", "Qinghe2026", "Qinghe2026"]) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "已创建首个系统管理员 wangjg（王建国）" in result.output
    admin = User.get()
    assert (admin.username, admin.role, admin.must_change_password) == ("wangjg", "sysadmin", False)
    assert Unit.select().count() == 0 and Round.select().count() == 0  # no demo district
    assert "Demo2026" not in result.output
    assert "首次登录后须用手机身份验证器绑定双因素认证" in result.output
    client = Client(app)
    # an administrator signs in with a second factor: enrolment comes first
    assert client.login("wangjg", "Qinghe2026").headers["Location"] == "/account/two-factor"
    again = _invoke(app, "setup", "--production")
    assert again.exit_code == 0 and "保留现有数据" in again.output
    assert User.select().count() == 1


def test_production_setup_without_a_terminal_says_how_to_automate_it(app):
    result = _invoke(app, "setup", "--production", input="")
    assert result.exit_code == 1
    assert "没有读到输入" in result.output and "--admin-username" in result.output


def test_production_setup_for_automation_takes_flags_and_the_password_from_env_or_stdin(app):
    from inspect_app.models import User

    weak = _invoke(
        app,
        "setup",
        "--production",
        "--admin-username",
        "root1",
        "--admin-name",
        "管理员",
        env={"INSPECT_ADMIN_PASSWORD": "short"},
    )
    assert weak.exit_code == 1 and "密码至少 10 位" in weak.output
    assert User.select().count() == 0
    from_stdin = _invoke(
        app,
        "setup",
        "--production",
        "--admin-username",
        "root1",
        "--admin-name",
        "管理员",
        "--admin-password-stdin",
        input="Strong2026pw\n",
    )
    assert from_stdin.exit_code == 0, from_stdin.output
    assert User.get().username == "root1"
    from werkzeug.security import check_password_hash

    assert check_password_hash(User.get().password_hash, "Strong2026pw")


def test_admin_flags_outside_production_are_refused(app):
    result = _invoke(app, "setup", "--admin-username", "root1")
    assert result.exit_code != 0 and "只用于 --production" in result.output


def test_inspect_production_setting_keeps_demo_out_of_setup_and_demo(db_url, tmp_path):
    from inspect_app import create_app
    from inspect_app.models import Unit, User

    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "PRODUCTION": True})
    refused = _invoke(app, "demo")
    assert refused.exit_code == 1 and "生产模式" in refused.output
    result = _invoke(
        app,
        "setup",
        "--admin-username",
        "root1",
        "--admin-name",
        "管理员",
        env={"INSPECT_ADMIN_PASSWORD": "Strong2026pw"},
    )
    assert result.exit_code == 0, result.output
    assert Unit.select().count() == 0 and User.select().count() == 1


def test_make_run_setting_reaches_the_real_command(tmp_path):
    """`make run` runs `inspect-app setup`: INSPECT_PRODUCTION=1 in its environment is enough."""
    env = {
        **os.environ,
        "INSPECT_INSTANCE_PATH": str(tmp_path),
        "INSPECT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "INSPECT_PRODUCTION": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", "setup", "--admin-username", "root1"],
        input="区管理员\nStrong2026pw\nStrong2026pw\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "已创建首个系统管理员 root1（区管理员）" in result.stdout
    assert "演示" not in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", "setup"],
        capture_output=True,
        text=True,
        env={**env, "INSPECT_PRODUCTION": "yes"},
        timeout=120,
    )
    assert bad.returncode != 0 and "INSPECT_PRODUCTION=yes：应为 1" in bad.stderr


def test_accounts_made_or_reset_at_the_terminal_must_change_their_password(app, demo):
    from inspect_app.models import User

    created = _invoke(
        app,
        "users",
        "create",
        "--username",
        "extra01",
        "--name",
        "新同志",
        "--role",
        "inspector",
        "--password",
        "Xin-tongzhi-01",
    )
    assert created.exit_code == 0, created.output
    assert User.get(User.username == "extra01").must_change_password
    assert not User.get(User.username == "xitong").must_change_password
    reset = _invoke(app, "users", "reset-password", "xitong", "--password", "Temp2026ab")
    assert reset.exit_code == 0 and "下次登录时须修改密码" in reset.output
    assert User.get(User.username == "xitong").must_change_password
    unknown = _invoke(app, "users", "reset-password", "nobody", "--password", "Temp2026ab")
    assert unknown.exit_code == 1 and "账号 nobody 不存在" in unknown.output
    weak = _invoke(app, "users", "reset-password", "xitong", "--password", "weak")
    assert weak.exit_code == 1 and "密码至少 10 位" in weak.output
