"""Certificates for HTTPS on the LAN.

The app makes its own certificate authority once, in the instance folder, and with it a server
certificate for this machine's host name, localhost, 127.0.0.1 and every LAN address. Tablets
install the CA's certificate once (see /ca); after that every server certificate it signs is
trusted, so a new address or a renewal needs nothing on the tablets. An organisation's own
certificate (INSPECT_TLS_CERT / INSPECT_TLS_KEY) is checked and used instead.

Validity is judged by real browsers against real time, so this module uses the machine's clock,
not the app's (which a demo or a test may move).
"""

import contextlib
import fcntl
import hashlib
import ipaddress
import logging
import os
import secrets
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CA_DAYS = 3650
# Apple refuses any TLS server certificate valid for more than 825 days; 397 suits every browser.
SERVER_DAYS = 397
RENEW_BEFORE = timedelta(days=30)
CA_WARN_BEFORE = timedelta(days=180)
# NIST P-256: every browser since 2013 speaks it, and keys take a millisecond to make.
CURVE = ec.SECP256R1()

CA_KEY, CA_CERT = "ca.key", "ca.crt"
SERVER_KEY, SERVER_CERT = "server.key", "server.crt"


class TLSRefused(Exception):
    """A certificate or key that cannot be served; the message says which file and why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _now():
    return datetime.now(UTC)


def expires_in(cert, now=None):
    """How long `cert` stays valid, by the machine's clock (negative once expired)."""
    return cert.not_valid_after_utc - (now or _now())


# --- names and addresses ---------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """What a server certificate is for: DNS names and IP addresses, sorted, without repeats."""

    dns: tuple
    ips: tuple

    @classmethod
    def of(cls, dns=(), ips=()):
        clean_dns = sorted({name.lower().rstrip(".") for name in dns if name})
        clean_ips = sorted({ipaddress.ip_address(str(ip)) for ip in ips}, key=_ip_sort_key)
        return cls(tuple(clean_dns), tuple(clean_ips))

    def __str__(self):
        return ", ".join([*self.dns, *map(str, self.ips)])


def _ip_sort_key(ip):
    return (ip.version, int(ip))


def parse_fib_trie(text):
    """IPv4 addresses of this machine from /proc/net/fib_trie (each `/32 host LOCAL` leaf)."""
    found, last = set(), None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif stripped.startswith("/32 host LOCAL") and last:
            found.add(ipaddress.ip_address(last))
    return found


def parse_if_inet6(text):
    """Global-scope IPv6 addresses from /proc/net/if_inet6 (link-local ones need a zone id that
    a browser's address bar cannot take)."""
    found = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[3] == "00":
            found.add(ipaddress.ip_address(int(fields[0], 16)))
    return found


def lan_addresses():
    """Every address other machines can reach this one on (loopback and link-local left out)."""
    found = set()
    for path, parse in (
        ("/proc/net/fib_trie", parse_fib_trie),
        ("/proc/net/if_inet6", parse_if_inet6),
    ):
        with contextlib.suppress(OSError):
            found |= parse(Path(path).read_text())
    with contextlib.suppress(OSError):
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None):
            found.add(ipaddress.ip_address(sockaddr[0].split("%")[0]))
    return {ip for ip in found if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)}


def host_names():
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name != "localhost" and not _is_ip(name):
            names.add(name)
    return names


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def machine_names(extra=()):
    """This machine's names and addresses, plus `extra` (names or addresses from the settings)."""
    extra_ips = [e for e in extra if _is_ip(e)]
    extra_dns = [e for e in extra if not _is_ip(e)]
    return Names.of(
        dns=[*host_names(), *extra_dns],
        ips=[
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
            *lan_addresses(),
            *extra_ips,
        ],
    )


# --- files --------------------------------------------------------------------------------------


def _write_private(path, data):
    """Write `data` to `path` atomically, readable by the owner only (0600) from the first byte."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _locked(folder):
    """One process at a time makes or renews certificates in `folder`."""
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _same_key(cert, key):
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- the local certificate authority -----------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    key: object
    cert: x509.Certificate
    folder: Path

    @property
    def cert_path(self):
        return self.folder / CA_CERT


def _make_ca(now):
    key = ec.generate_private_key(CURVE)
    host = socket.gethostname() or "localhost"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"督查督导系统根证书 {host}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "督查督导系统（本机自建）"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, secrets.token_hex(8)),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def local_ca(folder, *, now=None):
    """The CA in `folder`, made on first use (key 0600). Never replaced while its files exist:
    every tablet that installed it would have to install a new one."""
    now = now or _now()
    with _locked(folder) as folder:
        return _load_or_make_ca(folder, now)


def _load_or_make_ca(folder, now):
    key_path, cert_path = folder / CA_KEY, folder / CA_CERT
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        os.chmod(key_path, 0o600)
        if not _same_key(cert, key):
            raise TLSRefused(
                f"{cert_path} 与 {key_path} 不是一对，请恢复原有文件或删除两者后重启以新建根证书（平板需重新安装）"
            )
        if cert.not_valid_after_utc - now < CA_WARN_BEFORE:
            log.warning(
                "本机根证书将于 %s 到期；到期前删除 %s 与 %s 并重启以新建，之后各平板需重新安装证书",
                cert.not_valid_after_utc.date(),
                cert_path,
                key_path,
            )
        return Authority(key, cert, folder)
    key, cert = _make_ca(now)
    _write_private(key_path, _pem_key(key))
    _write_private(cert_path, _pem_cert(cert))
    log.info("created the local certificate authority %s", cert_path)
    return Authority(key, cert, folder)


# --- the server certificate -------------------------------------------------------------------


def certificate_names(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return Names.of()
    return Names.of(
        dns=san.get_values_for_type(x509.DNSName), ips=san.get_values_for_type(x509.IPAddress)
    )


def _issue_server(ca, names, now):
    key = ec.generate_private_key(CURVE)
    common = names.dns[0] if names.dns else str(names.ips[0])
    for name in names.dns:
        if name != "localhost":
            common = name
            break
    public = key.public_key()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)]))
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(min(now + timedelta(days=SERVER_DAYS), ca.cert.not_valid_after_utc))
        .add_extension(
            x509.SubjectAlternativeName(
                [*map(x509.DNSName, names.dns), *map(x509.IPAddress, names.ips)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return key, cert


def _reason_to_reissue(ca, cert, key, names, now):
    """Why the stored server certificate will not do (None when it will)."""
    if not _same_key(cert, key):
        return "key does not match"
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return "not signed by the local CA"
    if cert.not_valid_before_utc > now:
        return "not valid yet"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return f"expires {cert.not_valid_after_utc.date()}"
    have = certificate_names(cert)
    if have != names:
        return f"names changed (was {have}, now {names})"
    return None


def server_certificate(folder, names, *, now=None):
    """(cert path, key path) of a server certificate for `names` signed by the local CA in
    `folder`; made when missing and made again when the names change, it nears expiry or it
    does not match its key or the CA. Safe to call from several processes at once."""
    now = now or _now()
    with _locked(folder) as folder:
        ca = _load_or_make_ca(folder, now)
        key_path, cert_path = folder / SERVER_KEY, folder / SERVER_CERT
        reason = "missing"
        if key_path.exists() and cert_path.exists():
            try:
                key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            except ValueError:
                reason = "unreadable"
            else:
                reason = _reason_to_reissue(ca, cert, key, names, now)
        if reason:
            key, cert = _issue_server(ca, names, now)
            _write_private(key_path, _pem_key(key))
            _write_private(cert_path, _pem_cert(cert))
            log.info("issued the server certificate for %s (%s)", names, reason)
        os.chmod(key_path, 0o600)
        return cert_path, key_path


# --- an organisation's own certificate --------------------------------------------------------


def check_own_certificate(cert_path, key_path, *, now=None):
    """Refuse (TLSRefused, naming the file) a certificate or key that cannot be served: missing,
    unreadable, not PEM, a key with a password, or a key that is not the certificate's."""
    now = now or _now()
    chain = _read_chain(cert_path)
    key = _read_key(key_path)
    if not _same_key(chain[0], key):
        raise TLSRefused(
            f"证书 {cert_path} 与私钥 {key_path} 不匹配（私钥不是该证书的），请核对后重试"
        )
    if chain[0].not_valid_after_utc < now:
        log.warning(
            "证书 %s 已于 %s 过期，浏览器将拒绝访问", cert_path, chain[0].not_valid_after_utc.date()
        )
    return chain


def _read(path, what):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise TLSRefused(
            f"找不到{what}文件 {path}，请检查 INSPECT_TLS_CERT / INSPECT_TLS_KEY 设置"
        ) from None
    except PermissionError:
        raise TLSRefused(f"无权读取{what}文件 {path}，请让运行本系统的用户可读该文件") from None
    except OSError as error:
        raise TLSRefused(f"无法读取{what}文件 {path}：{error.strerror or error}") from None


def _read_chain(path):
    data = _read(path, "证书")
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        chain = []
    if not chain:
        raise TLSRefused(
            f"证书文件 {path} 不是 PEM 格式的证书（应以 -----BEGIN CERTIFICATE----- 开头）"
        )
    return chain


def _read_key(path):
    data = _read(path, "私钥")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TLSRefused(
            f"私钥文件 {path} 设有密码，服务器无法在无人值守时启动；请导出不带密码的私钥（文件权限设为 600）"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TLSRefused(
            f"私钥文件 {path} 不是 PEM 格式的私钥（应以 -----BEGIN … PRIVATE KEY----- 开头）"
        ) from None


# --- what /ca shows -----------------------------------------------------------------------------


def fingerprint(cert, algorithm="sha256"):
    digest = hashlib.new(algorithm, cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)).upper()


def load_certificate(path):
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert):
    return _pem_cert(cert)


def common_name(name):
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else name.rfc4514_string()


# --- gunicorn -----------------------------------------------------------------------------------

_contexts = {}
_contexts_lock = threading.Lock()


def reloading_context(certfile, keyfile, factory):
    """gunicorn makes an SSL context per connection by default, reading both files each time.
    One context per process, made again when a file changes (a renewal), is quicker and lets
    TLS sessions resume across connections."""
    stamp = tuple(os.stat(path).st_mtime_ns for path in (certfile, keyfile))
    with _contexts_lock:
        cached = _contexts.get((certfile, keyfile))
        if cached is None or cached[0] != stamp:
            try:
                context = factory()
            except ssl.SSLError:
                # a renewal caught between writing the new key and the new certificate
                if cached is None:
                    raise
                return cached[1]
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            cached = (stamp, context)
            _contexts[(certfile, keyfile)] = cached
        return cached[1]
