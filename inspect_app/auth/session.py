"""Who is asking: the session cookie carries a random token; the session itself is a row on the
server (auth.service), so ending it there ends it at once, wherever the cookie was copied to.

Between the password and the code of a two-factor sign-in, the cookie holds only which account
is half-way (`pending`), for PENDING_SECONDS: nobody is signed in until the code passes.
"""

from flask import current_app, g, request, session

from inspect_app import clock
from inspect_app.auth import service

PENDING_SECONDS = 300
TOUCH_SECONDS = 60  # last activity is written at most once a minute per session


def _limits():
    config = current_app.config
    return config["SESSION_IDLE_SECONDS"], config["PERMANENT_SESSION_LIFETIME"].total_seconds()


def start_session(user):
    """Sign `user` in on this browser: a new server-side session and a new cookie."""
    idle, lifetime = _limits()
    session.clear()
    session.permanent = True
    session["sid"] = service.open_session(
        user,
        address=request.remote_addr or "",
        user_agent=request.user_agent.string,
        idle_seconds=idle,
        lifetime_seconds=lifetime,
    )


def end_session():
    token = session.get("sid")
    if token:
        service.end_session(token)
    session.clear()


def begin_second_step(user, next_url):
    session.clear()
    session["pending"] = {"uid": user.id, "at": int(clock.timestamp()), "next": next_url or ""}


def pending_second_step():
    """(user id, next url) of a sign-in waiting for its code, or None (none, or too old)."""
    pending = session.get("pending")
    if not pending:
        return None
    if clock.timestamp() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop("pending", None)
        return None
    return pending["uid"], pending.get("next") or None


def load_user():
    """before_request: g.user is the signed-in, active user or None; g.session_expired tells that
    a session this browser had has ended (timed out, signed out elsewhere, password changed)."""
    g.user = None
    g.session_expired = False
    token = session.get("sid")
    if token is None:
        return
    user = service.session_user(token)
    current = clock.now()
    idle, lifetime = _limits()
    if (
        user is None
        or (current - user.session_seen).total_seconds() > idle
        or (current - user.session_started).total_seconds() > lifetime
        or not user.is_active
    ):
        if user is not None:
            service.end_session_by_id(user.session_id)
        session.clear()
        g.session_expired = True
        return
    if (current - user.session_seen).total_seconds() > TOUCH_SECONDS:
        service.touch_session(user.session_id, current)
    g.user = user
