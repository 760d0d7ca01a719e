"""Checklist files: validation with file:line, versioned loading, browsing and item preview."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspect_app.checklists import service
from inspect_app.checklists.parsing import ChecklistInvalid, parse_checklist
from inspect_app.models import Checklist, ChecklistItem, ChecklistVersion

PROJECT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((PROJECT / "checklists").glob("*.yaml"))

MINIMAL = """\
id: mini-list
title: 示例清单
kind: 暗访督查
version: "2026.1"
sections:
  - code: A
    title: 组织生活
    items:
      - code: A1
        text: 按月召开支部委员会
        methods: [查阅资料]
        response: compliance
"""

SCORED = """\
id: scored-list
title: 考评表
kind: 半年考评
version: "2026.1"
total_points: 10
sections:
  - code: A
    title: 组织建设
    max_points: 10
    items:
      - code: A1
        text: 三会一课
        methods: [查阅资料]
        response: score
        max_points: 6
        deductions:
          - {rule: 每少开1次扣0.5分, points: 0.5, per: 次, cap: 3}
      - code: A2
        text: 阵地
        methods: [实地查看]
        response: compliance
        max_points: 4
"""


def problems_of(text):
    with pytest.raises(ChecklistInvalid) as raised:
        parse_checklist(text, "x.yaml")
    return [(p.line, p.message) for p in raised.value.problems]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_checklists_are_valid_and_substantial(path):
    definition = parse_checklist(path.read_text(encoding="utf-8"), str(path))
    items = [item for section in definition["sections"] for item in section["items"]]
    assert len(items) >= 20
    assert all(item["guidance"] for item in items), "every item tells the inspector what to look at"
    assert "XX" not in path.read_text(encoding="utf-8")


def test_shipped_scoring_sheet_adds_up_to_one_hundred():
    definition = parse_checklist(
        (PROJECT / "checklists" / "bannian-kaoping.yaml").read_text(encoding="utf-8")
    )
    assert definition["total_points"] == "100"
    assert {s["title"] for s in definition["sections"]} >= {
        "街道社区党建",
        "机关党建",
        "党员教育管理",
        "制度建设",
    }


def test_minimal_file_normalises_defaults():
    item = parse_checklist(MINIMAL)["sections"][0]["items"][0]
    assert item["failing"] == ["不符合"]
    assert item["finding"] == {"severity": "一般", "deadline_days": 10, "measure": ""}
    assert item["applies_to"] == []


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "        response: compliance\n",
            "        response: compliance\n        scor: 3\n",
            13,
            "未知字段 scor",
        ),
        ('version: "2026.1"', "version: 2026.1", 4, "应为文本"),
        ("kind: 暗访督查", "kind: 随便查", 3, "不是有效的清单类型"),
        ("methods: [查阅资料]", "methods: [翻阅资料]", 11, "不是有效的检查方式"),
        ("methods: [查阅资料]", "methods: 查阅资料", 11, "应为列表"),
        (
            "        response: compliance\n",
            "        response: compliance\n        failing: [不适用]\n",
            13,
            "“不适用”不能算作不合格答案",
        ),
        (
            "        response: compliance\n",
            "        response: compliance\n        failing: [很差]\n",
            13,
            "不是有效的不合格答案",
        ),
        ("        response: compliance\n", "        response: yesno\n", 12, "不是有效的作答类型"),
        ("id: mini-list", "id: Mini List", 1, "id 只能由小写字母"),
        ("title: 示例清单\n", "", 1, "缺少必填字段 title"),
        (
            "        response: compliance\n",
            "        response: compliance\n        finding: {severity: 特别严重}\n",
            13,
            "不是有效的问题严重程度",
        ),
        (
            "        response: compliance\n",
            "        response: compliance\n        finding: {deadline_days: 0}\n",
            13,
            "应在 1 到 180 之间",
        ),
        (
            "        response: compliance\n",
            "        response: compliance\n        applies_to: [居委会]\n",
            13,
            "不是有效的单位类型",
        ),
        (
            "        response: compliance\n",
            "        response: text\n        failing: [不符合]\n",
            13,
            "作答类型 text 不使用字段 failing",
        ),
        ("  - code: A\n", "  - code: A\n    code: B\n", 7, "字段 code 重复出现"),
        (
            "    title: 组织生活\n",
            "    title: 组织生活\n    max_points: 很多\n",
            8,
            "字段 max_points 应为数字",
        ),
    ],
)
def test_each_mistake_is_reported_with_its_line(old, new, line, message):
    assert old in MINIMAL
    found = problems_of(MINIMAL.replace(old, new))
    assert any(at == line and message in text for at, text in found), found


def test_empty_sections_are_reported():
    text = MINIMAL.split("sections:")[0] + "sections: []\n"
    assert (5, "字段 sections 至少要有一项") in problems_of(text)


def test_duplicate_item_code_names_the_first_use():
    text = (
        MINIMAL
        + """\
      - code: A1
        text: 又一个
        methods: [实地查看]
        response: compliance
"""
    )
    assert (13, "检查项编号 A1 重复（第 9 行已使用）") in problems_of(text)


def test_choice_failing_must_be_among_options():
    text = MINIMAL.replace(
        "        response: compliance\n",
        "        response: choice\n        options: [已挂牌, 未挂牌]\n        failing: [不规范]\n",
    )
    assert any("不规范" in m and "应在 options 中" in m for _, m in problems_of(text))


def test_scores_that_do_not_add_up_are_reported():
    assert parse_checklist(SCORED)["total_points"] == "10"
    found = problems_of(SCORED.replace("total_points: 10", "total_points: 100"))
    assert any("各部分分值合计 10" in m for _, m in found)
    found = problems_of(SCORED.replace("max_points: 4", "max_points: 3"))
    assert any("部分 A 的分值 max_points 为 10，但其检查项分值合计 9" in m for _, m in found)
    found = problems_of(SCORED.replace("cap: 3", "cap: 7"))
    assert any("扣分上限 cap（7）超过本项分值" in m for _, m in found)


def test_yaml_syntax_error_has_a_line():
    found = problems_of(MINIMAL.replace("    title: 组织生活", "    title: [组织生活"))
    assert found and "YAML 格式错误" in found[0][1]


def test_all_problems_are_reported_at_once():
    text = MINIMAL.replace("kind: 暗访督查", "kind: 乱").replace(
        "methods: [查阅资料]", "methods: [乱]"
    )
    assert len(problems_of(text)) == 2


def _cli(*args):
    env = {**os.environ}
    return subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", "checklists", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_validate_accepts_the_shipped_files():
    result = _cli("validate", *map(str, SHIPPED))
    assert result.returncode == 0, result.stderr
    assert f"{len(SHIPPED)} 个文件均有效" in result.stdout


def test_cli_validate_prints_file_and_line_and_exits_non_zero(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        MINIMAL.replace("methods: [查阅资料]", "methods: [查阅资料]\n        scor: 1"),
        encoding="utf-8",
    )
    result = _cli("validate", str(broken))
    assert result.returncode == 1
    assert f"{broken}:12: 检查项中有未知字段 scor" in result.stderr


def test_cli_validate_reports_unreadable_file(tmp_path):
    result = _cli("validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert "missing.yaml:1: 无法读取文件" in result.stderr


def test_loading_keeps_versions_and_skips_unchanged_files(app, tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    [first] = service.load_files([path])
    assert first.created and first.version.number == 1
    path.write_text("# 只改了注释\n" + MINIMAL, encoding="utf-8")
    [same] = service.load_files([path])
    assert not same.created and same.version.id == first.version.id
    path.write_text(
        MINIMAL.replace("按月召开支部委员会", "每月至少召开1次支部委员会"), encoding="utf-8"
    )
    [second] = service.load_files([path])
    assert second.created and second.version.number == 2
    old_item = ChecklistItem.get(
        ChecklistItem.version == first.version.id, ChecklistItem.code == "A1"
    )
    assert old_item.text == "按月召开支部委员会"  # the old version is untouched
    assert (
        ChecklistVersion.select()
        .where(ChecklistVersion.checklist == Checklist.get(slug="mini-list"))
        .count()
        == 2
    )


def test_loading_is_all_or_nothing(app, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        MINIMAL.replace("mini-list", "other-list").replace("kind: 暗访督查", "kind: 乱"),
        encoding="utf-8",
    )
    with pytest.raises(ChecklistInvalid):
        service.load_files([good, bad])
    assert Checklist.select().count() == 0


def test_items_keep_points_exactly(app, tmp_path):
    path = tmp_path / "scored.yaml"
    path.write_text(SCORED, encoding="utf-8")
    [result] = service.load_files([path])
    items = {i.code: i for i in result.version.items}
    assert str(result.version.total_points) in ("10", "10.00")
    assert items["A1"].spec["deductions"][0] == {
        "rule": "每少开1次扣0.5分",
        "points": "0.5",
        "per": "次",
        "cap": "3",
    }
    assert items["A2"].spec["partial_points"] == "2"


def test_supervisor_browses_checklists_versions_and_previews_an_item(login, checklists_loaded):
    client = login("duchaban")
    listing = client.get("/checklists").get_data(as_text=True)
    assert "基层党建工作暗访督查清单" in listing or "暗访督查" in listing
    page = client.get("/checklists/bannian-kaoping").get_data(as_text=True)
    assert "总分 100 分" in page
    version = ChecklistVersion.get(
        ChecklistVersion.checklist == Checklist.get(slug="dangjian-anfang")
    )
    item = version.items.where(ChecklistItem.response == "compliance").first()
    preview = client.get(f"/checklists/dangjian-anfang/versions/1/items/{item.code}")
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "预览" in body and "检查要点" in body and item.text in body
    assert 'value="符合"' in body and 'value="不符合"' in body
    assert 'capture="environment"' in body  # the tablet camera


def test_scored_item_preview_shows_deduction_counters(login, checklists_loaded):
    version = ChecklistVersion.get(
        ChecklistVersion.checklist == Checklist.get(slug="bannian-kaoping")
    )
    item = version.items.where(ChecklistItem.response == "score").first()
    body = (
        login("ducha1")
        .get(f"/checklists/bannian-kaoping/versions/1/items/{item.code}")
        .get_data(as_text=True)
    )
    assert item.spec["deductions"][0]["rule"] in body
    assert "扣完为止" in body


def test_unknown_checklist_version_or_item_is_404(login, checklists_loaded):
    client = login("duchaban")
    assert client.get("/checklists/no-such-list").status_code == 404
    assert client.get("/checklists/dangjian-anfang/versions/99").status_code == 404
    response = client.get("/checklists/dangjian-anfang/versions/1/items/ZZ9")
    assert response.status_code == 404 and "检查项 ZZ9 不存在" in response.get_data(as_text=True)


def test_reload_from_the_ui_reports_bad_files_without_loading(app, login, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        MINIMAL.replace("kind: 暗访督查", "kind: 乱"), encoding="utf-8"
    )
    app.config["CHECKLIST_FOLDER"] = str(tmp_path)
    response = login("duchaban").post("/checklists/reload")
    assert response.status_code == 422
    assert "bad.yaml:3" in response.get_data(as_text=True)
    assert Checklist.select().count() == 0


def test_reload_from_the_ui_loads_new_versions(app, login, tmp_path):
    (tmp_path / "mini.yaml").write_text(MINIMAL, encoding="utf-8")
    app.config["CHECKLIST_FOLDER"] = str(tmp_path)
    client = login("xitong")
    response = client.post("/checklists/reload")
    assert response.status_code == 303
    assert "已载入 1 个新版本" in client.get("/checklists").get_data(as_text=True)
