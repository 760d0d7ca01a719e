"""Access rules on routes: each view says what it needs; a view that says nothing is refused."""

from functools import wraps

from flask import abort, current_app, g, redirect, request, url_for

from inspect_app.auth.permissions import ACTIONS, OBJECT_SCOPED, PUBLIC, can, may_reach


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


def enforce_access_rules():
    """before_request: deny by default, send the signed-out to the login page and those who must
    change their password to the change page."""
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
    if g.user.must_change_password and request.endpoint != "auth.change_password":
        # Someone else chose this password: nothing else until its owner replaces it. A 303 on
        # every method, so no POST is carried out; the autosave outbox keeps a redirected save.
        return redirect(url_for("auth.change_password"), code=303)
    if not may_reach(g.user, rule):
        abort(403)
    return None
