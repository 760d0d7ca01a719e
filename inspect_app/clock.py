"""The one clock: every "today" and "now" in inspect_app comes from here.

In service it is the machine's clock. Tests, and a demo that wants a particular day
(`INSPECT_TODAY=2026-11-23`), move it with `travel()`; it keeps ticking from the moment it was
moved to, so events recorded one after another still come in order.
"""

import os
from datetime import date, datetime, timedelta

_offset = timedelta(0)


def now():
    return datetime.now() + _offset


def today():
    return now().date()


def timestamp():
    """Seconds since the epoch, on this clock (session ages)."""
    return now().timestamp()


def travel(moment):
    """Move the clock to `moment` (a datetime, or a date: 09:00 that day); returns the old setting."""
    global _offset
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, datetime.min.time()).replace(hour=9)
    previous = _offset
    _offset = moment - datetime.now()
    return previous


def restore(previous):
    """Put the clock back to what `travel()` returned."""
    global _offset
    _offset = previous


def _from_environment():
    """INSPECT_TODAY=YYYY-MM-DD moves a demo to that day by whole days, keeping the time of day."""
    global _offset
    value = os.environ.get("INSPECT_TODAY", "").strip()
    if not value:
        return
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"INSPECT_TODAY={value}：日期格式应为 YYYY-MM-DD") from None
    _offset = timedelta(days=(day - date.today()).days)


_from_environment()
