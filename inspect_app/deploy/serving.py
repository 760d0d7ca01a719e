"""How the app is served, read once from the environment: HTTPS with the local CA (default), with
the organisation's own certificate, or off behind a reverse proxy; the ports; trusted proxies;
the public address. A bad value stops the start with a Chinese message naming the setting."""

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_CA, OWN, OFF = "local-ca", "own", "off"
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Serving:
    tls: str  # LOCAL_CA, OWN or OFF
    port: int  # PORT: HTTPS, or plain HTTP when TLS is off (behind a proxy)
    http_port: int | None  # the plain port that redirects and serves /ca; None when TLS is off
    bind: str
    trusted_proxies: int
    public_url: str
    tls_folder: Path
    cert_file: str = ""
    key_file: str = ""
    extra_names: tuple = ()

    @property
    def https(self):
        """Browsers reach the app over HTTPS (here, or at the proxy in front)."""
        return self.tls != OFF or self.public_url.startswith("https://")

    @staticmethod
    def lan_hosts(names):
        """Host names and addresses in `names` that other machines can use, as URLs spell them."""
        hosts = [n for n in names.dns if n != "localhost"]
        hosts += [
            f"[{ip}]" if ip.version == 6 else str(ip) for ip in names.ips if not ip.is_loopback
        ]
        return hosts

    def https_addresses(self, names):
        """The addresses staff type on a tablet (that has the CA) for certificate `names`."""
        if self.public_url:
            return [self.public_url + "/"]
        port = "" if self.port == 443 else f":{self.port}"
        return [f"https://{host}{port}/" for host in self.lan_hosts(names)]

    def bind_address(self, port):
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"{host}:{port}"


def _refuse(message):
    raise SystemExit(message)


def _port(environ, name, default):
    value = environ.get(name, "").strip() or str(default)
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        _refuse(f"{name}={value}：端口应为 1–65535 之间的整数")
    return int(value)


def _public_url(value):
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        _refuse(
            f"INSPECT_PUBLIC_URL={value}：应为浏览器访问本系统的完整地址，"
            "如 https://ducha.example.gov.cn 或 https://10.1.2.3:5000（不带 ? 和 #）"
        )
    return value.rstrip("/")


def _names(value):
    names = []
    for name in re.split(r"[\s,，]+", value.strip()):
        if not name:
            continue
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if not DNS_NAME.match(name):
                _refuse(
                    f"INSPECT_TLS_NAMES 中的“{name}”既不是 IP 地址也不是有效的主机名"
                    "（字母、数字、连字符和点；中文域名请写成 xn-- 形式）"
                )
        names.append(name)
    return tuple(names)


def from_environment(instance, environ=None):
    environ = os.environ if environ is None else environ
    tls_setting = environ.get("INSPECT_TLS", "on").strip().lower() or "on"
    if tls_setting not in ("on", "off"):
        _refuse(
            f"INSPECT_TLS={tls_setting}：只能是 on（默认，本机提供 HTTPS）或 off（由反向代理提供 HTTPS）"
        )
    cert_file = environ.get("INSPECT_TLS_CERT", "").strip()
    key_file = environ.get("INSPECT_TLS_KEY", "").strip()
    if bool(cert_file) != bool(key_file):
        missing = "INSPECT_TLS_KEY" if cert_file else "INSPECT_TLS_CERT"
        _refuse(
            f"使用单位自有证书须同时设置 INSPECT_TLS_CERT（证书）和 INSPECT_TLS_KEY（私钥），缺少 {missing}"
        )
    if tls_setting == "off":
        tls = OFF
        if cert_file:
            _refuse(
                "INSPECT_TLS=off 时本机不提供 HTTPS，不使用 INSPECT_TLS_CERT / INSPECT_TLS_KEY；请删除这两项或改回 INSPECT_TLS=on"
            )
    else:
        tls = OWN if cert_file else LOCAL_CA

    proxies_text = environ.get("INSPECT_TRUSTED_PROXIES", "").strip() or "0"
    if not proxies_text.isdigit() or int(proxies_text) > 5:
        _refuse(
            f"INSPECT_TRUSTED_PROXIES={proxies_text}：应为本系统前面反向代理的层数（0–5），"
            "通常为 1；不经代理时为 0"
        )
    trusted_proxies = int(proxies_text)
    public_url = _public_url(environ.get("INSPECT_PUBLIC_URL", ""))
    if trusted_proxies and not public_url:
        _refuse(
            f"设置了 INSPECT_TRUSTED_PROXIES={trusted_proxies}（经反向代理访问）时，必须设置 "
            "INSPECT_PUBLIC_URL 为用户访问本系统的地址（如 https://ducha.example.gov.cn），"
            "公文二维码中的核验地址以它为准"
        )

    bind = environ.get("INSPECT_BIND", "").strip() or "0.0.0.0"
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        _refuse(
            f"INSPECT_BIND={bind}：应为本机的一个 IP 地址，如 0.0.0.0（所有网卡）或 127.0.0.1（仅本机，反向代理在本机时）"
        )

    port = _port(environ, "PORT", 5000)
    http_port = None
    if tls != OFF:
        http_port = _port(environ, "INSPECT_HTTP_PORT", 5080)
        if http_port == port:
            _refuse(
                f"INSPECT_HTTP_PORT 与 PORT 都是 {port}：HTTP 端口（跳转和 /ca）须与 HTTPS 端口不同"
            )

    extra = _names(environ.get("INSPECT_TLS_NAMES", ""))
    if public_url and tls == LOCAL_CA:
        extra = (*extra, urlsplit(public_url).hostname)
    return Serving(
        tls=tls,
        port=port,
        http_port=http_port,
        bind=bind,
        trusted_proxies=trusted_proxies,
        public_url=public_url,
        tls_folder=Path(instance) / "tls",
        cert_file=cert_file,
        key_file=key_file,
        extra_names=extra,
    )
