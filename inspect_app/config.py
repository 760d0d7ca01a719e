"""Settings from the environment; secrets generated into the instance folder, never in code."""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# A source checkout keeps templates/, static/ and checklists/ next to the package (the project's
# layout); an installed wheel carries them inside it, under _data/ (see setup.py).
INSTALLED = (PACKAGE_DIR / "_data").is_dir()
DATA_DIR = PACKAGE_DIR / "_data" if INSTALLED else PACKAGE_DIR.parent
TEMPLATE_DIR = DATA_DIR / "templates"
STATIC_DIR = DATA_DIR / "static"
CHECKLIST_DIR = DATA_DIR / "checklists"


def instance_path():
    # Installed: Flask's own convention (<venv>/var/inspect_app-instance), never site-packages.
    default = (
        Path(sys.prefix, "var", "inspect_app-instance")
        if INSTALLED
        else PACKAGE_DIR.parent / "instance"
    )
    return Path(os.environ.get("INSPECT_INSTANCE_PATH", default)).resolve()


def font_dir():
    """The Fandol 公文 fonts: static/fonts/fandol/ where make puts them, or INSPECT_FONT_DIR."""
    return Path(os.environ.get("INSPECT_FONT_DIR") or STATIC_DIR / "fonts" / "fandol").resolve()


def _secret_key(instance):
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance / "secret_key"
    if not key_file.exists():
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written once with owner-only permissions; every worker process reads the same key.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def _escalation_ladder():
    """The ladder from INSPECT_ESCALATION_FILE (YAML list of steps), or None for the default."""
    path = os.environ.get("INSPECT_ESCALATION_FILE")
    if not path:
        return None
    import yaml

    steps = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if (
        not isinstance(steps, list)
        or not steps
        or not all(
            isinstance(s, dict)
            and s.get("code")
            and s.get("label")
            and (s.get("overdue_days") or s.get("sent_back"))
            for s in steps
        )
    ):
        raise SystemExit(
            f"{path}: 问责阶梯应为列表，每一级须有 code、label，以及 overdue_days 或 sent_back"
        )
    return steps


def _scoring_rules():
    """Process rules, stars, classes and 末位问责 from INSPECT_SCORING_FILE, or None for the default."""
    path = os.environ.get("INSPECT_SCORING_FILE")
    if not path:
        return None
    from inspect_app.scores.config import load_file

    return load_file(path)


def _flag(name):
    value = os.environ.get(name, "").strip()
    if value not in ("", "0", "1"):
        raise SystemExit(f"{name}={value}：应为 1（开启）或 0（关闭）")
    return value == "1"


def _backup_keep():
    value = os.environ.get("INSPECT_BACKUP_KEEP", "14").strip()
    if not (value.isascii() and value.isdigit()):
        raise SystemExit(
            f"INSPECT_BACKUP_KEEP={value}：应为保留的每日备份份数（整数，0 表示不做每日备份）"
        )
    return int(value)


def from_environment():
    from inspect_app.deploy.serving import from_environment as serving_from_environment

    instance = instance_path()
    serving = serving_from_environment(instance)
    return {
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": os.environ.get(
            "INSPECT_DATABASE_URL", f"sqlite:///{instance / 'inspect.db'}"
        ),
        # How the app is served: HTTPS, ports, trusted proxies (inspect_app/deploy/serving.py)
        "SERVING": serving,
        # The address printed in notices' QR codes (e.g. https://10.1.2.3:5000); default: as
        # requested. Required behind a reverse proxy.
        "PUBLIC_URL": serving.public_url,
        "UPLOAD_FOLDER": os.environ.get("INSPECT_UPLOAD_FOLDER", str(instance / "uploads")),
        "CHECKLIST_FOLDER": os.environ.get("INSPECT_CHECKLIST_FOLDER", str(CHECKLIST_DIR)),
        "SECRET_KEY": _secret_key(instance),
        # A production instance never gets demo data; its first administrator is asked for.
        "PRODUCTION": _flag("INSPECT_PRODUCTION"),
        "BACKUP_FOLDER": os.environ.get("INSPECT_BACKUP_DIR", str(instance / "backups")),
        "BACKUP_KEEP": _backup_keep(),  # daily archives kept; 0: no daily backup
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Served over HTTPS (here or at the proxy): cookies never travel in clear text.
        "SESSION_COOKIE_SECURE": serving.https,
        "SESSION_COOKIE_NAME": "inspect_session",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        # The cookie is rewritten only when the session changes (see auth.session.load_user).
        "SESSION_REFRESH_EACH_REQUEST": False,
        # An inspector may spend an hour on one section of a visit without a request.
        "SESSION_IDLE_SECONDS": int(os.environ.get("INSPECT_SESSION_IDLE_SECONDS", 2 * 3600)),
        "MAX_CONTENT_LENGTH": 30 * 1024 * 1024,
        "ESCALATION_LADDER": _escalation_ladder(),
        "SCORING_RULES": _scoring_rules(),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        # Over HTTPS a form must also come from this site's own pages (Referer checked).
        "WTF_CSRF_SSL_STRICT": serving.https,
    }
