"""Serving the app on a district's LAN: HTTPS with a local certificate authority, the plain-HTTP
port that hands tablets the CA, reverse proxies, the systemd service and its logs."""

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

# Browsers forget the rule after a day: a LAN that later moves the app behind a proxy on plain
# HTTP, or to another port, is not locked out for long.
HSTS = "max-age=86400"


def init_app(app):
    serving = app.config["SERVING"]
    if serving.trusted_proxies:
        # Client address, scheme, host and port come from the last N proxies' X-Forwarded-*
        # headers; without trusted proxies those headers are ignored (anyone could send them).
        n = serving.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)

    @app.after_request
    def _strict_transport_security(response):
        # Only on HTTPS answers: over plain HTTP the header is meaningless and browsers drop it.
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    from inspect_app.deploy.views import bp

    app.register_blueprint(bp)
