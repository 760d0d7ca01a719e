"""gunicorn settings for the plain-HTTP port (started beside the main server, see plain.py)."""

import os as _os

from inspect_app import config as _config
from inspect_app.deploy import logs as _logs
from inspect_app.deploy.serving import from_environment as _serving

_os.umask(0o077)
_logs.quiet_libraries()
_settings = _serving(_config.instance_path())

bind = _settings.bind_address(_settings.http_port)
wsgi_app = "inspect_app.deploy.plain:create_plain_app()"
proc_name = "inspect-http"
# Redirects and one small file: one process with a few threads is plenty.
worker_class = "gthread"
workers = 1
threads = 4
timeout = 30
keepalive = 5
accesslog = "-"
control_socket_disable = True  # see inspect_app/gunicorn_conf.py
access_log_format = '[http] %(h)s "%(r)s" %(s)s %(b)s'
