"""The management review (6.2.5): once a year, after the year's full internal audit and its
satisfaction survey are reported; its inputs are gathered from the records, its report lists
every unmet indicator, every open finding and the decisions taken.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import HandlerContext, OpsqaError, settings
from i18n import _
from store import (
    Audit,
    Finding,
    Inspection,
    Instance,
    ManagementReview,
    SurveyCampaign,
    Task,
    append_event,
)

from . import complaints, handler, indicators, year_of
from .findings import OPEN_STATES, on_time_closure, view

REPORTED = ("reported", "closed")
ACTION_MARK = "[改进]"


def survey_mean(session: Session, year: int) -> float | None:
    campaign = session.scalar(select(SurveyCampaign).where(SurveyCampaign.year == year))
    if campaign is None or not campaign.stats or campaign.status != "reported":
        return None
    return json.loads(campaign.stats).get("overall_mean")


def attainment_of_year(session: Session, year: int) -> list[dict[str, Any]]:
    return indicators.yearly(session, year, survey_mean=survey_mean(session, year))


def preconditions(session: Session, year: int) -> tuple[list[str], dict[str, Any]]:
    """What the review of `year` still lacks (empty when it may start), and the snapshot that proves it."""
    audit = session.scalars(select(Audit).where(Audit.year == year, Audit.full.is_(True),
                                                Audit.status.in_(REPORTED)).order_by(Audit.code)).first()
    survey = session.scalar(select(SurveyCampaign).where(SurveyCampaign.year == year))
    missing = []
    if audit is None:
        partial = session.scalar(select(Audit.code).where(Audit.year == year, Audit.status.in_(REPORTED)))
        missing.append(f"full internal audit {year} not reported"
                       + (f" ({partial} was a partial audit)" if partial else ""))
    if survey is None or survey.status not in REPORTED:
        missing.append(f"survey {year} not reported")
    survey_done = survey is not None and survey.status in REPORTED
    snapshot = {"audit": audit.code if audit else None, "audit_report": f"QR-6.2.1-{year}" if audit else None,
                "audit_reported_at": audit.reported_at.isoformat() if audit else None,
                "survey": survey.code if survey_done else None,
                "survey_report": f"QR-6.2.4-{year}" if survey_done else None,
                "survey_reported_at": survey.reported_at.isoformat() if survey_done else None}
    return missing, snapshot


def initiate(session: Session, year: int, *, start_instance) -> str:
    """`opsqa review start`: the id of the review's initiation task, once the preconditions hold. The
    annual cycle opens its year's review itself; a year run without the cycle gets one started here. Who
    may: engine/policy.py, review.start."""
    missing, _snapshot = preconditions(session, year)
    if missing:
        raise OpsqaError(_("the {year} management review cannot start: {missing}").format(
                             year=year, missing='; '.join(missing)))
    review = session.scalar(select(ManagementReview).where(ManagementReview.year == year))
    if review is None:
        cycle = session.scalar(select(Instance).where(Instance.process_id == "annual_cycle",
                                                      Instance.business_key == str(year)))
        if cycle is not None:
            raise OpsqaError(_("the {year} annual cycle (instance {id}, {status}) opens its review once its own "
                               "audit and survey branches are done; see `opsqa instance show {id}`").format(
                                 year=year, id=cycle.id, status=cycle.status))
        start_instance("management_review", str(year), {"year": year})
        session.flush()
        review = session.scalar(select(ManagementReview).where(ManagementReview.year == year))
    task = session.scalar(select(Task).where(
        Task.instance_id == review.instance_id, Task.bpmn_id == "initiate_review", Task.state == "ready"))
    if task is None:
        raise OpsqaError(_("the {year} management review is not waiting to be initiated (it is {status})").format(
                             year=year, status=review.status))
    return task.id


def findings_snapshot(session: Session, now: datetime, previous: list[dict[str, Any]] | None = None
                      ) -> list[dict[str, Any]]:
    """The findings open at `now`, but for the follow-ups of the `previous` actions: those are listed once,
    as last year's measures, not again as open nonconformities."""
    today = now.astimezone(settings.zone(session)).date()
    listed = {p["code"] for p in previous or []}
    rows = session.scalars(select(Finding).where(Finding.status.in_(OPEN_STATES)).order_by(Finding.code))
    return [{key: (value.isoformat() if hasattr(value, "isoformat") else value)
             for key, value in view(f, today).items()
             if key in ("code", "source", "source_ref", "item", "unit", "owner", "status", "due", "overdue",
                        "days_overdue", "description")} for f in rows
            if not (f.source == "improvement" and f.source_ref in listed)]


def previous_actions(session: Session, year: int) -> list[dict[str, Any]]:
    """Last year's improvement measures, and older ones still open, each with how it stands now."""
    from .improvement import previous_items, standing

    return [{"code": p["code"], "source": p["source"], "measure": p["measure"], "status": standing(p),
             "action": p["action"]} for p in previous_items(session, year)]


def gather(session: Session, year: int, now: datetime) -> dict[str, Any]:
    """The review's inputs, from the records (DOMAIN.md 2.7 step 3)."""
    campaign = session.scalar(select(SurveyCampaign).where(SurveyCampaign.year == year))
    all_findings = session.scalars(select(Finding).where(Finding.code.like(f"NC-{year}-%"))).all()
    inspections = session.scalars(select(Inspection).where(Inspection.code.like(f"INS-{year}-%"))).all()
    previous = previous_actions(session, year)
    rectified = [f for f in all_findings if f.source in ("survey", "inspection")]
    audits = session.scalars(select(Audit).where(Audit.year == year, Audit.status != "cancelled")
                             .order_by(Audit.code)).all()
    return {
        "audits": [{"code": a.code, "full": a.full, "status": a.status, "report": f"QR-6.2.1-{year}",
                    "conclusion": a.report_conclusion} for a in audits],
        "indicators": attainment_of_year(session, year),
        "survey": {"code": campaign.code, "status": campaign.status,
                   **(json.loads(campaign.stats) if campaign.stats else {})} if campaign else None,
        "rectifications": {"total": len(rectified),
                           "closed": sum(1 for f in rectified if f.status == "closed"),
                           "open": sorted(f.code for f in rectified if f.status in OPEN_STATES)},
        "findings_by_status": {s: sum(1 for f in all_findings if f.status == s)
                               for s in sorted({f.status for f in all_findings})},
        "open_findings": findings_snapshot(session, now, previous),
        "on_time_closure": on_time_closure(session, year, now),
        "complaints": complaints.summary(session, year),
        "inspections": {"total": len(inspections), "reported": sum(1 for i in inspections if i.status == "reported")},
        "previous_actions": previous,
    }


def get_review(session: Session, year: int) -> ManagementReview:
    review = session.scalar(select(ManagementReview).where(ManagementReview.year == year))
    if review is None:
        raise OpsqaError(_("there is no {year} management review").format(year=year))
    return review


def review_view(review: ManagementReview) -> dict[str, Any]:
    return {"year": review.year, "status": review.status, "review_date": review.review_date,
            "attendees": review.attendees, "initiated_by": review.initiated_by,
            "precondition_snapshot": json.loads(review.precondition_snapshot),
            "inputs": json.loads(review.inputs) if review.inputs else None, "minutes": review.minutes,
            "decisions": json.loads(review.decisions) if review.decisions else [],
            "reported_at": review.reported_at, "instance": review.instance_id}


# -- the management_review process's steps ----------------------------------------------------


def _review(context: HandlerContext) -> ManagementReview:
    return get_review(context.session, year_of(context))


@handler("review.preconditions")
def check_preconditions(context: HandlerContext) -> dict:
    """The guard again, inside the process: a review never starts before its audit and survey."""
    year = year_of(context)
    missing, snapshot = preconditions(context.session, year)
    if missing:
        raise OpsqaError(_("the {year} management review cannot start: {missing}").format(
                             year=year, missing='; '.join(missing)))
    snapshot["checked_at"] = context.now.isoformat()
    review = context.session.scalar(select(ManagementReview).where(ManagementReview.year == year))
    if review is None:
        review = ManagementReview(year=year, status="ready", instance_id=context.instance_id,
                                  precondition_snapshot=json.dumps(snapshot, ensure_ascii=False),
                                  initiated_by=context.actor, created_at=context.now)
        context.session.add(review)
    append_event(context.session, at=context.now, kind="review.ready", actor=context.actor,
                 instance_id=context.instance_id, payload={"year": year, **snapshot})
    return {"year": year}


@handler("review.gather_inputs")
def gather_inputs(context: HandlerContext) -> dict:
    review, values = _review(context), context.variables
    review.status = "initiated"
    review.review_date, review.attendees = values.get("review_date"), values.get("attendees")
    review.initiated_by = context.actor  # the management representative who initiated it
    review.inputs = json.dumps(gather(context.session, review.year, context.now), ensure_ascii=False, sort_keys=True)
    append_event(context.session, at=context.now, kind="review.inputs_gathered", actor=context.actor,
                 instance_id=context.instance_id, payload={"year": review.year})
    return {}


@handler("review.reported")
def reported(context: HandlerContext) -> dict:
    """Minutes and decisions recorded; the open findings, the on-time closure rate and last year's measures
    are taken again as they stand at the report."""
    review = _review(context)
    lines = [line.strip() for line in str(context.variables.get("decisions") or "").splitlines() if line.strip()]
    decisions = [{"no": n, "text": line.removeprefix(ACTION_MARK).strip(), "requires_action": line.startswith(
        ACTION_MARK)} for n, line in enumerate(lines, start=1)]
    inputs = json.loads(review.inputs)
    previous = previous_actions(context.session, review.year)
    inputs["previous_actions"] = previous
    inputs["open_findings"] = findings_snapshot(context.session, context.now, previous)
    inputs["on_time_closure"] = on_time_closure(context.session, review.year, context.now)
    review.inputs = json.dumps(inputs, ensure_ascii=False, sort_keys=True)
    review.minutes, review.decisions = context.variables.get("minutes"), json.dumps(decisions, ensure_ascii=False)
    review.status, review.reported_at = "reported", context.now
    append_event(context.session, at=context.now, kind="review.reported", actor=context.actor,
                 instance_id=context.instance_id, payload={"year": review.year, "decisions": len(decisions)})
    return {}
