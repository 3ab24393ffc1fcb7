"""Project-level quality control (6.1.3): one plan per project and year, and the O&M reports it owes.

The operations department sets items a)-f); the project manager arranges them. Item d) (report
frequency and deadline) becomes one `report_submission` row per report period, due a number of
days after the period ends; the process reminds the manager before the due time, marks the report
overdue after it, and records whether it came on time (evidence for SVC-b and PRC-b).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import HandlerContext, OpsqaError, settings
from i18n import _
from store import Instance, Project, ProjectQaPlan, ReportSubmission, append_event

from . import handler, registry
from .projects import get_project

PLAN_ITEMS = ("org_structure", "kpi_control", "spot_checks", "resource_plan", "service_desk_plan",
              "spare_parts_plan", "emergency_plan")
FREQUENCY_MONTHS = {"report_monthly": 1, "report_quarterly": 3}


def start_project_qa(session: Session, code: str, *, year: int, start_instance) -> int:
    """Start the year's project-level quality control for a project of the register. Who may:
    engine/policy.py, project.plan."""
    project = get_project(session, code)
    if project.status != "active":
        raise OpsqaError(_("project {code} is {status}").format(code=code, status=project.status))
    key = f"{code}/{year}"
    running = session.scalar(select(Instance.id).where(Instance.business_key == key,
                                                       Instance.status.in_(("running", "error", "completed"))))
    if running is not None:
        raise OpsqaError(_("project {code} already has its {year} quality control (instance {running})").format(
                             code=code, year=year, running=running))
    return start_instance("project_qa", key, {"project": code, "pm": project.pm, "oms": project.oms, "year": year})


def periods(year: int, frequency: str, *, zone, since: date, until: date | None) -> list[tuple[str, datetime]]:
    """The year's report periods as (name, end): the periods still running on `since`, none starting
    after `until` (the end of O&M)."""
    step = FREQUENCY_MONTHS.get(frequency)
    if step is None:
        raise OpsqaError(_("report_frequency {frequency!r} is not one of {frequency_months}").format(
                             frequency=frequency, frequency_months=', '.join(FREQUENCY_MONTHS)))
    result = []
    for month in range(1, 13, step):
        start = date(year, month, 1)
        end = date(year + 1, 1, 1) if month + step > 12 else date(year, month + step, 1)
        if end <= since or (until is not None and start > until):
            continue
        name = f"{year}-{month:02d}" if step == 1 else f"{year}-Q{(month - 1) // 3 + 1}"
        result.append((name, datetime.combine(end, datetime.min.time(), tzinfo=zone)))
    return result


def list_reports(session: Session, *, project: str | None = None, year: int | None = None,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    query = select(ReportSubmission).order_by(ReportSubmission.project, ReportSubmission.period)
    if project:
        query = query.where(ReportSubmission.project == project)
    if year:
        query = query.where(ReportSubmission.period.like(f"{year}-%"))
    rows = []
    for r in session.scalars(query):
        late = r.submitted_at is None and now is not None and now > r.due_at
        rows.append({"project": r.project, "period": r.period, "due_at": r.due_at, "submitted_at": r.submitted_at,
                     "submitted_by": r.submitted_by, "report_ref": r.report_ref, "on_time": r.on_time,
                     "overdue": late, "reminded_at": r.reminded_at})
    return rows


# -- the project_qa process's steps -----------------------------------------------------------


def _plan(context: HandlerContext) -> ProjectQaPlan:
    plan = context.session.scalars(select(ProjectQaPlan).where(ProjectQaPlan.instance_id == context.instance_id)
                                   .order_by(ProjectQaPlan.version.desc())).first()
    if plan is None:
        raise OpsqaError(_("instance {instance_id} has no project quality-control plan recorded").format(
                             instance_id=context.instance_id))
    return plan


@handler("project_qa.record")
def record_plan(context: HandlerContext) -> dict:
    """Items a)-f) as the operations department set them: a new version each time they are set."""
    values, session = context.variables, context.session
    code, year = values["project"], int(values["year"])
    version = (session.scalar(select(func.max(ProjectQaPlan.version))
                              .where(ProjectQaPlan.project == code, ProjectQaPlan.year == year)) or 0) + 1
    plan = ProjectQaPlan(project=code, year=year, version=version, instance_id=context.instance_id,
                         report_frequency=values["report_frequency"], report_due_days=int(values["report_due_days"]),
                         status="defined", defined_by=context.actor, defined_at=context.now,
                         **{name: str(values[name]) for name in PLAN_ITEMS})
    session.add(plan)
    session.flush()
    append_event(session, at=context.now, kind="project_qa.defined", actor=context.actor,
                 instance_id=context.instance_id,
                 payload={"project": code, "year": year, "version": version,
                          "report_frequency": plan.report_frequency, "report_due_days": plan.report_due_days})
    return {"qa_plan_version": version}


@registry.check("project_qa.arranged")
def arranged(context: HandlerContext) -> None:
    """The manager confirms what 6.1.3 e) and f) need before the project's quality control runs."""
    missing = [label for name, label in (("resources_ready", "the resource plan (e)"),
                                         ("service_desk_ready", "the service desk, spare parts and emergency plan (f)"))
               if context.variables.get(name) is not True]
    if missing:
        raise ValueError(_("{missing} must be ready before the arrangement is confirmed").format(
                             missing=' and '.join(missing)))


@handler("project_qa.next_report")
def next_report(context: HandlerContext) -> dict:
    """The next report period: a `report_submission` row due `report_due_days` after the period ends."""
    session, plan = context.session, _plan(context)
    if plan.status == "defined":  # the manager has just confirmed the arrangement
        plan.status, plan.arranged_by, plan.arranged_at = "arranged", context.actor, context.now
        plan.arrangement = context.variables.get("arrangement")
    zone = settings.zone(session)
    project = session.get(Project, plan.project)
    since = plan.defined_at.astimezone(zone).date()
    owed = periods(plan.year, plan.report_frequency, zone=zone, since=since, until=project.om_end)
    done = set(session.scalars(select(ReportSubmission.period).where(ReportSubmission.project == plan.project)))
    pending = [(name, end) for name, end in owed if name not in done]
    if not pending:
        return {"more_reports": False}
    period, end = pending[0]
    due = end + timedelta(days=plan.report_due_days)
    remind = due - timedelta(days=int(settings.get(session, "report_remind_days")))
    session.add(ReportSubmission(project=plan.project, period=period, instance_id=context.instance_id, due_at=due))
    append_event(session, at=context.now, kind="report.due", actor=context.actor, instance_id=context.instance_id,
                 payload={"project": plan.project, "period": period, "due_at": due.isoformat(), "pm": project.pm})
    return {"more_reports": True, "report_period": period, "report_due_at": due.isoformat(),
            "report_remind_at": remind.isoformat()}


def _submission(context: HandlerContext) -> ReportSubmission:
    row = context.session.scalar(select(ReportSubmission).where(
        ReportSubmission.project == context.variables["project"],
        ReportSubmission.period == context.variables["report_period"]))
    if row is None:
        raise OpsqaError(_("no report {report_period} is due for {project}").format(
                             report_period=context.variables['report_period'], project=context.variables['project']))
    return row


def _notice(context: HandlerContext, kind: str, to: Any) -> ReportSubmission:
    row = _submission(context)
    append_event(context.session, at=context.now, kind=kind, actor=context.actor, instance_id=context.instance_id,
                 payload={"project": row.project, "period": row.period, "to": to, "due_at": row.due_at.isoformat()})
    return row


@handler("project_qa.remind")
def remind(context: HandlerContext) -> dict:
    _notice(context, "report.reminded", context.variables.get("pm")).reminded_at = context.now
    return {}


@handler("project_qa.report_overdue")
def report_overdue(context: HandlerContext) -> dict:
    _notice(context, "report.overdue", [context.variables.get("pm"), "ops"]).overdue_at = context.now
    return {}


@handler("project_qa.report_submitted")
def report_submitted(context: HandlerContext) -> dict:
    row = _submission(context)
    if row.submitted_at is None:  # a retried step keeps the first submission time
        row.submitted_at, row.submitted_by = context.now, context.actor
        row.report_ref, row.note = context.variables.get("report_ref"), context.variables.get("report_note")
        row.on_time = context.now <= row.due_at
    append_event(context.session, at=context.now, kind="report.submitted", actor=context.actor,
                 instance_id=context.instance_id,
                 payload={"project": row.project, "period": row.period, "on_time": row.on_time,
                          "report_ref": row.report_ref})
    return {"report_on_time": row.on_time}
