"""Browser fixtures (headless Debian Chromium through Playwright, over HTTPS with the app's own
CA), registered once for the whole suite in conftest.py: a session's browser must be made once,
whichever test modules use it (Playwright cannot start a second one beside it).
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

from inspect_app.deploy import tls

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
