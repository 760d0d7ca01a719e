"""A planned round with one team, shared by the inspection tests."""

import io
import uuid

import pytest
from PIL import Image
from werkzeug.datastructures import MultiDict

from inspect_app.models import Checklist, Inspection, User
from inspect_app.rounds import service as rounds


def make_round(demo, *, slug="dangjian-anfang", unannounced=True, units=("QH-DF-HP", "QH-DF-YB")):
    supervisor = User.get(User.username == "duchaban")
    form = MultiDict(
        [
            ("name", "2026年第四季度基层党建暗访督查"),
            ("checklist", slug),
            ("starts_on", "2026-11-20"),
            ("ends_on", "2026-12-10"),
            ("unannounced", "1" if unannounced else "0"),
        ]
        + [("unit_ids", str(demo[code].id)) for code in units]
    )
    round_ = rounds.create_round(form, by=supervisor)
    team_form = MultiDict(
        [
            ("name", "第一督查组"),
            ("leader_id", str(User.get(User.username == "zuzhang").id)),
            ("member_ids", str(User.get(User.username == "ducha1").id)),
        ]
        + [("inspection_ids", str(i.id)) for i in round_.inspections]
    )
    rounds.add_team(round_, team_form, by=supervisor)
    return round_


def jpeg_bytes(size=(800, 600), color=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def save(client, inspection, code, fields, *, base=0, client_id=None):
    data = {
        "client_id": client_id or uuid.uuid4().hex,
        "base_revision": str(base),
        "author": str(getattr(client, "user_id", "")),  # as the tablet's outbox sends it
        **fields,
    }
    return client.post(
        f"/inspections/{inspection.id}/answers/{code}", data, headers={"Accept": "application/json"}
    )


def answer_all(client, inspection, *, failing_codes=()):
    """Answer every required item of the inspection as compliant (or failing for the given codes)."""
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Answer

    done = {a.item_code for a in Answer.select().where(Answer.inspection == inspection.id)}
    for spec in sheet_of(inspection).items:
        if spec["code"] in done:
            continue
        fields = passing_fields(spec)
        if spec["code"] in failing_codes:
            fields = failing_fields(spec)
        if fields is None:
            continue
        response = save(client, inspection, spec["code"], fields)
        assert response.status_code == 200, (spec["code"], response.get_data(as_text=True))


def passing_fields(spec):
    response = spec["response"]
    if response == "compliance":
        return {"value": "符合"}
    if response == "choice":
        return {"value": next(o for o in spec["options"] if o not in spec["failing"])}
    if response == "number":
        low = spec.get("failing_below")
        return {"value": str(int(float(low)) + 1 if low else 5)}
    if response == "score":
        return {"scored": "1"}
    return None


def failing_fields(spec):
    response = spec["response"]
    note = {"note": "现场查看发现未落实"}
    if response == "compliance":
        return {"value": spec["failing"][0], **note}
    if response == "choice":
        return {"value": spec["failing"][0], **note}
    if response == "number":
        return {"value": "0", **note}
    if response == "score":
        return {"scored": "1", "d0": "10", **note}
    return None


@pytest.fixture
def planned_round(app, demo, checklists_loaded):
    return make_round(demo)


@pytest.fixture
def inspection(planned_round, demo):
    return Inspection.get(
        Inspection.round == planned_round.id, Inspection.unit == demo["QH-DF-HP"].id
    )


@pytest.fixture
def scored_inspection(app, demo, checklists_loaded):
    round_ = make_round(demo, slug="bannian-kaoping", unannounced=False, units=("QH-DF-HP",))
    return Inspection.get(Inspection.round == round_.id)


def checklist_id(slug):
    return Checklist.get(Checklist.slug == slug).id


@pytest.fixture
def fixed_today():
    """The day every test starts on (conftest's clock fixture), named where a test relies on it."""
    from inspect_app import clock

    return clock.today()


@pytest.fixture
def published_round(app, demo, checklists_loaded, fixed_today):
    """A published 暗访 round whose 和平社区 inspection has three confirmed findings."""
    from inspect_app.findings.service import add_adhoc
    from inspect_app.inspections import service as inspections
    from inspect_app.models import Finding, User

    round_ = make_round(demo, units=("QH-DF-HP",))
    inspection = Inspection.get(Inspection.round == round_.id)
    leader = User.get(User.username == "zuzhang")
    for text in (
        "党员活动室未悬挂党旗和入党誓词",
        "近6个月支委会记录缺失3次",
        "党费收缴台账未按月登记",
    ):
        add_adhoc(
            inspection,
            {"description": text, "severity": "一般", "deadline_days": "10", "measure": "限期补齐"},
            by=leader,
        )
    Inspection.update(status="approved").where(Inspection.id == inspection.id).execute()
    inspection = Inspection.get_by_id(inspection.id)
    inspections.sign_off(inspection, by=User.get(User.username == "duchaban"))
    rounds.publish(round_, by=User.get(User.username == "duchaban"))
    assert Finding.select().where(Finding.status == "confirmed").count() == 3
    return round_


@pytest.fixture
def published_two_units(app, demo, checklists_loaded, fixed_today):
    """A published round over 和平社区 and 迎宾社区, one confirmed finding each."""
    from inspect_app.findings.service import add_adhoc
    from inspect_app.inspections import service as inspections

    round_ = make_round(demo)
    office = User.get(User.username == "duchaban")
    for inspection in Inspection.select().where(Inspection.round == round_.id):
        add_adhoc(
            inspection,
            {
                "description": f"{inspection.unit.name}党费收缴台账不全",
                "severity": "一般",
                "deadline_days": "10",
                "measure": "补齐台账",
            },
            by=User.get(User.username == "zuzhang"),
        )
        Inspection.update(status="approved").where(Inspection.id == inspection.id).execute()
        inspections.sign_off(Inspection.get_by_id(inspection.id), by=office)
    rounds.publish(round_, by=office)
    return round_


@pytest.fixture
def worker(app):
    """The real huey queue and tasks, run by a thread of this process for the test's app.

    The thread polls with time.sleep rather than huey's consumer, whose idle wait
    (threading.Event.wait) never wakes under libfaketime: the suite must run under `faketime`.
    The real consumer is tested as `make run` starts it, in its own process (test_notices).
    """
    import threading
    import time

    from inspect_app import worker as background

    background.huey.flush()
    background.bind(app)
    stopping = []

    def work():
        while not stopping:
            task = background.huey.dequeue()
            if task is None:
                time.sleep(0.05)
            else:
                background.huey.execute(task)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield
    stopping.append(True)
    thread.join(timeout=30)
    background.bind(None)
    background.huey.flush()
