"""/ca: the certificate tablets and PCs install so they trust this server, with the steps in
Chinese. Served on the plain-HTTP port (a tablet must fetch it before it trusts HTTPS) and over
HTTPS; needs no database and no sign-in."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, make_response, render_template, request

from inspect_app.auth.access import requires
from inspect_app.auth.permissions import PUBLIC
from inspect_app.deploy import tls
from inspect_app.deploy.serving import LOCAL_CA, OFF, OWN

bp = Blueprint("deploy", __name__)

CA_MIME = "application/x-x509-ca-cert"
DOWNLOAD_NAME = "inspect-ca"


@dataclass(frozen=True)
class Offered:
    """What /ca offers: the root certificate to install (None when there is none to give)."""

    cert: object
    server_names: tls.Names


def offered(serving):
    if serving.tls == LOCAL_CA:
        ca = tls.local_ca(serving.tls_folder)
        server_cert = serving.tls_folder / tls.SERVER_CERT
        names = (
            tls.certificate_names(tls.load_certificate(server_cert))
            if server_cert.exists()
            else tls.machine_names(serving.extra_names)
        )
        return Offered(ca.cert, names)
    if serving.tls == OWN:
        try:
            chain = tls.check_own_certificate(serving.cert_file, serving.key_file)
        except tls.TLSRefused:  # gone since the server started; the page says to ask IT
            return Offered(None, tls.Names.of())
        root = chain[-1] if chain[-1].subject == chain[-1].issuer and len(chain) > 1 else None
        return Offered(root, tls.certificate_names(chain[0]))
    return Offered(None, tls.Names.of())


def request_hostname():
    """The host the browser asked for, without its port (IPv6 in brackets)."""
    try:
        name = urlsplit("//" + request.host).hostname or "localhost"
    except ValueError:  # a Host header like "[::1" from no browser
        name = "localhost"
    return f"[{name}]" if ":" in name else name


@bp.get("/ca")
@requires(PUBLIC)
def ca_page():
    serving = current_app.config["SERVING"]
    offer = offered(serving)
    cert = offer.cert
    plain_url = f"http://{request_hostname()}:{serving.http_port}/ca" if serving.http_port else None
    response = make_response(
        render_template(
            "deploy/ca.html",
            mode=serving.tls,
            modes={"local": LOCAL_CA, "own": OWN, "off": OFF},
            cert=cert,
            subject=tls.common_name(cert.subject) if cert else "",
            not_after=cert.not_valid_after_utc.date() if cert else None,
            sha256=tls.fingerprint(cert, "sha256") if cert else "",
            sha1=tls.fingerprint(cert, "sha1") if cert else "",
            addresses=serving.https_addresses(offer.server_names),
            plain_url=plain_url,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _download(cert, body, extension):
    response = make_response(body)
    response.headers["Content-Type"] = CA_MIME
    response.headers["Content-Disposition"] = f'attachment; filename="{DOWNLOAD_NAME}.{extension}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/ca.crt")
@requires(PUBLIC)
def ca_crt():
    """DER, the form every platform's certificate installer opens from a .crt file."""
    cert = _offered_or_404()
    return _download(cert, tls.der(cert), "crt")


@bp.get("/ca.pem")
@requires(PUBLIC)
def ca_pem():
    cert = _offered_or_404()
    return _download(cert, tls.pem(cert), "pem")


def _offered_or_404():
    cert = offered(current_app.config["SERVING"]).cert
    if cert is None:
        abort(404)
    return cert
