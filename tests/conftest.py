"""Fixtures: each test gets a fresh database built by the real migrations, on SQLite and PostgreSQL.

`pytest --db sqlite` or `--db postgres` runs one of them; the default runs both.
"""

import os
import re
import shutil
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

# Before the app is imported: keep generated secrets and uploads out of the project's instance/.
_INSTANCE = tempfile.mkdtemp(prefix="inspect-test-instance-")
os.environ["INSPECT_INSTANCE_PATH"] = _INSTANCE

from inspect_app import clock, create_app  # noqa: E402
from inspect_app.db import database, open_database  # noqa: E402
from inspect_app.demo import DEMO_PASSWORD  # noqa: E402
from inspect_app.migrations import migrate  # noqa: E402
from tests.pg_server import PostgresServer  # noqa: E402

pytest_plugins = ["tests.inspection_fixtures", "tests.browser_fixtures"]

PROJECT = Path(__file__).resolve().parent.parent
DATABASES = ("sqlite", "postgres")


def pytest_addoption(parser):
    parser.addoption(
        "--db", choices=("all", *DATABASES), default="all", help="which database(s) to test against"
    )


def pytest_generate_tests(metafunc):
    if "db_kind" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        kinds = DATABASES if chosen == "all" else (chosen,)
        metafunc.parametrize("db_kind", kinds, scope="session")


def pytest_sessionfinish(session):
    shutil.rmtree(_INSTANCE, ignore_errors=True)


# Every test starts at this moment on the app's clock, whatever the machine's date: inside
# chinese-calendar's data, in the demo rounds' quarter. A test that needs another day travels.
TEST_MOMENT = datetime(2026, 11, 23, 9, 0)


@pytest.fixture(autouse=True)
def app_clock():
    previous = clock.travel(TEST_MOMENT)
    yield clock
    clock.restore(previous)


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer().start()
    yield server
    server.stop()


def _migrated(db):
    db.connect(reuse_if_open=True)
    migrate(db)
    db.close()
    db.close_all()  # really closed (pooled), so SQLite checkpoints its WAL into the file we copy


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = open_database(f"sqlite:///{path}")
    _migrated(db)
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres):
    postgres.admin("CREATE DATABASE inspect_template")
    db = open_database(postgres.url("inspect_template"))
    _migrated(db)
    return "inspect_template"


@pytest.fixture
def db_url(db_kind, request, tmp_path):
    """A fresh, fully migrated database for one test."""
    if db_kind == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    postgres = request.getfixturevalue("postgres")
    template = request.getfixturevalue("postgres_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield postgres.url(name)
    postgres.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "CHECKLIST_FOLDER": str(PROJECT / "checklists"),
        }
    )
    # No app context stays pushed: each request must get its own, as in production (flask-wtf
    # caches the CSRF token on `g`). Tests query models directly; peewee connects on demand.
    yield app
    if not database.is_closed():
        database.close()
    real = database.obj
    if hasattr(real, "close_all"):
        real.close_all()


@pytest.fixture
def demo(app):
    """The demo district and accounts (see inspect_app/demo.py)."""
    from inspect_app.demo import load_demo
    from inspect_app.models import Unit, User

    with app.app_context():  # the administrator's second factor is encrypted with the app's key
        load_demo()
    # The tests sign in as these accounts straight away; the forced change of a published
    # password at first sign-in has its own tests (test_auth.py, test_access.py).
    User.update(must_change_password=False).execute()
    return {unit.code: unit for unit in Unit.select()}


@pytest.fixture
def checklists_loaded(app):
    from inspect_app.checklists import service

    return service.load_files(service.folder_files(app.config["CHECKLIST_FOLDER"]))


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Client:
    """The Flask test client, speaking like a browser: it carries the CSRF token of its session."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()
        self._token = None

    def token(self):
        if self._token is None:
            page = self.http.get("/login")
            if page.status_code == 302:  # signed in: any form page carries the token
                page = self.http.get("/account/password")
            if page.status_code == 303:  # a 2FA enrolment to do first: its page has one
                page = self.http.get(page.headers["Location"])
            self._token = CSRF.search(page.get_data(as_text=True)).group(1)
        return self._token

    def get(self, url, **kwargs):
        return self.http.get(url, **kwargs)

    def post(self, url, data=None, *, csrf=True, **kwargs):
        # A MultiDict keeps repeated fields (checkbox lists); a dict's (stream, name) file tuples
        # must stay single values.
        data = (
            MultiDict(data)
            if isinstance(data, MultiDict)
            else MultiDict(list((data or {}).items()))
        )
        if csrf and "csrf_token" not in data:
            data["csrf_token"] = self.token()
        from werkzeug.test import EnvironBuilder

        builder = EnvironBuilder(path=url, method="POST", data=data, **kwargs)
        environ = builder.get_environ()
        try:
            response = self.http.open(environ)
        finally:
            environ["wsgi.input"].close()  # werkzeug spools large bodies to a temporary file
            builder.close()
        if url in ("/login", "/logout"):
            self._token = None  # a new session has a new token
        return response

    def login(self, username, password=DEMO_PASSWORD):
        """Sign in, passing the second factor with a code from the account's own secret."""
        from inspect_app.models import User

        self._token = None
        response = self.post("/login", {"username": username, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)
        if response.headers["Location"] == "/login/code":
            response = self.post("/login/code", {"code": current_code(self.app, username)})
            assert response.status_code == 303, response.get_data(as_text=True)
        self._token = None
        self.user_id = User.get(User.username == username).id  # the author of its autosaves
        return response


def current_code(app, username, *, fresh=True):
    """The code `username`'s phone shows now (the app's clock). `fresh`: forget which code the
    account used last, so tests may sign the same account in several times within 30 s; the
    refusal of a used code has its own test (test_two_factor.py)."""
    import pyotp

    from inspect_app.auth import two_factor
    from inspect_app.models import User

    user = User.get(User.username == username)
    if fresh:
        User.update(totp_last_step=0).where(User.id == user.id).execute()
    with app.app_context():
        secret = two_factor.secret_of(user)
    return pyotp.TOTP(secret).at(clock.timestamp())


@pytest.fixture
def client(app):
    return Client(app)


@pytest.fixture
def login(app, demo):
    """login("xitong") -> a Client signed in as that demo account."""

    def sign_in(username):
        client = Client(app)
        client.login(username)
        return client

    return sign_in
