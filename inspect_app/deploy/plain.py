"""The plain-HTTP port (INSPECT_HTTP_PORT, default 5080): every request is sent on to HTTPS,
except /ca, where a tablet that does not trust the server yet fetches the CA certificate.

gunicorn wraps every listener of a server in TLS once a certificate is set, so this port is a
second, small gunicorn (inspect_app/deploy/plain_conf.py) that `make run` and the service start
beside the main one. Its app knows nothing of the database or sessions: a database outage never
keeps a tablet from getting the certificate, and nothing here can sign anyone in over clear text.
"""

from urllib.parse import quote

from flask import Flask, current_app, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from inspect_app import config
from inspect_app.deploy.views import bp, request_hostname
from inspect_app.web import ERROR_MESSAGES


def create_plain_app(overrides=None):
    app = Flask(
        __name__,
        instance_path=config.instance_path(),
        template_folder=str(config.PROJECT_ROOT / "templates"),
        static_folder=str(config.PROJECT_ROOT / "static"),  # the /ca page's stylesheets
    )
    from inspect_app.deploy.serving import from_environment

    app.config["SERVING"] = from_environment(config.instance_path())
    app.config.update(overrides or {})
    app.register_blueprint(bp)
    app.add_url_rule("/", "to_https", to_https, defaults={"path": ""}, methods=ALL_METHODS)
    app.add_url_rule("/<path:path>", "to_https", to_https, methods=ALL_METHODS)

    @app.errorhandler(HTTPException)
    def _error(error):
        message = ERROR_MESSAGES.get(error.code, error.name)
        return render_template("deploy/plain_error.html", status=error.code, message=message), (
            error.code
        )

    return app


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


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
