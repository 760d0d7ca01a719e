"""The organisation tree: browsing, editing, and unit users confined to their own unit."""

from inspect_app.models import AuditEvent, Unit


def test_tree_shows_the_whole_district_nested(login):
    page = login("duchaban").get("/units").get_data(as_text=True)
    for name in (
        "中共清河区委",
        "东风街道党工委",
        "和平社区党委",
        "区直机关工委",
        "恒瑞科技有限公司党支部",
    ):
        assert name in page
    # Communities sit inside their 街道's branch of the tree.
    assert page.index("东风街道党工委") < page.index("和平社区党委") < page.index("南关街道党工委")


def test_search_returns_only_the_results_fragment_for_htmx(login):
    client = login("ducha1")
    response = client.get("/units?q=和平", headers={"HX-Request": "true", "HX-Target": "results"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "和平社区党委" in body and "迎宾社区党总支" not in body
    assert "<html" not in body
    assert "HX-Request" in response.headers["Vary"]
    full = client.get("/units?q=和平").get_data(as_text=True)
    assert "<html" in full and "和平社区党委" in full


def test_search_by_secretary_name(login):
    body = login("ducha1").get("/units?q=张敏").get_data(as_text=True)
    assert "和平社区党委" in body


def test_unit_user_sees_own_unit(login, demo):
    response = login("hp-lianluo").get(f"/units/{demo['QH-DF-HP'].id}")
    assert response.status_code == 200
    assert "和平社区党委" in response.get_data(as_text=True)


def test_unit_user_cannot_open_another_units_page(login, demo):
    response = login("hp-lianluo").get(f"/units/{demo['QH-DF-YB'].id}")
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "没有权限" in body and "王丽娟" not in body


def test_unit_user_cannot_browse_the_tree_or_reach_parent_page(login, demo):
    client = login("hp-fuzeren")
    assert client.get("/units").status_code == 403
    assert client.get(f"/units/{demo['QH-DF'].id}").status_code == 403
    own = client.get(f"/units/{demo['QH-DF-HP'].id}").get_data(as_text=True)
    assert f'href="/units/{demo["QH-DF"].id}"' not in own  # the parent is named, not linked


def test_missing_unit_is_404_with_chinese_message(login):
    response = login("xitong").get("/units/999999")
    assert response.status_code == 404
    assert "不存在" in response.get_data(as_text=True)


def test_sysadmin_creates_a_unit_under_a_parent(login, demo):
    client = login("xitong")
    response = client.post(
        "/units/new",
        {
            "name": "幸福里社区党支部",
            "code": "QH-DF-XF",
            "type": "community",
            "org_form": "党支部",
            "parent_id": demo["QH-DF"].id,
            "secretary": "林海",
            "contact_phone": "0371-65101105",
            "sort_order": "5",
        },
    )
    assert response.status_code == 303
    unit = Unit.get(Unit.code == "QH-DF-XF")
    assert unit.parent_id == demo["QH-DF"].id and unit.secretary == "林海"
    assert (
        AuditEvent.select()
        .where(AuditEvent.action == "unit.create", AuditEvent.object_id == unit.id)
        .exists()
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已新建单位" in page


def test_bad_unit_form_gets_messages_next_to_fields_and_keeps_input(login, demo):
    response = login("xitong").post(
        "/units/new",
        {
            "name": "",
            "code": "QH-DF-HP",
            "type": "乱写",
            "contact_phone": "abc",
            "parent_id": "99999",
            "sort_order": "x",
        },
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in (
        "单位名称不能为空",
        "已被其他单位使用",
        "单位类型“乱写”无效",
        "联系电话格式不正确",
        "上级单位不存在",
        "排序号应为不超过 10 亿的整数",
    ):
        assert message in body
    assert 'value="QH-DF-HP"' in body  # what was typed is still there
    assert Unit.select().count() == len(demo)


def test_a_unit_cannot_be_moved_under_its_own_descendant(login, demo):
    street = demo["QH-DF"]
    response = login("xitong").post(
        f"/units/{street.id}/edit",
        {
            "name": street.name,
            "code": street.code,
            "type": street.type,
            "parent_id": demo["QH-DF-HP"].id,
        },
    )
    assert response.status_code == 422
    assert "不能是本单位或其下级单位" in response.get_data(as_text=True)
    assert Unit.get_by_id(street.id).parent_id == demo["QH"].id


def test_deactivating_a_unit_with_active_accounts_is_refused(login, demo):
    response = login("xitong").post(f"/units/{demo['QH-DF-HP'].id}/active", {"active": "0"})
    assert response.status_code == 409
    assert "仍有在用的账号" in response.get_data(as_text=True)
    assert Unit.get_by_id(demo["QH-DF-HP"].id).is_active


def test_deactivated_unit_leaves_the_tree_but_keeps_its_page(login, demo):
    client = login("xitong")
    unit = demo["QH-DF-FX"]
    assert client.post(f"/units/{unit.id}/active", {"active": "0"}).status_code == 303
    assert "复兴社区党支部" not in client.get("/units").get_data(as_text=True)
    assert "复兴社区党支部" in client.get("/units?inactive=1").get_data(as_text=True)
    assert client.get(f"/units/{unit.id}").status_code == 200
