"""Serving on the LAN: the local CA and server certificates, an organisation's own certificate,
the plain-HTTP port (redirects and /ca), reverse proxies, HSTS and cookies, logs, the systemd
unit, and the real `make run` server."""

import http.client
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from inspect_app import create_app
from inspect_app.auth.throttle import ADDRESS
from inspect_app.deploy import companions, files, logs, serving, systemd, tls
from inspect_app.deploy.plain import PlainServer, certificate_files, create_plain_app
from inspect_app.models import LoginAttempt
from tests.conftest import CSRF, PROJECT, Client

NAMES = tls.Names.of(dns=["ducha-server", "localhost"], ips=["127.0.0.1", "::1", "10.1.2.3"])


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def handshake(cert_file, key_file, ca_file, hostname):
    """A real TLS handshake in memory: the server serves cert_file, the client trusts only
    ca_file and checks the name like a browser. Returns the client's view of the certificate."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(cafile=str(ca_file))
    pipes = [ssl.MemoryBIO() for _ in range(4)]
    client = client_context.wrap_bio(pipes[0], pipes[1], server_hostname=hostname)
    server = server_context.wrap_bio(pipes[2], pipes[3], server_side=True)
    done = set()
    for _ in range(20):
        for side in (client, server):
            if side in done:
                continue
            try:
                side.do_handshake()
                done.add(side)
            except ssl.SSLWantReadError:
                pass
        pipes[2].write(pipes[1].read())
        pipes[0].write(pipes[3].read())
        if len(done) == 2:
            return client.getpeercert()
    raise AssertionError("handshake did not finish")


# --- the local CA and the server certificate -------------------------------------------------


def test_the_local_ca_is_made_once_with_its_key_readable_by_the_owner_only(tmp_path):
    folder = tmp_path / "tls"
    first = tls.local_ca(folder)
    second = tls.local_ca(folder)
    assert first.cert.serial_number == second.cert.serial_number
    assert mode(folder / "ca.key") == 0o600 and mode(folder) == 0o700
    constraints = first.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True
    lifetime = first.cert.not_valid_after_utc - first.cert.not_valid_before_utc
    assert timedelta(days=3640) < lifetime < timedelta(days=3660)


def test_server_certificate_names_the_host_and_given_addresses_and_verifies_against_the_ca(
    tmp_path,
):
    cert_path, key_path = tls.server_certificate(tmp_path, NAMES)
    assert mode(key_path) == 0o600
    cert = tls.load_certificate(cert_path)
    assert tls.certificate_names(cert) == NAMES
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=398)
    for hostname in ("ducha-server", "localhost", "127.0.0.1", "10.1.2.3", "::1"):
        assert handshake(cert_path, key_path, tmp_path / "ca.crt", hostname)["subjectAltName"]
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(cert_path, key_path, tmp_path / "ca.crt", "10.1.2.4")  # not in the certificate
    other_ca = tmp_path / "other"
    tls.local_ca(other_ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(cert_path, key_path, other_ca / "ca.crt", "localhost")


def test_a_second_start_reuses_the_certificate(tmp_path):
    cert_path, key_path = tls.server_certificate(tmp_path, NAMES)
    before = (cert_path.read_bytes(), key_path.read_bytes(), os.stat(cert_path).st_mtime_ns)
    tls.server_certificate(tmp_path, NAMES)
    assert (cert_path.read_bytes(), key_path.read_bytes(), os.stat(cert_path).st_mtime_ns) == before


def test_a_new_address_gets_a_new_certificate_from_the_same_ca(tmp_path):
    cert_path, key_path = tls.server_certificate(tmp_path, NAMES)
    ca_before = (tmp_path / "ca.crt").read_bytes()
    old = tls.load_certificate(cert_path)
    moved = tls.Names.of(dns=NAMES.dns, ips=[*NAMES.ips, "10.1.9.9"])
    tls.server_certificate(tmp_path, moved)
    new = tls.load_certificate(cert_path)
    assert new.serial_number != old.serial_number
    assert tls.certificate_names(new) == moved
    assert (tmp_path / "ca.crt").read_bytes() == ca_before  # tablets keep what they installed
    handshake(cert_path, key_path, tmp_path / "ca.crt", "10.1.9.9")


def test_a_certificate_near_its_end_is_renewed_and_one_far_from_it_is_not(tmp_path):
    start = tls._now()
    cert_path, _ = tls.server_certificate(tmp_path, NAMES, now=start)
    serial = tls.load_certificate(cert_path).serial_number
    tls.server_certificate(tmp_path, NAMES, now=start + timedelta(days=300))
    assert tls.load_certificate(cert_path).serial_number == serial
    tls.server_certificate(tmp_path, NAMES, now=start + timedelta(days=380))
    renewed = tls.load_certificate(cert_path)
    assert renewed.serial_number != serial
    assert renewed.not_valid_after_utc > start + timedelta(days=700)


def test_gunicorn_keeps_its_tls_context_through_a_half_written_renewal(tmp_path):
    cert_path, key_path = tls.server_certificate(tmp_path, NAMES)

    def factory():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context

    first = tls.reloading_context(str(cert_path), str(key_path), factory)
    assert tls.reloading_context(str(cert_path), str(key_path), factory) is first
    key_path.write_bytes(tls._pem_key(ec.generate_private_key(ec.SECP256R1())))  # new key only
    assert tls.reloading_context(str(cert_path), str(key_path), factory) is first
    tls.server_certificate(tmp_path, NAMES)  # the renewal completes
    renewed = tls.reloading_context(str(cert_path), str(key_path), factory)
    assert renewed is not first and renewed.minimum_version == ssl.TLSVersion.TLSv1_2


def test_a_certificate_that_does_not_match_its_key_is_replaced(tmp_path):
    cert_path, key_path = tls.server_certificate(tmp_path, NAMES)
    stray = ec.generate_private_key(ec.SECP256R1())
    key_path.write_bytes(tls._pem_key(stray))
    tls.server_certificate(tmp_path, NAMES)
    handshake(cert_path, key_path, tmp_path / "ca.crt", "localhost")


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 10.1.2.0/24 2 0 2
           |-- 10.1.2.0
              /24 link UNICAST
           |-- 10.1.2.3
              /32 host LOCAL
        |-- 10.1.2.255
           /32 link BROADCAST
"""
IF_INET6 = """00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
"""


def test_lan_addresses_are_read_from_the_kernel_tables():
    assert tls.parse_fib_trie(FIB_TRIE) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.1.2.3"),
    }
    assert tls.parse_if_inet6(IF_INET6) == {ipaddress.ip_address("fd00::2")}  # global scope only


def test_this_machines_names_cover_its_host_name_localhost_loopback_and_lan():
    names = tls.machine_names(["ducha.example.gov.cn", "10.200.0.1"])
    assert {socket.gethostname().lower(), "localhost", "ducha.example.gov.cn"} <= set(names.dns)
    assert {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.200.0.1")} <= set(names.ips)
    assert tls.lan_addresses() <= set(names.ips)
    assert not any(ip.is_link_local for ip in names.ips)


# --- an organisation's own certificate -------------------------------------------------------


def own_certificate(folder, *, names=("ducha.example.gov.cn",)):
    """A certificate as an organisation's CA would give it: chain file (server + root) and key."""
    ca = tls.local_ca(folder / "org-ca")
    key, cert = tls._issue_server(ca, tls.Names.of(dns=names), tls._now())
    cert_path, key_path = folder / "server-chain.pem", folder / "server.key"
    cert_path.write_bytes(tls.pem(cert) + tls.pem(ca.cert))
    key_path.write_bytes(tls._pem_key(key))
    return cert_path, key_path, ca.cert


def test_own_certificate_and_matching_key_are_accepted(tmp_path):
    cert_path, key_path, root = own_certificate(tmp_path)
    chain = tls.check_own_certificate(cert_path, key_path)
    assert chain[-1] == root


@pytest.mark.parametrize(
    "case, named, expected",
    [
        ("missing certificate", "cert", "找不到证书文件"),
        ("missing key", "key", "找不到私钥文件"),
        ("key of another certificate", "key", "不匹配"),
        ("certificate not PEM", "cert", "不是 PEM 格式的证书"),
        ("key not PEM", "key", "不是 PEM 格式的私钥"),
        ("key with a password", "key", "设有密码"),
        ("certificate is a folder", "cert", "无法读取证书文件"),
    ],
)
def test_own_certificate_refusals_name_the_file(tmp_path, case, named, expected):
    cert_path, key_path, _ = own_certificate(tmp_path)
    stray = ec.generate_private_key(ec.SECP256R1())
    if case == "missing certificate":
        cert_path = tmp_path / "nowhere.pem"
    elif case == "missing key":
        key_path = tmp_path / "nowhere.key"
    elif case == "key of another certificate":
        key_path.write_bytes(tls._pem_key(stray))
    elif case == "certificate not PEM":
        cert_path.write_bytes(b"\x30\x82 not a certificate")
    elif case == "key not PEM":
        key_path.write_text("hello")
    elif case == "key with a password":
        key_path.write_bytes(
            stray.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
    elif case == "certificate is a folder":
        cert_path = tmp_path
    with pytest.raises(tls.TLSRefused) as refused:
        tls.check_own_certificate(cert_path, key_path)
    assert expected in refused.value.message
    assert str(cert_path if named == "cert" else key_path) in refused.value.message


def test_the_server_refuses_to_start_with_a_key_that_is_not_the_certificates(tmp_path):
    cert_path, key_path, _ = own_certificate(tmp_path)
    key_path.write_bytes(tls._pem_key(ec.generate_private_key(ec.SECP256R1())))
    result = subprocess.run(
        make_run_command(),
        env=server_environment(
            tmp_path, INSPECT_TLS_CERT=str(cert_path), INSPECT_TLS_KEY=str(key_path)
        ),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT,
    )
    assert result.returncode != 0
    assert f"证书 {cert_path} 与私钥 {key_path} 不匹配" in result.stderr


# --- settings ---------------------------------------------------------------------------------


def settings(tmp_path, **environ):
    return serving.from_environment(tmp_path, environ)


def test_https_with_the_local_ca_is_the_default(tmp_path):
    default = settings(tmp_path)
    assert (default.tls, default.port, default.http_port) == (serving.LOCAL_CA, 5000, 5080)
    assert default.https and default.bind_address(default.port) == "0.0.0.0:5000"
    own = settings(tmp_path, INSPECT_TLS_CERT="/x.pem", INSPECT_TLS_KEY="/x.key")
    assert own.tls == serving.OWN
    behind = settings(
        tmp_path,
        INSPECT_TLS="off",
        INSPECT_TRUSTED_PROXIES="1",
        INSPECT_PUBLIC_URL="https://ducha.example.gov.cn/",
        INSPECT_BIND="127.0.0.1",
    )
    assert behind.http_port is None and behind.https  # the proxy speaks HTTPS to browsers
    assert behind.public_url == "https://ducha.example.gov.cn"
    plain = settings(tmp_path, INSPECT_TLS="off")
    assert not plain.https


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"INSPECT_TRUSTED_PROXIES": "1"}, "必须设置 INSPECT_PUBLIC_URL"),
        ({"INSPECT_TRUSTED_PROXIES": "many"}, "INSPECT_TRUSTED_PROXIES=many"),
        ({"INSPECT_TLS": "maybe"}, "INSPECT_TLS=maybe"),
        ({"INSPECT_TLS_CERT": "/x.pem"}, "缺少 INSPECT_TLS_KEY"),
        (
            {"INSPECT_TLS": "off", "INSPECT_TLS_CERT": "/a", "INSPECT_TLS_KEY": "/b"},
            "INSPECT_TLS=off",
        ),
        ({"PORT": "http"}, "PORT=http"),
        ({"PORT": "5000", "INSPECT_HTTP_PORT": "5000"}, "须与 HTTPS 端口不同"),
        ({"INSPECT_PUBLIC_URL": "ducha.example.gov.cn"}, "INSPECT_PUBLIC_URL=ducha.example.gov.cn"),
        ({"INSPECT_TLS_NAMES": "ok.example, bad_name!"}, "bad_name!"),
        ({"INSPECT_BIND": "all"}, "INSPECT_BIND=all"),
    ],
)
def test_a_bad_setting_stops_the_start_with_a_message_naming_it(tmp_path, environ, expected):
    with pytest.raises(SystemExit) as stopped:
        settings(tmp_path, **environ)
    assert expected in str(stopped.value)


def test_the_command_line_refuses_trusted_proxies_without_a_public_url(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", "init-db"],
        env={
            **os.environ,
            "INSPECT_INSTANCE_PATH": str(tmp_path),
            "INSPECT_TRUSTED_PROXIES": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "INSPECT_PUBLIC_URL" in result.stderr
    assert not (tmp_path / "inspect.db").exists()


def test_public_url_host_is_in_the_local_certificate(tmp_path):
    configured = settings(tmp_path, INSPECT_PUBLIC_URL="https://ducha.example.gov.cn:5000")
    assert "ducha.example.gov.cn" in configured.extra_names


# --- HTTPS in the app: cookies, CSRF, HSTS ---------------------------------------------------


def test_over_https_cookies_are_secure_csrf_is_strict_and_hsts_is_sent(app, demo):
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["WTF_CSRF_SSL_STRICT"]
    browser = app.test_client()
    page = browser.get("/login", base_url="https://192.0.2.10:5000")
    assert page.headers["Strict-Transport-Security"] == "max-age=86400"
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    form = {"username": "duchaban", "password": "Demo2026", "csrf_token": token}
    no_referer = browser.post("/login", data=form, base_url="https://192.0.2.10:5000")
    assert no_referer.status_code == 400 and "CSRF" in no_referer.get_data(as_text=True)
    foreign = browser.post(
        "/login",
        data=form,
        base_url="https://192.0.2.10:5000",
        headers={"Referer": "https://evil.example/login"},
    )
    assert foreign.status_code == 400
    signed_in = browser.post(
        "/login",
        data=form,
        base_url="https://192.0.2.10:5000",
        headers={"Referer": "https://192.0.2.10:5000/login"},
    )
    assert signed_in.status_code == 303
    cookie = signed_in.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_hsts_is_not_sent_over_plain_http(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


# --- behind a reverse proxy ------------------------------------------------------------------


@pytest.fixture
def proxied_app(app):
    """The app as configured behind one trusted proxy (nginx) that terminates HTTPS."""
    configured = replace(
        app.config["SERVING"],
        tls=serving.OFF,
        http_port=None,
        trusted_proxies=1,
        public_url="https://ducha.example.gov.cn",
    )
    return create_app(
        {
            **{k: app.config[k] for k in ("DATABASE_URL", "TESTING", "UPLOAD_FOLDER")},
            "CHECKLIST_FOLDER": str(PROJECT / "checklists"),
            "SERVING": configured,
            "PUBLIC_URL": configured.public_url,
        }
    )


def from_the_proxy(app):
    """A browser whose requests reach the app from 10.0.0.1, the proxy's address."""
    client = Client(app)
    client.http.environ_base["REMOTE_ADDR"] = "10.0.0.1"
    return client


def fail_logins(client, count, *, forwarded_for):
    for i in range(count):
        response = client.post(
            "/login",
            {"username": f"guess{i}", "password": "wrong-pass-1"},
            headers={"X-Forwarded-For": forwarded_for(i)},
        )
        assert response.status_code == 422


def test_behind_a_trusted_proxy_the_client_address_is_the_forwarded_one(proxied_app, demo):
    client = from_the_proxy(proxied_app)
    fail_logins(client, ADDRESS.free, forwarded_for=lambda i: "172.16.5.9")
    assert {a.ip for a in LoginAttempt.select()} == {"172.16.5.9"}
    # That tablet must now wait; the office behind the same proxy is not held back.
    held = client.post(
        "/login",
        {"username": "guess", "password": "wrong-pass-1"},
        headers={"X-Forwarded-For": "172.16.5.9"},
    )
    assert held.status_code == 429
    response = client.post(
        "/login",
        {"username": "duchaban", "password": "Demo2026"},
        headers={"X-Forwarded-For": "172.16.5.10"},
    )
    assert response.status_code == 303


def test_without_trusted_proxies_x_forwarded_for_is_ignored(app, demo):
    client = from_the_proxy(app)
    fail_logins(client, ADDRESS.free, forwarded_for=lambda i: f"172.16.5.{i}")
    assert {a.ip for a in LoginAttempt.select()} == {"10.0.0.1"}  # the header is anyone's to send
    response = client.post(
        "/login",
        {"username": "duchaban", "password": "Demo2026"},
        headers={"X-Forwarded-For": "172.16.5.10"},
    )
    assert response.status_code == 429


def test_behind_a_proxy_a_browser_signs_in_over_https_with_the_nginx_examples_headers(
    proxied_app, demo
):
    """The headers docs/deployment.md has nginx send: CSRF's same-site check over HTTPS sees
    the browser's own https://ducha.example.gov.cn page, and throttling the tablet's address."""
    browser = proxied_app.test_client()
    browser.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    forwarded = {
        "X-Forwarded-For": "172.16.5.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ducha.example.gov.cn",
        "X-Forwarded-Port": "443",
    }
    page = browser.get("/login", headers=forwarded)
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    response = browser.post(
        "/login",
        data={"username": "duchaban", "password": "Demo2026", "csrf_token": token},
        headers=forwarded | {"Referer": "https://ducha.example.gov.cn/login"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == "/"
    assert "Secure" in response.headers["Set-Cookie"]
    assert LoginAttempt.get().ip == "172.16.5.9"


def test_behind_a_proxy_scheme_and_host_come_from_it_and_qr_links_from_the_public_url(
    proxied_app, demo
):
    from inspect_app.notices.views import _base_url

    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ducha.example.gov.cn"}
    response = proxied_app.test_client().get(
        "/login", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert response.headers["Strict-Transport-Security"]  # HTTPS as the browser sees it
    with proxied_app.test_request_context("/", headers={"Host": "10.0.0.5:5000"}):
        assert _base_url() == "https://ducha.example.gov.cn"


# --- the plain-HTTP port ---------------------------------------------------------------------


@pytest.fixture
def plain(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_INSTANCE_PATH", str(tmp_path))
    for name in ("PORT", "INSPECT_HTTP_PORT", "INSPECT_PUBLIC_URL", "INSPECT_TLS"):
        monkeypatch.delenv(name, raising=False)
    return create_plain_app().test_client()


@pytest.mark.parametrize(
    "method, url, host, status, location",
    [
        ("GET", "/", "10.1.2.3:5080", 302, "https://10.1.2.3:5000/"),
        (
            "GET",
            "/rounds/3?tab=teams&x=%E4%B8%AD",
            "10.1.2.3:5080",
            302,
            "https://10.1.2.3:5000/rounds/3?tab=teams&x=%E4%B8%AD",
        ),
        ("HEAD", "/healthz", "ducha-server:5080", 302, "https://ducha-server:5000/healthz"),
        ("POST", "/login", "[fd00::2]:5080", 307, "https://[fd00::2]:5000/login"),
        (
            "GET",
            "/units/中心",
            "ducha-server:5080",
            302,
            "https://ducha-server:5000/units/%E4%B8%AD%E5%BF%83",
        ),
    ],
)
def test_the_plain_port_sends_every_request_on_to_https(plain, method, url, host, status, location):
    response = plain.open(url, method=method, headers={"Host": host})
    assert response.status_code == status
    assert response.headers["Location"] == location


def test_a_malformed_host_header_is_no_crash(plain):
    assert plain.get("/ca", headers={"Host": "[::1"}).status_code in (200, 400)
    assert plain.get("/x", headers={"Host": "[::1"}).status_code in (302, 400)


def test_the_plain_port_redirects_to_the_public_url_when_there_is_one(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("INSPECT_PUBLIC_URL", "https://ducha.example.gov.cn")
    response = create_plain_app().test_client().get("/notices?page=2")
    assert response.headers["Location"] == "https://ducha.example.gov.cn/notices?page=2"


def test_the_plain_port_serves_the_ca_page_with_steps_and_fingerprint(plain, tmp_path):
    page = plain.get("/ca", headers={"Host": "10.1.2.3:5080"})
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    text = page.get_data(as_text=True)
    ca = tls.load_certificate(tmp_path / "tls" / "ca.crt")
    assert tls.fingerprint(ca) in text and tls.fingerprint(ca, "sha1") in text
    assert len(tls.fingerprint(ca).split(":")) == 32
    for words in (
        "安卓平板",
        "CA 证书",
        "iPad",
        "证书信任设置",
        "针对根证书启用完全信任",
        "Windows 电脑",
        "受信任的根证书颁发机构",
        "http://10.1.2.3:5080/ca",
    ):
        assert words in text, words


def test_the_ca_certificate_downloads_as_crt_and_pem(plain, tmp_path):
    crt = plain.get("/ca.crt")
    ca = tls.load_certificate(tmp_path / "tls" / "ca.crt")
    assert crt.status_code == 200
    assert crt.headers["Content-Type"] == "application/x-x509-ca-cert"
    assert 'filename="inspect-ca.crt"' in crt.headers["Content-Disposition"]
    assert x509.load_der_x509_certificate(crt.data) == ca
    pem = plain.get("/ca.pem")
    assert pem.headers["Content-Type"] == "application/x-x509-ca-cert"
    assert 'filename="inspect-ca.pem"' in pem.headers["Content-Disposition"]
    assert x509.load_pem_x509_certificate(pem.data) == ca
    stylesheet = plain.get("/static/app.css")  # the page's stylesheet
    assert stylesheet.status_code == 200
    stylesheet.close()


def test_the_plain_port_also_answers_a_browser_that_speaks_tls_to_it(tmp_path, monkeypatch):
    """HSTS from the HTTPS port holds for the host on every port: a browser that trusts the
    server asks https://<name>:5080/… — the plain port answers TLS too, with the same
    certificate, and goes on answering plain HTTP and other clients."""
    import threading

    monkeypatch.setenv("INSPECT_INSTANCE_PATH", str(tmp_path))
    configured = settings(tmp_path)
    tls.server_certificate(
        configured.tls_folder, tls.Names.of(dns=["localhost"], ips=["127.0.0.1"])
    )
    server = PlainServer(
        "127.0.0.1", 0, create_plain_app({"SERVING": configured}), certificate_files(configured)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_port
    trusting = ssl.create_default_context(cafile=str(configured.tls_folder / "ca.crt"))
    try:
        status, headers, _ = get(f"http://127.0.0.1:{port}/rounds?x=1")
        assert status == 302 and headers["Location"] == "https://127.0.0.1:5000/rounds?x=1"
        # a tablet that does not trust the certificate yet hangs up; the server carries on
        with pytest.raises(ssl.SSLCertVerificationError):
            get(f"https://127.0.0.1:{port}/ca", context=ssl.create_default_context())
        status, headers, _ = get(f"https://localhost:{port}/rounds?x=1", context=trusting)
        assert status == 302 and headers["Location"] == "https://localhost:5000/rounds?x=1"
        status, headers, body = get(f"https://127.0.0.1:{port}/ca.crt", context=trusting)
        assert headers["Content-Type"] == "application/x-x509-ca-cert"
        assert x509.load_der_x509_certificate(body) == tls.load_certificate(
            configured.tls_folder / "ca.crt"
        )
        with socket.create_connection(("127.0.0.1", port)) as idle:  # says nothing, then leaves
            idle.sendall(b"")
        assert get(f"http://127.0.0.1:{port}/ca")[0] == 200
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_the_ca_page_is_also_served_over_https_by_the_app(client, app):
    page = client.get("/ca", base_url="https://10.1.2.3:5000")
    assert page.status_code == 200 and page.headers["Strict-Transport-Security"]
    ca = tls.load_certificate(Path(app.config["SERVING"].tls_folder) / "ca.crt")
    assert tls.fingerprint(ca) in page.get_data(as_text=True)
    assert "http://10.1.2.3:5080/ca" in page.get_data(as_text=True)
    assert client.get("/ca.crt").headers["Content-Type"] == "application/x-x509-ca-cert"


def test_with_an_own_certificate_ca_offers_its_root_and_without_one_says_so(app, tmp_path):
    cert_path, key_path, root = own_certificate(tmp_path)
    own = replace(
        app.config["SERVING"], tls=serving.OWN, cert_file=str(cert_path), key_file=str(key_path)
    )
    app.config["SERVING"] = own
    client = app.test_client()
    assert tls.fingerprint(root) in client.get("/ca").get_data(as_text=True)
    cert_path.write_bytes(
        cert_path.read_bytes().split(b"-----END CERTIFICATE-----")[0]
        + b"-----END CERTIFICATE-----\n"
    )
    page = client.get("/ca").get_data(as_text=True)
    assert "本单位自有的证书" in page and "https://ducha.example.gov.cn:5000/" in page
    response = client.get("/ca.crt")
    assert response.status_code == 404 and "页面或记录不存在" in response.get_data(as_text=True)
    key_path.unlink()  # gone while the server runs: the page still answers
    assert "本单位自有的证书" in client.get("/ca").get_data(as_text=True)


def test_behind_a_proxy_ca_has_nothing_to_install(proxied_app):
    client = proxied_app.test_client()
    assert "反向代理" in client.get("/ca").get_data(as_text=True)
    assert client.get("/ca.crt").status_code == 404


# --- files and logs ----------------------------------------------------------------------------


def test_instance_files_are_made_readable_by_their_owner_only(tmp_path):
    instance = tmp_path / "instance"
    (instance / "uploads" / "photos").mkdir(parents=True)
    for name in ("inspect.db", "secret_key", "uploads/photos/a.jpg"):
        (instance / name).write_text("x")
        os.chmod(instance / name, 0o644)
    os.chmod(instance, 0o755)
    files.restrict([instance])
    assert mode(instance) == 0o700
    assert mode(instance / "inspect.db") == mode(instance / "secret_key") == 0o600
    assert mode(instance / "uploads" / "photos" / "a.jpg") == 0o644  # inside a closed folder
    files.restrict([instance], recursive=True)
    assert mode(instance / "uploads" / "photos" / "a.jpg") == 0o600
    assert mode(instance / "uploads" / "photos") == 0o700


def test_weasyprint_progress_lines_are_silenced_but_a_missing_glyph_still_stops_the_render():
    from inspect_app.notices import render

    names = (*logs.QUIET, "weasyprint.progress", "")
    saved = {
        name: (logging.getLogger(name).level, logging.getLogger(name).disabled) for name in names
    }
    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record)

    root = logging.getLogger()
    handler = Collect(logging.DEBUG)
    root.addHandler(handler)
    # as a fresh process has them; setLevel, not .level: loggers cache what they let through
    for name in names:
        logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger(name).disabled = False
    root.setLevel(logging.INFO)
    css = render.font_face_css() + " body { font-family: FandolFang; }"
    try:
        render.renderer().pdf('<html lang="zh-CN"><body>整改</body></html>', css)
        assert any(r.name == "weasyprint.progress" for r in seen)  # what the worker printed
        seen.clear()
        logs.quiet_libraries()
        render.renderer().pdf('<html lang="zh-CN"><body>整改</body></html>', css)
        assert not [r for r in seen if r.name.startswith("weasyprint")]
        with pytest.raises(render.RenderRefused) as refused:
            render.renderer().pdf('<html lang="zh-CN"><body>活动室\ue000</body></html>', css)
        assert "U+E000" in refused.value.message
    finally:
        root.removeHandler(handler)
        for name, (level, disabled) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).disabled = disabled


# --- the companions' supervisor ----------------------------------------------------------------


def test_a_companion_that_dies_is_started_again_waiting_longer_when_it_dies_young():
    companion = companions.Companion("quick", [sys.executable, "-c", "pass"])
    companion.check(now=100.0)
    first = companion.process
    first.wait(timeout=30)
    companion.check(now=101.0)  # died after 1 s: wait 2 s
    assert companion.process is None and companion.due == 103.0
    companion.check(now=102.0)
    assert companion.process is None
    companion.check(now=103.5)
    assert companion.process is not None and companion.process.pid != first.pid
    companion.process.wait(timeout=30)
    companion.check(now=104.0)
    assert companion.due == 108.0  # 4 s
    companion.check(now=200.0)
    companion.process.wait(timeout=30)
    companion.started = 100.0  # as if it had run for a long while
    companion.check(now=300.0)
    assert companion.delay == 1


def test_companions_are_the_worker_and_the_plain_port_only_when_serving_https(tmp_path):
    assert set(companions.commands(settings(tmp_path))) == {"worker", "http"}
    assert set(companions.commands(settings(tmp_path, INSPECT_TLS="off"))) == {"worker"}
    assert companions.certificate_upkeep(settings(tmp_path, INSPECT_TLS="off")) is None
    upkeep = companions.certificate_upkeep(settings(tmp_path))
    upkeep()
    assert (tmp_path / "tls" / "server.crt").exists()


# --- systemd ---------------------------------------------------------------------------------


def service(tmp_path, **overrides):
    values = {
        "user": "inspect",
        "instance": tmp_path / "instance",
        "upload_folder": tmp_path / "instance" / "uploads",
        "env_file": tmp_path / "etc" / "inspect-app.env",
        "serving": settings(tmp_path),
    }
    return systemd.Service(**(values | overrides))


def test_deploy_systemd_prints_a_unit_for_an_unprivileged_user(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["deploy", "systemd", "--user", "inspect"], env={"PORT": "5000"})
    assert result.exit_code == 0, result.output
    unit = result.output
    gunicorn = Path(sys.executable).parent / "gunicorn"
    for line in (
        "User=inspect",
        "Type=notify",
        "UMask=0077",
        "KillMode=mixed",
        "NoNewPrivileges=yes",
        f"ExecStart={gunicorn} --config python:inspect_app.gunicorn_conf 'inspect_app:create_app()'",
        f"WorkingDirectory={PROJECT}",
        "EnvironmentFile=/etc/inspect-app/inspect-app.env",
        f'INSPECT_INSTANCE_PATH="{app.config["INSTANCE_PATH"]}"',
        'PORT="5000"',
    ):
        assert line in unit, line
    assert "CAP_NET_BIND_SERVICE" not in unit
    low = service(tmp_path, serving=settings(tmp_path, PORT="443", INSPECT_HTTP_PORT="80"))
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in low.unit()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_unit_passes_systemds_own_check(tmp_path):
    unit = tmp_path / systemd.UNIT_NAME
    unit.write_text(service(tmp_path).unit())
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "inspect-app.env").write_text("")
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert "inspect-app.service" not in checked.stderr, checked.stderr  # no warning about it


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")
def test_deploy_systemd_write_gives_the_instance_to_the_service_user(tmp_path):
    import pwd

    nobody = pwd.getpwnam("nobody")
    instance = tmp_path / "instance"
    (instance / "uploads" / "notices").mkdir(parents=True)
    for name in ("inspect.db", "secret_key", "uploads/notices/1.pdf"):
        (instance / name).write_text("x")
        os.chmod(instance / name, 0o644)
    unit_dir = tmp_path / "units"
    # a program folder every user can reach, as under /opt
    installed = replace(
        service(tmp_path, user="nobody"), project_root=Path("/usr/lib"), bin_dir=Path("/usr/bin")
    )
    unit_path, env_path = systemd.write(
        installed, {"SECRET_KEY": "k", "HOME": "/root"}, unit_dir=unit_dir
    )
    assert "User=nobody" in unit_path.read_text() and mode(unit_path) == 0o644
    environment = env_path.read_text()
    assert mode(env_path) == 0o600
    assert 'SECRET_KEY="k"' in environment and "HOME" not in environment
    for path in (instance, instance / "uploads" / "notices"):
        assert (os.stat(path).st_uid, mode(path)) == (nobody.pw_uid, 0o700)
    for path in (instance / "inspect.db", instance / "uploads" / "notices" / "1.pdf"):
        assert (os.stat(path).st_uid, mode(path)) == (nobody.pw_uid, 0o600)


def test_deploy_systemd_write_refuses_a_missing_user_root_and_an_unreachable_program(tmp_path):
    with pytest.raises(systemd.DeployRefused) as refused:
        systemd.write(service(tmp_path, user="no-such-user-x"), {}, unit_dir=tmp_path)
    assert "useradd --system" in refused.value.message and "no-such-user-x" in refused.value.message
    with pytest.raises(systemd.DeployRefused) as refused:
        systemd.write(service(tmp_path, user="root"), {}, unit_dir=tmp_path)
    assert "不能以 root 身份运行" in refused.value.message
    hidden = tmp_path / "private"
    (hidden / "app").mkdir(parents=True)
    os.chmod(hidden, 0o700)
    with pytest.raises(systemd.DeployRefused) as refused:
        systemd.write(
            replace(service(tmp_path, user="nobody"), project_root=hidden / "app"),
            {},
            unit_dir=tmp_path,
        )
    assert "无法进入" in refused.value.message
    assert f"无法读取程序 {hidden / 'app'}" in refused.value.message


def test_deploy_systemd_write_from_the_command_line_names_the_missing_user(app, tmp_path):
    result = app.test_cli_runner().invoke(
        args=[
            "deploy",
            "systemd",
            "--user",
            "no-such-user-x",
            "--write",
            "--unit-dir",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 1
    assert "系统用户 no-such-user-x 不存在" in result.output


# --- the real server of `make run` -----------------------------------------------------------


def make_run_command():
    """The gunicorn command of the Makefile's `run` target, as `make run` runs it."""
    makefile = (PROJECT / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    line = next(line for line in recipe.splitlines() if "gunicorn" in line)
    command = line.strip().removeprefix("exec ").replace("$(BIN)", str(Path(sys.executable).parent))
    import shlex

    return shlex.split(command)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(tmp_path, **extra):
    environ = {
        **os.environ,
        "INSPECT_INSTANCE_PATH": str(tmp_path / "instance"),
        "INSPECT_DATABASE_URL": f"sqlite:///{tmp_path / 'inspect.db'}",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "2",
    }
    for name in (
        "INSPECT_TLS",
        "INSPECT_TRUSTED_PROXIES",
        "INSPECT_PUBLIC_URL",
        "INSPECT_TLS_CERT",
        "INSPECT_TLS_KEY",
    ):
        environ.pop(name, None)
    return environ | extra


def get(url, *, context=None, timeout=5):
    parts = url.split("/", 3)
    host, port = parts[2].rsplit(":", 1)
    connection = (
        http.client.HTTPSConnection(host, int(port), context=context, timeout=timeout)
        if url.startswith("https")
        else http.client.HTTPConnection(host, int(port), timeout=timeout)
    )
    try:
        connection.request("GET", "/" + parts[3])
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_make_run_serves_https_that_verifies_against_its_ca_and_plain_http_redirects(
    tmp_path, sqlite_template
):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    shutil.copyfile(sqlite_template, instance / "inspect.db")
    os.chmod(instance / "inspect.db", 0o644)  # as a set-up before the first start leaves it
    port, http_port = free_port(), free_port()
    environ = server_environment(
        tmp_path,
        PORT=str(port),
        INSPECT_HTTP_PORT=str(http_port),
        INSPECT_DATABASE_URL=f"sqlite:///{instance / 'inspect.db'}",
    )
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        make_run_command(), env=environ, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT
    )
    ca_file = tmp_path / "instance" / "tls" / "ca.crt"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                context = ssl.create_default_context(cafile=str(ca_file))
                status, headers, body = get(f"https://127.0.0.1:{port}/healthz", context=context)
                get(f"http://127.0.0.1:{http_port}/ca")
                break
            except (OSError, ssl.SSLError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        # Verified against the app's own CA, by address and by name, like a tablet that has it.
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert headers["Strict-Transport-Security"] == "max-age=86400"
        assert get(f"https://localhost:{port}/healthz", context=context)[0] == 200
        with pytest.raises(ssl.SSLCertVerificationError):
            get(f"https://127.0.0.1:{port}/healthz", context=ssl.create_default_context())

        status, headers, _ = get(f"http://127.0.0.1:{http_port}/healthz?x=1")
        assert status == 302 and headers["Location"] == f"https://127.0.0.1:{port}/healthz?x=1"
        status, headers, _ = get(f"https://localhost:{http_port}/", context=context)
        assert status == 302 and headers["Location"] == f"https://localhost:{port}/"
        status, headers, body = get(f"http://127.0.0.1:{http_port}/ca")
        ca = tls.load_certificate(ca_file)
        assert status == 200 and tls.fingerprint(ca) in body.decode()
        status, headers, body = get(f"http://127.0.0.1:{http_port}/ca.crt")
        assert headers["Content-Type"] == "application/x-x509-ca-cert"
        assert x509.load_der_x509_certificate(body) == ca

        assert mode(instance) == 0o700
        for name in ("inspect.db", "secret_key", "tls/ca.key", "tls/server.key", "queue.db"):
            assert mode(instance / name) == 0o600, name
    except BaseException:
        print((tmp_path / "server.log").read_text())  # shown with the failure
        raise
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    # gunicorn took its companions with it: the plain port is closed too.
    output = (tmp_path / "server.log").read_text()
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{http_port}/ca", timeout=2)
    assert "Traceback" not in output, output
    assert f"serving https: https://127.0.0.1:{port}/" in output
    assert f":{http_port}/ca" in output  # where tablets get the certificate


def test_names_in_certificates_are_names_not_cn_only(tmp_path):
    """Browsers read only the subjectAltName; the CN is for people looking at the certificate."""
    cert_path, _ = tls.server_certificate(tmp_path, NAMES)
    cert = tls.load_certificate(cert_path)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ducha-server"
    assert cert.signature_hash_algorithm.name == hashes.SHA256.name
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", tls.fingerprint(cert))
