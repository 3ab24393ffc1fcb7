"""The Chinese words of the workbooks: a column (a row's key, `due`) and an id stored in it (`in_progress`).

One table serves both ways: a workbook exported in Chinese heads its columns "完成期限 / Due" and writes
"整改中" for `in_progress`; an import reads "完成期限", "完成期限 / Due" or `due` alike, and "整改中" in a
status column as `in_progress`, whatever the language in use — the file is what it is. So a label names
one key only, and within a column one id only (tests/test_xlsx_zh.py checks both).

A plain dict, not gettext msgids: an import must know the Chinese words when the operator's language is
English, and the columns' words are no messages of the program. The ids' words are those the web shows
(web/labels.py, through the catalogue), except severity, where the web's 一般 stands for both `minor` and
`general`.
"""

from __future__ import annotations

import re

FIELDS = {
    # findings
    "code": "编号", "source": "来源", "item": "检查项", "unit": "单位", "description": "描述",
    "severity": "严重程度", "owner": "责任人", "status": "状态", "due": "完成期限", "original_due": "原完成期限",
    "overdue": "是否逾期", "days_overdue": "逾期天数", "reopen_count": "重新打开次数", "root_cause": "原因分析",
    "corrective_action": "纠正措施", "raised_at": "提出时间", "raised_by": "提出人", "verified_by": "验证人",
    "closed_at": "关闭时间", "closed_on": "关闭日期", "closed_late": "是否逾期关闭", "days_late": "逾期关闭天数",
    "escalated_at": "升级时间", "due_history": "期限变更记录", "instance": "流程实例",
    # complaints
    "id": "序号", "received_at": "收到时间", "channel": "渠道", "customer": "客户", "contact": "联系人",
    "project": "项目", "remedy_sought": "客户诉求", "category": "类别", "severity_reason": "定级理由",
    "handler": "处理人", "assessed_by": "评估人", "acknowledged_at": "受理时间", "ack_due_at": "受理期限",
    "resolve_due_at": "解决期限", "escalated": "是否升级", "escalated_to": "升级至", "escalation_reason": "升级原因",
    "handling_team": "处理小组", "investigation": "调查情况", "resolution": "处理结果", "resolved_at": "解决时间",
    "customer_feedback": "回访意见", "closed_by": "关闭人", "instance_id": "流程实例编号", "created_by": "创建人",
    "finding": "不符合项",
    # the improvement plan
    "year": "年度", "cause": "原因", "measure": "整改措施", "expected": "预期效果", "action": "跟踪不符合项",
    "action_status": "跟踪状态",
    # tasks
    "business_key": "业务编号", "process": "流程", "task": "任务", "name": "名称", "role": "角色",
    "state": "任务状态", "assignee": "办理人", "claimed_by": "认领人", "due_at": "到期时间", "created_at": "创建时间",
    "completed_by": "完成人", "completed_at": "完成时间",
    # projects (the import's columns, and the listing's team)
    "kind": "项目类型", "pm": "项目经理", "oms": "运维管理主管", "members": "项目成员", "team": "项目组",
    "contract_ref": "合同编号", "om_start": "运维开始日期", "om_end": "运维结束日期",
    # indicators and their values
    "indicator": "指标", "period": "统计期", "value": "数值", "direction": "方向", "target": "目标值",
    "cycle": "统计周期", "yearly_rule": "年度计算规则", "attainment": "达标情况",
    # survey invitations and responses
    "overall": "总体满意度", "respondent": "答卷人", "comments": "意见和建议", "issues": "反映的问题",
    "q_om_service": "对运维服务的满意度", "q_service_desk": "对服务台的满意度",
}

_STATUS = {
    # findings
    "open": "待制定措施", "plan_submitted": "措施待审核", "in_progress": "整改中",
    "pending_verification": "待验证", "closed": "已关闭", "cancelled": "已取消",
    # complaints
    "received": "已收到", "handling": "处理中", "escalated": "已升级", "resolved": "已解决，待回访",
    "withdrawn": "已撤回",
    # improvement items, surveys, projects
    "proposed": "已提出（待制定措施）", "planned": "已计划", "tracking": "跟踪中", "collecting": "收集中",
    "extended": "已延期", "awaiting_decision": "待质量管理部决定", "analysing": "分析中", "reported": "已报告",
    "active": "在用", "pending": "尚未答复", "responded": "已答复",
}

VALUES = {
    "status": _STATUS,
    "action_status": _STATUS,
    "state": {"ready": "待办", "waiting": "等待中", "completed": "已完成", "cancelled": "已取消",
              "running": "运行中", "error": "失败"},
    "source": {"audit": "内审", "inspection": "运维服务质量检查", "complaint": "投诉", "survey": "顾客满意度调查",
               "mr": "管理评审", "improvement": "服务能力改进计划", "manual": "手工提出"},
    "severity": {"minor": "轻微", "general": "一般", "major": "重大"},
    "channel": {"phone": "电话", "email": "电子邮件", "letter": "信函", "service_desk": "服务台", "on_site": "现场",
                "platform": "网上平台", "form": "调查表", "visit": "拜访"},
    "kind": {"safe_city": "平安城市", "smart_city": "智慧城市", "other": "其他"},
    "direction": {"higher_better": "越高越好", "lower_better": "越低越好"},
    "cycle": {"monthly": "按月", "quarterly": "按季度", "yearly": "按年度"},
    "attainment": {"met": "达标", "unmet": "未达标", "not_measured": "未测量"},
}

_KEY_OF_LABEL = {label: key for key, label in FIELDS.items()}
_ID_OF_LABEL = {field: {label: value for value, label in labels.items()} for field, labels in VALUES.items()}
_HALVES = re.compile(r"\s*[/／]\s*")


class AmbiguousHeader(ValueError):
    """A bilingual header whose halves name two different columns."""

    def __init__(self, header: str, keys: tuple[str, str]):
        super().__init__(header, keys)
        self.header, self.keys = header, keys


def words(key: str) -> str:
    """A key in English words, as a bilingual header writes it: `due_date` is "Due date"."""
    return key.replace("_", " ").capitalize()


def header(key: str) -> str:
    """A column's header in a Chinese workbook: "完成期限 / Due"; a key without a label stays as it is."""
    return f"{FIELDS[key]} / {words(key)}" if key in FIELDS else key


# an improvement item's source is KIND:REF (unmet_kpi:K1): the kind in words, the reference as it is
ITEM_SOURCES = {"unmet_kpi": "未达标指标", "not_measured_kpi": "未测量指标", "open_nc": "未关闭不符合项",
                "complaint": "重大投诉", "mr": "管理评审决议"}


def value(key: str, stored: object) -> object:
    """An id of column `key` in Chinese (`in_progress` is 整改中); any other value as it is."""
    labels = VALUES.get(key)
    if key == "source" and isinstance(stored, str) and ":" in stored:
        kind, _colon, ref = stored.partition(":")
        return f"{ITEM_SOURCES[kind]} {ref}" if kind in ITEM_SOURCES else stored
    return labels.get(stored, stored) if labels and isinstance(stored, str) else stored


def key_of(name: str) -> str:
    """The key an import reads for a header: its English key, its Chinese label, or "中文 / English" with
    either half known (both known must agree: AmbiguousHeader). A name none of these is returned as it
    is, for the import to take or refuse as it always did."""
    if name in FIELDS or name not in _KEY_OF_LABEL and not _HALVES.search(name):
        return name
    if name in _KEY_OF_LABEL:
        return _KEY_OF_LABEL[name]
    halves = _HALVES.split(name.strip())
    if len(halves) != 2:
        return name
    known = [key for key in (_half_key(half) for half in halves) if key]
    if len(set(known)) > 1:
        raise AmbiguousHeader(name, (known[0], known[1]))
    return known[0] if known else name


def _half_key(half: str) -> str | None:
    if half in _KEY_OF_LABEL:
        return _KEY_OF_LABEL[half]
    key = re.sub(r"[\s-]+", "_", half.strip().lower())
    return key if key in FIELDS else None


def id_of(key: str, text: str) -> str:
    """A cell of column `key` as the id stored: its Chinese label read back (整改中 is `in_progress`)."""
    labels = _ID_OF_LABEL.get(key)
    return labels.get(text, text) if labels else text
