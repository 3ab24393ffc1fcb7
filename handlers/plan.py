"""6.1.2 — the organisational quality plan: recording the plan once the general manager approved it."""

from __future__ import annotations

from sqlalchemy import func, select

from engine import HandlerContext
from store import QualityPlan, Task

from . import handler

PLAN_FIELDS = ("objectives", "verification", "resources", "audit_schedule", "indicator_cycle", "spot_check_plan")


@handler("plan.issue")
def issue_plan(context: HandlerContext) -> dict:
    """Record the approved plan as issued to the departments (下发各相关部门执行)."""
    variables = context.variables
    missing = [name for name in PLAN_FIELDS if not variables.get(name)]
    if missing:
        raise ValueError(f"the plan lacks {', '.join(missing)}")
    if variables.get("decision") != "approved":
        raise ValueError("the plan has not been approved by the general manager")
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
