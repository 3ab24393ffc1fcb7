"""Customer complaints (6.2.3): the project manager handles them; a major one goes to the operations
general manager, who organises its handling and alone closes it (DOMAIN.md 2.5, 3.2).

A general complaint must be resolved within a number of working days (Monday to Friday, less the
public holidays and plus the weekend days worked instead, as the settings `holidays` and `workdays`
list them) or it is escalated on its own. A systemic problem becomes a
finding; the customer's callback closes the complaint or reopens it, and the second reopen makes it
major.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Actor, HandlerContext, OpsqaError, settings
from engine.clock import local_time
from i18n import _
from store import Complaint, Finding, Task, UserRole, append_event

from . import handler, registry
from .codes import next_code
from .findings import raise_finding
from .projects import get_project

CHANNELS = ("phone", "email", "letter", "service_desk", "on_site", "platform")
OPEN = ("received", "handling", "escalated", "resolved")
FEEDBACK = {"satisfied": ("fb_satisfied", "fbm_satisfied"), "not_satisfied": ("fb_not_satisfied", "fbm_not_satisfied")}


def add_working_days(start: datetime, days: int, holidays: frozenset[date] = frozenset(),
                     workdays: frozenset[date] = frozenset()) -> datetime:
    """`days` working days after `start`, at the same local time: Monday to Friday but the public
    holidays, and the weekend days worked instead (调休)."""
    when = start
    while days > 0:
        when += timedelta(days=1)
        day = when.date()
        if day in workdays or (when.weekday() < 5 and day not in holidays):
            days -= 1
    return when


def resolve_due(session: Session, received: datetime) -> datetime:
    """When a general complaint received (or reopened) at `received` must be resolved."""
    local = received.astimezone(settings.zone(session))
    return add_working_days(local, int(settings.get(session, "complaint_resolve_working_days")),
                            settings.days(session, "holidays"), settings.days(session, "workdays"))


def register(session: Session, *, project: str, description: str, channel: str, received_at: datetime,
             now: datetime, actor: Actor, start_instance, customer: str | None = None, contact: str | None = None,
             remedy: str | None = None) -> Complaint:
    """Record a complaint and start its handling by the project's manager. Who may: engine/policy.py,
    complaint.add."""
    found = get_project(session, project)
    if channel not in CHANNELS:
        raise OpsqaError(_("channel {channel!r} is not one of {channels}").format(
                             channel=channel, channels=', '.join(CHANNELS)))
    if not description.strip():
        raise OpsqaError(_("description: a value is required"))
    zone = settings.zone(session)
    if received_at > now:
        raise OpsqaError(_("received_at {received_at} is in the future").format(
                             received_at=local_time(received_at, zone)))
    local = received_at.astimezone(zone)
    ack_due = local + timedelta(hours=int(settings.get(session, "complaint_ack_hours")))
    resolve_due_at = resolve_due(session, local)
    complaint = Complaint(
        code=next_code(session, Complaint.code, f"C-{local.year}-", 3), received_at=received_at, channel=channel,
        customer=(customer or found.customer).strip(), contact=contact, project=project,
        description=description.strip(), remedy_sought=remedy, handler=found.pm, ack_due_at=ack_due,
        resolve_due_at=resolve_due_at, escalated=False, reopen_count=0, status="received", created_by=actor.name)
    session.add(complaint)
    session.flush()
    append_event(session, at=now, kind="complaint.received", actor=actor.name, real_actor=actor.real,
                 payload={"complaint": complaint.code, "project": project, "customer": complaint.customer,
                          "channel": channel, "received_at": received_at.isoformat(), "handler": found.pm})
    complaint.instance_id = start_instance("complaint", complaint.code, {
        "complaint": complaint.code, "pm": found.pm, "project": project, "customer": complaint.customer,
        "ack_due_at": ack_due.isoformat(), "resolve_due_at": resolve_due_at.isoformat()})
    return complaint


def get_complaint(session: Session, code: str) -> Complaint:
    complaint = session.scalar(select(Complaint).where(Complaint.code == code.upper()))
    if complaint is None:
        raise OpsqaError(_("no complaint {code}; see `opsqa complaints list`").format(code=code))
    return complaint


def closing_task(session: Session, code: str) -> Task:
    """The callback task that closes the complaint: `confirm_major` for a major one, which only those
    engine/policy.py lets take complaint.close_major complete."""
    complaint = get_complaint(session, code)
    task = session.scalar(select(Task).where(Task.instance_id == complaint.instance_id, Task.state == "ready",
                                             Task.bpmn_id.in_(("confirm_general", "confirm_major"))))
    if task is None:
        raise OpsqaError(_("{code} is {status}; it is not waiting for the customer's callback").format(
                             code=complaint.code, status=complaint.status))
    return task


def feedback_value(task_bpmn_id: str, feedback: str) -> str:
    general, major = FEEDBACK[feedback]
    return major if task_bpmn_id == "confirm_major" else general


def view(complaint: Complaint, finding_code: str | None = None) -> dict[str, Any]:
    return {column.key: getattr(complaint, column.key) for column in Complaint.__table__.columns
            if column.key != "finding_id"} | {"finding": finding_code}


def list_complaints(session: Session, *, year: int | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    query = select(Complaint, Finding.code).outerjoin(Finding, Finding.id == Complaint.finding_id).order_by(
        Complaint.code)
    if year is not None:
        query = query.where(Complaint.code.like(f"C-{year}-%"))
    if open_only:
        query = query.where(Complaint.status.in_(OPEN))
    return [view(complaint, code) for complaint, code in session.execute(query)]


def summary(session: Session, year: int) -> dict[str, Any]:
    """The year's complaints for the management review: how many, how many major, resolved in time."""
    rows = session.scalars(select(Complaint).where(Complaint.code.like(f"C-{year}-%"))).all()
    resolved = [c for c in rows if c.resolved_at is not None]
    on_time = [c for c in resolved if c.severity == "major" or c.resolved_at <= c.resolve_due_at]
    return {"total": len(rows), "major": sum(1 for c in rows if c.severity == "major"),
            "open": sum(1 for c in rows if c.status in OPEN), "closed": sum(1 for c in rows if c.status == "closed"),
            "escalated": sum(1 for c in rows if c.escalated),
            "resolved_on_time": f"{len(on_time)}/{len(resolved)}" if resolved else None,
            "reopened": sum(1 for c in rows if c.reopen_count)}


# -- the complaint process's steps ------------------------------------------------------------


def _complaint(context: HandlerContext) -> Complaint:
    return get_complaint(context.session, context.variables["complaint"])


def _record(context: HandlerContext, complaint: Complaint, kind: str, **payload: Any) -> None:
    append_event(context.session, at=context.now, kind=f"complaint.{kind}", actor=context.actor,
                 instance_id=context.instance_id, payload={"complaint": complaint.code, **payload})


def _ogm(session: Session) -> str:
    """Who 'the operations general manager' is: the one user holding the role, else the role."""
    holders = session.scalars(select(UserRole.user_name).where(UserRole.role == "ogm")).all()
    return holders[0] if len(holders) == 1 else "ogm"


def _escalate(context: HandlerContext, reason: str) -> dict:
    complaint = _complaint(context)
    if not complaint.escalated:
        complaint.escalated, complaint.escalated_at, complaint.escalation_reason = True, context.now, reason
        complaint.escalated_to = _ogm(context.session)
    complaint.severity, complaint.status = "major", "escalated"
    _record(context, complaint, "escalated", reason=reason, to=complaint.escalated_to)
    return {"escalated": True}


@handler("complaint.ack_overdue")
def ack_overdue(context: HandlerContext) -> dict:
    complaint = _complaint(context)
    _record(context, complaint, "ack_overdue", to=complaint.handler, due=complaint.ack_due_at.isoformat())
    return {}


@handler("complaint.assessed")
def assessed(context: HandlerContext) -> dict:
    complaint, values = _complaint(context), context.variables
    complaint.severity = "major" if values.get("severity") == "sev_major" else "general"
    complaint.severity_reason, complaint.category = values.get("severity_reason"), values.get("category")
    complaint.assessed_by, complaint.acknowledged_at = context.actor, context.now
    complaint.status = "handling"
    _record(context, complaint, "assessed", severity=complaint.severity, reason=complaint.severity_reason)
    return {"escalated": False}


@handler("complaint.escalated")
def escalated(context: HandlerContext) -> dict:
    return _escalate(context, "initial_major")


@handler("complaint.time_limit_breach")
def time_limit_breach(context: HandlerContext) -> dict:
    return _escalate(context, "time_limit_breach")


@handler("complaint.reclassified")
def reclassified(context: HandlerContext) -> dict:
    return _escalate(context, "reclassified")


@handler("complaint.resolved")
def resolved(context: HandlerContext) -> dict:
    """The handling's result; a systemic problem becomes a finding owned by the project manager (once)."""
    complaint, values = _complaint(context), context.variables
    complaint.investigation, complaint.resolution = values.get("investigation"), values.get("resolution")
    complaint.handling_team = values.get("handling_team") or complaint.handling_team
    complaint.resolved_at, complaint.status = context.now, "resolved"
    if values.get("systemic") and complaint.finding_id is None:
        complaint.finding_id = raise_finding(
            context.session, source="complaint", source_ref=complaint.code, unit=complaint.project,
            owner=complaint.handler, description=f"投诉{complaint.code}反映的系统性问题：{complaint.investigation}",
            severity="major" if complaint.severity == "major" else "minor", now=context.now, actor=context.actor,
            start_instance=context.start_instance).id
    _record(context, complaint, "resolved", resolution=complaint.resolution, systemic=bool(values.get("systemic")))
    return {"escalated": complaint.escalated}


@handler("complaint.closed")
def closed(context: HandlerContext) -> dict:
    complaint = _complaint(context)
    complaint.customer_feedback = "satisfied"
    complaint.closed_by, complaint.closed_at, complaint.status = context.actor, context.now, "closed"
    _record(context, complaint, "closed", by=context.actor, note=context.variables.get("feedback_note"))
    return {}


@handler("complaint.reopened")
def reopened(context: HandlerContext) -> dict:
    """The customer is not satisfied: handled again, with a new time limit; the second time it is major."""
    complaint = _complaint(context)
    complaint.customer_feedback, complaint.reopen_count = "not_satisfied", complaint.reopen_count + 1
    complaint.resolved_at = None
    _record(context, complaint, "reopened", count=complaint.reopen_count, note=context.variables.get("feedback_note"))
    if complaint.reopen_count >= 2 and not complaint.escalated:
        return _escalate(context, "customer_reopen")
    complaint.status = "escalated" if complaint.escalated else "handling"
    due = resolve_due(context.session, context.now)
    complaint.resolve_due_at = due
    return {"escalated": complaint.escalated, "resolve_due_at": due.isoformat()}


@registry.on_cancel("complaint")
def cancelled(session: Session, instance_id: int, *, now: datetime, actor: Actor, reason: str | None) -> None:
    """A cancelled complaint process withdraws its complaint, with the reason."""
    complaint = session.scalar(select(Complaint).where(Complaint.instance_id == instance_id))
    if complaint is None or complaint.status not in OPEN:
        return
    before, complaint.status = complaint.status, "withdrawn"
    append_event(session, at=now, kind="complaint.withdrawn", actor=actor.name, real_actor=actor.real,
                 instance_id=instance_id,
                 payload={"complaint": complaint.code, "from": before, "to": "withdrawn", "reason": reason})
