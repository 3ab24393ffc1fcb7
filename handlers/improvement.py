"""Improvement of O&M services (6.2.6): the service-capability improvement plan.

After the review, the system proposes one item per source item — each unmet or unmeasured
indicator, each finding still open at the review, each major complaint of the year and each review
decision marked as needing action. The operations department gives each a cause, a measure, an
owner and a due date; the general manager approves the plan; every measure is then followed up
like a nonconformity, to verified completion.

Last year's measures still open at the review are carried into the plan once each, as they stand:
neither their own follow-up records nor a finding one of them already answers becomes a new item.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Actor, HandlerContext, OpsqaError, settings
from i18n import _
from store import Complaint, Finding, ImprovementItem, ManagementReview, User, append_event

from . import handler, registry, year_of
from .findings import raise_finding
from .indicators import quantity_zh, target_zh
from .reviews import get_review

DONE = ("closed", "cancelled")  # a measure whose follow-up ended; any other is still open


def propose(session: Session, year: int, *, now: datetime) -> list[ImprovementItem]:
    """One item per source item of the review's inputs (never twice for the same source). A finding that
    is a measure's own follow-up, or the source of a measure still open (carried, see `carried_items`),
    is no new source."""
    review = get_review(session, year)
    inputs = json.loads(review.inputs or "{}")
    answered = {p["source"].split(":", 1)[1] for p in inputs.get("previous_actions", [])
                if p["status"] not in DONE and p["source"].startswith("open_nc:")}
    sources: list[tuple[str, str, str, str | None]] = []  # type, ref, description, suggested owner
    for kpi in inputs.get("indicators", []):
        if kpi["attainment"] == "unmet":
            sources.append(("unmet_kpi", kpi["code"], f"指标{kpi['code']} {kpi['name']}未达标：实际"
                            f"{quantity_zh(kpi['actual'], kpi['unit'])}，目标"
                            f"{target_zh(kpi['direction'], kpi['target'], kpi['unit'])}", None))
        elif kpi["attainment"] == "not_measured":
            sources.append(("not_measured_kpi", kpi["code"], f"指标{kpi['code']} {kpi['name']}本年度未测量，"
                            "需采取措施取得数据", None))
    for finding in inputs.get("open_findings", []):
        if finding.get("source") == "improvement" or finding["code"] in answered:
            continue
        late = f"（已超期{finding['days_overdue']}天）" if finding.get("overdue") else ""
        sources.append(("open_nc", finding["code"], f"不符合项{finding['code']}未关闭{late}：{finding['description']}",
                        finding["owner"]))
    for complaint in session.scalars(select(Complaint).where(Complaint.code.like(f"C-{year}-%"),
                                                            Complaint.severity == "major").order_by(Complaint.code)):
        sources.append(("complaint", complaint.code, f"重大投诉{complaint.code}：{complaint.description}",
                        complaint.handler))
    for decision in json.loads(review.decisions or "[]"):
        if decision["requires_action"]:
            sources.append(("mr", f"MR-{year}-{decision['no']}", f"管理评审决议：{decision['text']}", None))
    items = []
    for number, (kind, ref, text, owner) in enumerate(sources, start=1):
        existing = session.scalar(select(ImprovementItem).where(
            ImprovementItem.year == year, ImprovementItem.source_type == kind, ImprovementItem.source_ref == ref))
        if existing is not None:
            items.append(existing)
            continue
        item = ImprovementItem(code=f"IMP-{year}-{number:02d}", year=year, source_type=kind, source_ref=ref,
                               description=text, owner=owner, status="proposed", created_at=now, updated_at=now)
        session.add(item)
        items.append(item)
    session.flush()
    return items


def get_item(session: Session, code: str) -> ImprovementItem:
    item = session.scalar(select(ImprovementItem).where(ImprovementItem.code == code.upper()))
    if item is None:
        raise OpsqaError(_("no improvement item {code}; see `opsqa improvement list`").format(code=code))
    return item


def set_item(session: Session, code: str, *, cause: str | None, measure: str | None, owner: str | None,
             due: date | None, expected: str | None, now: datetime, actor: Actor) -> ImprovementItem:
    """The operations department's analysis of one item, while the plan is being drawn up. Who may:
    engine/policy.py, improvement.set."""
    item = get_item(session, code)
    if item.status not in ("proposed", "planned"):
        raise OpsqaError(_("{code} is {status}; the approved plan is changed by a new plan only").format(
                             code=item.code, status=item.status))
    if owner is not None and session.get(User, owner) is None:
        raise OpsqaError(_("owner {owner!r} is not an opsqa user").format(owner=owner))
    if due is not None and due <= now.astimezone(settings.zone(session)).date():
        raise OpsqaError(_("due date {due} is not in the future").format(due=due))
    changes = {k: v for k, v in {"cause": cause, "measure": measure, "owner": owner, "due_date": due,
                                 "expected_result": expected}.items() if v is not None}
    for key, value in changes.items():
        setattr(item, key, value.strip() if isinstance(value, str) else value)
    complete = all((item.cause, item.measure, item.owner, item.due_date))
    item.status, item.updated_at = ("planned" if complete else "proposed"), now
    append_event(session, at=now, kind="improvement.item_set", actor=actor.name, real_actor=actor.real,
                 payload={"item": item.code, **{k: str(v) for k, v in changes.items()}})
    return item


def list_items(session: Session, year: int | None = None) -> list[dict[str, Any]]:
    return _rows(session, *([ImprovementItem.year == year] if year is not None else []))


def _rows(session: Session, *conditions: Any) -> list[dict[str, Any]]:
    query = select(ImprovementItem, Finding).outerjoin(Finding, Finding.id == ImprovementItem.finding_id).where(
        *conditions).order_by(ImprovementItem.code)
    return [{"code": i.code, "year": i.year, "source": f"{i.source_type}:{i.source_ref}",
             "description": i.description, "cause": i.cause, "measure": i.measure, "owner": i.owner,
             "due": i.due_date, "expected": i.expected_result, "status": i.status,
             "action": f.code if f else None, "action_status": f.status if f else None}
            for i, f in session.execute(query)]


def standing(row: dict[str, Any]) -> str:
    """How a measure stands: its follow-up's status once approved, else the item's own (proposed, planned)."""
    return row["action_status"] or row["status"]


def previous_items(session: Session, year: int) -> list[dict[str, Any]]:
    """Last year's measures (year - 1), finished or not, and any older one still open: what the review of
    `year` lists once as last year's measures and the audit of `year` shows on CAP-g."""
    return [row for row in _rows(session, ImprovementItem.year < year)
            if row["year"] == year - 1 or standing(row) not in DONE]


def for_audit(session: Session, year: int) -> dict[str, Any]:
    """What the audit of `year` shows the auditor on CAP-g (has an improvement plan made last year's
    measures happen?): last year's measures and older ones still open, each with how it stands."""
    items = [{"code": p["code"], "source": p["source"], "measure": p["measure"], "owner": p["owner"],
              "due": p["due"], "status": standing(p), "action": p["action"]} for p in previous_items(session, year)]
    return {"item": "CAP-g", "year": year - 1, "items": items,
            "unfinished": sum(1 for i in items if i["status"] not in DONE)}


def carried_items(session: Session, year: int) -> list[dict[str, Any]]:
    """The measures the plan of `year` carries: those still open when the year's review was reported (its
    report lists them), each once, as they stand now. None before the review is reported."""
    review = session.scalar(select(ManagementReview).where(ManagementReview.year == year))
    if review is None or review.status != "reported":
        return []
    codes = [p["code"] for p in json.loads(review.inputs or "{}").get("previous_actions", [])
             if p["status"] not in DONE]
    return _rows(session, ImprovementItem.code.in_(codes))


# -- the improvement process's steps ----------------------------------------------------------


@handler("improvement.propose")
def propose_items(context: HandlerContext) -> dict:
    items = propose(context.session, year_of(context), now=context.now)
    carried = [row["code"] for row in carried_items(context.session, year_of(context))]
    append_event(context.session, at=context.now, kind="improvement.proposed", actor=context.actor,
                 instance_id=context.instance_id,
                 payload={"year": year_of(context), "items": [f"{i.source_type}:{i.source_ref}" for i in items],
                          "carried": carried})
    return {"improvement_items": len(items), "carried_items": len(carried)}


@registry.check("improvement.items_complete")
def items_complete(context: HandlerContext) -> None:
    items = context.session.scalars(select(ImprovementItem).where(ImprovementItem.year == year_of(context))
                                    .order_by(ImprovementItem.code)).all()
    unfinished = []
    for item in items:
        missing = [what for what, value in ((_("a cause"), item.cause), (_("a measure"), item.measure),
                                            (_("an owner"), item.owner), (_("a due date"), item.due_date))
                   if not value]
        if missing:
            unfinished.append(_("{code} ({source}) needs {missing}").format(
                code=item.code, source=f"{item.source_type}:{item.source_ref}", missing=", ".join(missing)))
    if unfinished:
        raise ValueError(_("the improvement plan is incomplete: {items} (`opsqa improvement set CODE --cause ... "
                           "--measure ... --owner ... --due ...`)").format(items="; ".join(unfinished)))


@handler("improvement.approved")
def approved(context: HandlerContext) -> dict:
    """Every measure of the approved plan is followed up like a nonconformity (once, even on retry)."""
    items = context.session.scalars(select(ImprovementItem).where(ImprovementItem.year == year_of(context))
                                    .order_by(ImprovementItem.code)).all()
    for item in items:
        if item.finding_id is None:
            item.finding_id = raise_finding(
                context.session, source="improvement", source_ref=item.code, owner=item.owner, due=item.due_date,
                description=f"{item.measure}（{item.description}）", now=context.now, actor=context.actor,
                start_instance=context.start_instance).id
        item.status, item.updated_at = "tracking", context.now
    append_event(context.session, at=context.now, kind="improvement.approved", actor=context.actor,
                 instance_id=context.instance_id, payload={"year": year_of(context), "items": len(items)})
    return {}
