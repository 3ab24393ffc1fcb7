"""The internal audit (6.2.1): qualified auditors and the independence of an audit team.

An auditor may audit neither their own department nor a project whose team they belong to
(ISO 9001 9.2.2 c, ISO 19011); only users on the auditor register may audit at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import Actor, HandlerContext, OpsqaError, policy
from i18n import _
from store import (
    Audit,
    Auditor,
    ChecklistResult,
    Evidence,
    Instance,
    Project,
    ProjectMember,
    Task,
    User,
    UserRole,
    append_event,
)

from . import handler, registry, year_of
from .checklist import AUDIT_AREAS, AUDIT_ITEMS, RESULTS, area_status
from .codes import next_code
from .findings import raise_finding, read_evidence


@dataclass(frozen=True)
class Conflict:
    auditor: str
    unit: str
    reason: str

    def __str__(self) -> str:
        return f"auditor {self.auditor} is not independent of {self.unit} ({self.reason})"


def add_auditor(session: Session, user: str, *, certificate_no: str | None, valid_until: date | None,
                now: datetime, actor: Actor) -> None:
    """Put a user on the auditor register. Who may: engine/policy.py, auditor.add."""
    if session.get(User, user) is None:
        raise OpsqaError(_("{user!r} is not an opsqa user").format(user=user))
    if session.get(Auditor, user) is not None:
        raise OpsqaError(_("{user} is already a registered auditor").format(user=user))
    session.add(Auditor(user_name=user, certificate_no=certificate_no, valid_until=valid_until,
                        added_by=actor.name, added_at=now))
    append_event(session, at=now, kind="auditor.added", actor=actor.name, real_actor=actor.real,
                 payload={"user": user, "certificate_no": certificate_no,
                          "valid_until": valid_until.isoformat() if valid_until else None})


def registered_auditor(session: Session, user: str) -> Auditor:
    record = session.get(Auditor, user)
    if record is None:
        raise OpsqaError(_("{user} is not a registered auditor; see `opsqa auditors list`").format(user=user))
    return record


def renew_auditor(session: Session, user: str, *, certificate_no: str | None, valid_until: date | None,
                  reason: str, now: datetime, actor: Actor) -> dict[str, dict]:
    """Renew or correct an auditor's qualification (the values given; a certificate of "" clears it):
    {"old": ..., "new": ...} of what changed, recorded with the reason. Who may: engine/policy.py,
    auditor.renew."""
    record = registered_auditor(session, user)
    wanted: dict[str, Any] = {}
    if certificate_no is not None:
        wanted["certificate_no"] = certificate_no.strip() or None
    if valid_until is not None:
        wanted["valid_until"] = valid_until
    new = {key: value for key, value in wanted.items() if getattr(record, key) != value}
    if not new:
        return {"old": {}, "new": {}}
    old = {key: getattr(record, key) for key in new}
    for key, value in new.items():
        setattr(record, key, value)

    def plain(values: dict[str, Any]) -> dict[str, Any]:
        return {key: value.isoformat() if isinstance(value, date) else value for key, value in values.items()}

    append_event(session, at=now, kind="auditor.renewed", actor=actor.name, real_actor=actor.real,
                 payload={"user": user, "reason": reason, "old": plain(old), "new": plain(new)})
    return {"old": old, "new": new}


def auditor_view(session: Session, user: str, *, today: date) -> dict[str, Any]:
    """An auditor of the register: their qualification, whether it is still valid `today`, their department."""
    record = registered_auditor(session, user)
    person = session.get(User, user)
    lapsed = record.valid_until is not None and record.valid_until < today
    return {"user": user, "name": person.display_name, "department": person.department,
            "certificate_no": record.certificate_no, "valid_until": record.valid_until,
            "status": "expired" if lapsed else "valid", "added_by": record.added_by, "added_at": record.added_at}


def list_auditors(session: Session) -> list[dict]:
    rows = session.execute(select(Auditor, User.department, User.display_name).join(User).order_by(Auditor.user_name))
    return [{"user": a.user_name, "name": name, "department": dept, "certificate_no": a.certificate_no,
             "valid_until": a.valid_until} for a, dept, name in rows]


def independence(session: Session, assignments: list[tuple[str, str]], *, on: date) -> list[Conflict]:
    """The conflicts of (auditor, unit) assignments; a unit is a project code or a department code.

    Raises OpsqaError for an auditor who is not a user, or a unit that is neither a project of
    the register nor a department anyone belongs to.
    """
    departments = {d for d in session.scalars(select(User.department).where(User.department.is_not(None)))}
    conflicts = []
    for auditor, unit in assignments:
        user = session.get(User, auditor)
        if user is None:
            raise OpsqaError(_("auditor {auditor!r} is not an opsqa user").format(auditor=auditor))
        record = session.get(Auditor, auditor)
        if record is None:
            conflicts.append(Conflict(auditor, unit, "not a registered auditor"))
            continue
        if record.valid_until is not None and record.valid_until < on:
            conflicts.append(Conflict(auditor, unit, f"qualification expired {record.valid_until}"))
            continue
        project = session.get(Project, unit)
        if project is None and unit not in departments:
            raise OpsqaError(_("unit {unit!r} is neither a project of the register nor a department").format(unit=unit))
        if user.department == unit:
            conflicts.append(Conflict(auditor, unit, "own department"))
        elif project is not None and session.get(ProjectMember, (unit, auditor)) is not None:
            conflicts.append(Conflict(auditor, unit, "member of the project team"))
    return conflicts


# -- audits and their checklist ----------------------------------------------------------------


def parse_team(text: str) -> dict[str, list[str]]:
    """`qmd2=P-01,P-02; ops_aud=P-03` (`:` and full-width `：；，` also accepted) -> {auditor: [units]}."""
    team: dict[str, list[str]] = {}
    normalised = text.replace("：", ":").replace("；", ";").replace("，", ",").replace("\n", ";")
    for part in filter(None, (p.strip() for p in normalised.split(";"))):
        auditor, sep, units = part.replace(":", "=", 1).partition("=")
        unit_list = [u.strip() for u in units.split(",") if u.strip()]
        if not sep or not auditor.strip() or not unit_list:
            raise OpsqaError(_("{part!r} is not AUDITOR=UNIT[,UNIT]").format(part=part))
        team.setdefault(auditor.strip(), []).extend(unit_list)
    return team


def check_team(session: Session, *, team: dict[str, list[str]], lead_auditor: str, planned_start: date,
               planned_end: date) -> None:
    """Refuse an audit team that cannot audit: dates reversed, lead not on it, no unit, any conflict."""
    if planned_end < planned_start:
        raise OpsqaError(_("planned_end {planned_end} is before planned_start {planned_start}").format(
                             planned_end=planned_end, planned_start=planned_start))
    if lead_auditor not in team:
        raise OpsqaError(_("the lead auditor {lead_auditor} must be on the team").format(lead_auditor=lead_auditor))
    assignments = [(auditor, unit) for auditor, units in team.items() for unit in units]
    if not assignments:
        raise OpsqaError(_("the team audits no unit"))
    conflicts = independence(session, assignments, on=planned_start)
    if conflicts:
        raise OpsqaError("; ".join(str(c) for c in conflicts))


def create_audit(session: Session, *, year: int, full: bool, team: dict[str, list[str]], lead_auditor: str,
                 planned_start: date, planned_end: date, now: datetime, actor: Actor) -> Audit:
    """Plan an audit: its team assigns each auditor units; the scope is their union. Refuses conflicts.
    Who may: engine/policy.py, audit.plan."""
    return _record_audit(session, year=year, full=full, team=team, lead_auditor=lead_auditor,
                         planned_start=planned_start, planned_end=planned_end, now=now, by=actor.name, real=actor.real)


def _record_audit(session: Session, *, year: int, full: bool, team: dict[str, list[str]], lead_auditor: str,
                  planned_start: date, planned_end: date, now: datetime, by: str, real: str | None) -> Audit:
    refuse_duplicate(session, year=year, full=full, team=team, planned_start=planned_start, planned_end=planned_end)
    check_team(session, team=team, lead_auditor=lead_auditor, planned_start=planned_start, planned_end=planned_end)
    audit = Audit(code=next_code(session, Audit.code, f"IA-{year}-", 2), year=year, full=full,
                  scope=json.dumps(_scope(team)),
                  team=json.dumps({a: sorted(set(u)) for a, u in sorted(team.items())}), lead_auditor=lead_auditor,
                  status="planned", planned_start=planned_start, planned_end=planned_end, created_at=now,
                  created_by=by)
    session.add(audit)
    session.flush()
    append_event(session, at=now, kind="audit.planned", actor=by, real_actor=real,
                 payload={"audit": audit.code, "full": full, "team": json.loads(audit.team),
                          "independence_check": {"passed": True, "conflicts": []}})
    return audit


def _scope(team: dict[str, list[str]]) -> list[str]:
    return sorted({unit for units in team.values() for unit in units})


def refuse_duplicate(session: Session, *, year: int, full: bool, team: dict[str, list[str]], planned_start: date,
                     planned_end: date) -> None:
    """An audit is planned once, whichever way (the annual cycle's audit step, `opsqa audit plan`): a year has
    one full internal audit (in the plan's audit window; the database holds it to that too), and a partial
    audit of the same units at overlapping dates is the same audit planned twice. An audit whose plan was sent
    back (cancelled) is not in the way."""
    live = session.scalars(select(Audit).where(Audit.year == year, Audit.full.is_(full), Audit.status != "cancelled")
                           .order_by(Audit.code))
    scope = _scope(team)
    for audit in live:
        if full:
            raise OpsqaError(_("the {year} full internal audit already exists: {existing}").format(
                                 year=year, existing=_pointer(session, audit)))
        if json.loads(audit.scope) == scope and audit.planned_start <= planned_end \
                and planned_start <= audit.planned_end:
            raise OpsqaError(_("a partial internal audit of {scope} at these dates already exists: {existing}").format(
                                 scope=", ".join(scope), existing=_pointer(session, audit)))


def _pointer(session: Session, audit: Audit) -> str:
    """The existing audit in one line, and the way its plan changes (if it still can)."""
    line = _("{code} (planned by {by}, {start} – {end}, {status})").format(
        code=audit.code, by=audit.created_by, start=audit.planned_start, end=audit.planned_end, status=audit.status)
    if audit.status != "planned":
        return _("{audit}; it is under way or done, and its plan no longer changes").format(audit=line)
    # its plan waits for the management representative: sent back, it is cancelled and planned again
    instances = [audit.instance_id] if audit.instance_id is not None else list(session.scalars(
        select(Instance.id).where(Instance.process_id == "annual_cycle", Instance.business_key == str(audit.year))))
    task = session.scalar(select(Task.id).where(Task.instance_id.in_(instances), Task.bpmn_id == "approve_audit_plan",
                                                Task.state == "ready").order_by(Task.id))
    if task is None:
        return _("{audit}; change its plan by sending it back at its approval (plan_decision=audit_plan_rejected), "
                 "then plan it again").format(audit=line)
    return _("{audit}; change its plan by sending it back: `opsqa task complete {task} --set "
             "plan_decision=audit_plan_rejected --set plan_comment=...` (the management representative), then "
             "plan it again").format(audit=line, task=task[:8])


def get_audit(session: Session, code: str) -> Audit:
    audit = session.scalar(select(Audit).where(Audit.code == code.upper()))
    if audit is None:
        raise OpsqaError(_("no audit {code}").format(code=code))
    return audit


def unit_auditors(audit: Audit, unit: str) -> list[str]:
    """The team's auditors assigned to a unit of the audit's scope: who may record its checklist rows
    (engine/policy.py, audit.record)."""
    if unit not in json.loads(audit.scope):
        raise OpsqaError(_("unit {unit!r} is not in the scope of {code} ({scope})").format(
                             unit=unit, code=audit.code, scope=', '.join(json.loads(audit.scope))))
    return sorted(auditor for auditor, units in json.loads(audit.team).items() if unit in units)


def record_result(session: Session, audit_code: str, *, item: str, unit: str, result: str, evidence: str | None,
                  na_reason: str | None, now: datetime, actor: Actor, attachments: tuple[str, ...] = ()
                  ) -> ChecklistResult:
    """Record (or correct, before the report) one checklist row; the history keeps both."""
    audit = get_audit(session, audit_code)
    if audit.status not in ("planned", "in_progress"):
        raise OpsqaError(_("{code} is {status}; its checklist is closed").format(code=audit.code, status=audit.status))
    items = {i.code for i in AUDIT_ITEMS}
    if item not in items:
        raise OpsqaError(_("item {item!r} is not on the checklist ({template_hint})").format(
                             item=item, template_hint=TEMPLATE_HINT))
    policy.require(actor, "audit.record", auditor=unit_auditors(audit, unit))
    if result not in RESULTS:
        raise OpsqaError(_("result {result!r} is not one of {results}").format(
                             result=result, results=', '.join(RESULTS)))
    if result == "not_applicable" and not (na_reason or "").strip():
        raise OpsqaError(_("{item} at {unit}: not_applicable needs a reason").format(item=item, unit=unit))
    if result in ("nonconform", "observation") and not (evidence or "").strip():
        raise OpsqaError(_("{item} at {unit}: a {result} result needs its evidence").format(
                             item=item, unit=unit, result=result))
    row = session.scalar(select(ChecklistResult).where(ChecklistResult.audit_id == audit.id,
                                                       ChecklistResult.item_code == item, ChecklistResult.unit == unit))
    before = None if row is None else {"result": row.result, "evidence": row.evidence_text}
    if row is None:
        row = ChecklistResult(audit_id=audit.id, item_code=item, unit=unit, result=result, auditor=actor.name,
                              checked_at=now)
        session.add(row)
    row.result, row.evidence_text, row.na_reason = result, evidence, na_reason if result == "not_applicable" else None
    row.auditor, row.checked_at = actor.name, now
    audit.status = "in_progress"
    session.flush()
    files = _attach(session, row, attachments, now=now, actor=actor)
    append_event(session, at=now, kind="audit.result_recorded", actor=actor.name, real_actor=actor.real,
                 payload={"audit": audit.code, "item": item, "unit": unit, "result": result, "evidence": evidence,
                          "na_reason": na_reason, "before": before, "files": files})
    return row


def record_rest(session: Session, audit_code: str, *, unit: str, result: str, evidence: str | None,
                now: datetime, actor: Actor) -> list[str]:
    """Record every item of a unit not recorded yet with one result (typically: the rest conform)."""
    audit = get_audit(session, audit_code)
    done = set(session.scalars(select(ChecklistResult.item_code).where(ChecklistResult.audit_id == audit.id,
                                                                      ChecklistResult.unit == unit)))
    rest = [item.code for item in AUDIT_ITEMS if item.code not in done]
    if result == "not_applicable":
        raise OpsqaError(_("not_applicable needs a reason per item; record those one by one"))
    for item in rest:
        record_result(session, audit_code, item=item, unit=unit, result=result, evidence=evidence, na_reason=None,
                      now=now, actor=actor)
    return rest


def _attach(session: Session, row: ChecklistResult, paths: tuple[str, ...], *, now: datetime,
            actor: Actor) -> list[dict[str, Any]]:
    """Evidence files of a checklist row, kept with their SHA-256; the same file twice is refused."""
    attached = set(session.scalars(select(Evidence.sha256).where(Evidence.checklist_result_id == row.id)))
    files = []
    for path in paths:
        name, content, digest = read_evidence(path)
        if digest in attached:
            raise OpsqaError(_("{path} is already attached to {item_code} at {unit}").format(
                                 path=path, item_code=row.item_code, unit=row.unit))
        attached.add(digest)
        evidence = Evidence(checklist_result_id=row.id, file_name=name, sha256=digest, size=len(content),
                            content=content, added_by=actor.name, added_at=now)
        session.add(evidence)
        session.flush()
        files.append({"evidence": evidence.id, "file": name, "sha256": digest, "size": len(content)})
    return files


def row_evidence(session: Session, audit_code: str) -> dict[tuple[str, str], list[Evidence]]:
    """Each checklist row's evidence files, by (item, unit)."""
    audit = get_audit(session, audit_code)
    query = (select(ChecklistResult.item_code, ChecklistResult.unit, Evidence).join(
        Evidence, Evidence.checklist_result_id == ChecklistResult.id)
        .where(ChecklistResult.audit_id == audit.id).order_by(Evidence.id))
    files: dict[tuple[str, str], list[Evidence]] = {}
    for item, unit, evidence in session.execute(query):
        files.setdefault((item, unit), []).append(evidence)
    return files


TEMPLATE_HINT = "CAP-a..g, RES-a..e, TEC-a..c, PRC-a..h"


def checklist_status(session: Session, audit_code: str) -> dict[str, Any]:
    """Every (item x unit) of the audit with its result, the areas' standing, what is still unchecked, and
    for CAP-g last year's improvement measures as they stand."""
    audit = get_audit(session, audit_code)
    units = json.loads(audit.scope)
    rows = {(r.item_code, r.unit): r for r in session.scalars(
        select(ChecklistResult).where(ChecklistResult.audit_id == audit.id))}
    areas, missing = [], []
    for area in AUDIT_AREAS:
        items = [i for i in AUDIT_ITEMS if i.area == area.code]
        results = [rows[(i.code, u)].result for i in items for u in units if (i.code, u) in rows]
        missing += [f"{i.code}@{u}" for i in items for u in units if (i.code, u) not in rows]
        areas.append({"area": area.code, "name": area.name_zh, "items": len(items),
                      "status": area_status(area.code, len(items) * len(units), results)})
    from .improvement import for_audit

    return {"audit": audit.code, "units": units, "areas": areas, "missing": missing, "complete": not missing,
            "nonconformities": sorted(f"{k[0]}@{k[1]}" for k, r in rows.items() if r.result == "nonconform"),
            "improvement": for_audit(session, audit.year)}


def list_audits(session: Session, year: int | None = None) -> list[dict[str, Any]]:
    query = select(Audit).order_by(Audit.code)
    if year is not None:
        query = query.where(Audit.year == year)
    return [{"code": a.code, "year": a.year, "full": a.full, "scope": json.loads(a.scope), "lead": a.lead_auditor,
             "status": a.status, "planned_start": a.planned_start, "planned_end": a.planned_end,
             "reported_at": a.reported_at, "instance": a.instance_id} for a in session.scalars(query)]


# -- the internal_audit process's steps ---------------------------------------------------------


def _audit(context: HandlerContext) -> Audit:
    return get_audit(context.session, context.variables["audit"])


def _set_status(context: HandlerContext, audit: Audit, status: str, **payload: Any) -> dict:
    audit.status = status
    append_event(context.session, at=context.now, kind=f"audit.{status}", actor=context.actor,
                 instance_id=context.instance_id, payload={"audit": audit.code, **payload})
    return {"audit_status": status}


def _team_form(context: HandlerContext) -> dict[str, Any]:
    """The annual cycle's audit-planning form as create_audit's arguments; errors name the field."""
    values = context.variables
    try:
        team = parse_team(str(values.get("audit_team") or ""))
    except OpsqaError as exc:
        raise OpsqaError(_("audit_team: {exc}").format(exc=exc)) from None
    return {"team": team, "lead_auditor": str(values.get("lead_auditor") or "").strip(),
            "planned_start": values["planned_start"], "planned_end": values["planned_end"],
            "full": bool(values.get("audit_full"))}


@registry.check("audit.team_independent")
def team_independent(context: HandlerContext) -> None:
    form = _team_form(context)
    refuse_duplicate(context.session, year=year_of(context), full=form.pop("full"), team=form["team"],
                     planned_start=form["planned_start"], planned_end=form["planned_end"])
    check_team(context.session, **form)


@handler("audit.create")
def create_from_form(context: HandlerContext) -> dict:
    """The annual cycle's audit plan, formed by qmd in a user task, becomes the audit record."""
    audit = _record_audit(context.session, year=year_of(context), now=context.now, by=context.actor, real=None,
                          **_team_form(context))
    return {"audit": audit.code, "audit_status": audit.status}


@registry.on_cancel("internal_audit")
def instance_cancelled(session: Session, instance_id: int, *, now: datetime, actor: Actor, reason: str | None) -> None:
    """A cancelled audit process cancels its audit not yet reported, with the reason: never planned for ever,
    holding its year's full audit."""
    audit = session.scalar(select(Audit).where(Audit.instance_id == instance_id))
    if audit is None or audit.status not in ("planned", "in_progress"):
        return
    before, audit.status = audit.status, "cancelled"
    append_event(session, at=now, kind="audit.cancelled", actor=actor.name, real_actor=actor.real,
                 instance_id=instance_id, payload={"audit": audit.code, "from": before, "reason": reason})


@handler("audit.plan_rejected")
def plan_rejected(context: HandlerContext) -> dict:
    return _set_status(context, _audit(context), "cancelled", reason=context.variables.get("plan_comment"))


@handler("audit.started")
def started(context: HandlerContext) -> dict:
    audit = _audit(context)
    return _set_status(context, audit, "in_progress", notified=json.loads(audit.scope))


@registry.check("audit.checklist_complete")
def checklist_complete(context: HandlerContext) -> None:
    status = checklist_status(context.session, context.variables["audit"])
    if not status["complete"]:
        missing = status["missing"]
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(_("the checklist of {audit} has {missing} unchecked rows: {shown}").format(
                             audit=status['audit'], missing=len(missing), shown=shown))


def _owner_of(session: Session, unit: str) -> str:
    """Who answers for a unit's finding: a project's manager, or the head (role dh) of a department."""
    project = session.get(Project, unit)
    if project is not None:
        return project.pm
    heads = session.scalars(select(User.name).join(UserRole, UserRole.user_name == User.name)
                            .where(User.department == unit, UserRole.role == "dh")).all()
    if len(heads) != 1:
        raise OpsqaError(_("department {unit} needs exactly one head (a user with role dh and department {unit}) "
                           "to own its findings; it has {heads}").format(unit=unit, heads=len(heads)))
    return heads[0]


@handler("audit.raise_findings")
def raise_audit_findings(context: HandlerContext) -> dict:
    """Each nonconformity of the checklist becomes a finding with its own follow-up (once, even on retry)."""
    audit = _audit(context)
    texts = {item.code: item.text_zh for item in AUDIT_ITEMS}
    rows = context.session.scalars(
        select(ChecklistResult).where(ChecklistResult.audit_id == audit.id, ChecklistResult.result == "nonconform")
        .order_by(ChecklistResult.item_code, ChecklistResult.unit)).all()
    ids = []
    for row in rows:
        if row.finding_id is None:
            finding = raise_finding(context.session, source="audit", source_ref=audit.code, item_code=row.item_code,
                                    unit=row.unit, owner=_owner_of(context.session, row.unit),
                                    description=f"{texts[row.item_code]} —— {row.evidence_text}", now=context.now,
                                    actor=context.actor, start_instance=context.start_instance)
            row.finding_id = finding.id
        ids.append(row.finding_id)
    return {"findings": len(ids)}


@handler("audit.reported")
def reported(context: HandlerContext) -> dict:
    audit, values = _audit(context), context.variables
    audit.reported_at = context.now
    audit.report_summary, audit.report_conclusion = values.get("report_summary"), values.get("report_conclusion")
    audit.mr_comment = values.get("report_comment")
    return _set_status(context, audit, "reported", summary=context.variables.get("report_summary"),
                       conclusion=context.variables.get("report_conclusion"),
                       mr_comment=context.variables.get("report_comment"))


def yearly_audit_warning(session: Session, now: datetime) -> str | None:
    """6.2.1 asks for at least one full internal audit a year: say so when this year has none planned."""
    from engine import settings

    year = now.astimezone(settings.zone(session)).year
    planned = session.scalar(select(func.count()).select_from(Audit).where(
        Audit.year == year, Audit.full.is_(True), Audit.status != "cancelled"))
    if planned:
        return None
    return _("no full internal audit is planned for {year}; 6.2.1 asks for at least one a year "
             "(`opsqa audit plan`)").format(year=year)
