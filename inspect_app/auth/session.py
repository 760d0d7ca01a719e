"""Who is asking: load the signed-in user per request and end sessions that have expired."""

from flask import current_app, g, session

from inspect_app import clock
from inspect_app.db import first
from inspect_app.models import User


def start_session(user):
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["pwd"] = user.password_changed_at.isoformat()
    session["started"] = session["seen"] = int(clock.timestamp())


def end_session():
    session.clear()


def load_user():
    """before_request: g.user is the signed-in, active user or None; g.session_expired tells why."""
    g.user = None
    g.session_expired = False
    uid = session.get("uid")
    if uid is None:
        return
    current = int(clock.timestamp())
    idle = current - session.get("seen", 0)
    age = current - session.get("started", 0)
    config = current_app.config
    user = first(User, "user_by_id", lambda: User.select().where(User.id == 0), uid)
    if (
        idle > config["SESSION_IDLE_SECONDS"]
        or age > config["PERMANENT_SESSION_LIFETIME"].total_seconds()
        or user is None
        or not user.is_active
        or session.get("pwd") != user.password_changed_at.isoformat()
    ):
        session.clear()
        g.session_expired = True
        return
    if current - session["seen"] > 60:  # avoid rewriting the cookie on every request
        session["seen"] = current
    g.user = user
