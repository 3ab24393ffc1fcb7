"""The seed's check lists: the process audit's (6.2.1) and the service inspection's (6.2.2).

Every lettered item of the seed, with its text as the seed writes it. The audit names five
areas but gives items for four: the people area (人员检查) starts with none, is configured by
the quality department, and is never shown as conforming while it has no items (DOMAIN.md D5).
"""

from __future__ import annotations

from dataclasses import dataclass

TEMPLATE_VERSION = "GSB/T 300.01 A1"


@dataclass(frozen=True)
class Area:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Item:
    code: str
    area: str
    text_zh: str
    governing_doc: str | None = None


AUDIT_AREAS = (
    Area("CAP", "运维能力检查", "O&M service capability"),
    Area("PPL", "人员检查", "people"),
    Area("RES", "资源检查", "resources"),
    Area("TEC", "技术检查", "technology"),
    Area("PRC", "过程检查", "process"),
)

AUDIT_ITEMS = (
    Item("CAP-a", "CAP", "审核公司运维业务的方针策略和目标，评审服务目录、管控目标、运维服务能力计划及实施计划。"),
    Item("CAP-b", "CAP", "是否在年度运维服务能力发展规划中，对人员、资源、技术和过程进行规划。", "年度运维服务能力发展规划"),
    Item("CAP-c", "CAP", "是否制定并评审了年度运维服务质量管理计划。", "年度质量管理计划"),
    Item("CAP-d", "CAP", "年度运维服务质量管理计划中，是否包括了质量管理日常工作、运维指标的收集分析、客户满意度调查等内容。",
         "年度质量管理计划"),
    Item("CAP-e", "CAP", "在公司内，是否按计划进行内部审核和管理评审。"),
    Item("CAP-f", "CAP", "对于运维服务管理体系审计发现的不符合项是否进行了跟踪管理，直到解决。"),
    Item("CAP-g", "CAP", "是否，针对每年制定的改进措施，制定了改进计划，保证了改进措施的落实。", "服务能力改进计划"),
    Item("RES-a", "RES", "是否定期对运维工具使用情况进行评审。"),
    Item("RES-b", "RES", "检查《服务台管理制度》是否得到遵守。", "服务台管理制度"),
    Item("RES-c", "RES", "是否对运维服务进行了满意度调查，并对调查结果进行了分析改进。"),
    Item("RES-d", "RES", "《备件库管理制度》是否得到实施，确保备件可用。", "备件库管理制度"),
    Item("RES-e", "RES", "《知识库管理制度》的使用情况，确保知识在组织内得到有效的使用。", "知识库管理制度"),
    Item("TEC-a", "TEC", "研发需求、规划和相关计划是否得到了评审。"),
    Item("TEC-b", "TEC", "相关计划是否得到了实施。"),
    Item("TEC-c", "TEC", "是否对发现和解决问题的经验和技术进行交流并改进相应的知识库。"),
    Item("PRC-a", "PRC", "评审《服务级别管理过程》，检查服务级别协议的完成情况。", "服务级别管理过程"),
    Item("PRC-b", "PRC", "检查服务报告计划的制定，评审和按计划提交报告。"),
    Item("PRC-c", "PRC", "根据《事件管理过程》，检查事件是否按约解决，事件的解决满意度。", "事件管理过程"),
    Item("PRC-d", "PRC", "依据《问题管理过程》，检查问题的识别，解决情况。", "问题管理过程"),
    Item("PRC-e", "PRC", "依据《配置管理过程》，检查配置计划、抽查配置项的一致性。", "配置管理过程"),
    Item("PRC-f", "PRC", "依据《变更管理过程》检查变更的评估和批准。", "变更管理过程"),
    Item("PRC-g", "PRC", "依据《发布管理过程》，检查发布的方案批准和验收。", "发布管理过程"),
    Item("PRC-h", "PRC", "依据《信息安全管理过程》《信息安全管理制度》，评审信息安全的策略，信息安全计划的评审，信息安全事件的处理评审。",
         "信息安全管理过程；信息安全管理制度"),
)

INSPECTION_ITEMS = (
    Item("SVC-a", "SVC", "实施过程得到有效的记录。"),
    Item("SVC-b", "SVC", "根据运维服务项目计划的要求，定期提交了服务报告。"),
    Item("SVC-c", "SVC", "对服务台的工作，进行了有效的记录。"),
    Item("SVC-d", "SVC", "正确使用了各种运维工具，有效地支持运维服务的各项工作。"),
    Item("SVC-e", "SVC", "对各过程的记录进行针对性检查和抽查，例如事件记录、问题记录、配置审核、变更记录、发布记录等。"),
)

RESULTS = ("conform", "nonconform", "observation", "not_applicable")


def area_status(area: str, configured_items: int, results: list[str]) -> str:
    """How an area reads in the checklist: an area with no items is never 'conform'."""
    if configured_items == 0:
        return "no items configured"
    if len(results) < configured_items:
        return "incomplete"
    if "nonconform" in results:
        return "nonconform"
    return "conform"
