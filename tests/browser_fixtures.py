"""The browser fixtures (a plugin of conftest.py, so that every browser test module shares one
Chromium and one test CA): headless Chromium (Debian's) driven by Playwright, over HTTPS with a
certificate from the app's own CA, which the browser trusts the way a tablet does once it has
installed it (an NSS database with the CA, no certificate errors ignored).

Test modules import the helpers (sign_in, shot, Served, LAN_NAME) but never the fixtures: a
fixture imported into a module is registered again there, and a second session-wide Playwright
in the same thread refuses to start.
"""

import os
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

from inspect_app import clock
from inspect_app.demo import DEMO_PASSWORD
from inspect_app.deploy import tls
from inspect_app.models import User

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--lang=zh-CN",
]
# A LAN name rather than localhost: browsers treat localhost as secure even over plain HTTP, a
# server's name or address only over HTTPS. Chromium resolves it to 127.0.0.1.
LAN_NAME = "ducha.test"


@pytest.fixture(scope="session")
def test_tls(tmp_path_factory):
    """The app's own CA and a server certificate for 127.0.0.1, localhost and LAN_NAME."""
    folder = tmp_path_factory.mktemp("tls")
    names = tls.Names.of(dns=["localhost", LAN_NAME], ips=["127.0.0.1"])
    cert, key = tls.server_certificate(folder, names)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return SimpleNamespace(folder=folder, ca=folder / tls.CA_CERT, context=context)


def trusting_home(home, ca_file):
    """A home folder whose NSS database trusts `ca_file` for websites, as an installed CA does."""
    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.fail("找不到 certutil：请执行 make test，它会安装 Debian 的 libnss3-tools 软件包")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    subprocess.run([certutil, "-N", "--empty-password", "-d", database], check=True)
    subprocess.run(
        [certutil, "-A", "-t", "C,,", "-n", "inspect-test-ca", "-i", str(ca_file), "-d", database],
        check=True,
    )
    return home


@pytest.fixture(scope="session")
def browser(test_tls, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            "找不到 /usr/bin/chromium：请执行 make test，它会安装 Debian 的 chromium 软件包"
        )
    home = trusting_home(tmp_path_factory.mktemp("chromium-home"), test_tls.ca)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_FLAGS, f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1"],
            headless=True,
            env={**os.environ, "HOME": str(home)},
        )
        yield browser
        browser.close()


class Served:
    """An app served in a thread of this process (over HTTPS when given an SSL context)."""

    def __init__(self, app, ssl_context=None, *, server=None):
        self.server = server or make_server(
            "127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context
        )
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join()


@pytest.fixture
def live_server(app, demo, checklists_loaded, test_tls):
    served = Served(app, test_tls.context)
    yield f"https://127.0.0.1:{served.port}"
    served.stop()


@pytest.fixture
def tablet(browser):
    context = browser.new_context(
        viewport={"width": 1024, "height": 768}, locale="zh-CN", has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, base, username):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url in (f"{base}/", f"{base}/login/code"))
    if page.url == f"{base}/login/code":  # the administrator's second factor
        page.fill("input[name=code]", demo_code(username))
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/")


def demo_code(username):
    """The code the demo administrator's phone shows now (its secret is published)."""
    import pyotp

    from inspect_app.demo import DEMO_TOTP_SECRET

    User.update(totp_last_step=0).where(User.username == username).execute()
    return pyotp.TOTP(DEMO_TOTP_SECRET).at(clock.timestamp())


def shot(page, name, db_kind):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{db_kind}.png"), full_page=False)
