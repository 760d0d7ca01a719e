"""Production server settings for `make run` and the systemd service
(gunicorn --config python:inspect_app.gunicorn_conf "inspect_app:create_app()").

HTTPS on PORT (default 5000) with the local CA's certificate or the organisation's own; plain HTTP
when INSPECT_TLS=off (a reverse proxy in front terminates HTTPS). Beside it run the background
worker and the plain-HTTP port (see inspect_app/deploy/companions.py). Names imported here start
with an underscore: gunicorn reads every other module-level name as a setting.
"""

import os as _os
import subprocess as _subprocess

from inspect_app import config as _config
from inspect_app.deploy import files as _files
from inspect_app.deploy import logs as _logs
from inspect_app.deploy import sizing as _sizing
from inspect_app.deploy import tls as _tls
from inspect_app.deploy.companions import SUPERVISOR_COMMAND as _SUPERVISOR_COMMAND
from inspect_app.deploy.companions import child_environment as _child_environment
from inspect_app.deploy.serving import LOCAL_CA as _LOCAL_CA
from inspect_app.deploy.serving import OWN as _OWN

# Files the server makes (database, uploads, queue, certificates) are for its own user only.
_os.umask(0o077)
_logs.quiet_libraries()
# Every setting is checked here, once, with a message naming it: a bad one stops the start
# instead of making each web worker fail to boot over and over.
_settings = _config.from_environment()
_serving = _settings["SERVING"]
# A database or key made before this start (e.g. by `inspect-app setup`) gets the same rule.
_files.restrict(_files.private_folders(_settings))
try:
    if _serving.tls == _LOCAL_CA:
        _names = _tls.machine_names(_serving.extra_names)
        certfile, keyfile = map(str, _tls.server_certificate(_serving.tls_folder, _names))
    elif _serving.tls == _OWN:
        _tls.check_own_certificate(_serving.cert_file, _serving.key_file)
        certfile, keyfile = _serving.cert_file, _serving.key_file
except _tls.TLSRefused as _refused:
    raise SystemExit(_refused.message) from None


def ssl_context(conf, default_ssl_context_factory):
    return _tls.reloading_context(conf.certfile, conf.keyfile, default_ssl_context_factory)


# 0.0.0.0 so tablets on the LAN reach the server (INSPECT_BIND=127.0.0.1 behind a local proxy).
bind = _serving.bind_address(_serving.port)
# X-Forwarded-* are trusted only through INSPECT_TRUSTED_PROXIES (ProxyFix in the app), never
# by gunicorn's own address list.
forwarded_allow_ips = ""
worker_class = "gthread"
workers = _sizing.workers()
threads = _sizing.threads()
timeout = 60
# Tablets save every few seconds: keep their connections open between saves.
keepalive = 75
graceful_timeout = 20
accesslog = _os.environ.get("ACCESS_LOG", "-")
# Each worker opens its own connections after the fork.
preload_app = False
proc_name = "inspect-app"
# gunicorn ≥ 25.1 opens a control socket at one path per user ($HOME/.gunicorn/gunicorn.ctl): a
# second instance or a test run would take it over. Stop and reload go through signals
# (systemctl stop / reload).
control_socket_disable = True

# The companions (background worker, plain-HTTP port) live and die with the web server, so
# `make run` is the only command to start.
_supervisor = None


def _start_companions(log):
    global _supervisor
    _supervisor = _subprocess.Popen(_SUPERVISOR_COMMAND, env=_child_environment())
    log.info("companions started (pid %s)", _supervisor.pid)


def when_ready(server):
    if _serving.tls == "off":
        server.log.info("serving http on port %s (HTTPS is the proxy's job)", _serving.port)
    else:
        server.log.info("serving https: https://127.0.0.1:%s/", _serving.port)
    if _serving.tls == _LOCAL_CA:
        for address in _serving.https_addresses(_names):
            server.log.info("on the LAN: %s", address)
        for host in (_serving.lan_hosts(_names) or ["127.0.0.1"])[:1]:
            server.log.info(
                "tablets install the certificate from http://%s:%s/ca", host, _serving.http_port
            )
    _start_companions(server.log)


def on_reload(server):
    if _supervisor is not None and _supervisor.poll() is not None:
        _start_companions(server.log)


def child_exit(server, worker):
    if _supervisor is not None and _supervisor.poll() is not None:
        _start_companions(server.log)


def on_exit(server):
    if _supervisor is not None and _supervisor.poll() is None:
        _supervisor.terminate()
        try:
            _supervisor.wait(timeout=15)
        except _subprocess.TimeoutExpired:
            _supervisor.kill()
