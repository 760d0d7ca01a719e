"""The escalation ladder: rules suggest, the supervisor decides, nothing drops off unrecorded."""

from datetime import date, datetime

from werkzeug.datastructures import MultiDict

from inspect_app import clock, config
from inspect_app.models import EscalationDecision, Finding, Task, TaskEvent, User
from inspect_app.rectification import escalation, service


def make_task(round_):
    form = MultiDict(
        [("finding_ids", str(f.id)) for f in Finding.select().where(Finding.status == "confirmed")]
    )
    return service.create_task(round_, form, by=User.get(User.username == "duchaban"))


def set_today(monkeypatch, day):
    clock.travel(day)


def test_overdue_task_is_suggested_the_right_step_and_the_decision_is_recorded(
    login, published_round, monkeypatch
):
    task = make_task(published_round)  # deadline 2026-12-07
    steps = escalation.ladder({})
    set_today(monkeypatch, date(2026, 12, 7))
    assert escalation.suggestion(steps, task) is None
    set_today(monkeypatch, date(2026, 12, 14))  # 5 working days late
    assert escalation.suggestion(steps, task).label == "督办"
    client = login("duchaban")
    page = client.get("/tasks/escalations").get_data(as_text=True)
    assert task.title in page and "督办" in page
    assert (
        client.post(
            f"/tasks/{task.id}/escalations", {"level": "supervise", "decision": "decline"}
        ).status_code
        == 422
    )
    response = client.post(
        f"/tasks/{task.id}/escalations",
        {"level": "supervise", "decision": "apply", "note": "下发督办单", "back": "list"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/tasks/escalations"
    decision = EscalationDecision.get()
    assert (decision.level, decision.applied, decision.note) == ("supervise", True, "下发督办单")
    assert TaskEvent.select().where(TaskEvent.action == "escalation").count() == 1
    assert task.title not in client.get("/tasks/escalations").get_data(as_text=True)
    set_today(monkeypatch, date(2026, 12, 21))  # 10 working days late: the next step
    assert escalation.suggestion(steps, Task.get_by_id(task.id)).label == "约谈"
    assert service.replay(Task.get_by_id(task.id)) == ("assigned", task.deadline)


def test_closing_late_does_not_drop_the_task_off_the_list(published_round, monkeypatch):
    task = make_task(published_round)
    set_today(monkeypatch, date(2026, 12, 21))
    Task.update(status="closed", closed_at=datetime(2026, 12, 18, 10, 0)).where(
        Task.id == task.id
    ).execute()
    task = Task.get_by_id(task.id)
    steps = escalation.ladder({})
    assert escalation.overdue_days(task) == 9  # counted to the day it was closed
    assert [
        t.id for t, _ in escalation.pending(steps, escalation.open_and_late(Task.select()))
    ] == [task.id]


def test_repeated_send_backs_reach_the_ladder_without_being_late(published_round):
    task = make_task(published_round)
    task.sent_back_count = 2
    assert escalation.suggestion(escalation.ladder({}), task).label == "催办"


def test_units_cannot_decide_or_see_the_list(login, published_round, monkeypatch):
    task = make_task(published_round)
    set_today(monkeypatch, date(2026, 12, 14))
    unit = login("hp-fuzeren")
    assert unit.get("/tasks/escalations").status_code == 403
    assert (
        unit.post(
            f"/tasks/{task.id}/escalations", {"level": "supervise", "decision": "apply"}
        ).status_code
        == 403
    )
    assert "问责跟进" not in unit.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert (
        login("lingdao")
        .post(f"/tasks/{task.id}/escalations", {"level": "supervise", "decision": "apply"})
        .status_code
        == 403
    )
    assert not EscalationDecision.select().exists()


def test_the_ladder_is_configurable_from_a_file(tmp_path, monkeypatch):
    path = tmp_path / "ladder.yaml"
    path.write_text(
        "- {code: remind, label: 提醒谈话, overdue_days: 1}\n- {code: warn, label: 诫勉谈话, overdue_days: 3}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("INSPECT_ESCALATION_FILE", str(path))
    monkeypatch.setenv("INSPECT_INSTANCE_PATH", str(tmp_path))
    steps = escalation.ladder(config.from_environment())
    assert [s.label for s in steps] == ["提醒谈话", "诫勉谈话"]
    path.write_text("- {code: x}\n", encoding="utf-8")
    try:
        config.from_environment()
    except SystemExit as error:
        assert "问责阶梯应为列表" in str(error)
    else:
        raise AssertionError("a broken ladder file was accepted")
