"""Slowing down password and code guessing without letting anyone lock another person out.

No account is ever locked. After a few failures the next attempt must wait, and each further
failure doubles the wait; the waits are counted on three keys, over the last WINDOW:

| key                          | counts failures                              | free | first wait | longest |
| account + address (the pair) | of this account from this address, since the | 3    | 5 s        | 15 min  |
|                              | pair's last completed sign-in                |      |            |         |
| address                      | from this address, for any account; a good   | 10   | 5 s        | 15 min  |
|                              | sign-in does not reset it                    |      |            |         |
| account                      | of this account, from any address            | 10   | 1 s        | 30 s    |

The account-wide slowdown holds back only addresses that have themselves failed for the account
in the window: someone guessing from elsewhere can never make the owner wait at their own desk,
and an owner who mistypes waits at most 30 s. The address is `request.remote_addr`, the real
client behind a trusted proxy (INSPECT_TRUSTED_PROXIES). An attempt refused here is not checked
and not counted. Wrong codes of the second factor count like wrong passwords.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from peewee import fn

from inspect_app.errors import TooManyAttempts
from inspect_app.models import LoginAttempt, now

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Rule:
    free: int  # failures allowed before any wait
    first_wait: int  # seconds, after the first failure beyond `free`
    longest: int  # seconds

    def wait_after(self, failures):
        if failures < self.free:
            return 0
        return min(self.longest, self.first_wait * 2 ** (failures - self.free))


PAIR = Rule(free=3, first_wait=5, longest=15 * 60)
ADDRESS = Rule(free=10, first_wait=5, longest=15 * 60)
ACCOUNT = Rule(free=10, first_wait=1, longest=30)


class Throttled(TooManyAttempts):
    def __init__(self, seconds):
        super().__init__(f"登录尝试过于频繁，请 {seconds} 秒后再试")
        self.retry_after = seconds


def _failures(*where):
    """(count, newest) of failures matching `where`."""
    return (
        LoginAttempt.select(fn.COUNT(LoginAttempt.id), fn.MAX(LoginAttempt.at))
        .where(LoginAttempt.succeeded == False, *where)
        .tuples()
        .get()
    )


def seconds_to_wait(username, address):
    """How long before `username` may be tried from `address` (0: now)."""
    current = now()
    recent = LoginAttempt.at >= current - WINDOW
    pair = (LoginAttempt.username == username) & (LoginAttempt.ip == address)
    # by id, not time: attempts are stamped to the second, and a typo may share the success's
    last_success = (
        LoginAttempt.select(fn.MAX(LoginAttempt.id))
        .where(pair, recent, LoginAttempt.succeeded == True)
        .scalar()
    )
    pair_failures = _failures(pair, recent, LoginAttempt.id > (last_success or 0))
    counted = [(PAIR, pair_failures), (ADDRESS, _failures(LoginAttempt.ip == address, recent))]
    if pair_failures[0]:
        counted.append((ACCOUNT, _failures(LoginAttempt.username == username, recent)))
    wait = 0.0
    for rule, (count, newest) in counted:
        if newest is None:
            continue
        until = newest + timedelta(seconds=rule.wait_after(count))
        wait = max(wait, (until - current).total_seconds())
    return math.ceil(wait)


def refuse_if_throttled(username, address):
    seconds = seconds_to_wait(username, address)
    if seconds > 0:
        raise Throttled(seconds)


def record(username, address, *, succeeded, factor="password"):
    LoginAttempt.create(username=username, ip=address, succeeded=succeeded, factor=factor)
