"""Rectification: from published findings to 销号, the unit's side, extensions, lights, the ledger."""

import io
from datetime import date

from openpyxl import load_workbook
from werkzeug.datastructures import MultiDict

from inspect_app.models import ExtensionRequest, Finding, Task, TaskEvent, TaskFile
from inspect_app.rectification import service
from tests.inspection_fixtures import jpeg_bytes


def create(client, round_, **extra):
    findings = [f.id for f in Finding.select().where(Finding.status == "confirmed")]
    data = MultiDict([("finding_ids", str(i)) for i in findings] + list(extra.items()))
    return client.post(f"/rounds/{round_.id}/tasks/new", data)


def act(client, task, action, text="", files=None):
    if files:
        data = MultiDict([("text", text)] + [("files", f) for f in files])
        return client.post(
            f"/tasks/{task.id}/actions/{action}", data, content_type="multipart/form-data"
        )
    data = {"text": text}
    return client.post(f"/tasks/{task.id}/actions/{action}", data)


def test_supervisor_turns_published_findings_into_a_task_with_a_working_day_deadline(
    login, published_round, fixed_today
):
    response = create(login("duchaban"), published_round)
    assert response.status_code == 303, response.get_data(as_text=True)
    task = Task.get()
    assert (
        task.lead_unit.code == "QH-DF-HP" and task.responsible_person == "张敏"
    )  # the unit's secretary
    assert task.deadline == date(2026, 12, 7)  # 10 working days after Mon 2026-11-23
    assert task.status == "assigned" and task.finding_links.count() == 3
    assert "限期补齐" in task.measures
    page = login("duchaban").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "剩 10 个工作日" in page and "绿灯" in page


def test_task_form_errors_and_findings_cannot_be_assigned_twice(login, published_round):
    client = login("duchaban")
    bad = client.post(f"/rounds/{published_round.id}/tasks/new", {"deadline": "2020-01-01"})
    assert bad.status_code == 422 and "请至少选择一个问题" in bad.get_data(as_text=True)
    assert create(client, published_round).status_code == 303
    again = create(client, published_round)
    assert again.status_code == 422 and Task.select().count() == 1


def test_deadline_beyond_the_calendar_asks_for_a_date(login, published_round):
    Finding.update(deadline_days=60).execute()
    response = create(login("duchaban"), published_round)
    assert response.status_code == 422
    assert "2027 年的节假日安排尚未录入" in response.get_data(as_text=True)
    assert create(login("duchaban"), published_round, deadline="2027-02-26").status_code == 303


def test_full_cycle_with_send_back_and_close(app, login, published_round):
    supervisor, liaison, head = login("duchaban"), login("hp-lianluo"), login("hp-fuzeren")
    create(supervisor, published_round)
    task = Task.get()
    assert act(liaison, task, "close").status_code == 403  # a unit never closes its own task
    assert act(liaison, task, "submit").status_code == 409  # not acknowledged yet
    assert act(liaison, task, "acknowledge").status_code == 303
    report = act(
        liaison,
        task,
        "report",
        "已悬挂党旗，补齐会议记录",
        files=[
            (io.BytesIO(jpeg_bytes()), "党旗.jpg"),
            (io.BytesIO(b"%PDF-1.7\n%test\n"), "会议记录.pdf"),
        ],
    )
    assert report.status_code == 303, report.get_data(as_text=True)[:500]
    assert {f.kind for f in TaskFile.select()} == {"image", "pdf"}
    assert act(liaison, task, "submit").status_code == 303
    assert act(liaison, task, "unit_approve").status_code == 403  # only the 负责人 signs off
    assert act(head, task, "unit_approve").status_code == 303
    assert act(supervisor, task, "send_back").status_code == 422  # a reason is required
    assert act(supervisor, task, "send_back", "照片未反映誓词上墙").status_code == 303
    page = liaison.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "督查办退回：照片未反映誓词上墙" in page
    act(
        liaison,
        task,
        "report",
        "誓词已上墙，补拍照片",
        files=[(io.BytesIO(jpeg_bytes()), "誓词.jpg")],
    )
    act(liaison, task, "submit")
    act(head, task, "unit_approve")
    assert act(supervisor, task, "close").status_code == 303
    task = Task.get_by_id(task.id)
    assert task.status == "closed" and task.sent_back_count == 1 and task.closed_at
    assert service.replay(task) == ("closed", task.deadline)
    with liaison.get(
        f"/tasks/{task.id}/files/{TaskFile.get(TaskFile.kind == 'pdf').id}"
    ) as download:
        assert download.status_code == 200 and download.data.startswith(b"%PDF")


def test_bad_evidence_is_refused_and_nothing_is_recorded(login, published_round):
    create(login("duchaban"), published_round)
    task = Task.get()
    liaison = login("hp-lianluo")
    act(liaison, task, "acknowledge")
    events = TaskEvent.select().count()
    for name, data, message in [
        ("病毒.exe", b"MZ\x90\x00binary", "类型不支持"),
        ("假照片.jpg", b"\xff\xd8\xff not really", "不是有效的图片"),
        ("假文档.docx", b"PK\x03\x04 broken zip", "不是有效的 Word 文档"),
        ("大文件.pdf", b"%PDF-" + b"0" * (21 * 1024 * 1024), "超过 20 MB"),
    ]:
        response = act(liaison, task, "report", "进展", files=[(io.BytesIO(data), name)])
        assert response.status_code == 422 and message in response.get_data(as_text=True), name
    assert TaskEvent.select().count() == events and TaskFile.select().count() == 0
    assert Task.get_by_id(task.id).status == "acknowledged"


def test_units_see_only_their_own_tasks(login, published_round):
    create(login("duchaban"), published_round)
    task = Task.get()
    other = login("yb-lianluo")
    assert other.get(f"/tasks/{task.id}").status_code == 403
    assert act(other, task, "acknowledge").status_code == 403
    assert task.title not in other.get("/tasks").get_data(as_text=True)
    assert task.title in login("hp-fuzeren").get("/tasks").get_data(as_text=True)


def test_extension_is_requested_before_the_deadline_and_decided_by_the_supervisor(
    login, published_round, fixed_today
):
    supervisor, liaison = login("duchaban"), login("hp-lianluo")
    create(supervisor, published_round)
    task = Task.get()
    url = f"/tasks/{task.id}/extensions"
    assert (
        liaison.post(url, {"requested_deadline": "2026-12-01", "reason": "x"}).status_code == 422
    )  # not later
    assert (
        liaison.post(
            url, {"requested_deadline": "2026-12-18", "reason": "需协调区财政资金"}
        ).status_code
        == 303
    )
    assert (
        liaison.post(url, {"requested_deadline": "2026-12-20", "reason": "再申请"}).status_code
        == 409
    )
    request = ExtensionRequest.get()
    assert liaison.post(f"{url}/{request.id}", {"decision": "grant"}).status_code == 403
    assert (
        supervisor.post(f"{url}/{request.id}", {"decision": "grant", "note": "同意"}).status_code
        == 303
    )
    task = Task.get_by_id(task.id)
    assert task.deadline == date(2026, 12, 18)
    assert service.replay(task) == ("assigned", date(2026, 12, 18))


def test_traffic_lights(published_round, login):
    create(login("duchaban"), published_round)
    task = Task.get()
    task.deadline = date(2026, 12, 7)
    assert service.light(task, date(2026, 11, 23)) == "green"
    assert service.light(task, date(2026, 12, 2)) == "yellow"  # 3 working days left
    assert service.light(task, date(2026, 12, 8)) == "red"
    task.sent_back_count = 2
    assert service.light(task, date(2026, 11, 23)) == "yellow"
    task.status = "closed"
    assert service.light(task, date(2026, 12, 8)) is None


def test_ledger_exports_the_columns_officials_expect(login, published_round):
    create(login("duchaban"), published_round)
    response = login("duchaban").get(f"/tasks/ledger.xlsx?round={published_round.id}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert [c.value for c in sheet[2]][:9] == [
        "序号",
        "问题",
        "整改措施",
        "责任单位",
        "协办单位",
        "责任人",
        "整改时限",
        "完成情况",
        "状态",
    ]
    assert sheet.cell(3, 4).value == "和平社区党委" and "党旗" in sheet.cell(3, 2).value
    assert "整改台账" in login("lingdao").get("/tasks/ledger").get_data(as_text=True)


def test_three_lists_and_filters(login, published_round):
    create(login("duchaban"), published_round)
    client = login("duchaban")
    for view, needle in (
        ("tasks", "和平社区党委"),
        ("findings", "党费收缴台账未按月登记"),
        ("responsibilities", "张敏"),
    ):
        assert needle in client.get(f"/tasks?view={view}").get_data(as_text=True)
    assert "没有符合条件" in client.get("/tasks?status=closed").get_data(as_text=True)
    assert "没有符合条件" in client.get("/tasks?overdue=1").get_data(as_text=True)


def test_notifications_reach_the_right_people_and_show_as_a_badge(
    login, published_round, monkeypatch
):
    from inspect_app import clock
    from inspect_app.models import Notification, User

    supervisor, liaison, head = login("duchaban"), login("hp-lianluo"), login("hp-fuzeren")
    create(supervisor, published_round)
    task = Task.get()
    recipients = {
        n.user.username for n in Notification.select().where(Notification.kind == "new_task")
    }
    assert recipients == {"hp-lianluo", "hp-fuzeren"}  # the lead unit's users, nobody else
    home = liaison.get("/").get_data(as_text=True)
    assert "新的整改任务" in home and '<span class="badge">1</span>' in home
    act(liaison, task, "acknowledge")
    act(liaison, task, "report", "已整改")
    act(liaison, task, "submit")
    act(head, task, "unit_approve")
    assert (
        Notification.select()
        .where(
            Notification.kind == "to_verify",
            Notification.user == User.get(User.username == "duchaban").id,
        )
        .exists()
    )
    act(supervisor, task, "send_back", "材料不全")
    assert "被督查办退回：材料不全" in liaison.get("/notifications").get_data(as_text=True)
    assert liaison.post("/notifications/read").status_code == 303
    assert '<span class="badge">' not in liaison.get("/").get_data(as_text=True)
    assert (
        not Notification.select()
        .where(Notification.user == User.get(User.username == "yb-lianluo").id)
        .exists()
    )
    # Deadline warnings are read off the tasks, not stored: near the deadline the unit sees one.
    # (days later the session has expired: the liaison signs in again)
    clock.travel(date(2026, 12, 3))
    assert "临期" in login("hp-lianluo").get("/").get_data(as_text=True)
    clock.travel(date(2026, 12, 8))
    assert "逾期" in login("hp-lianluo").get("/notifications").get_data(as_text=True)


def test_revisit_after_closing_reopens_a_relapse_as_a_repeat(login, published_round):
    supervisor, liaison, head = login("duchaban"), login("hp-lianluo"), login("hp-fuzeren")
    create(supervisor, published_round)
    task = Task.get()
    for client, action, text in (
        (liaison, "acknowledge", ""),
        (liaison, "report", "已整改"),
        (liaison, "submit", ""),
        (head, "unit_approve", ""),
        (supervisor, "close", ""),
    ):
        assert act(client, task, action, text).status_code == 303, action
    assert supervisor.post(f"/tasks/{task.id}/revisit", {"note": ""}).status_code == 422
    assert liaison.post(f"/tasks/{task.id}/revisit", {"note": "x"}).status_code == 403
    assert (
        supervisor.post(f"/tasks/{task.id}/revisit", {"note": "12月回访，台账规范"}).status_code
        == 303
    )
    assert Task.get_by_id(task.id).status == "closed"
    first = service.findings_of([task])[task.id][0]
    relapse = [("note", "党旗被撤下"), ("relapsed", str(first.id))]
    missing = supervisor.post(f"/tasks/{task.id}/revisit", MultiDict(relapse))
    assert missing.status_code == 422 and "重新确定整改时限" in missing.get_data(as_text=True)
    response = supervisor.post(
        f"/tasks/{task.id}/revisit", MultiDict([*relapse, ("deadline", "2026-12-31")])
    )
    assert response.status_code == 303
    task = Task.get_by_id(task.id)
    assert task.status == "in_progress" and task.is_repeat and task.closed_at is None
    assert task.deadline == date(2026, 12, 31)
    assert task.deadline == date(2026, 12, 31)
    assert service.replay(task) == ("in_progress", task.deadline)
    assert "反弹（重复问题）" in liaison.get(f"/tasks/{task.id}").get_data(as_text=True)


def test_an_extension_cannot_be_granted_once_the_task_is_closed(login, published_round):
    supervisor, liaison, head = login("duchaban"), login("hp-lianluo"), login("hp-fuzeren")
    create(supervisor, published_round)
    task = Task.get()
    liaison.post(
        f"/tasks/{task.id}/extensions", {"requested_deadline": "2026-12-18", "reason": "协调资金"}
    )
    for client, action, text in (
        (liaison, "acknowledge", ""),
        (liaison, "report", "已整改"),
        (liaison, "submit", ""),
        (head, "unit_approve", ""),
        (supervisor, "close", ""),
    ):
        assert act(client, task, action, text).status_code == 303, action
    request = ExtensionRequest.get()
    response = supervisor.post(f"/tasks/{task.id}/extensions/{request.id}", {"decision": "grant"})
    assert response.status_code == 409 and Task.get_by_id(task.id).deadline == date(2026, 12, 7)


def test_reopening_an_inspection_keeps_findings_already_in_tasks(login, published_round):
    from inspect_app.models import Inspection, TaskFinding

    supervisor = login("duchaban")
    create(supervisor, published_round)
    inspection = Inspection.get(Inspection.round == published_round.id)
    assert (
        supervisor.post(f"/inspections/{inspection.id}/reopen", {"reason": "复核"}).status_code
        == 303
    )
    linked = [link.finding for link in TaskFinding.select()]
    assert len(linked) == 3 and all(Finding.get_by_id(f.id).status == "confirmed" for f in linked)


def test_odd_ids_are_a_clean_4xx_never_a_500(login, published_round):
    supervisor, unit = login("duchaban"), login("hp-lianluo")
    for url in (
        "/tasks?round=²",
        "/tasks?unit=①",
        "/tasks/ledger.xlsx?unit=99999999999999999999",
        "/tasks?round=99999999999999999999",
    ):
        response = unit.get(url)
        assert response.status_code == 200, url
        response.close()
    for url in (
        "/tasks/99999999999999999999",
        "/inspections/99999999999999999999",
        "/photos/99999999999999999999",
        "/units/99999999999999999999",
    ):
        assert unit.get(url).status_code == 404, url
    posts = [
        (f"/rounds/{published_round.id}/tasks/new", MultiDict([("finding_ids", "²")])),
        (
            "/rounds/new",
            MultiDict(
                [
                    ("name", "x"),
                    ("checklist", "dangjian-anfang"),
                    ("starts_on", "2026-12-01"),
                    ("ends_on", "2026-12-02"),
                    ("unit_ids", "99999999999999999999"),
                ]
            ),
        ),
        (
            f"/rounds/{published_round.id}/teams",
            MultiDict([("leader_id", "²"), ("inspection_ids", "①")]),
        ),
    ]
    for url, data in posts:
        assert supervisor.post(url, data).status_code == 422, url


def test_a_new_team_cannot_take_over_a_signed_off_inspection(login, published_round):
    from inspect_app.models import Inspection, User

    inspection = Inspection.get(Inspection.round == published_round.id)
    response = login("duchaban").post(
        f"/rounds/{published_round.id}/teams",
        MultiDict(
            [
                ("leader_id", str(User.get(User.username == "zuzhang").id)),
                ("inspection_ids", str(inspection.id)),
            ]
        ),
    )
    assert response.status_code == 422 and "已提交的检查不能再调整督查组" in response.get_data(
        as_text=True
    )
    assert Inspection.get_by_id(inspection.id).team_id == inspection.team_id
