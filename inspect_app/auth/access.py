"""Access rules on routes: each view says what it needs; a view that says nothing is refused."""

from functools import wraps

from flask import abort, current_app, g, redirect, request, url_for

from inspect_app.auth.permissions import ACTIONS, OBJECT_SCOPED, PUBLIC, can, may_reach
from inspect_app.auth.policy import current_policy


def requires(action):
    """Declare the action a view needs.

    For actions whose answer depends on the object (a unit user and their own unit), the route
    only admits users who may reach *some* such object, and the view must call `authorize(action,
    obj)`; a view that forgets is a bug and fails loudly instead of leaking.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.object_authorized = False
            response = view(*args, **kwargs)
            if action in OBJECT_SCOPED and not g.object_authorized:
                raise RuntimeError(
                    f"view {view.__name__} did not authorize its object for {action}"
                )
            return response

        wrapper.access_rule = action
        return wrapper

    return decorate


def access_rule(endpoint):
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "access_rule", None)


def authorize(action, obj=None):
    """Abort with 403 unless the current user may do `action` (on `obj`)."""
    if not can(g.user, action, obj):
        abort(403)
    g.object_authorized = True


def required_detour(user):
    """The endpoint `user` must go through before anything else, or None."""
    policy = current_policy()
    if user.must_change_password or policy.password_expired(user):
        return "auth.change_password"
    if user.totp_enabled_at is None and policy.two_factor_required(user):
        return "auth.two_factor_page"
    return None


def enforce_access_rules():
    """before_request: deny by default, send the signed-out to the login page, those who must
    change their password to the change page, and those who must enrol a second factor to the
    enrolment page."""
    if request.endpoint is None:  # 404/405: let Flask answer
        return None
    if request.endpoint == "static":
        return None
    rule = access_rule(request.endpoint)
    if rule is None:
        current_app.logger.error("route %s has no access rule; refused", request.endpoint)
        abort(403)
    if rule == PUBLIC:
        return None
    if g.user is None:
        abort(401)
    detour = required_detour(g.user)
    if detour and request.endpoint != detour:
        # Someone else chose this password, or it expired, or an administrator has no second
        # factor yet: nothing else until that is done. A 303 on every method, so no POST is
        # carried out; the autosave outbox keeps a redirected save.
        return redirect(url_for(detour), code=303)
    if not may_reach(g.user, rule):
        abort(403)
    return None
