"""6.1.2 — the organisational quality plan: recording the plan once the general manager approved it."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from engine import HandlerContext, OpsqaError
from i18n import _
from store import Event, Instance, QualityPlan, Task

from . import handler

PLAN_FIELDS = ("objectives", "verification", "resources", "audit_schedule", "indicator_cycle", "spot_check_plan")


@handler("plan.issue")
def issue_plan(context: HandlerContext) -> dict:
    """Record the approved plan as issued to the departments (下发各相关部门执行)."""
    variables = context.variables
    missing = [name for name in PLAN_FIELDS if not variables.get(name)]
    if missing:
        raise ValueError(_("the plan lacks {missing}").format(missing=', '.join(missing)))
    if variables.get("decision") != "approved":
        raise ValueError(_("the plan has not been approved by the general manager"))
    issued = context.session.scalars(
        select(QualityPlan).where(QualityPlan.instance_id == context.instance_id)
    ).first()
    if issued is not None:  # a retried step must not issue the plan twice
        return {"plan_id": issued.id, "issued_at": issued.issued_at.isoformat()}
    approvals = context.session.scalars(
        select(Task).where(Task.instance_id == context.instance_id, Task.bpmn_id == "approve_plan",
                           Task.state == "completed").order_by(Task.completed_at.desc())
    ).all()
    drafts = context.session.scalar(
        select(func.count()).select_from(Task)
        .where(Task.instance_id == context.instance_id, Task.bpmn_id == "draft_plan", Task.state == "completed")
    )
    plan = QualityPlan(
        instance_id=context.instance_id,
        period=str(variables.get("year") or context.business_key),
        **{name: str(variables[name]) for name in PLAN_FIELDS},
        audit_start=variables.get("audit_start"),
        spot_check_frequency=variables.get("spot_check_frequency"),
        spot_check_sample=variables.get("spot_check_sample"),
        revisions=drafts or 1,
        approved_by=approvals[0].completed_by if approvals else None,
        approval_comment=variables.get("comment") or None,
        issued_at=context.now,
        issued_by=context.actor,
    )
    context.session.add(plan)
    context.session.flush()
    return {"plan_id": plan.id, "issued_at": context.now.isoformat()}


def list_plans(session) -> list[dict]:
    """Every issued plan, as plain data."""
    plans = session.scalars(select(QualityPlan).order_by(QualityPlan.id))
    return [{column.key: getattr(plan, column.key) for column in QualityPlan.__table__.columns} for plan in plans]


def plan_history(session, year: int) -> dict:
    """The year's plan as it was drafted and decided: every version (draft) with its values, every
    approval decision with its comment, and which version was issued. Versions are never edited:
    they are the history's record of each submitted draft."""
    instances = session.scalars(select(Instance).where(Instance.business_key == str(year),
                                                       Instance.status != "cancelled").order_by(Instance.id.desc()))
    for instance in instances:
        events = session.scalars(select(Event).where(Event.instance_id == instance.id, Event.kind == "task.completed")
                                 .order_by(Event.id)).all()
        versions, approvals = [], []
        for event in events:
            payload = json.loads(event.payload)
            if payload.get("task") == "draft_plan":
                versions.append({"version": len(versions) + 1, "by": event.actor, "at": event.at,
                                 "values": payload.get("values", {})})
            elif payload.get("task") == "approve_plan":
                values = payload.get("values", {})
                approvals.append({"version": len(versions), "by": event.actor, "at": event.at,
                                  "decision": values.get("decision"), "comment": values.get("comment")})
        if versions:
            issued = session.scalar(select(QualityPlan).where(QualityPlan.instance_id == instance.id))
            return {"year": year, "instance": instance.id, "versions": versions, "approvals": approvals,
                    "issued_version": issued.revisions if issued else None}
    raise OpsqaError(_("no quality plan has been drafted for {year}").format(year=year))
