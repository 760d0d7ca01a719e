"""Demo data: a fictional district (清河区) with its tree and one account per role."""

from datetime import timedelta

from inspect_app.auth import two_factor
from inspect_app.auth.permissions import is_administrator
from inspect_app.auth.service import hash_password
from inspect_app.db import database
from inspect_app.models import PasswordHistory, Unit, User, now
from inspect_app.vocab import ROLES

DEMO_PASSWORD = "Demo2026"
# Administrators must sign in with a second factor. The demo's administrator is enrolled with this
# published secret (printed by `inspect-app demo`/`setup` and in the README, like the password), so
# a newcomer adds it to any authenticator app, or runs `oathtool --totp -b SECRET`, and signs in.
DEMO_TOTP_SECRET = "QINGHEDUCHADEMO2QINGHEDUCHADEMO2"

# (code, name, type, org form, secretary, contact, phone, parent code)
UNITS = [
    ("QH", "中共清河区委", "district", "党委", "", "区委组织部", "0371-65100000", None),
    ("QH-DF", "东风街道党工委", "subdistrict", "党工委", "高建华", "马晓燕", "0371-65101000", "QH"),
    ("QH-DF-HP", "和平社区党委", "community", "党委", "张敏", "刘芳", "0371-65101101", "QH-DF"),
    (
        "QH-DF-YB",
        "迎宾社区党总支",
        "community",
        "党总支",
        "王丽娟",
        "何静",
        "0371-65101102",
        "QH-DF",
    ),
    (
        "QH-DF-JS",
        "建设路社区党支部",
        "community",
        "党支部",
        "李国庆",
        "赵雪",
        "0371-65101103",
        "QH-DF",
    ),
    (
        "QH-DF-FX",
        "复兴社区党支部",
        "community",
        "党支部",
        "陈桂兰",
        "杨帆",
        "0371-65101104",
        "QH-DF",
    ),
    ("QH-NG", "南关街道党工委", "subdistrict", "党工委", "刘振东", "郭佳", "0371-65102000", "QH"),
    ("QH-NG-WF", "五福社区党委", "community", "党委", "孙秀英", "黄磊", "0371-65102101", "QH-NG"),
    (
        "QH-NG-SL",
        "双龙社区党总支",
        "community",
        "党总支",
        "周建军",
        "吴婷",
        "0371-65102102",
        "QH-NG",
    ),
    (
        "QH-NG-QM",
        "清明社区党支部",
        "community",
        "党支部",
        "徐春梅",
        "朱琳",
        "0371-65102103",
        "QH-NG",
    ),
    ("QH-CB", "城北街道党工委", "subdistrict", "党工委", "胡志强", "林晓", "0371-65103000", "QH"),
    ("QH-CB-XY", "新苑社区党委", "community", "党委", "郑海燕", "谢娜", "0371-65103101", "QH-CB"),
    (
        "QH-CB-HL",
        "花园路社区党支部",
        "community",
        "党支部",
        "韩卫国",
        "宋佳",
        "0371-65103102",
        "QH-CB",
    ),
    ("QH-JG", "区直机关工委", "department", "党工委", "冯立新", "唐敏", "0371-65104000", "QH"),
    (
        "QH-JG-RS",
        "区人力资源和社会保障局机关党支部",
        "department",
        "党支部",
        "曹文斌",
        "彭丽",
        "0371-65104101",
        "QH-JG",
    ),
    (
        "QH-JG-WJ",
        "区卫生健康委员会机关党总支",
        "department",
        "党总支",
        "邓红梅",
        "许杰",
        "0371-65104102",
        "QH-JG",
    ),
    (
        "QH-JG-CL",
        "区残疾人联合会党支部",
        "department",
        "党支部",
        "萧永红",
        "田甜",
        "0371-65104103",
        "QH-JG",
    ),
    ("QH-JY", "区委教育工委", "department", "党工委", "董明", "潘晓丽", "0371-65105000", "QH"),
    (
        "QH-JY-SY",
        "清河区实验小学党支部",
        "school",
        "党支部",
        "袁丽华",
        "蒋芸",
        "0371-65105101",
        "QH-JY",
    ),
    (
        "QH-JY-YZ",
        "清河区第一中学党总支",
        "school",
        "党总支",
        "蔡国栋",
        "余洁",
        "0371-65105102",
        "QH-JY",
    ),
    (
        "QH-GQ",
        "清河城市投资集团有限公司党委",
        "soe",
        "党委",
        "杜建平",
        "叶倩",
        "0371-65106000",
        "QH",
    ),
    ("QH-LX", "区委两新工委", "department", "党工委", "程伟", "魏丹", "0371-65107000", "QH"),
    (
        "QH-LX-HR",
        "恒瑞科技有限公司党支部",
        "new_org",
        "党支部",
        "苏振华",
        "吕萌",
        "0371-65107101",
        "QH-LX",
    ),
    (
        "QH-LX-XL",
        "清河区心理咨询师协会党支部",
        "new_org",
        "党支部",
        "丁雅琴",
        "任晓",
        "0371-65107102",
        "QH-LX",
    ),
]

# (username, display name, role, unit code)
ACCOUNTS = [
    # 三员: one account each; none of them sees business records
    ("xitong", "王建国", "sysadmin", None),
    ("anquan", "林卫东", "secadmin", None),
    ("shenji", "郑丽华", "auditor", None),
    ("duchaban", "李明", "supervisor", None),
    ("zuzhang", "赵强", "team_leader", None),
    ("ducha1", "孙丽", "inspector", None),
    ("ducha2", "周杰", "inspector", None),
    ("lingdao", "陈志刚", "leader", None),
    ("hp-lianluo", "刘芳", "unit_liaison", "QH-DF-HP"),
    ("hp-fuzeren", "张敏", "unit_head", "QH-DF-HP"),
    ("yb-lianluo", "何静", "unit_liaison", "QH-DF-YB"),
]


def load_demo():
    """Create the demo units and accounts that do not exist yet; returns the accounts created."""
    created = []
    with database.atomic():
        units = {unit.code: unit for unit in Unit.select()}
        for order, (code, name, kind, form, secretary, contact, phone, parent) in enumerate(UNITS):
            if code not in units:
                units[code] = Unit.create(
                    code=code,
                    name=name,
                    type=kind,
                    org_form=form,
                    secretary=secretary,
                    contact_name=contact,
                    contact_phone=phone,
                    sort_order=order * 10,
                    parent=units[parent] if parent else None,
                )
        password_hash = hash_password(DEMO_PASSWORD)
        for username, display_name, role, unit_code in ACCOUNTS:
            if not User.select().where(User.username == username).exists():
                user = User.create(
                    username=username,
                    display_name=display_name,
                    role=role,
                    unit=units[unit_code] if unit_code else None,
                    password_hash=password_hash,
                    must_change_password=True,  # the password is published in the README
                )
                PasswordHistory.create(user=user, password_hash=password_hash)
                if is_administrator(user):
                    two_factor.enrol_with(user, DEMO_TOTP_SECRET)
                created.append(
                    (
                        username,
                        display_name,
                        ROLES[role],
                        units[unit_code].name if unit_code else "",
                    )
                )
    return created


def load_demo_activity():
    """A published 暗访 round with findings and tasks, and a planned 考评 round: a lived-in demo.

    Made through the same services the UI uses. Does nothing when any round exists.
    """
    from werkzeug.datastructures import MultiDict

    from inspect_app.findings.service import update_finding
    from inspect_app.holidays.workdays import CalendarUnknown, add_working_days
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Checklist, Finding, Inspection, Round
    from inspect_app.rectification import service as rectification
    from inspect_app.rounds import service as rounds

    if (
        Round.select().exists()
        or not Checklist.select().where(Checklist.slug == "dangjian-anfang").exists()
    ):
        return []
    people = {u.username: u for u in User.select()}
    units = {u.code: u for u in Unit.select()}
    today = now().date()

    def plan(name, slug, codes, unannounced):
        form = MultiDict(
            [
                ("name", name),
                ("checklist", slug),
                ("starts_on", today.isoformat()),
                ("ends_on", today.isoformat()),
                ("unannounced", "1" if unannounced else "0"),
            ]
            + [("unit_ids", str(units[c].id)) for c in codes]
        )
        round_ = rounds.create_round(form, by=people["duchaban"])
        team = MultiDict(
            [
                ("name", "第一督查组"),
                ("leader_id", str(people["zuzhang"].id)),
                ("member_ids", str(people["ducha1"].id)),
                ("member_ids", str(people["ducha2"].id)),
            ]
            + [("inspection_ids", str(i.id)) for i in round_.inspections]
        )
        rounds.add_team(round_, team, by=people["duchaban"])
        return round_

    visited = plan(
        f"{today.year}年第{'一二三四'[(today.month - 1) // 3]}季度基层党建暗访督查（东风街道）",
        "dangjian-anfang",
        ("QH-DF-HP", "QH-DF-YB"),
        True,
    )
    notes = {0: "近6个月仅召开支委会3次，会议记录不全", 1: "党费收缴登记簿未按月登记，存在补记现象"}
    for inspection in Inspection.select().where(Inspection.round == visited.id):
        failing = [
            s
            for s in sheet_of(inspection).items
            if s["response"] == "compliance" and "photo" not in s["require_when_failing"]
        ][:2]
        answers = {}
        for spec in sheet_of(inspection).items:
            if spec["response"] == "compliance":
                fields = (
                    {"value": "不符合", "note": notes[failing.index(spec)]}
                    if spec in failing
                    else {"value": "符合"}
                )
            elif spec["response"] == "choice":
                fields = {"value": next(o for o in spec["options"] if o not in spec["failing"])}
            elif spec["response"] == "number":
                fields = {"value": str(int(float(spec.get("failing_below") or 0)) + 2)}
            else:
                continue
            answers[spec["code"]] = fields
        _answer_and_sign_off(inspection, answers, people)
    rounds.publish(visited, by=people["duchaban"])
    for finding in Finding.select().where(Finding.measure == ""):
        update_finding(
            finding,
            {
                "description": finding.description,
                "severity": finding.severity,
                "deadline_days": finding.deadline_days,
                "measure": "限期整改到位，建立长效机制",
            },
            by=None,
        )
    for code in ("QH-DF-HP", "QH-DF-YB"):
        ids = [
            f.id for f in Finding.select().join(Inspection).where(Inspection.unit == units[code].id)
        ]
        try:
            deadline = add_working_days(today, 10)
        except CalendarUnknown:  # the calendar lacks the year: the office types a date instead
            deadline = today + timedelta(days=14)
        form = MultiDict(
            [("finding_ids", str(i)) for i in ids] + [("deadline", deadline.isoformat())]
        )
        task = rectification.create_task(visited, form, by=people["duchaban"])
        if code == "QH-DF-HP":
            task, _ = rectification.act(task, "acknowledge", by=people["hp-lianluo"])
            rectification.act(
                task,
                "report",
                by=people["hp-lianluo"],
                text="已制定支委会年度计划，补齐会议记录；党费台账已按月登记",
            )
    _demo_notices(visited, people, units)
    assessed = _demo_assessments(plan, people, units, today)
    planned = plan(
        f"{today.year}年{'上' if today.month <= 6 else '下'}半年党建目标考评（南关街道）",
        "bannian-kaoping",
        ("QH-NG-WF", "QH-NG-SL", "QH-NG-QM"),
        False,
    )
    return [visited, *assessed, planned]


def _demo_notices(round_, people, units):
    """和平社区's 整改通知书 issued (and waiting for 签收), 迎宾社区's approved, a 督查通报 drafted."""
    from flask import current_app

    from inspect_app.notices import service as notices
    from inspect_app.notices.render import RenderRefused

    office, leader = people["duchaban"], people["lingdao"]
    issued = notices.draft_rectification(round_, units["QH-DF-HP"], by=office)
    waiting = notices.draft_rectification(round_, units["QH-DF-YB"], by=office)
    notices.draft_circular(round_, by=office)
    try:  # 审签 renders the notice too
        notices.approve(issued, by=leader)
        notices.approve(waiting, by=leader)
        notices.issue(
            issued,
            by=office,
            upload_folder=current_app.config["UPLOAD_FOLDER"],
            base_url=current_app.config["PUBLIC_URL"] or "http://127.0.0.1:5000/",
        )
    except RenderRefused as error:  # fonts missing: the demo keeps its drafts
        current_app.logger.warning("demo notice not issued: %s", error.message)


# The communities assessed twice (last quarter and this one), and how many times each of them
# breaks the first deduction rule of some scored items (by position among those needing no photo): a ranking with a tie, a class moving up
# and one down, and items failing again (屡查屡犯).
ASSESSED = ("QH-DF-HP", "QH-DF-YB", "QH-DF-JS", "QH-DF-FX", "QH-NG-WF", "QH-CB-XY", "QH-CB-HL")
LAPSES = {
    # code: (item positions that lose points last quarter, this quarter)
    "QH-DF-HP": ((0, 3), (1,)),
    "QH-DF-YB": ((0, 1, 2, 4, 5, 6), (0, 1, 2)),
    "QH-DF-JS": ((1, 2), (0, 2, 4)),
    "QH-DF-FX": ((2,), (0, 2, 4)),
    "QH-NG-WF": ((), ()),
    "QH-CB-XY": ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)),
    "QH-CB-HL": ((3, 5), (3, 5, 7, 8)),
}


def _demo_assessments(plan, people, units, today):
    """Two signed-off, published 考评 rounds a quarter apart: rankings with something to show."""

    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Inspection, Round
    from inspect_app.rounds import service as rounds

    made = []
    for which, (name, ends) in enumerate(
        (
            ("上季度党建工作考评（社区）", today - timedelta(days=92)),
            ("本季度党建工作考评（社区）", today),
        )
    ):
        round_ = plan(name, "bannian-kaoping", ASSESSED, False)
        Round.update(starts_on=ends, ends_on=ends).where(Round.id == round_.id).execute()
        for inspection in Inspection.select().where(Inspection.round == round_.id):
            lapses = LAPSES[inspection.unit.code][which]
            scored = [s for s in sheet_of(inspection).items if s["response"] == "score"]
            # Lapses only where a note is evidence enough (no photo to take in a demo).
            plain = [s["code"] for s in scored if "photo" not in s["require_when_failing"]]
            answers = {}
            for spec in scored:
                fields = {"scored": "1"}
                if spec["code"] in plain and plain.index(spec["code"]) in lapses:
                    fields.update({"d0": "1", "note": "查阅资料发现未按要求落实"})
                answers[spec["code"]] = fields
            _answer_and_sign_off(inspection, answers, people)
        rounds.publish(Round.get_by_id(round_.id), by=people["duchaban"])
        made.append(round_)
    return made


def _answer_and_sign_off(inspection, answers, people):
    """An inspection filled in by 督查员 (one save per item, as the tablet does), approved by the
    组长 and signed off by 督查办."""
    from werkzeug.datastructures import MultiDict

    from inspect_app.inspections import service as inspections

    for code, fields in answers.items():
        inspections.save_answer(
            inspection,
            code,
            MultiDict(fields),
            by=people["ducha1"],
            client_id=f"demo-{inspection.id}-{code}",
            base_revision=0,
            author=str(people["ducha1"].id),
        )
    inspection = inspections.get_inspection(inspection.id)
    inspections.submit(inspection, by=people["ducha1"])
    inspections.approve(inspection, by=people["zuzhang"])
    inspections.sign_off(inspection, by=people["duchaban"])
