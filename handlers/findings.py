"""Findings (不符合项 / 整改项): raised by audits, inspections or by hand, followed up to verified closure.

Each finding is a record and runs its own `nc_followup` instance (business key = its code), so
the audit that found it is done when its report is issued while the finding lives on. The
record's status follows DOMAIN.md §3.1:

    open -> plan_submitted -> in_progress -> pending_verification -> closed
    plan_submitted -(returned)-> open;  pending_verification -(not effective)-> in_progress

`overdue` is derived, not a state: open, plan_submitted or in_progress past the due date. A
finding waiting for verification is not overdue: the owner has delivered, the wait is QMD's.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import Actor, HandlerContext, OpsqaError, policy
from engine import settings as settings_module
from engine.outbox import role_members
from i18n import _
from store import Evidence, Finding, User, append_event

from . import handler, registry
from .codes import next_code

OPEN_STATES = ("open", "plan_submitted", "in_progress", "pending_verification")
OVERDUE_STATES = ("open", "plan_submitted", "in_progress")
SOURCES = ("audit", "inspection", "complaint", "survey", "mr", "improvement", "manual")
MAX_EVIDENCE_BYTES = 50 * 1024 * 1024
REMIND_HOUR = time(9, 0)


class UnknownFinding(OpsqaError):
    """No such finding."""


# -- raising ---------------------------------------------------------------------------------


def raise_finding(session: Session, *, source: str, description: str, owner: str, now: datetime, actor: str,
                  start_instance, unit: str | None = None, item_code: str | None = None,
                  source_ref: str | None = None, severity: str = "minor", due: date | None = None) -> Finding:
    """Record a finding and start its follow-up in the caller's transaction."""
    if source not in SOURCES:
        raise OpsqaError(_("source {source!r} is not one of {sources}").format(
                             source=source, sources=', '.join(SOURCES)))
    if severity not in ("minor", "major"):
        raise OpsqaError(_("severity {severity!r} is not minor or major").format(severity=severity))
    if not description.strip():
        raise OpsqaError(_("description: a value is required"))
    if session.get(User, owner) is None:
        raise OpsqaError(_("owner {owner!r} is not an opsqa user").format(owner=owner))
    zone = settings_module.zone(session)
    raised_on = now.astimezone(zone).date()
    due = due or raised_on + timedelta(days=int(settings_module.get(session, "finding_due_days")))
    if due < raised_on:
        raise OpsqaError(_("due date {due} is before the finding is raised ({raised_on})").format(
                             due=due, raised_on=raised_on))
    code = next_code(session, Finding.code, f"NC-{raised_on.year}-", 3)
    finding = Finding(
        code=code, source=source, source_ref=source_ref, item_code=item_code, unit=unit,
        description=description.strip(), severity=severity, raised_by=actor, raised_at=now, owner=owner,
        due_date=due, original_due_date=due, due_history=json.dumps([{"date": due.isoformat(), "reason": "raised",
                                                                       "by": actor, "at": now.isoformat()}]),
        status="open", reopen_count=0, updated_at=now,
    )
    session.add(finding)
    session.flush()
    append_event(session, at=now, kind="finding.raised", actor=actor,
                 payload={"finding": code, "source": source, "unit": unit, "item": item_code, "owner": owner,
                          "due": due.isoformat()})
    finding.instance_id = start_instance("nc_followup", code, {"finding": code, "owner": owner,
                                                                **_timer_variables(session, due)})
    return finding


def _timer_variables(session: Session, due: date) -> dict[str, str]:
    """The follow-up's timers: a reminder before the due date, overdue after it, escalation later."""
    zone = settings_module.zone(session)
    remind = due - timedelta(days=int(settings_module.get(session, "finding_remind_days")))
    escalate = due + timedelta(days=int(settings_module.get(session, "finding_escalate_days")))
    return {
        "remind_at": datetime.combine(remind, REMIND_HOUR, zone).isoformat(),
        "due_at": datetime.combine(due + timedelta(days=1), time(0, 0), zone).isoformat(),
        "escalate_at": datetime.combine(escalate, REMIND_HOUR, zone).isoformat(),
    }


# -- the follow-up's steps -------------------------------------------------------------------


def _finding(context: HandlerContext) -> Finding:
    return get_finding(context.session, context.variables["finding"])


def _move(context: HandlerContext, finding: Finding, status: str, **changes: Any) -> dict:
    before = finding.status
    for key, value in changes.items():
        setattr(finding, key, value)
    finding.status, finding.updated_at = status, context.now
    append_event(context.session, at=context.now, kind=f"finding.{status}", actor=context.actor,
                 instance_id=context.instance_id,
                 payload={"finding": finding.code, "from": before, "to": status,
                          **{k: _plain(v) for k, v in changes.items()}})
    return {"finding_status": status}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


@handler("finding.plan_submitted")
def plan_submitted(context: HandlerContext) -> dict:
    v = context.variables
    return _move(context, _finding(context), "plan_submitted", correction=v.get("correction"),
                 root_cause=v["root_cause"], corrective_action=v["corrective_action"],
                 similar_elsewhere=v.get("similar_elsewhere"))


@handler("finding.plan_returned")
def plan_returned(context: HandlerContext) -> dict:
    return _move(context, _finding(context), "open")


@handler("finding.plan_accepted")
def plan_accepted(context: HandlerContext) -> dict:
    return _move(context, _finding(context), "in_progress")


@handler("finding.evidence_submitted")
def evidence_submitted(context: HandlerContext) -> dict:
    return _move(context, _finding(context), "pending_verification")


NOTICES = {"finding.reminded": "即将到期", "finding.overdue": "已超期", "finding.escalated": "超期升级督办"}


def _notice(context: HandlerContext, kind: str, to: str) -> Finding:
    """Tell the owner (`to="owner"`) or a role's members, by e-mail through the outbox, and record it."""
    finding = _finding(context)
    append_event(context.session, at=context.now, kind=kind, actor=context.actor, instance_id=context.instance_id,
                 payload={"finding": finding.code, "due": finding.due_date.isoformat(),
                          "to": finding.owner if to == "owner" else to})
    if context.notify is not None:
        users = [finding.owner] if to == "owner" else role_members(context.session, to)
        for user in users:
            context.notify(user, f"[opsqa] 不符合项{finding.code}{NOTICES[kind]}（期限 {finding.due_date}）",
                           f"{finding.code}：{finding.description}\n责任人：{finding.owner}\n完成期限：{finding.due_date}\n"
                           f"查看：opsqa finding show {finding.code}\n", path=f"/findings/{finding.code}")
    return finding


@handler("finding.remind")
def remind(context: HandlerContext) -> dict:
    _notice(context, "finding.reminded", "owner").reminded_at = context.now
    return {}


@handler("finding.overdue")
def overdue(context: HandlerContext) -> dict:
    _notice(context, "finding.overdue", "owner")
    return {}


@handler("finding.escalated")
def escalated(context: HandlerContext) -> dict:
    _notice(context, "finding.escalated", "mr").escalated_at = context.now
    return {}


@handler("finding.reopened")
def reopened(context: HandlerContext) -> dict:
    """Verification failed: back to the owner with a new due date; the original stays on record."""
    finding = _finding(context)
    new_due = context.variables["new_due_date"]
    history = json.loads(finding.due_history)
    history.append({"date": new_due.isoformat(), "reason": "verification not effective", "by": context.actor,
                    "at": context.now.isoformat()})
    result = _move(context, finding, "in_progress", due_date=new_due, due_history=json.dumps(history),
                   reopen_count=finding.reopen_count + 1, reopened_at=context.now,
                   verification_result="not_effective", verified_by=context.actor, verified_at=context.now)
    return {**result, **_timer_variables(context.session, new_due)}


@handler("finding.closed")
def closed(context: HandlerContext) -> dict:
    return _move(context, _finding(context), "closed", verification_result="effective",
                 verified_by=context.actor, verified_at=context.now, closed_at=context.now)


@registry.check("finding.evidence_attached")
def evidence_attached(context: HandlerContext) -> None:
    """The owner's implementation needs evidence, attached since the last failed verification."""
    finding = _finding(context)
    query = select(func.count()).select_from(Evidence).where(Evidence.finding_id == finding.id)
    if finding.reopened_at is not None:
        query = query.where(Evidence.added_at >= finding.reopened_at)
    if not context.session.scalar(query):
        since = " since the failed verification" if finding.reopened_at else ""
        raise ValueError(_("{code} has no evidence attached{since}; attach it with `opsqa finding attach {code} "
                           "FILE`").format(code=finding.code, since=since))


@registry.check("finding.verifier_independent")
def verifier_independent(context: HandlerContext) -> None:
    policy.require(context.person, "finding.verify", owner=_finding(context).owner)


# -- evidence and reading --------------------------------------------------------------------


def extend_due(session: Session, code: str, *, to: date, reason: str, now: datetime, actor: Actor,
               rearm) -> Finding:
    """Move a finding's due date later (qmd approves extensions, DOMAIN.md 2.3), keeping the original
    and every change in due_history, and re-arm the follow-up's reminder, overdue and escalation timers.
    Who may: engine/policy.py, finding.extend."""
    finding = get_finding(session, code)
    if finding.status not in OVERDUE_STATES:
        raise OpsqaError(_("{code} is {status}; only a finding being rectified has a due date to extend").format(
                             code=finding.code, status=finding.status))
    if not reason.strip():
        raise OpsqaError(_("reason: a value is required"))
    if to <= finding.due_date:
        raise OpsqaError(_("the new due date {to} is not after the current one ({due_date})").format(
                             to=to, due_date=finding.due_date))
    history = json.loads(finding.due_history)
    history.append({"date": to.isoformat(), "reason": reason.strip(), "by": actor.name, "at": now.isoformat()})
    before = finding.due_date
    finding.due_date, finding.due_history, finding.updated_at = to, json.dumps(history, ensure_ascii=False), now
    append_event(session, at=now, kind="finding.extended", actor=actor.name, real_actor=actor.real,
                 instance_id=finding.instance_id,
                 payload={"finding": finding.code, "from": before.isoformat(), "to": to.isoformat(),
                          "reason": reason.strip()})
    if finding.instance_id is not None:
        rearm(finding.instance_id, _timer_variables(session, to), f"{finding.code} due date extended to {to}")
    return finding


def read_evidence(path: str) -> tuple[str, bytes, str]:
    """An evidence file as (name, content, SHA-256), refused when unreadable or too large."""
    from engine.files import read_bounded

    file = Path(path)
    # a regular file, its size checked before it is read
    content = read_bounded(path, MAX_EVIDENCE_BYTES,
                           too_large=_("{path} is {size} bytes; evidence files are at most {limit}"))
    return file.name, content, hashlib.sha256(content).hexdigest()


def uploaded_evidence(name: str, content: bytes) -> tuple[str, bytes, str]:
    """An uploaded evidence file as (name, content, SHA-256): the name as its sender's browser gave it, without
    folders or control characters; refused when empty or too large."""
    file_name = "".join(c for c in name.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())[:200].strip()
    if not file_name or file_name in (".", ".."):
        raise OpsqaError(_("choose an evidence file to upload"))
    if not content:
        raise OpsqaError(_("{name} is empty; an evidence file holds something").format(name=file_name))
    if len(content) > MAX_EVIDENCE_BYTES:
        raise OpsqaError(_("{path} is {content} bytes; evidence files are at most {max_evidence_bytes}").format(
                             path=file_name, content=len(content), max_evidence_bytes=MAX_EVIDENCE_BYTES))
    return file_name, content, hashlib.sha256(content).hexdigest()


def attach(session: Session, code: str, path: str | None, *, note: str | None, now: datetime, actor: Actor,
           upload: tuple[str, bytes] | None = None) -> Evidence:
    """Keep an evidence file with an open finding: a file on this machine (`path`) or one sent from a browser
    (`upload`: its name and content). Who may: engine/policy.py, finding.attach (the owner is a fact only
    the record gives)."""
    finding = get_finding(session, code)
    if finding.status not in OPEN_STATES:
        raise OpsqaError(_("{code} is {status}; evidence is attached to open findings").format(
                             code=code, status=finding.status))
    policy.require(actor, "finding.attach", owner=finding.owner)
    if upload is not None:
        file_name, content, digest = uploaded_evidence(*upload)
        path = file_name
    else:
        file_name, content, digest = read_evidence(path)
    same = session.scalar(select(Evidence).where(Evidence.finding_id == finding.id, Evidence.sha256 == digest))
    if same is not None:
        raise OpsqaError(_("{path} is already attached to {code} as evidence {id} ({file_name})").format(
                             path=path, code=code, id=same.id, file_name=same.file_name))
    evidence = Evidence(finding_id=finding.id, file_name=file_name, sha256=digest, size=len(content),
                        content=content, note=note, added_by=actor.name, added_at=now)
    session.add(evidence)
    session.flush()
    append_event(session, at=now, kind="finding.evidence_added", actor=actor.name, real_actor=actor.real,
                 instance_id=finding.instance_id,
                 payload={"finding": code, "evidence": evidence.id, "file": file_name, "sha256": digest,
                          "size": len(content)})
    return evidence


def get_finding(session: Session, code: str) -> Finding:
    finding = session.scalar(select(Finding).where(Finding.code == code.upper()))
    if finding is None:
        raise UnknownFinding(_("no finding {code}; see `opsqa findings`").format(code=code))
    return finding


def days_late(finding: Finding, zone: ZoneInfo) -> int | None:
    """How many days after its due date a closed finding was closed, by the organisation's calendar (0: on
    time); None while it is not closed."""
    if finding.status != "closed" or finding.closed_at is None:
        return None
    return max(0, (finding.closed_at.astimezone(zone).date() - finding.due_date).days)


def view(finding: Finding, today: date, zone: ZoneInfo | None = None) -> dict[str, Any]:
    """The finding as people read it; `zone` (the organisation's) to tell whether it was closed late."""
    late = finding.status in OVERDUE_STATES and today > finding.due_date
    closed_late_by = days_late(finding, zone) if zone is not None else None
    return {
        "code": finding.code, "source": finding.source, "item": finding.item_code, "unit": finding.unit,
        "description": finding.description, "severity": finding.severity, "owner": finding.owner,
        "status": finding.status, "due": finding.due_date, "original_due": finding.original_due_date,
        "overdue": late, "days_overdue": (today - finding.due_date).days if late else 0,
        "reopen_count": finding.reopen_count, "root_cause": finding.root_cause,
        "corrective_action": finding.corrective_action, "raised_at": finding.raised_at,
        "raised_by": finding.raised_by, "verified_by": finding.verified_by, "closed_at": finding.closed_at,
        "closed_on": finding.closed_at.astimezone(zone).date() if zone is not None and finding.closed_at else None,
        "closed_late": bool(closed_late_by), "days_late": closed_late_by or 0,
        "escalated_at": finding.escalated_at, "due_history": json.loads(finding.due_history),
        "instance": finding.instance_id,
    }


def list_findings(session: Session, now: datetime, *, open_only: bool = False, overdue_only: bool = False,
                  year: int | None = None) -> list[dict[str, Any]]:
    zone: ZoneInfo = settings_module.zone(session)
    today = now.astimezone(zone).date()
    query = select(Finding).order_by(Finding.code)
    if open_only or overdue_only:
        query = query.where(Finding.status.in_(OPEN_STATES))
    if year is not None:
        query = query.where(Finding.code.startswith(f"NC-{year}-"))
    rows = [view(finding, today, zone) for finding in session.scalars(query)]
    return [row for row in rows if row["overdue"]] if overdue_only else rows


def on_time_closure(session: Session, year: int, now: datetime) -> dict[str, Any]:
    """The year's on-time closure rate (按期整改率): of the findings raised in `year` and closed by `now`, the
    share closed on or before their due date (the date in force, extensions included), by the organisation's
    calendar; with the findings closed late. `rate` is None while none is closed."""
    zone: ZoneInfo = settings_module.zone(session)
    closed = session.scalars(select(Finding).where(Finding.code.startswith(f"NC-{year}-"), Finding.status == "closed",
                                                   Finding.closed_at <= now).order_by(Finding.code)).all()
    late = [(finding, days) for finding in closed if (days := days_late(finding, zone))]
    on_time = len(closed) - len(late)
    return {"year": year, "closed": len(closed), "closed_on_time": on_time, "closed_late": len(late),
            "on_time_rate": round(on_time / len(closed), 4) if closed else None,
            "late_findings": [{"code": f.code, "source": f.source, "unit": f.unit, "owner": f.owner,
                               "due": f.due_date.isoformat(),
                               "closed_on": f.closed_at.astimezone(zone).date().isoformat(), "days_late": days}
                              for f, days in late]}


def open_findings_of(session: Session, owner: str) -> list[str]:
    """The codes of the open findings a user owns (a user holding them is not disabled)."""
    return list(session.scalars(select(Finding.code).where(Finding.owner == owner, Finding.status.in_(OPEN_STATES))
                                .order_by(Finding.code)))


def finding_of_instance(session: Session, instance_id: int) -> Finding | None:
    """The finding an instance follows up (its nc_followup), if any."""
    return session.scalar(select(Finding).where(Finding.instance_id == instance_id))


def evidence_of(session: Session, code: str) -> list[Evidence]:
    finding = get_finding(session, code)
    return list(session.scalars(select(Evidence).where(Evidence.finding_id == finding.id).order_by(Evidence.id)))


@registry.on_cancel("nc_followup")
def cancelled(session: Session, instance_id: int, *, now: datetime, actor: Actor, reason: str | None) -> None:
    """A cancelled follow-up cancels its open finding, with the reason: never open for ever, unfollowed."""
    finding = session.scalar(select(Finding).where(Finding.instance_id == instance_id))
    if finding is None or finding.status not in OPEN_STATES:
        return
    before, finding.status, finding.updated_at = finding.status, "cancelled", now
    append_event(session, at=now, kind="finding.cancelled", actor=actor.name, real_actor=actor.real,
                 instance_id=instance_id,
                 payload={"finding": finding.code, "from": before, "to": "cancelled", "reason": reason})
