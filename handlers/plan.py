"""6.1.2 — the organisational quality plan: recording the plan once the general manager approved it."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from engine import HandlerContext, OpsqaError, settings
from engine.errors import DuplicateBusinessKey
from i18n import _
from store import Event, Instance, QualityPlan, Task

from . import handler, registry

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
    period = str(variables.get("year") or context.business_key)
    other = _issued(context.session, period)
    if other is not None:  # another instance issued the year's plan: a year has one (the database says so too)
        raise OpsqaError(_issued_line(context.session, other))
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
        period=period,
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


# -- one plan a year: whichever way an instance was started (the annual cycle's call activity, a start by
# hand, a scenario's start, a second cycle), the year's plan is made once; a new draft after the general
# manager sent one back is a new version of the same plan, in the same instance.


def _issued(session, period: str) -> QualityPlan | None:
    return session.scalar(select(QualityPlan).where(QualityPlan.period == period))


def _issued_line(session, plan: QualityPlan) -> str:
    instance = session.get(Instance, plan.instance_id)
    issued = plan.issued_at.astimezone(settings.zone(session)).date()
    return _("the {year} quality plan is already issued: version {version}, approved by {approved_by}, issued "
             "{issued} by {issued_by} in instance {instance} ({process}); its versions and approvals: "
             "`opsqa plan show {year}`").format(
                 year=plan.period, version=plan.revisions, approved_by=plan.approved_by or "-", issued=issued,
                 issued_by=plan.issued_by, instance=plan.instance_id,
                 process=instance.process_id if instance is not None else "-")


def _drafting(session, year: str, processes: tuple[str, ...]) -> Instance | None:
    """The instance that drafts the year's plan and has not issued it yet: the year's annual cycle or a
    plan started on its own (business key: the year), unless cancelled."""
    return session.scalars(select(Instance).where(Instance.process_id.in_(processes), Instance.business_key == year,
                                                  Instance.status != "cancelled").order_by(Instance.id)).first()


def existing_plan(session, year: int | str, processes: tuple[str, ...] = ("annual_cycle", "quality_plan")
                  ) -> str | None:
    """One line naming the year's plan when it exists — issued, or being drafted by an instance of
    `processes` — and where its versions are; None when the year has none yet."""
    plan = _issued(session, str(year))
    if plan is not None:
        return _issued_line(session, plan)
    drafting = _drafting(session, str(year), processes)
    if drafting is None:
        return None
    return _("the {year} quality plan is being drafted in instance {instance} ({process}, {status}); a new draft "
             "is a new version of that plan, made when the general manager sends it back (`opsqa instance show "
             "{instance}`)").format(year=year, instance=drafting.id, process=drafting.process_id,
                                    status=drafting.status)


def _year(business_key: str | None, variables: dict) -> int | None:
    """The year an instance works for: its `year` variable, else its business key when that is a year."""
    for value in (variables.get("year"), business_key):
        if value is not None and str(value).isdigit() and len(str(value)) == 4:
            return int(value)
    return None


@registry.before_start("quality_plan")
def plan_once(session, *, business_key: str | None, variables: dict) -> None:
    """A plan of its own is refused for a year whose plan is issued or drafted already (by the annual cycle)."""
    year = _year(business_key, variables)
    if year is None:
        return
    existing = existing_plan(session, year)
    if existing is not None:
        raise DuplicateBusinessKey(existing)


@registry.before_start("annual_cycle")
def cycle_once(session, *, business_key: str | None, variables: dict) -> None:
    """An annual cycle's business key is its year (so that a year has one cycle), and it does not start for
    a year whose plan was made without it: it would draft a second one."""
    year = _year(business_key, variables)
    if year is None:
        return
    if business_key != str(year):
        raise OpsqaError(_("an annual cycle's business key is its year: {year}, not {key!r}").format(
                             year=year, key=business_key))
    existing = existing_plan(session, year, ("quality_plan",))
    if existing is not None:
        raise DuplicateBusinessKey(_("{existing}; the {year} annual cycle would draft a second one").format(
                                       existing=existing, year=year))
