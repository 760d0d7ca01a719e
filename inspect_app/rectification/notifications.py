"""In-app notifications: stored when something happens to a task; deadline warnings computed live.

Stored: a new task, a task sent back, closed or with an extension decided (to the lead unit's
users); a task awaiting verification (to the supervisors). Near-deadline and overdue warnings
are not stored: they are read off the tasks whenever the user looks, so no background job can
miss them.
"""

from inspect_app.models import Notification, Task, User, now
from inspect_app.vocab import UNIT_ROLES


def _send(users, task, kind, text):
    Notification.insert_many(
        [{"user": u.id, "task": task.id, "kind": kind, "text": text} for u in users]
    ).execute()


def to_unit(task, kind, text):
    users = User.select().where(
        User.unit == task.lead_unit_id, User.role.in_(list(UNIT_ROLES)), User.is_active == True
    )
    _send(list(users), task, kind, text)


def to_supervisors(task, kind, text):
    _send(
        list(User.select().where(User.role == "supervisor", User.is_active == True)),
        task,
        kind,
        text,
    )


def unread(user):
    return list(
        user.notifications.where(Notification.read_at.is_null()).order_by(Notification.id.desc())
    )


def unread_count(user):
    return user.notifications.where(Notification.read_at.is_null()).count()


def recent(user, limit=100):
    return list(user.notifications.order_by(Notification.id.desc()).limit(limit))


def mark_all_read(user):
    Notification.update(read_at=now()).where(
        Notification.user == user.id, Notification.read_at.is_null()
    ).execute()


def warnings(user):
    """[(task, colour)] of this user's open tasks that are red or yellow (unit users only)."""
    from inspect_app.rectification.service import OPEN, light, visible_tasks

    if user.role not in UNIT_ROLES:
        return []
    found = []
    for task in visible_tasks(user).where(Task.status.in_(list(OPEN))):
        colour = light(task)
        if colour in ("red", "yellow"):
            found.append((task, colour))
    return found
