"""Throttling sign-ins: progressive waits per account+address, per address and per account, that a
good sign-in does not reset and that nobody can use to lock someone else out (issue 12, item 3)."""

import re
from datetime import timedelta

from inspect_app import clock
from inspect_app.auth.throttle import ACCOUNT, ADDRESS, PAIR, Rule
from inspect_app.models import LoginAttempt
from tests.conftest import Client


def browser_at(app, address):
    client = Client(app)
    client.http.environ_base["REMOTE_ADDR"] = address
    return client


def attempt(client, username, password):
    return client.post("/login", {"username": username, "password": password})


def wait_of(response):
    """The seconds a 429 asks for, checked against its Retry-After header."""
    assert response.status_code == 429, response.status_code
    seconds = int(re.search(r"请 (\d+) 秒后再试", response.get_data(as_text=True)).group(1))
    assert response.headers["Retry-After"] == str(seconds)
    return seconds


def later(seconds):
    clock.travel(clock.now() + timedelta(seconds=seconds))


def test_waits_double_from_the_first_and_stop_at_the_longest():
    rule = Rule(free=3, first_wait=5, longest=60)
    assert [rule.wait_after(n) for n in range(8)] == [0, 0, 0, 5, 10, 20, 40, 60]
    assert PAIR.longest == ADDRESS.longest == 15 * 60 and ACCOUNT.longest == 30


def test_the_testers_cycle_of_guesses_and_one_good_sign_in_is_refused_in_the_second_cycle(
    app, demo
):
    """The hostile tester's case: 19 wrong guesses at as many accounts, one good sign-in to their
    own account, repeated — 57 guesses, none refused on the old main."""
    attacker = browser_at(app, "10.8.0.66")
    answers = []
    for cycle in range(3):
        for i in range(19):
            answers.append(attempt(attacker, f"guess{cycle}-{i}", "Guess-2026x").status_code)
        later(1)  # the tester's steps take their time: each in a second of its own
        answers.append(attempt(attacker, "ducha1", "Demo2026").status_code)
        later(1)
    first_refused = answers.index(429)
    assert first_refused < 40  # within the second cycle (here: in the first)
    checked = answers.count(422)  # guesses that reached a password check
    assert checked <= ADDRESS.free + 2  # + 2: the app's clock ticks on while the test runs
    assert LoginAttempt.select().where(LoginAttempt.succeeded == False).count() == checked


def test_a_good_sign_in_does_not_reset_the_count_of_an_address(app, demo):
    attacker = browser_at(app, "10.8.0.66")
    for i in range(ADDRESS.free):
        assert attempt(attacker, f"guess{i}", "Guess-2026x").status_code == 422
    later(wait_of(attempt(attacker, "guess", "Guess-2026x")))
    assert attempt(attacker, "ducha1", "Demo2026").status_code == 303  # their own account
    # the count goes on from where it was: one more guess, then twice the wait
    attacker = browser_at(app, "10.8.0.66")
    assert attempt(attacker, "guess", "Guess-2026x").status_code == 422
    assert wait_of(attempt(attacker, "guess", "Guess-2026x")) > ADDRESS.first_wait


def test_wrong_passwords_from_one_address_do_not_stop_the_right_one_from_another(app, demo):
    attacker = browser_at(app, "10.8.0.66")
    failures = 0
    while failures < 5:
        response = attempt(attacker, "duchaban", "Guess-2026x")
        if response.status_code == 429:
            later(wait_of(response))
        else:
            assert response.status_code == 422
            failures += 1
    # the attacker's own address must wait, even with the right password …
    assert attempt(attacker, "duchaban", "Demo2026").status_code == 429
    # … the office's desk is not held back at all
    assert attempt(browser_at(app, "10.8.1.20"), "duchaban", "Demo2026").status_code == 303


def test_failures_from_many_addresses_slow_the_account_briefly_and_never_a_clean_address(app, demo):
    for n in range(ACCOUNT.free + 5):  # one wrong password each from many addresses
        assert attempt(browser_at(app, f"10.9.0.{n}"), "duchaban", "Guess-2026x").status_code == 422
    # an address without failures for the account signs in at once
    assert attempt(browser_at(app, "10.8.1.20"), "duchaban", "Demo2026").status_code == 303
    # one that mistyped waits the account-wide slowdown: seconds, never a lockout
    owner = browser_at(app, "10.8.1.21")
    assert attempt(owner, "duchaban", "Demo2026x").status_code == 422
    waited = wait_of(attempt(owner, "duchaban", "Demo2026"))
    assert 0 < waited <= ACCOUNT.longest
    later(waited)
    assert attempt(owner, "duchaban", "Demo2026").status_code == 303


def test_an_account_and_address_pair_waits_longer_after_each_failure(app, demo):
    client = browser_at(app, "10.8.0.66")
    for _ in range(PAIR.free):
        assert attempt(client, "ducha2", "Guess-2026x").status_code == 422
    waits = []
    for _ in range(4):
        waits.append(wait_of(attempt(client, "ducha2", "Guess-2026x")))
        later(waits[-1])
        assert attempt(client, "ducha2", "Guess-2026x").status_code == 422
    assert waits[0] <= PAIR.first_wait and waits == sorted(waits) and waits[-1] > 4 * waits[0]
    # a refused attempt is neither checked nor counted, even with the right password
    counted = LoginAttempt.select().count()
    assert attempt(client, "ducha2", "Demo2026").status_code == 429
    assert LoginAttempt.select().count() == counted


def test_a_completed_sign_in_clears_the_pairs_own_count(app, demo):
    client = browser_at(app, "10.8.0.5")
    for _ in range(PAIR.free - 1):
        assert attempt(client, "ducha2", "Guess-2026x").status_code == 422
    assert attempt(client, "ducha2", "Demo2026").status_code == 303
    client = browser_at(app, "10.8.0.5")
    for _ in range(PAIR.free - 1):  # the owner's later typos start from zero
        assert attempt(client, "ducha2", "Guess-2026x").status_code == 422
    assert attempt(client, "ducha2", "Demo2026").status_code == 303


def test_the_window_forgets_old_failures(app, demo):
    client = browser_at(app, "10.8.0.66")
    for _ in range(PAIR.free):
        attempt(client, "ducha2", "Guess-2026x")
    assert attempt(client, "ducha2", "Demo2026").status_code == 429
    later(16 * 60)
    assert attempt(client, "ducha2", "Demo2026").status_code == 303
