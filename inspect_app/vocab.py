"""The users' words: stored codes (English) and the labels the UI shows (Chinese)."""

UNIT_TYPES = {
    "district": "区委",
    "subdistrict": "街道",
    "community": "社区",
    "department": "机关",
    "school": "学校",
    "soe": "国有企业",
    "new_org": "两新组织",
}
UNIT_TYPE_BY_LABEL = {label: code for code, label in UNIT_TYPES.items()}

# 组织形式: the form of the party organisation, independent of the unit's domain.
ORG_FORMS = ("党委", "党工委", "党组", "党总支", "党支部", "联合党支部")

# One role per account. The three administrators (三员: 系统管理员, 安全管理员, 安全审计员) see no
# business records; a person who also does business work has a second, business account
# (docs/security.md). "pending" is a new account no role has been granted to yet.
ROLES = {
    "supervisor": "督查办",
    "team_leader": "督查组长",
    "inspector": "督查员",
    "leader": "领导",
    "unit_liaison": "单位联络员",
    "unit_head": "单位负责人",
    "sysadmin": "系统管理员",
    "secadmin": "安全管理员",
    "auditor": "安全审计员",
    "pending": "待授权",
}
UNIT_ROLES = frozenset({"unit_liaison", "unit_head"})

CHECKLIST_KINDS = (
    "暗访督查",
    "明查督查",
    "五查五改五促",
    "半年考评",
    "年度考评",
    "观摩",
    "专项督查",
    "回头看",
)
METHODS = ("实地查看", "听取汇报", "查阅资料", "座谈了解")
COMPLIANCE_ANSWERS = ("符合", "基本符合", "不符合", "不适用")
SEVERITIES = ("一般", "较重", "严重")
RESPONSE_TYPES = {
    "compliance": "符合性判断",
    "score": "评分（扣分制）",
    "number": "数值",
    "text": "文字记录",
    "choice": "选项",
}
EVIDENCE = {"note": "情况说明", "photo": "现场照片"}
