"""The plans as documents: the organisation's 《年度质量管理计划》 (6.1.2) and each project's 项目运维质量控制计划
(6.1.3), in the words of the forms they were drafted in (the deployed process's labels and choices, not the
variables' ids), with a revised plan compared against the edition before it and the approvals it went through.

The general manager approving a plan reads it here, as the draft document of what was submitted.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import OpsqaError
from i18n import _
from store import Definition, ProjectQaPlan

from . import signoff
from .plan import issued_values, plan_history
from .reports import Document, _Dates, _names

# The plan's fields in the order of 6.1.2 a)-f), with the labels used when no deployed form names them.
QUALITY_PLAN_FIELDS = {
    "objectives": "6.1.2 a) 质量目标、目的范围及与其它计划的关系", "verification": "6.1.2 b) 符合性验证方式",
    "resources": "6.1.2 c) 所需资源：人员、培训、工具、设备、设施",
    "audit_schedule": "6.1.2 d) 审核对象及管理评审与审核的时间和周期", "audit_start": "6.1.2 d) 年度内审开始日期",
    "survey_start": "6.1.2 d) 客户满意度调查开始日期", "indicator_cycle": "6.1.2 e) 质量指标收集分析周期",
    "spot_check_plan": "6.1.2 f) 现场抽查巡查计划", "spot_check_frequency": "6.1.2 f) 现场抽查频次",
    "spot_check_sample": "6.1.2 f) 每次抽查项目数"}
PROJECT_PLAN_FIELDS = {
    "org_structure": "6.1.3 a) 运维项目组织架构及人员职责", "kpi_control": "6.1.3 b) 质量指标的实时控制分析",
    "spot_checks": "6.1.3 c) 现场的抽查巡查", "report_frequency": "6.1.3 d) 运维报告提交频次",
    "report_due_days": "6.1.3 d) 报告提交期限（报告期结束后天数）", "resource_plan": "6.1.3 e) 资源保障计划",
    "service_desk_plan": "6.1.3 f) 服务台方案", "spare_parts_plan": "6.1.3 f) 备件库方案",
    "emergency_plan": "6.1.3 f) 应急响应方案"}
CHOICES = {"monthly": "每月", "quarterly": "每季度", "yearly": "每年", "spot_monthly": "每月",
           "spot_quarterly": "每季度", "spot_half_yearly": "每半年", "report_monthly": "每月",
           "report_quarterly": "每季度"}
DECISION_ZH = {"approved": "批准", "rejected": "退回修改"}
EDITION_ZH = {"current": "现行有效", "superseded": "已被修订版替代", "drafting": "编制中（未发布）"}


def form_words(session: Session, process_id: str, task: str, fallback: dict[str, str]) -> tuple[dict, dict]:
    """(label of each field, name of each choice) as the latest deployed form of `process_id`'s user task
    `task` says them; the fallback's labels where no deployed form names a field."""
    text = session.scalar(select(Definition.model_json).where(Definition.process_id == process_id)
                          .order_by(Definition.version.desc()).limit(1))
    labels, choices = dict(fallback), dict(CHOICES)
    spec = json.loads(text)["user_tasks"].get(f"{process_id}:{task}") if text else None
    for field in (spec or {}).get("form", []):
        if field.get("label"):
            labels[field["id"]] = field["label"]
        for value in field.get("options") or []:
            if isinstance(value, dict) and value.get("id") and value.get("name"):
                choices[value["id"]] = value["name"]
    return labels, choices


def _shown(value, choices: dict) -> str:
    if value is None or value == "":
        return "—"
    return choices.get(value, str(value)) if isinstance(value, str) else str(value)


def quality_plan_documents(session: Session, year: int, *, drafting: bool = False) -> list[Document]:
    """The year's 《年度质量管理计划》: the edition in force (`drafting`: the draft last submitted, as the
    general manager is asked to approve it), its contents, what a revision changed, its approvals."""
    history = plan_history(session, year)
    editions = history["editions"]
    if drafting:
        edition = next((e for e in reversed(editions) if e["status"] == "drafting"), None)
        if edition is None or not edition["versions"]:
            raise OpsqaError(_("no {year} quality plan is being drafted").format(year=year))
        values = edition["versions"][-1]["values"]
    else:
        edition = next((e for e in editions if e["status"] == "current"), None)
        if edition is None:
            raise OpsqaError(_("no {year} quality plan has been issued yet; see `opsqa plan show {year}`").format(
                                 year=year))
        from store import QualityPlan

        values = issued_values(session, session.get(QualityPlan, edition["plan"]))
    labels, choices = form_words(session, "quality_plan", "draft_plan", QUALITY_PLAN_FIELDS)
    date, names = _Dates(session), _names(session)
    doc = Document(f"quality-plan-{year}", f"{year}年度质量管理计划", f"QP-6.1.2-{year}",
                   signatures=_drafting_signatures(session, edition, names, date) if drafting
                   else signoff.quality_plan(session, year))
    doc.table(["项目", "内容"], [
        ["年度", year], ["版次", f"第 {edition['edition']} 版" + ("（修订）" if edition["edition"] > 1 else "")],
        ["状态", EDITION_ZH[edition["status"]]], ["发布日期", date(edition["issued_at"])],
        ["修订原因", edition["reason"]]])
    doc.heading("一、计划内容")
    doc.table(["条款", "内容"], [[labels.get(name, name), _shown(values.get(name), choices)]
                               for name in QUALITY_PLAN_FIELDS if name in labels])
    before = _previous_values(session, editions, edition)
    if before is not None:
        changed = [name for name in QUALITY_PLAN_FIELDS if _shown(before.get(name), choices)
                   != _shown(values.get(name), choices)]
        doc.heading(f"二、修订对照（与第 {edition['edition'] - 1} 版相比，{len(changed)} 项变化）")
        doc.table(["条款", "修订前", "修订后"], [[labels.get(name, name), _shown(before.get(name), choices),
                                            _shown(values.get(name), choices)] for name in changed])
    doc.heading("三、审批记录" if before is not None else "二、审批记录")
    doc.table(["送审稿", "审批人", "日期", "结果", "意见"], [
        [f"第 {a['version']} 稿", names.get(a["by"], a["by"]), date(a["at"]),
         DECISION_ZH.get(a["decision"], a["decision"]), a["comment"]] for a in edition["approvals"]])
    return [doc]


def _previous_values(session: Session, editions: list[dict], edition: dict) -> dict | None:
    """The values of the edition before this one, as issued (None for a first edition)."""
    from store import QualityPlan

    earlier = [e for e in editions if e["edition"] == edition["edition"] - 1 and e["plan"] is not None]
    return issued_values(session, session.get(QualityPlan, earlier[0]["plan"])) if earlier else None


def _drafting_signatures(session: Session, edition: dict, names: dict, date) -> list:
    """A plan being approved: drafted by the latest draft's author; not approved yet."""
    last = edition["versions"][-1]
    return [signoff.Signature("编制", names.get(last["by"], last["by"]), date(last["at"]) or ""),
            signoff.Signature("审核", "", ""), signoff.Signature("批准", "", "")]


def project_plan_documents(session: Session, year: int) -> list[Document]:
    """Each project's 项目运维质量控制计划 of the year (6.1.3 a-f), its latest version, with what changed since the
    version before and the project manager's arrangement."""
    plans = session.scalars(select(ProjectQaPlan).where(ProjectQaPlan.year == year)
                            .order_by(ProjectQaPlan.project, ProjectQaPlan.version)).all()
    latest: dict[str, list[ProjectQaPlan]] = {}
    for plan in plans:
        latest.setdefault(plan.project, []).append(plan)
    labels, choices = form_words(session, "project_qa", "define_qa", PROJECT_PLAN_FIELDS)
    date, names = _Dates(session), _names(session)
    documents = []
    for project, versions in latest.items():
        plan = versions[-1]
        doc = Document(f"project-qa-plan-{project}-{year}", f"{project} 项目{year}年度运维质量控制计划",
                       f"QP-6.1.3-{project}-{year}", signatures=signoff.project_plan(session, project, year))
        doc.table(["项目", "内容"], [
            ["项目编号", project], ["年度", year], ["版次", f"第 {plan.version} 版"],
            ["制定人", names.get(plan.defined_by, plan.defined_by)], ["制定日期", date(plan.defined_at)],
            ["状态", "已安排实施" if plan.status == "arranged" else "已制定，待项目经理安排"]])
        doc.heading("一、质量控制内容")
        doc.table(["条款", "内容"], [[labels.get(name, name), _shown(getattr(plan, name), choices)]
                                   for name in PROJECT_PLAN_FIELDS])
        if len(versions) > 1:
            before = versions[-2]
            changed = [name for name in PROJECT_PLAN_FIELDS if getattr(before, name) != getattr(plan, name)]
            doc.heading(f"二、修订对照（与第 {before.version} 版相比，{len(changed)} 项变化）")
            doc.table(["条款", "修订前", "修订后"], [[labels.get(name, name), _shown(getattr(before, name), choices),
                                                _shown(getattr(plan, name), choices)] for name in changed])
        doc.heading("项目经理的实施安排")
        doc.paragraph(plan.arrangement or "尚未安排。")
        documents.append(doc)
    if not documents:
        raise OpsqaError(_("no project has its {year} quality control content yet; see `opsqa projects`").format(
                             year=year))
    return documents


