"""The landing page after login: what this role works on."""

from flask import Blueprint, g

from inspect_app.auth.access import requires
from inspect_app.auth.permissions import SIGNED_IN
from inspect_app.holidays import service as holidays
from inspect_app.inspections.service import STATUS_LABELS
from inspect_app.models import Checklist, Round, Unit, User
from inspect_app.rectification import notifications
from inspect_app.rounds.service import my_inspections, unit_view
from inspect_app.vocab import UNIT_ROLES
from inspect_app.web import render

bp = Blueprint("home", __name__)


@bp.get("/")
@requires(SIGNED_IN)
def index():
    if g.user.role in UNIT_ROLES:
        upcoming, results = unit_view(g.user)
        return render(
            "home.html",
            upcoming=upcoming,
            results=results,
            status_labels=STATUS_LABELS,
            unread=notifications.unread(g.user),
            warnings=notifications.warnings(g.user),
        )
    stats = {
        "units": Unit.select().where(Unit.is_active == True).count(),
        "checklists": Checklist.select().count(),
        "users": User.select().where(User.is_active == True).count(),
        "rounds": Round.select().count(),
        "pending": User.select().where(User.role == "pending", User.is_active == True).count(),
    }
    calendar_missing = None
    if g.user.role in holidays.MANAGERS:
        calendar_missing = holidays.missing_next_year()
        if calendar_missing:
            holidays.remind_next_year()
    return render(
        "home.html",
        stats=stats,
        mine=my_inspections(g.user),
        status_labels=STATUS_LABELS,
        calendar_missing=calendar_missing,
    )
