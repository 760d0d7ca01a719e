"""Property: random actions by random people never leave the state machine or break the trail."""

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from inspect_app.errors import ServiceError
from inspect_app.models import Finding, Inspection, Task, User
from inspect_app.rectification import service

ACTORS = ("duchaban", "hp-lianluo", "hp-fuzeren", "yb-lianluo", "ducha1", "lingdao")
ACTIONS = (*service.TRANSITIONS, "extend", "grant", "refuse")


def _new_task(round_):
    inspection = Inspection.get(Inspection.round == round_.id)
    finding = Finding.create(
        inspection=inspection,
        description="抽样问题",
        severity="一般",
        deadline_days=10,
        status="confirmed",
        measure="立即整改",
    )
    supervisor = User.get(User.username == "duchaban")
    return service.create_task(round_, MultiDict([("finding_ids", str(finding.id))]), by=supervisor)


def _attempt(task, actor, action):
    if action == "extend":
        service.request_extension(
            task, {"requested_deadline": "2026-12-30", "reason": "需要时间"}, by=actor
        )
        return True
    elif action in ("grant", "refuse"):
        pending = task.extensions.where(service.ExtensionRequest.status == "pending").first()
        if pending is None:
            return False
        service.decide_extension(pending, by=actor, grant=action == "grant", note="意见")
    else:
        service.act(task, action, by=actor, text="说明")
    return True


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(ACTORS), st.sampled_from(ACTIONS)), min_size=1, max_size=25
    )
)
def test_random_actions_keep_the_task_legal_and_the_trail_true(published_round, steps):
    task = _new_task(published_round)
    people = {u.username: u for u in User.select()}
    for username, action in steps:
        actor = people[username]
        before = Task.get_by_id(task.id)
        try:
            accepted = _attempt(before, actor, action) is not False
        except ServiceError:
            accepted = False
        after = Task.get_by_id(task.id)
        assert after.status in service.STATUS_LABELS
        if action in service.TRANSITIONS:
            transition = service.TRANSITIONS[action]
            legal = before.status in transition.sources and service.may_act(
                actor, before, transition.who
            )
            if accepted:
                assert legal and after.status == transition.target
            else:
                assert after.status == before.status
        if actor.unit_id is not None and actor.unit_id != task.lead_unit_id:
            assert not accepted, f"{username} changed another unit's task with {action}"
        if after.status == "closed":
            assert before.status == "pending" and actor.role == "supervisor"
        assert service.replay(after) == (after.status, after.deadline)
    assert Task.get_by_id(task.id).deadline >= date(2026, 12, 7)
