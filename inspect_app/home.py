"""The landing page after login: what this role works on."""

from flask import Blueprint, g

from inspect_app.auth.access import requires
from inspect_app.auth.permissions import SIGNED_IN
from inspect_app.models import Checklist, Unit, User
from inspect_app.web import render

bp = Blueprint("home", __name__)


@bp.get("/")
@requires(SIGNED_IN)
def index():
    stats = None
    if g.user.role not in ("unit_liaison", "unit_head"):
        stats = {
            "units": Unit.select().where(Unit.is_active == True).count(),  # noqa: E712
            "checklists": Checklist.select().count(),
            "users": User.select().where(User.is_active == True).count(),  # noqa: E712
        }
    return render("home.html", stats=stats)
