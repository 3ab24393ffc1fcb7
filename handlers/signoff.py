"""The 编制 / 审核 / 批准 (drafted, reviewed, approved) block of each controlled document, read from the history.

A step is the completion of a user task (a `task.completed` event: who, when, which step) or an event a
handler appended when the document was issued. The person shown is the event's actor: when a substitute
(代理) acted, the payload's `for` names whom they stood in for, and the actor is the substitute, who really
signed. An admin acting `--as` someone records that person's decision: the acted-as name is shown.

A document drafted again (sent back, rejected, revised) shows its latest drafting and only an approval that
came after it. A step not taken yet is empty; so is a step the process gives nobody (each function says why):
a sign-off block names no one the history does not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import OpsqaError, settings
from store import Audit, Event, ManagementReview, ProjectQaPlan, SurveyCampaign, Task, User

STEPS = ("编制", "审核", "批准")


@dataclass(frozen=True)
class Signature:
    step: str  # 编制 | 审核 | 批准
    name: str  # "张三（qmd1）", the user name alone without a display name; "" when the step has not happened
    date: str  # the local calendar date, ISO; "" when the step has not happened


class Act(NamedTuple):
    """Someone's step in the history: who, when, the values they gave, and the variables their task was given."""

    actor: str
    at: datetime
    seq: int  # the event's id: two steps at the same moment keep their order
    values: dict[str, Any]
    variables: dict[str, Any]


def _block(session: Session, drafted: Act | None, reviewed: Act | None, approved: Act | None) -> list[Signature]:
    zone = settings.zone(session)
    return [Signature(step, "", "") if act is None
            else Signature(step, _person(session, act.actor), act.at.astimezone(zone).date().isoformat())
            for step, act in zip(STEPS, (drafted, reviewed, approved), strict=True)]


def _person(session: Session, name: str) -> str:
    """As the documents show people: display name and user name, or the user name alone."""
    user = session.get(User, name)
    return f"{user.display_name}（{name}）" if user is not None and user.display_name else name


def _completions(session: Session, process_id: str, step: str, *, instances: Iterable[int] | None = None,
                 given: Callable[[dict], bool] | None = None) -> list[Act]:
    """The completions of a user task of `process_id`, oldest first: of tasks in `instances` and whose variables
    pass `given` (e.g. the audit they were for), when named. Each completion is its own event: a task done
    again after a send-back is two."""
    query = (select(Event, Task.variables).join(Task, Task.id == Event.task_id)
             .where(Event.kind == "task.completed", Task.process_id == process_id, Task.bpmn_id == step)
             .order_by(Event.at, Event.id))
    if instances is not None:
        query = query.where(Event.instance_id.in_(list(instances)))
    acts = []
    for event, variables in session.execute(query):
        act = Act(event.actor, event.at, event.id, json.loads(event.payload).get("values") or {},
                  json.loads(variables or "{}"))
        if given is None or given(act.variables):
            acts.append(act)
    return acts


def _events(session: Session, kind: str, **payload: Any) -> list[Act]:
    """The events of a kind whose payload holds the given values, oldest first."""
    acts = []
    for event in session.scalars(select(Event).where(Event.kind == kind).order_by(Event.at, Event.id)):
        data = json.loads(event.payload)
        if all(data.get(key) == value for key, value in payload.items()):
            acts.append(Act(event.actor, event.at, event.id, data, {}))
    return acts


def _latest(acts: list[Act]) -> Act | None:
    return acts[-1] if acts else None


def _approval_after(drafted: Act | None, decisions: list[Act],
                    approves: Callable[[Act], bool] = lambda act: True) -> Act | None:
    """The decision that followed the latest drafting, if it approved it: a rejection is followed by a new
    drafting, whose approval is the one that counts. Nothing is approved before anything was drafted."""
    if drafted is None:
        return None
    after = [act for act in decisions if (act.at, act.seq) > (drafted.at, drafted.seq)]
    return after[0] if after and approves(after[0]) else None


# -- the internal audit (6.2.1): the lead auditor fills the checklist and writes the report; the management
# representative acknowledges the report (D7: the report is approved by MR), which issues it (audit.reported)


def audit_report(session: Session, year: int) -> list[Signature]:
    """《运维过程内审报告》: a section per audit of the year; its latest drafting is the report written last."""
    codes = set(session.scalars(select(Audit.code).where(Audit.year == year, Audit.status != "cancelled")))
    written = _latest(_completions(session, "internal_audit", "write_report",
                                   given=lambda variables: variables.get("audit") in codes))
    acknowledged = [] if written is None else _completions(
        session, "internal_audit", "acknowledge_report",
        given=lambda variables: variables.get("audit") == written.variables["audit"])
    # 审核: internal_audit.bpmn has no review between the lead auditor's report and the MR's acknowledgement
    return _block(session, written, None, _approval_after(written, acknowledged))


def audit_checklist(session: Session, audit_code: str) -> list[Signature]:
    """《运维过程内审检查表》: drafted by the lead auditor, whose perform_audit completes it (every row checked);
    each row names its own auditor."""
    code = audit_code.upper()
    performed = _latest(_completions(session, "internal_audit", "perform_audit",
                                     given=lambda variables: variables.get("audit") == code))
    # 审核, 批准: nobody reviews or approves the checklist in internal_audit.bpmn; the MR acknowledges the
    # report it feeds (audit_report)
    return _block(session, performed, None, None)


# -- the service inspection (6.2.2): the inspector (OMS, or QMD when it organises one) records the check;
# the report is issued from the record by the QMD lane's service task at the inspector's completion


def inspection_record(session: Session, code: str) -> list[Signature]:
    """运维服务质量检查记录: drafted by the inspector completing `inspect`."""
    code = code.upper()
    inspected = _latest(_completions(session, "service_inspection", "inspect",
                                     given=lambda variables: variables.get("inspection") == code))
    # 审核, 批准: service_inspection.bpmn has no review or approval step (6.2.2 names no approver)
    return _block(session, inspected, None, None)


def inspection_report(session: Session, code: str) -> list[Signature]:
    """运维服务质量检查报告: drafted when issued (inspection.reported, the inspector's step)."""
    reported = _latest(_events(session, "inspection.reported", inspection=code.upper()))
    # 审核, 批准: service_inspection.bpmn has no review or approval step (6.2.2 names no approver)
    return _block(session, reported, None, None)


# -- the satisfaction survey (6.2.4)


def survey_report(session: Session, year: int) -> list[Signature]:
    """《满意度调查总结报告》: drafted by QMD (write_survey_report), which issues it (survey.reported)."""
    campaign = session.scalar(select(SurveyCampaign).where(SurveyCampaign.year == year))
    written = None if campaign is None or campaign.instance_id is None else _latest(
        _completions(session, "satisfaction_survey", "write_survey_report", instances=[campaign.instance_id]))
    # 审核, 批准: satisfaction_survey.bpmn issues the report on QMD's completion; 6.2.4 c and D7 name no approver
    return _block(session, written, None, None)


# -- the management review (6.2.5)


def review_report(session: Session, year: int) -> list[Signature]:
    """《管理评审报告》: drafted by whoever records the minutes and decisions (hold_review, the MR lane), signed
    by the MR as it is issued (review.reported; D7)."""
    review = session.scalar(select(ManagementReview).where(ManagementReview.year == year))
    if review is None or review.instance_id is None:
        return _block(session, None, None, None)
    held = _latest(_completions(session, "management_review", "hold_review", instances=[review.instance_id]))
    reported = _events(session, "review.reported", year=year)
    # 审核: management_review.bpmn has no review step; the report's inputs are gathered by a service task
    return _block(session, held, None, _approval_after(held, reported))


# -- the improvement plan (6.2.6)


def improvement_plan(session: Session, year: int) -> list[Signature]:
    """《服务能力改进计划》: drafted by OPS (plan_improvement, D11), approved by the GM (approve_improvement, D7);
    a plan sent back is drafted again."""
    proposed = session.execute(select(Event.instance_id, Event.payload).where(Event.kind == "improvement.proposed"))
    instances = {instance for instance, payload in proposed if json.loads(payload).get("year") == year}
    planned = _latest(_completions(session, "improvement", "plan_improvement", instances=instances))
    decisions = _completions(session, "improvement", "approve_improvement", instances=instances)
    # 审核: improvement.bpmn has no review step (QMD tracks the measures, D11)
    return _block(session, planned, None, _approval_after(
        planned, decisions, lambda act: act.values.get("improvement_decision") == "imp_approved"))


# -- the plans (6.1.2, 6.1.3)


def quality_plan(session: Session, year: int) -> list[Signature]:
    """《年度质量管理计划》: drafted by QMD (draft_plan), approved by the GM (approve_plan). The edition in force
    (a revision, once issued, supersedes the one before), else the one being drafted: plan.plan_history's
    choice; inside it, the latest version and the decision on it."""
    from .plan import plan_history

    try:
        shown = plan_history(session, year)
    except OpsqaError:  # no plan drafted for the year
        return _block(session, None, None, None)
    versions = shown["versions"]
    if not versions:
        return _block(session, None, None, None)
    latest = versions[-1]
    drafted = Act(latest["by"], latest["at"], len(versions), latest["values"], {})
    decided = [Act(a["by"], a["at"], a["version"], {"decision": a["decision"]}, {}) for a in shown["approvals"]
               if a["version"] == len(versions)]  # the decisions on the latest version
    approved = decided[0] if decided and decided[0].values["decision"] == "approved" else None
    # 审核: quality_plan.bpmn has no review between QMD's draft and the GM's approval (6.1.2)
    return _block(session, drafted, None, approved)


def project_plan(session: Session, project_code: str, year: int) -> list[Signature]:
    """A project's quality-control content for the year (6.1.3 a–f), its latest version: set by the operations
    department (define_qa, the ops lane). D7 has the OPS head confirm it, but project_qa.bpmn has no step
    that does, and any holder of the ops role completes define_qa: 批准 stays empty rather than showing the
    drafter as their own approver."""
    plan = session.scalars(select(ProjectQaPlan).where(ProjectQaPlan.project == project_code.upper(),
                                                       ProjectQaPlan.year == year)
                           .order_by(ProjectQaPlan.version.desc())).first()
    defined = None if plan is None else _latest(
        _completions(session, "project_qa", "define_qa", instances=[plan.instance_id]))
    # 审核: project_qa.bpmn has no review step; the project manager's arrange_qa puts the plan into effect
    # after it is confirmed, it does not review it
    return _block(session, defined, None, None)
