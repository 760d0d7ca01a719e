"""The plain-HTTP port (INSPECT_HTTP_PORT, default 5080): every request is sent on to HTTPS,
except /ca, where a tablet that does not trust the server yet fetches the CA certificate.

Why its own small server and not a second gunicorn bind: gunicorn wraps every listener in TLS
once a certificate is set. And why it also answers TLS: a browser that trusts the server gets
HSTS from the HTTPS port, and HSTS holds for the host name on every port, so from then on it
asks for https://<name>:5080/… too. A connection whose first byte opens a TLS handshake is
therefore served over TLS with the server's certificate, the rest as plain HTTP.

Its app knows nothing of the database or sessions: a database outage never keeps a tablet from
getting the certificate, and nothing here can sign anyone in over clear text.
`make run` and the service start it beside gunicorn (see companions.py).
"""

import logging
import signal
import socket
import ssl
import sys
from urllib.parse import quote

from flask import Flask, current_app, redirect, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from inspect_app import config, headers
from inspect_app.deploy import tls
from inspect_app.deploy.serving import LOCAL_CA, OWN
from inspect_app.deploy.views import bp, request_hostname
from inspect_app.web import ERROR_MESSAGES

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# A client has this long to send its first byte, finish a handshake or a request.
TIMEOUT = 15
TLS_HANDSHAKE = b"\x16"

log = logging.getLogger("inspect_app.http")


def create_plain_app(overrides=None):
    app = Flask(
        __name__,
        instance_path=config.instance_path(),
        template_folder=str(config.TEMPLATE_DIR),
        static_folder=str(config.STATIC_DIR),  # the /ca page's stylesheets
    )
    from inspect_app.deploy.serving import from_environment

    app.config["SERVING"] = from_environment(config.instance_path())
    app.config.update(overrides or {})
    headers.init_app(app)
    app.register_blueprint(bp)
    app.add_url_rule("/", "to_https", to_https, defaults={"path": ""}, methods=ALL_METHODS)
    app.add_url_rule("/<path:path>", "to_https", to_https, methods=ALL_METHODS)

    @app.errorhandler(HTTPException)
    def _error(error):
        message = ERROR_MESSAGES.get(error.code, error.name)
        page = render_template("deploy/plain_error.html", status=error.code, message=message)
        return page, error.code

    return app


def to_https(path):
    serving = current_app.config["SERVING"]
    if serving.public_url.startswith("https://"):
        base = serving.public_url
    else:
        port = "" if serving.port == 443 else f":{serving.port}"
        base = f"https://{request_hostname()}{port}"
    target = base + quote(request.path, safe="/:@!$&'()*+,;=-._~")
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    # Temporary: a browser that cached a permanent redirect would keep it after the ports
    # change. 307 keeps a form's method and body.
    return redirect(target, 302 if request.method in ("GET", "HEAD") else 307)


def certificate_files(serving):
    """(cert, key) the HTTPS port serves, which this port shows a client that speaks TLS."""
    if serving.tls == LOCAL_CA:
        return (serving.tls_folder / tls.SERVER_CERT, serving.tls_folder / tls.SERVER_KEY)
    if serving.tls == OWN:
        return (serving.cert_file, serving.key_file)
    return None


class _Handler(WSGIRequestHandler):
    def make_environ(self):
        environ = super().make_environ()
        if isinstance(self.connection, ssl.SSLSocket):
            environ["wsgi.url_scheme"] = "https"
        return environ


class PlainServer(ThreadedWSGIServer):
    """Plain HTTP, and TLS for a client whose first byte starts a handshake."""

    def __init__(self, host, port, app, certificate=None):
        super().__init__(host, port, app, handler=_Handler)
        self.certificate = certificate

    def _context(self):
        cert, key = map(str, self.certificate)

        def factory():
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            return context

        return tls.reloading_context(cert, key, factory)

    def finish_request(self, request, client_address):
        request.settimeout(TIMEOUT)
        try:
            first = request.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first != TLS_HANDSHAKE or self.certificate is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self._context().wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a tablet that does not trust the certificate yet hangs up
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError | ConnectionError | TimeoutError):
            return
        log.exception("error serving %s", client_address[0])


def main():
    from inspect_app.deploy import logs
    from inspect_app.deploy.serving import from_environment

    logs.configure("http")
    serving = from_environment(config.instance_path())
    server = PlainServer(
        serving.bind, serving.http_port, create_plain_app(), certificate_files(serving)
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("plain http on port %s: redirects to https, serves /ca", serving.http_port)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
