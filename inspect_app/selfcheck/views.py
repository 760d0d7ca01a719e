"""/security/self-check: the 等保 controls with their live state, for the security administrator
and the auditor (read-only)."""

from flask import Blueprint, current_app, request

from inspect_app.auth.access import access_rule, requires
from inspect_app.selfcheck import service
from inspect_app.web import render

bp = Blueprint("selfcheck", __name__)


@bp.get("/security/self-check")
@requires("security.selfcheck")
def index():
    endpoints = {rule.endpoint for rule in current_app.url_map.iter_rules()} - {"static"}
    missing = sorted(e for e in endpoints if access_rule(e) is None)
    checks = service.run(
        current_app.config,
        secure=request.is_secure,
        routes_without_rule=missing,
        route_count=len(endpoints),
    )
    return render(
        "selfcheck/index.html",
        checks=checks,
        failing=sum(1 for c in checks if not c.ok),
    )
