"""Every route × every role: who is let in, who is refused. A route missing here fails the suite."""

import pytest

from inspect_app.auth.access import access_rule
from inspect_app.models import User
from tests.conftest import Client

ACCOUNTS = {
    "sysadmin": "xitong",
    "secadmin": "anquan",
    "auditor": "shenji",
    "supervisor": "duchaban",
    "team_leader": "zuzhang",
    "inspector": "ducha1",
    "leader": "lingdao",
    "unit_liaison": "hp-lianluo",
    "unit_head": "hp-fuzeren",
    "pending": "daishouquan",  # made below: an account no role has been granted to yet
}
EVERYONE = {"anonymous", *ACCOUNTS}
SIGNED_IN = set(ACCOUNTS)
WITH_A_ROLE = SIGNED_IN - {"pending"}
STAFF = {"supervisor", "team_leader", "inspector", "leader"}
# 三员: none of the three administrators reaches a business record
SYSADMIN = {"sysadmin"}
ACCOUNT_ADMINS = {"sysadmin", "secadmin"}
AUDITOR = {"auditor"}
PLANNERS = {"supervisor"}
TEAM = {"team_leader", "inspector"}
LEADERSHIP = {"supervisor", "leader"}
NOTICE_OFFICE = LEADERSHIP
UNIT_USERS = {"unit_liaison", "unit_head"}
SECURITY = {"secadmin"}  # security.manage: the password and two-factor policy, 2FA resets

# endpoint -> roles let in. Object-level rules (a unit user's own unit) are tested separately:
# here every object belongs to another unit (迎宾社区), never to the unit users' own (和平社区),
# and the account acted on is a business account (yb-lianluo), the system administrator's.
EXPECTED = {
    "static": EVERYONE,
    "healthz": EVERYONE,
    "deploy.ca_page": EVERYONE,  # tablets fetch the CA before they can trust the server
    "deploy.ca_crt": EVERYONE,
    "deploy.ca_pem": EVERYONE,
    "auth.login": EVERYONE,
    "auth.logout": EVERYONE,
    "auth.login_code": EVERYONE,  # the second step of a sign-in, before anyone is signed in
    "auth.change_password": SIGNED_IN,
    "auth.two_factor_page": SIGNED_IN,
    "auth.policy_page": SECURITY,
    "auth.accounts": SECURITY,
    "auth.reset_two_factor": SECURITY,
    "home.index": SIGNED_IN,
    "orgs.tree": STAFF | SYSADMIN,
    "orgs.show": STAFF | SYSADMIN,
    "orgs.create": SYSADMIN,
    "orgs.edit": SYSADMIN,
    "orgs.set_active": SYSADMIN,
    "orgs.import_sheet": SYSADMIN,
    "orgs.import_template": SYSADMIN,
    "users.index": ACCOUNT_ADMINS,
    "users.show": ACCOUNT_ADMINS,
    "users.create": SYSADMIN,
    "users.edit": SYSADMIN,  # a business account; an administrator's is the secadmin's
    "users.reset_password": SYSADMIN,
    "users.end_sessions": SYSADMIN,
    "users.grant_role": {"secadmin"},
    "audit.index": AUDITOR,
    "audit.export_xlsx": AUDITOR,
    "audit.export_csv": AUDITOR,
    "audit.verify": AUDITOR,
    "selfcheck.index": {"secadmin", "auditor"},
    "checklists.index": STAFF | SYSADMIN,
    "checklists.show": STAFF | SYSADMIN,
    "checklists.version": STAFF | SYSADMIN,
    "checklists.source": STAFF | SYSADMIN,
    "checklists.preview_item": STAFF | SYSADMIN,
    "checklists.reload": {"sysadmin", "supervisor"},
    "rounds.index": STAFF,
    "rounds.show": STAFF,
    "rounds.create": PLANNERS,
    "rounds.add_team": PLANNERS,
    "rounds.assign": PLANNERS,
    "rounds.publish": PLANNERS,
    # The inspection below is on a team led by zuzhang (督查组长) with ducha1 (督查员); its round is
    # an unpublished 暗访, so unit users see none of it.
    "inspections.show": STAFF,
    "inspections.record": STAFF,
    "inspections.photo": STAFF,
    "inspections.save_answer": TEAM,
    "inspections.upload_photo": TEAM,
    "inspections.remove_photo": TEAM,
    "inspections.submit": TEAM,
    "inspections.approve": {"team_leader", "supervisor"},
    "inspections.send_back": {"team_leader", "supervisor"},
    "inspections.sign_off": {"supervisor", "leader"},
    "inspections.reopen": {"supervisor", "leader"},
    "inspections.add_finding": TEAM | {"supervisor"},
    "inspections.update_finding": TEAM | {"supervisor"},
    "inspections.dismiss_finding": TEAM | {"supervisor"},
    "inspections.merge_findings": TEAM | {"supervisor"},
    # The task below has 迎宾社区 as lead unit: 和平社区's users must not reach it.
    "tasks.index": STAFF | UNIT_USERS,
    "tasks.ledger_page": STAFF | UNIT_USERS,
    "tasks.ledger_xlsx": STAFF | UNIT_USERS,
    "tasks.create": {"supervisor"},
    "tasks.show": STAFF,
    "tasks.download": STAFF,
    "tasks.act": {"supervisor"},
    "tasks.request_extension": set(),  # only the lead unit's own users
    "tasks.decide_extension": {"supervisor"},
    "tasks.escalations": STAFF,
    "tasks.decide_escalation": {"supervisor"},
    "tasks.revisit": {"supervisor"},
    "tasks.notification_list": SIGNED_IN,
    "tasks.read_notifications": SIGNED_IN,
    "notices.index": NOTICE_OFFICE | UNIT_USERS,
    "notices.show": NOTICE_OFFICE,  # unit users only for notices issued to their own unit
    "notices.pdf": NOTICE_OFFICE,
    "notices.new": {"supervisor"},
    "notices.create": {"supervisor"},
    "notices.from_escalation": {"supervisor"},
    "notices.edit": {"supervisor"},
    "notices.refresh": {"supervisor"},
    "notices.discard": {"supervisor"},
    "notices.correct": {"supervisor"},
    "notices.approve": {"supervisor", "leader"},
    "notices.send_back": {"supervisor", "leader"},
    "notices.issue": {"supervisor"},
    "notices.acknowledge": set(),  # only users of an addressed unit
    "notices.round_notices": NOTICE_OFFICE,
    "notices.start_batch": {"supervisor"},
    "notices.approve_round": {"supervisor", "leader"},
    "notices.batch": NOTICE_OFFICE,
    "notices.batch_zip": NOTICE_OFFICE,
    "notices.templates": PLANNERS,
    "notices.template_edit": PLANNERS,
    "notices.template_save": PLANNERS,
    "notices.template_preview": PLANNERS,
    "notices.verify": EVERYONE,  # a printout's QR code: whoever holds the paper may check it
    "notices.verify_file": EVERYONE,
    # Scores across units are for the leadership; unit users see only their own unit's page
    # (the unit below is 迎宾社区, not theirs).
    "dashboard.index": LEADERSHIP,
    "dashboard.ranking_page": LEADERSHIP,
    "dashboard.confirm": {"supervisor"},
    "dashboard.flag_list": LEADERSHIP,
    "dashboard.decide_flag": {"supervisor"},
    "dashboard.problems": LEADERSHIP,
    "dashboard.repeat_list": LEADERSHIP,
    "dashboard.circular": LEADERSHIP,
    "dashboard.unit_scores": LEADERSHIP,
    "dashboard.ranking_page_xlsx": LEADERSHIP,
    "dashboard.flag_list_xlsx": LEADERSHIP,
    "dashboard.problems_xlsx": LEADERSHIP,
    "dashboard.repeat_list_xlsx": LEADERSHIP,
    "dashboard.circular_xlsx": LEADERSHIP,
    "dashboard.unit_scores_xlsx": LEADERSHIP,
    "holidays.index": WITH_A_ROLE,
    "holidays.show": WITH_A_ROLE,
    "holidays.preview": {"sysadmin", "supervisor"},
    "holidays.save": {"sysadmin", "supervisor"},
    "holidays.set_day": {"sysadmin", "supervisor"},
    "holidays.revert": {"sysadmin", "supervisor"},
}


def _task_of(round_, unit, upload_folder):
    """A task led by `unit`, with one evidence file and one pending extension request."""
    from werkzeug.datastructures import MultiDict

    from inspect_app.models import ExtensionRequest, Finding, TaskEvent, User
    from inspect_app.rectification import files, service

    supervisor = User.get(User.username == "duchaban")
    form = MultiDict(
        [("finding_ids", str(f.id)) for f in Finding.select().where(Finding.status == "confirmed")]
        + [("lead_unit_id", str(unit.id))]
    )
    task = service.create_task(round_, form, by=supervisor)
    event = TaskEvent.get(TaskEvent.task == task.id)
    files.store(
        task, event, [files.Checked("记录.pdf", "pdf", b"%PDF-1.4 test", ".pdf")], upload_folder
    )
    ExtensionRequest.create(task=task, requested_deadline=task.deadline, reason="测试")
    return task


def _notice_of(round_, unit, task):
    """An issued notice addressed to `unit`, an escalation decision and a finished batch."""
    from inspect_app.models import EscalationDecision, Notice, NoticeBatch, NoticeRecipient

    supervisor = User.get(User.username == "duchaban")
    notice = Notice.create(
        kind="reminder",
        status="issued",
        title="催办通知",
        main_to=unit.name,
        unit=unit,
        context={},
        verify_token="access-test-token",
        number="区督催〔2026〕1号",
        number_year=2026,
        number_seq=1,
        pdf_file="missing.pdf",
        sha256="0" * 64,
        pdf_size=1000,
        page_count=1,
        issued_at=task.created_at,
        issued_by=supervisor,
        created_by=supervisor,
    )
    NoticeRecipient.create(notice=notice, unit=unit)
    decision = EscalationDecision.create(
        task=task, level="talk", rank=3, applied=True, decided_by=supervisor
    )
    batch = NoticeBatch.create(round=round_, kind="rectification", action="draft", status="done")
    return notice, decision, batch


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_has_an_access_rule_and_an_expectation(app):
    with app.test_request_context():
        missing_rule = sorted(
            {
                r.endpoint
                for r, _ in _routes(app)
                if r.endpoint != "static" and access_rule(r.endpoint) is None
            }
        )
    missing_expectation = sorted({r.endpoint for r, _ in _routes(app)} - set(EXPECTED))
    assert missing_rule == [], "routes without @requires(...)"
    assert missing_expectation == [], "routes missing from EXPECTED in tests/test_access.py"


def test_a_route_without_access_rule_is_refused(db_url, tmp_path):
    from inspect_app import create_app

    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    response = app.test_client().get("/forgotten")
    assert response.status_code == 403
    assert "secret" not in response.get_data(as_text=True)


@pytest.fixture
def arguments(app, demo, checklists_loaded, published_round):
    from inspect_app.inspections.photos import store_photo
    from inspect_app.models import Finding, Inspection
    from tests.inspection_fixtures import jpeg_bytes, make_round

    round_ = make_round(demo)
    inspection = Inspection.get(
        Inspection.round == round_.id, Inspection.unit == demo["QH-DF-HP"].id
    )

    class Upload:
        filename = "p.jpg"

        @staticmethod
        def read(limit):
            return jpeg_bytes()

    photo = store_photo(
        inspection,
        "A1",
        Upload,
        by=None,
        client_id="access-test-photo",
        upload_folder=app.config["UPLOAD_FOLDER"],
        editable=True,
    )
    finding = Finding.create(
        inspection=inspection, description="活动室未挂牌", severity="一般", deadline_days=10
    )
    other_unit = demo["QH-DF-YB"]
    task = _task_of(published_round, other_unit, app.config["UPLOAD_FOLDER"])
    notice, decision, batch = _notice_of(published_round, other_unit, task)
    from inspect_app.auth.service import hash_password
    from inspect_app.demo import DEMO_PASSWORD
    from inspect_app.models import AccountabilityFlag

    User.create(
        username=ACCOUNTS["pending"],
        display_name="钱新",
        role="pending",
        password_hash=hash_password(DEMO_PASSWORD),
    )
    flag = AccountabilityFlag.create(
        unit=other_unit,
        period="2026-Q4",
        scope="type:community",
        scope_label="社区排名",
        reason="排名末位",
        total=50,
        rank=2,
        of_count=2,
    )
    return {
        "notice_id": notice.id,
        "decision_id": decision.id,
        "batch_id": batch.id,
        "token": notice.verify_token,
        "kind": "rectification",
        "task_id": task.id,
        "action": "suspend",
        "request_id": task.extensions.get().id,
        "file_id": task.files.get().id,
        "round_id": round_.id,
        "inspection_id": inspection.id,
        "photo_id": photo.id,
        "finding_id": finding.id,
        "flag_id": flag.id,
        "size": "thumb",
        "unit_id": other_unit.id,
        "user_id": User.get(User.username == "yb-lianluo").id,
        "slug": "dangjian-anfang",
        "number": 1,
        "code": "A1",
        "filename": "app.css",
        "year": 2027,
    }


@pytest.mark.parametrize("role", ["anonymous", *ACCOUNTS])
def test_route_access_for_role(app, arguments, role):
    client = Client(app)
    if role != "anonymous":
        client.login(ACCOUNTS[role])
    checked = 0
    # Log out last, or the rest would run signed out.
    routes = sorted(_routes(app), key=lambda rm: rm[0].endpoint == "auth.logout")
    for rule, method in routes:
        url = rule.build(
            {name: {**arguments, **(rule.defaults or {})}[name] for name in rule.arguments}
        )[1]
        response = client.get(url) if method == "GET" else client.post(url, {})
        response.close()  # static files are streamed
        allowed = role in EXPECTED[rule.endpoint]
        where = f"{method} {url} as {role}"
        assert response.status_code < 500, where
        if allowed:
            assert response.status_code not in (401, 403), where
            assert not response.headers.get("Location", "").startswith("/login?next="), where
        elif role == "anonymous":
            assert response.status_code == 302 and response.headers["Location"].startswith(
                "/login?next="
            ), where
        else:
            assert response.status_code == 403, where
        checked += 1
    assert checked >= len(EXPECTED)
    # every refusal above went into the audit trail, and the chain holds
    from inspect_app.audit.service import verify

    assert verify().ok


@pytest.mark.parametrize(
    "role", ["sysadmin", "secadmin", "auditor", "supervisor", "inspector", "unit_liaison"]
)
def test_a_password_set_by_someone_else_leads_every_route_to_the_change_page(app, arguments, role):
    """Until its owner changes it, every route other than the public ones and the change page
    answers 303 to the change page: pages, htmx requests, JSON saves and POSTs alike."""
    username = ACCOUNTS[role]
    client = Client(app)
    client.login(username)
    User.update(must_change_password=True).where(User.username == username).execute()
    routes = sorted(_routes(app), key=lambda rm: rm[0].endpoint == "auth.logout")
    checked = set()
    for rule, method in routes:
        url = rule.build(
            {name: {**arguments, **(rule.defaults or {})}[name] for name in rule.arguments}
        )[1]
        for headers in ({}, {"HX-Request": "true"}, {"Accept": "application/json"}):
            if method == "GET":
                response = client.get(url, headers=headers)
            else:
                response = client.post(url, {}, headers=headers)
            response.close()
            where = f"{method} {url} {headers} as {role}"
            assert response.status_code < 500, where
            if rule.endpoint == "auth.change_password" or EXPECTED[rule.endpoint] == EVERYONE:
                assert response.headers.get("Location") != "/account/password", where
            else:
                assert response.status_code == 303, where
                assert response.headers["Location"] == "/account/password", where
            checked.add(rule.endpoint)
    assert checked == set(EXPECTED)
    assert User.get(User.username == username).must_change_password  # nothing changed it
