"""Field inspection: planning, autosave with retries and conflicts, photos, submission and review."""

import io
import uuid

from werkzeug.datastructures import MultiDict

from inspect_app.errors import ValidationFailed
from inspect_app.inspections.service import sheet_of
from inspect_app.models import (
    Answer,
    Finding,
    Inspection,
    InspectionEvent,
    Photo,
    Round,
    SaveReceipt,
)
from inspect_app.rounds import service as rounds
from tests.inspection_fixtures import answer_all, jpeg_bytes, save


def first(spec_type, insp):
    return next(s for s in sheet_of(insp).items if s["response"] == spec_type)


# -- planning ---------------------------------------------------------------------------------


def test_supervisor_plans_a_round_by_unit_type(login, demo, checklists_loaded):
    client = login("duchaban")
    response = client.post(
        "/rounds/new",
        MultiDict(
            [
                ("name", "五查五改五促专项督查"),
                ("checklist", "wucha-wugai-wucu"),
                ("starts_on", "2026-12-01"),
                ("ends_on", "2026-12-20"),
                ("unit_types", "community"),
                ("unit_ids", str(demo["QH-JG-RS"].id)),
            ]
        ),
    )
    assert response.status_code == 303
    round_ = Round.get(Round.name == "五查五改五促专项督查")
    assert round_.kind == "五查五改五促" and not round_.unannounced
    units = {i.unit.code for i in round_.inspections}
    assert units == {c for c, u in demo.items() if u.type == "community"} | {"QH-JG-RS"}
    assert all(i.status == "planned" for i in round_.inspections)
    assert round_.checklist_version.checklist.slug == "wucha-wugai-wucu"


def test_round_form_errors_are_specific(login, checklists_loaded):
    response = login("duchaban").post(
        "/rounds/new",
        {"name": "", "checklist": "nope", "starts_on": "2026-12-10", "ends_on": "2026-12-01"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in (
        "请填写批次名称",
        "请选择检查清单",
        "结束日期不能早于开始日期",
        "请至少选择一个被督查单位",
    ):
        assert message in body
    assert Round.select().count() == 0


def test_round_keeps_its_checklist_version_when_the_file_changes(app, planned_round, tmp_path):
    from inspect_app.checklists import service

    source = planned_round.checklist_version.source_text.replace("党员大会", "全体党员大会", 1)
    path = tmp_path / "dangjian-anfang.yaml"
    path.write_text(source, encoding="utf-8")
    [result] = service.load_files([path])
    assert result.created and result.version.number == 2
    assert Round.get_by_id(planned_round.id).checklist_version.number == 1


def test_team_needs_a_team_leader(planned_round, demo):
    from inspect_app.models import User

    form = MultiDict([("leader_id", str(User.get(User.username == "ducha2").id))])
    try:
        rounds.add_team(planned_round, form, by=None)
    except ValidationFailed as error:
        assert "请选择在用的督查组长" in error.fields["leader_id"]
    else:
        raise AssertionError("a 督查员 was accepted as 组长")


# -- autosave ---------------------------------------------------------------------------------


def test_answer_saves_and_a_retried_save_is_applied_once(login, inspection):
    client = login("ducha1")
    spec = first("compliance", inspection)
    client_id = uuid.uuid4().hex
    first_try = save(
        client,
        inspection,
        spec["code"],
        {"value": "不符合", "note": "记录缺失"},
        client_id=client_id,
    )
    assert (
        first_try.status_code == 200
        and first_try.json["revision"] == 1
        and first_try.json["failing"]
    )
    retry = save(
        client,
        inspection,
        spec["code"],
        {"value": "不符合", "note": "记录缺失"},
        client_id=client_id,
    )
    assert retry.status_code == 200 and retry.json == {**first_try.json, "replayed": True}
    answer = Answer.get(Answer.inspection == inspection.id, Answer.item_code == spec["code"])
    assert (
        answer.revision == 1 and answer.value == {"value": "不符合"} and answer.note == "记录缺失"
    )
    assert SaveReceipt.select().count() == 1
    assert Inspection.get_by_id(inspection.id).status == "in_progress"


def test_the_next_save_builds_on_the_last_revision(login, inspection):
    client = login("ducha1")
    code = first("compliance", inspection)["code"]
    assert save(client, inspection, code, {"value": "不符合"}).json["revision"] == 1
    second = save(client, inspection, code, {"value": "符合"}, base=1)
    assert second.status_code == 200 and second.json["revision"] == 2 and not second.json["failing"]


def test_two_inspectors_changing_one_item_get_a_conflict_not_an_overwrite(login, inspection):
    leader, inspector = login("zuzhang"), login("ducha1")
    code = first("compliance", inspection)["code"]
    assert save(leader, inspection, code, {"value": "符合"}).status_code == 200
    clash = save(inspector, inspection, code, {"value": "不符合"}, base=0)
    assert clash.status_code == 409
    assert (
        clash.json["conflict"] and "赵强" in clash.json["error"] and "符合" in clash.json["error"]
    )
    assert clash.json["current"]["revision"] == 1
    assert Answer.get(Answer.item_code == code, Answer.inspection == inspection.id).value == {
        "value": "符合"
    }
    # Keeping their own answer after seeing the conflict is a deliberate save on the new base.
    assert save(inspector, inspection, code, {"value": "不符合"}, base=1).status_code == 200


def test_two_inspectors_in_different_sections_do_not_disturb_each_other(login, inspection):
    leader, inspector = login("zuzhang"), login("ducha1")
    sections = sheet_of(inspection).sections
    a = next(s for s in sections[0].items if s["response"] == "compliance")
    b = next(s for s in sections[1].items if s["response"] == "compliance")
    assert save(leader, inspection, a["code"], {"value": "符合"}).status_code == 200
    assert save(inspector, inspection, b["code"], {"value": "不符合"}).status_code == 200
    assert Answer.select().where(Answer.inspection == inspection.id).count() == 2


def test_bad_answers_get_chinese_4xx_and_keep_what_was_saved(login, inspection, scored_inspection):
    client = login("ducha1")
    code = first("compliance", inspection)["code"]
    assert save(client, inspection, code, {"value": "符合"}).status_code == 200
    cases = [
        (inspection, "ZZ99", {"value": "符合"}, 404, "不在本次检查的清单中"),
        (inspection, code, {"value": "还行"}, 422, "答案“还行”无效"),
        (inspection, first("number", inspection)["code"], {"value": "很多"}, 422, "应为数字"),
        (
            scored_inspection,
            first("score", scored_inspection)["code"],
            {"score": "99"},
            422,
            "得分应在 0 到",
        ),
        (
            scored_inspection,
            first("score", scored_inspection)["code"],
            {"d0": "-1"},
            422,
            "次数应在 0 到",
        ),
    ]
    for target, item, fields, status, message in cases:
        response = save(client, target, item, fields, base=1 if item == code else 0)
        assert response.status_code == status, (item, response.json)
        assert message in response.json["error"]
    assert Answer.get(Answer.item_code == code, Answer.inspection == inspection.id).value == {
        "value": "符合"
    }


def test_save_without_client_id_is_refused(login, inspection):
    response = login("ducha1").post(
        f"/inspections/{inspection.id}/answers/{first('compliance', inspection)['code']}",
        {"value": "符合", "base_revision": "0"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422 and "client_id" in response.json["error"]


def test_only_the_team_may_fill_in(login, inspection):
    code = first("compliance", inspection)["code"]
    for username in ("ducha2", "duchaban", "hp-lianluo"):
        response = save(login(username), inspection, code, {"value": "符合"})
        assert response.status_code == 403, username
    assert not Answer.select().exists()


def test_plain_form_post_without_javascript_saves_and_redirects(login, inspection):
    code = first("compliance", inspection)["code"]
    response = login("ducha1").post(
        f"/inspections/{inspection.id}/answers/{code}",
        {"value": "符合", "base_revision": "0", "client_id": uuid.uuid4().hex},
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#item-{code}")


def test_inspection_page_resumes_with_saved_answers(login, inspection):
    client = login("ducha1")
    code = first("compliance", inspection)["code"]
    save(client, inspection, code, {"value": "基本符合", "note": "台账不完整"})
    page = client.get(f"/inspections/{inspection.id}").get_data(as_text=True)
    assert 'value="基本符合" checked' in page and "台账不完整" in page
    assert 'data-revision="1"' in page
    assert '已答 <strong id="progress-answered">1</strong>' in page


# -- photos -----------------------------------------------------------------------------------


def upload(client, insp, code, data, name="photo.jpg", client_id=None):
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path=f"/inspections/{insp.id}/photos",
        method="POST",
        data={
            "csrf_token": client.token(),
            "item_code": code,
            "client_id": client_id or uuid.uuid4().hex,
            "photo": (io.BytesIO(data), name),
        },
        headers={"Accept": "application/json"},
    )
    environ = builder.get_environ()
    try:
        return client.http.open(environ)
    finally:
        environ["wsgi.input"].close()  # werkzeug spools large bodies to a temporary file
        builder.close()


def test_photo_is_re_encoded_stored_outside_static_and_served_to_staff_only(app, login, inspection):
    client = login("ducha1")
    code = first("compliance", inspection)["code"]
    response = upload(client, inspection, code, jpeg_bytes((4000, 3000)))
    assert response.status_code == 200, response.json
    photo = Photo.get_by_id(response.json["id"])
    assert max(photo.width, photo.height) == 2560
    folder = app.config["UPLOAD_FOLDER"]
    assert "static" not in folder
    image = client.get(response.json["thumb"])
    assert (
        image.status_code == 200
        and image.mimetype == "image/jpeg"
        and image.data[:2] == b"\xff\xd8"
    )
    image.close()
    with login("lingdao").get(response.json["full"]) as full:
        assert full.status_code == 200
    assert login("hp-lianluo").get(response.json["full"]).status_code == 403  # not published yet


def test_retried_photo_upload_is_stored_once(login, inspection):
    client = login("ducha1")
    code = first("compliance", inspection)["code"]
    client_id = uuid.uuid4().hex
    one = upload(client, inspection, code, jpeg_bytes(), client_id=client_id)
    two = upload(client, inspection, code, jpeg_bytes(), client_id=client_id)
    assert one.json["id"] == two.json["id"] and Photo.select().count() == 1


def test_uploading_and_removing_evidence_is_in_the_audit_trail(login, inspection):
    from inspect_app.models import AuditEvent

    client = login("ducha1")
    code = first("compliance", inspection)["code"]
    uploaded = upload(client, inspection, code, jpeg_bytes())
    photo = Photo.get_by_id(uploaded.json["id"])
    removed = client.post(
        f"/inspections/{inspection.id}/photos/{photo.id}/remove",
        headers={"Accept": "application/json"},
    )
    assert removed.status_code == 200
    trail = [
        (e.action, e.actor.username, e.object_id, e.detail["sha256"])
        for e in AuditEvent.select()
        .where(AuditEvent.action.startswith("photo."))
        .order_by(AuditEvent.seq)
    ]
    assert trail == [
        ("photo.upload", "ducha1", photo.id, photo.sha256),
        ("photo.remove", "ducha1", photo.id, photo.sha256),
    ]


def test_bad_photos_are_refused_clearly(login, inspection):
    client = login("ducha1")
    code = first("compliance", inspection)["code"]
    not_image = upload(client, inspection, code, b"MZ\x90\x00 this is an exe", name="photo.jpg")
    assert not_image.status_code == 422 and "不是有效的图片" in not_image.json["error"]
    huge = upload(client, inspection, code, b"\xff\xd8" + b"0" * (20 * 1024 * 1024))
    assert huge.status_code == 422 and "不能超过 15 MB" in huge.json["error"]
    unknown = upload(client, inspection, "ZZ99", jpeg_bytes())
    assert unknown.status_code == 404
    assert Photo.select().count() == 0


def test_photo_exif_is_dropped(login, inspection):
    from PIL import Image

    image = Image.new("RGB", (640, 480), (10, 120, 10))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    client = login("ducha1")
    response = upload(client, inspection, first("compliance", inspection)["code"], out.getvalue())
    stored = client.get(response.json["full"])
    assert b"CameraMaker" not in stored.data
    stored.close()


# -- submission and review --------------------------------------------------------------------


def test_submit_lists_exactly_what_is_missing(login, inspection):
    client = login("ducha1")
    spec = next(
        s
        for s in sheet_of(inspection).items
        if s["response"] == "compliance" and "photo" in s["require_when_failing"]
    )
    save(client, inspection, spec["code"], {"value": "不符合"})
    response = client.post(f"/inspections/{inspection.id}/submit")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "不能提交" in body and "不合格，须上传现场照片" in body
    assert "未作答" in body
    assert Inspection.get_by_id(inspection.id).status == "in_progress"


def fill_with_failures(client, insp):
    items = sheet_of(insp).items
    failing = [s for s in items if s["response"] == "compliance"][:3]
    answer_all(client, insp, failing_codes={s["code"] for s in failing})
    for spec in failing:
        if "photo" in spec["require_when_failing"]:
            assert upload(client, insp, spec["code"], jpeg_bytes()).status_code == 200
    return failing


def test_whole_review_flow_to_publication(app, login, inspection, planned_round, demo):
    inspector, leader, supervisor = login("ducha1"), login("zuzhang"), login("duchaban")
    failing = fill_with_failures(inspector, inspection)
    response = inspector.post(f"/inspections/{inspection.id}/submit")
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    inspection = Inspection.get_by_id(inspection.id)
    assert inspection.status == "submitted"
    drafts = list(Finding.select().where(Finding.inspection == inspection.id))
    assert {f.item_code for f in drafts} == {s["code"] for s in failing}
    assert all(f.status == "draft" and f.severity and f.deadline_days for f in drafts)
    with_photo = [
        f
        for f in drafts
        if "photo" in sheet_of(inspection).by_code[f.item_code]["require_when_failing"]
    ]
    assert all(f.photo_links.count() == 1 for f in with_photo)

    # Locked: no more answers.
    locked = save(inspector, inspection, failing[0]["code"], {"value": "符合"}, base=1)
    assert locked.status_code == 409 and "已锁定" in locked.json["error"]

    # Team leader sends back with a reason; the reason is shown and recorded.
    assert leader.post(f"/inspections/{inspection.id}/send-back", {"reason": ""}).status_code == 422
    assert (
        leader.post(
            f"/inspections/{inspection.id}/send-back", {"reason": "A组照片不清晰"}
        ).status_code
        == 303
    )
    assert "A组照片不清晰" in inspector.get(f"/inspections/{inspection.id}").get_data(as_text=True)
    assert inspector.post(f"/inspections/{inspection.id}/submit").status_code == 303
    assert (
        supervisor.post(f"/inspections/{inspection.id}/sign-off").status_code == 409
    )  # not approved yet
    assert leader.post(f"/inspections/{inspection.id}/approve").status_code == 303
    assert inspector.post(f"/inspections/{inspection.id}/approve").status_code == 403
    assert supervisor.post(f"/inspections/{inspection.id}/sign-off").status_code == 303
    assert all(
        f.status == "confirmed" for f in Finding.select().where(Finding.inspection == inspection.id)
    )

    # The other unit of the round is not signed off: publication must wait.
    refused = supervisor.post(f"/rounds/{planned_round.id}/publish")
    assert refused.status_code == 409 and "未审签" in refused.get_data(as_text=True)
    unit_user = login("hp-lianluo")
    assert unit_user.get(f"/inspections/{inspection.id}").status_code == 403
    assert planned_round.name not in unit_user.get("/").get_data(as_text=True)

    other = Inspection.get(Inspection.round == planned_round.id, Inspection.id != inspection.id)
    answer_all(inspector, other)
    assert inspector.post(f"/inspections/{other.id}/submit").status_code == 303
    assert leader.post(f"/inspections/{other.id}/approve").status_code == 303
    assert login("lingdao").post(f"/inspections/{other.id}/sign-off").status_code == 303
    assert supervisor.post(f"/rounds/{planned_round.id}/publish").status_code == 303

    home = unit_user.get("/").get_data(as_text=True)
    assert planned_round.name in home
    page = unit_user.get(f"/inspections/{inspection.id}").get_data(as_text=True)
    assert "问题清单" in page and drafts[0].description[:10] in page
    assert "data-autosave" not in page  # read-only for the unit
    assert unit_user.get(f"/inspections/{other.id}").status_code == 403  # another unit's record
    record = unit_user.get(f"/inspections/{inspection.id}/record")
    assert record.status_code == 200 and "检查记录" in record.get_data(as_text=True)


def test_reopening_after_sign_off_needs_a_reason_and_is_recorded(login, inspection):
    inspector, leader, supervisor = login("ducha1"), login("zuzhang"), login("duchaban")
    answer_all(inspector, inspection)
    inspector.post(f"/inspections/{inspection.id}/submit")
    leader.post(f"/inspections/{inspection.id}/approve")
    supervisor.post(f"/inspections/{inspection.id}/sign-off")
    assert (
        supervisor.post(f"/inspections/{inspection.id}/reopen", {"reason": " "}).status_code == 422
    )
    assert (
        leader.post(f"/inspections/{inspection.id}/reopen", {"reason": "复核"}).status_code == 403
    )
    assert (
        supervisor.post(
            f"/inspections/{inspection.id}/reopen", {"reason": "单位提供了补充材料"}
        ).status_code
        == 303
    )
    event = (
        InspectionEvent.select()
        .where(InspectionEvent.inspection == inspection.id)
        .order_by(InspectionEvent.id.desc())
        .first()
    )
    assert (event.from_status, event.to_status, event.reason) == (
        "signed_off",
        "in_progress",
        "单位提供了补充材料",
    )
    assert Inspection.get_by_id(inspection.id).status == "in_progress"


def test_team_edits_merges_dismisses_and_adds_findings(login, inspection):
    inspector = login("ducha1")
    fill_with_failures(inspector, inspection)
    inspector.post(f"/inspections/{inspection.id}/submit")
    a, b, c = Finding.select().where(Finding.inspection == inspection.id).order_by(Finding.id)
    url = f"/inspections/{inspection.id}/findings"
    assert (
        inspector.post(
            f"{url}/{a.id}",
            {
                "description": "改写后的问题",
                "severity": "较重",
                "deadline_days": "5",
                "measure": "立即整改",
            },
        ).status_code
        == 303
    )
    bad = inspector.post(
        f"{url}/{a.id}", {"description": "", "severity": "很重", "deadline_days": "0"}
    )
    assert bad.status_code == 422
    assert inspector.post(f"{url}/{b.id}/dismiss", {"reason": ""}).status_code == 422
    assert (
        inspector.post(f"{url}/{b.id}/dismiss", {"reason": "经核实已整改到位"}).status_code == 303
    )
    assert (
        inspector.post(
            f"{url}/merge", MultiDict([("finding_ids", str(a.id)), ("finding_ids", str(c.id))])
        ).status_code
        == 303
    )
    assert (
        inspector.post(
            url, {"description": "活动室堆放杂物", "severity": "一般", "deadline_days": "3"}
        ).status_code
        == 303
    )
    a, b, c = (Finding.get_by_id(x.id) for x in (a, b, c))
    assert a.severity == "较重" and a.deadline_days == 5 and "改写后的问题" in a.description
    assert b.status == "dismissed" and b.dismiss_reason == "经核实已整改到位"
    assert c.status == "merged" and c.merged_into_id == a.id
    assert (
        Finding.select()
        .where(Finding.inspection == inspection.id, Finding.item_code.is_null())
        .count()
        == 1
    )
    # Every hand change is in the finding's trail, shown on the page.
    from inspect_app.models import AuditEvent

    trail = [
        e.action
        for e in AuditEvent.select()
        .where(AuditEvent.object_type == "finding")
        .order_by(AuditEvent.id)
    ]
    assert trail == [
        "finding.update",
        "finding.dismiss",
        "finding.merge",
        "finding.merged",
        "finding.create",
    ]
    page = inspector.get(f"/inspections/{inspection.id}").get_data(as_text=True)
    assert "修改记录" in page and "修改描述、严重程度、整改时限、整改措施" in page
    # Another inspector outside the team may not touch them.
    assert login("ducha2").post(f"{url}/{a.id}/dismiss", {"reason": "x"}).status_code == 403


def test_scored_sheet_deducts_and_keeps_the_total(login, scored_inspection):
    client = login("ducha1")
    spec = first("score", scored_inspection)
    rule = spec["deductions"][0]
    response = save(client, scored_inspection, spec["code"], {"scored": "1", "d0": "1"})
    expected = float(spec["max_points"]) - min(float(rule["points"]), float(rule.get("cap") or 999))
    assert float(response.json["score"]) == expected
    answer_all(client, scored_inspection)  # overwrites with full marks where not yet answered
    page = client.get(f"/inspections/{scored_inspection.id}").get_data(as_text=True)
    assert "得分率" in page


def test_round_pages_for_supervisor(login, planned_round):
    client = login("duchaban")
    listing = client.get("/rounds").get_data(as_text=True)
    assert planned_round.name in listing and "暗访" in listing
    page = client.get(f"/rounds/{planned_round.id}").get_data(as_text=True)
    assert "第一督查组" in page and "和平社区党委" in page
