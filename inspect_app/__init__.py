"""inspect_app: 督查督导 — inspections, rectification and official notices."""

from flask import Flask, g, jsonify
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter

from inspect_app import config, db, deploy, headers, web
from inspect_app.auth.access import enforce_access_rules, required_detour, requires
from inspect_app.auth.permissions import PUBLIC, can
from inspect_app.auth.policy import current_policy
from inspect_app.auth.session import load_user
from inspect_app.ids import MAX_ID
from inspect_app.scores import config as scores_config
from inspect_app.vocab import ROLES, UNIT_TYPES

csrf = CSRFProtect()


class IdConverter(IntegerConverter):
    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def create_app(overrides=None):
    app = Flask(
        __name__,
        instance_path=config.instance_path(),
        template_folder=str(config.TEMPLATE_DIR),
        static_folder=str(config.STATIC_DIR),
    )
    app.config.update(config.from_environment())
    app.config.update(overrides or {})

    # Ids in URLs stay within the database's integer range; larger ones are a 404, not a crash.
    app.url_map.converters["int"] = IdConverter
    db.init_app(app)
    csrf.init_app(app)
    web.init_app(app)
    headers.init_app(app)
    deploy.init_app(app)
    scores_config.configure(app)

    app.before_request(load_user)
    app.before_request(enforce_access_rules)
    app.before_request(web.refuse_nul)
    app.jinja_env.globals.update(
        can=lambda action, obj=None: can(g.user, action, obj),
        ROLES=ROLES,
        UNIT_TYPES=UNIT_TYPES,
        # the page a signed-in user must finish first (password change, 2FA enrolment), if any
        detour=lambda: required_detour(g.user) if g.get("user") else None,
        password_rules=lambda: current_policy().describe(),
    )

    from inspect_app.audit.views import bp as audit_bp
    from inspect_app.auth.views import bp as auth_bp
    from inspect_app.checklists.views import bp as checklists_bp
    from inspect_app.dashboard.views import bp as dashboard_bp
    from inspect_app.holidays.views import bp as holidays_bp
    from inspect_app.home import bp as home_bp
    from inspect_app.inspections.views import bp as inspections_bp
    from inspect_app.notices.views import bp as notices_bp
    from inspect_app.orgs.views import bp as orgs_bp
    from inspect_app.rectification.views import bp as tasks_bp
    from inspect_app.rounds.views import bp as rounds_bp
    from inspect_app.selfcheck.views import bp as selfcheck_bp
    from inspect_app.users.views import bp as users_bp

    for blueprint in (
        auth_bp,
        home_bp,
        orgs_bp,
        users_bp,
        checklists_bp,
        rounds_bp,
        inspections_bp,
        tasks_bp,
        notices_bp,
        dashboard_bp,
        holidays_bp,
        audit_bp,
        selfcheck_bp,
    ):
        app.register_blueprint(blueprint)

    app.add_url_rule("/healthz", "healthz", healthz)

    @app.context_processor
    def _notification_badge():
        from inspect_app.rectification.notifications import unread_count

        return {"unread_notifications": unread_count(g.user) if g.get("user") else 0}

    from inspect_app.cli import register_commands

    register_commands(app)
    return app


@requires(PUBLIC)
def healthz():
    from inspect_app.migrations import state

    try:
        schema = state(db.database)
    except Exception as error:  # the point of this endpoint is to report, not to crash
        return jsonify(status="error", app="up", database="down", error=type(error).__name__), 503
    return jsonify(
        status="ok" if schema.current else "degraded",
        app="up",
        database="up",
        schema_version=max(schema.recorded, default=0),
        schema_current=schema.current,
    ), (200 if schema.current else 503)
