"""Checking (6.2.1, 6.2.2): findings and their evidence, internal audits and their checklists, the auditor
register, service inspections, and the documents the year's records make.

Rules naming people (a finding's owner, an audit's auditors, an inspection's inspector) need a fact only a
record gives: it is read first to ask the policy as the transaction opens, and the domain asks again with
the record it changes."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine import Engine, OpsqaError, settings
from i18n import _

from .base import Caller, acting, reading

# -- findings


def findings(engine: Engine, *, open_only: bool = False, overdue: bool = False, year: int | None = None,
             as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Findings and where they stand; overdue judged as of `as_of` (default: now)."""
    from handlers.findings import list_findings

    now = as_of or engine.clock.now()
    with reading(engine) as session:
        return list_findings(session, now, open_only=open_only, overdue_only=overdue, year=year)


def findings_with_rates(engine: Engine, *, open_only: bool = False, overdue: bool = False, year: int | None = None,
                        as_of: datetime | None = None) -> dict[str, Any]:
    """`findings`, and the on-time closure rate (按期整改率) of each year they were raised in (of `year` if
    given), as of `as_of` (default: now), read together."""
    from handlers.findings import list_findings, on_time_closure

    now = as_of or engine.clock.now()
    with reading(engine) as session:
        rows = list_findings(session, now, open_only=open_only, overdue_only=overdue, year=year)
        years = [year] if year is not None else sorted({int(row["code"].split("-")[1]) for row in rows})
        return {"findings": rows, "on_time": [on_time_closure(session, y, now) for y in years]}


def finding(engine: Engine, code: str) -> dict[str, Any]:
    """A finding, its due-date history and its evidence files (without their content)."""
    from handlers.findings import evidence_of, get_finding, view

    now = engine.clock.now()
    with reading(engine) as session:
        zone = settings.zone(session)
        item = view(get_finding(session, code), now.astimezone(zone).date(), zone)
        item["evidence"] = [{"id": e.id, "file": e.file_name, "sha256": e.sha256, "size": e.size,
                             "added_by": e.added_by, "added_at": e.added_at} for e in evidence_of(session, code)]
        return item


def add_finding(engine: Engine, caller: Caller, *, owner: str, description: str, unit: str | None = None,
                item_code: str | None = None, severity: str = "minor", due: date | None = None) -> dict[str, Any]:
    """Raise a finding by hand (qmd, admin) and start its follow-up; due by the finding_due_days setting
    unless a date is given."""
    from handlers.findings import raise_finding

    with acting(engine, caller, "finding.raise") as act:
        raised = raise_finding(act.session, source="manual", description=description, owner=owner, now=act.now,
                               actor=act.actor.name, start_instance=act.starter(), unit=unit, item_code=item_code,
                               severity=severity, due=due)
        return {"code": raised.code, "due": raised.due_date, "owner": raised.owner}


def attach_evidence(engine: Engine, caller: Caller, code: str, path: str, *, note: str | None = None
                    ) -> dict[str, Any]:
    """Keep an evidence file with an open finding (its owner, qmd, admin), whole and with its SHA-256."""
    from handlers.findings import attach, get_finding

    with reading(engine) as session:
        owner = get_finding(session, code).owner
    with acting(engine, caller, "finding.attach", owner=owner) as act:
        evidence = attach(act.session, code, path, note=note, now=act.now, actor=act.actor)
        return {"id": evidence.id, "finding": code.upper(), "sha256": evidence.sha256}


def upload_evidence(engine: Engine, caller: Caller, code: str, file_name: str, content: bytes, *,
                    note: str | None = None) -> dict[str, Any]:
    """Keep an evidence file sent from a browser with an open finding (its owner, qmd, admin)."""
    from handlers.findings import attach, get_finding

    with reading(engine) as session:
        owner = get_finding(session, code).owner
    with acting(engine, caller, "finding.attach", owner=owner) as act:
        evidence = attach(act.session, code, None, note=note, now=act.now, actor=act.actor,
                          upload=(file_name, content))
        return {"id": evidence.id, "finding": code.upper(), "sha256": evidence.sha256, "file": evidence.file_name}


def finding_evidence(engine: Engine, code: str, evidence_id: int) -> tuple[str, bytes]:
    """An evidence file's name and content, checked against its SHA-256 (a changed file is refused)."""
    import hashlib

    from handlers.findings import evidence_of

    with reading(engine) as session:
        found = [(e.file_name, e.content, e.sha256) for e in evidence_of(session, code) if e.id == evidence_id]
    if not found:
        raise OpsqaError(_("{code} has no evidence {evidence_id}; see `opsqa finding show {given}`").format(
                             code=code.upper(), evidence_id=evidence_id, given=code))
    name, content, digest = found[0]
    if hashlib.sha256(content).hexdigest() != digest:
        raise OpsqaError(_("evidence {evidence_id} of {code} no longer matches its SHA-256 {digest}: it was changed "
                           "after it was attached").format(evidence_id=evidence_id, code=code.upper(), digest=digest))
    return name, content


def extend_finding(engine: Engine, caller: Caller, code: str, *, to: date, reason: str | None) -> dict[str, Any]:
    """Move a finding's due date later (qmd, admin; with a reason): the original is kept, the follow-up's
    reminder, overdue and escalation timers move."""
    from handlers.findings import extend_due

    with acting(engine, caller, "finding.extend", reason=reason) as act:
        extended = extend_due(act.session, code, to=to, reason=reason, now=act.now, actor=act.actor,
                              rearm=engine.rearmer(act.session, act.actor))
        return {"code": extended.code, "due": extended.due_date, "original_due": extended.original_due_date}


def write_finding_evidence(engine: Engine, code: str, evidence_id: int, out: str, *,
                           force: bool = False) -> dict[str, Any]:
    """Write a finding's evidence file to `out` (a new file), checked against its SHA-256."""
    from handlers.findings import evidence_of

    with reading(engine) as session:
        found = [(e.content, e.sha256) for e in evidence_of(session, code) if e.id == evidence_id]
    if not found:
        raise OpsqaError(_("{code} has no evidence {evidence_id}; see `opsqa finding show {given}`").format(
                             code=code.upper(), evidence_id=evidence_id, given=code))
    return _write_evidence(*found[0], evidence_id, out, force)


def _write_evidence(content: bytes, digest: str, evidence_id: int, out: str, force: bool) -> dict[str, Any]:
    import hashlib

    if hashlib.sha256(content).hexdigest() != digest:
        raise OpsqaError(_("evidence {evidence_id} no longer matches its SHA-256; the database was altered").format(
                             evidence_id=evidence_id))
    from engine.files import write_output

    write_output(out, content, force=force, mode=0o660)  # never through a link; not world-readable
    return {"file": out, "size": len(content), "sha256": digest}


# -- the documents of the cycle, as drafts: written under OUT/YEAR (default ./reports), the same records always
# giving the same files

Formats = tuple[str, ...] | str
DRAFT_FORMATS = ("html", "md")


def report_audit(engine: Engine, year: int, out_folder: str | None = None, *, formats: Formats = DRAFT_FORMATS
                 ) -> dict[str, list[str]]:
    """The year's 《运维过程内审报告》 and each audit's 《运维过程内审检查表》, with the year's warnings (no
    full audit)."""
    from handlers.reports import audit_documents

    with reading(engine) as session:
        documents, warnings = audit_documents(session, year)
    return {"files": _write_documents(documents, _folder(out_folder, year), formats), "warnings": warnings}


def report_survey(engine: Engine, year: int, out_folder: str | None = None, *, formats: Formats = DRAFT_FORMATS
                  ) -> dict[str, list[str]]:
    """The 《满意度调查总结报告》 with its chart."""
    from handlers.reports import survey_documents

    return _yearly(engine, survey_documents, year, out_folder, formats)


def report_review(engine: Engine, year: int, out_folder: str | None = None, *, formats: Formats = DRAFT_FORMATS
                  ) -> dict[str, list[str]]:
    """The 《管理评审报告》 with its charts."""
    from handlers.reports import review_documents

    return _yearly(engine, review_documents, year, out_folder, formats)


def report_improvement(engine: Engine, year: int, out_folder: str | None = None, *, formats: Formats = DRAFT_FORMATS
                       ) -> dict[str, list[str]]:
    """The 《服务能力改进计划》."""
    from handlers.reports import improvement_documents

    return _yearly(engine, improvement_documents, year, out_folder, formats)


def report_inspection(engine: Engine, code: str | None = None, *, year: int | None = None,
                      out_folder: str | None = None, formats: Formats = DRAFT_FORMATS) -> dict[str, list[str]]:
    """An inspection's 运维服务质量检查记录 and 检查报告, or those of every inspection of a year; each filed
    under its own year."""
    from handlers.reports import inspection_codes, inspection_documents

    if (code is None) == (year is None):
        raise OpsqaError(_("name one inspection (CODE) or a year (--year), not both"))
    with reading(engine) as session:
        codes = [code.upper()] if code else inspection_codes(session, year)
        if not codes:
            raise OpsqaError(_("no inspections in {year}; see `opsqa inspections`").format(year=year))
        documents = {c: inspection_documents(session, c) for c in codes}
    files = []
    for c, pair in documents.items():
        files += _write_documents(pair, _folder(out_folder, int(c.split("-")[1])), formats)  # INS-2028-01: under 2028
    return {"files": files, "warnings": []}


def _yearly(engine: Engine, build, year: int, out_folder: str | None, formats: Formats) -> dict[str, list[str]]:
    with reading(engine) as session:
        documents = build(session, year)
    return {"files": _write_documents(documents, _folder(out_folder, year), formats), "warnings": []}


def _folder(out_folder: str | None, year: int) -> Path:
    return Path(out_folder or "reports") / str(year)


def _write_documents(documents, folder: Path, formats: Formats) -> list[str]:
    """Each document as a draft (草稿/非受控) in the formats asked; `opsqa documents issue` issues controlled
    copies."""
    from .documents import parse_formats

    formats = parse_formats(formats)
    return [str(path) for document in documents for path in document.write(folder, formats)]


# -- internal audits


def audits(engine: Engine, year: int | None = None) -> list[dict[str, Any]]:
    from handlers.audits import list_audits

    with reading(engine) as session:
        return list_audits(session, year)


def plan_audit(engine: Engine, caller: Caller, *, year: int, team: dict[str, list[str]], lead_auditor: str,
               start: date, end: date, full: bool = True) -> dict[str, Any]:
    """Plan an internal audit (qmd, admin) and start its process; the team's independence is checked first.
    `team`: each auditor's units (project or department codes)."""
    from handlers.audits import create_audit

    with acting(engine, caller, "audit.plan") as act:
        planned = create_audit(act.session, year=year, full=full, team=team, lead_auditor=lead_auditor,
                               planned_start=start, planned_end=end, now=act.now, actor=act.actor)
        planned.instance_id = act.starter()("internal_audit", planned.code,
                                            {"audit": planned.code, "lead_auditor": lead_auditor, "year": year})
        return {"code": planned.code, "instance_id": planned.instance_id}


def record_audit(engine: Engine, caller: Caller, code: str, *, unit: str, result: str, item: str | None = None,
                 evidence: str | None = None, na_reason: str | None = None,
                 attachments: tuple[str, ...] = ()) -> dict[str, Any]:
    """Record one checklist row (`item`), or every item of the unit not recorded yet (`item=None`), by an
    auditor assigned to the unit; a later record corrects a row, both kept."""
    from handlers.audits import get_audit, record_rest, record_result, unit_auditors

    with reading(engine) as session:
        auditors = unit_auditors(get_audit(session, code), unit)
    with acting(engine, caller, "audit.record", auditor=auditors) as act:
        if item is None:
            items = record_rest(act.session, code, unit=unit, result=result, evidence=evidence, now=act.now,
                                actor=act.actor)
        else:
            record_result(act.session, code, item=item, unit=unit, result=result, evidence=evidence,
                          na_reason=na_reason, now=act.now, actor=act.actor, attachments=attachments)
            items = [item]
        return {"audit": code.upper(), "unit": unit, "items": items}


def write_audit_evidence(engine: Engine, code: str, evidence_id: int, out: str, *,
                         force: bool = False) -> dict[str, Any]:
    """Write a checklist row's evidence file to `out` (a new file), checked against its SHA-256."""
    from handlers.audits import row_evidence

    with reading(engine) as session:
        found = [(e.content, e.sha256) for files in row_evidence(session, code).values() for e in files
                 if e.id == evidence_id]
    if not found:
        raise OpsqaError(_("{code} has no evidence {evidence_id}").format(code=code.upper(), evidence_id=evidence_id))
    return _write_evidence(*found[0], evidence_id, out, force)


def audit_checklist(engine: Engine, code: str) -> dict[str, Any]:
    """The checklist's standing: each area, the rows still unchecked, the nonconformities."""
    from handlers.audits import checklist_status

    with reading(engine) as session:
        return checklist_status(session, code)


def add_auditor(engine: Engine, caller: Caller, user: str, *, certificate_no: str | None = None,
                valid_until: date | None = None) -> None:
    """Register a user as a qualified internal auditor (qmd, admin)."""
    from handlers.audits import add_auditor as register

    with acting(engine, caller, "auditor.add") as act:
        register(act.session, user, certificate_no=certificate_no, valid_until=valid_until, now=act.now,
                 actor=act.actor)


def auditors(engine: Engine) -> list[dict[str, Any]]:
    """The registered auditors with their department (the units they may not audit)."""
    from handlers.audits import list_auditors

    with reading(engine) as session:
        return list_auditors(session)


def auditor(engine: Engine, user: str) -> dict[str, Any]:
    """A registered auditor: certificate, validity (expired or not, today in the organisation's zone), department."""
    from handlers.audits import auditor_view

    now = engine.clock.now()
    with reading(engine) as session:
        return auditor_view(session, user, today=now.astimezone(settings.zone(session)).date())


def renew_auditor(engine: Engine, caller: Caller, user: str, *, certificate_no: str | None = None,
                  valid_until: date | None = None, reason: str | None) -> dict[str, dict]:
    """Renew or correct an auditor's qualification (qmd, admin; with a reason): {"old", "new"} of what changed."""
    from handlers.audits import renew_auditor as renew

    with acting(engine, caller, "auditor.renew", reason=reason) as act:
        return renew(act.session, user, certificate_no=certificate_no, valid_until=valid_until,
                     reason=reason.strip(), now=act.now, actor=act.actor)


# -- service inspections


def inspections(engine: Engine) -> list[dict[str, Any]]:
    from handlers.inspections import list_inspections

    with reading(engine) as session:
        return list_inspections(session)


def start_inspection(engine: Engine, caller: Caller, *, seed: int | None = None, size: int = 1,
                     projects: list[str] | None = None, planned: bool = False) -> dict[str, Any]:
    """Start an inspection and its process: a random draw of `size` projects (oms, qmd, admin; the seed is
    recorded, drawn when not given), or the named `projects` (qmd, admin)."""
    from handlers.inspections import start_inspection as start

    with acting(engine, caller, "inspection.name" if projects else "inspection.start") as act:
        started = start(act.session, actor=act.actor, now=act.now, seed=seed, size=size, projects=projects or None,
                        planned=planned, start_instance=act.starter())
        return {"code": started.code, "projects": json.loads(started.projects), "seed": started.seed}


def record_inspection(engine: Engine, caller: Caller, code: str, *, passed: bool, project: str | None = None,
                      item: str | None = None, evidence: str | None = None,
                      samples: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record a check point (`item`), or every point of the project not recorded yet (`item=None`), by the
    inspection's inspector; the project defaults to the sample's only one."""
    from handlers.inspections import get_inspection, record_check, record_rest, sampled_project

    with reading(engine) as session:
        inspector = get_inspection(session, code).inspector
    with acting(engine, caller, "inspection.record", inspector=inspector) as act:
        project = sampled_project(act.session, code, project)
        if item is None:
            items = record_rest(act.session, code, project=project, passed=passed, evidence=evidence, now=act.now,
                                actor=act.actor)
        else:
            record_check(act.session, code, project=project, item=item, passed=passed, evidence=evidence,
                         samples=samples, now=act.now, actor=act.actor)
            items = [item]
        return {"inspection": code.upper(), "project": project, "items": items}


# -- the web's pages of findings


def finding_page(engine: Engine, caller: Caller, code: str) -> dict[str, Any]:
    """A finding as its page shows it: `finding` with what raised it (`source_ref`) and each evidence file's
    note, and what the caller may do with it now: attach evidence (its owner, qmd, admin, while it is open)
    and extend its due date (qmd, admin, while it is being rectified)."""
    from handlers.findings import OPEN_STATES, OVERDUE_STATES, evidence_of, get_finding, view

    from .base import may

    now = engine.clock.now()
    with reading(engine) as session:
        zone = settings.zone(session)
        found = get_finding(session, code)
        item = view(found, now.astimezone(zone).date(), zone)
        item["source_ref"] = found.source_ref
        item["evidence"] = [{"id": e.id, "file": e.file_name, "sha256": e.sha256, "size": e.size, "note": e.note,
                             "added_by": e.added_by, "added_at": e.added_at} for e in evidence_of(session, code)]
        status, owner = found.status, found.owner
    item["may"] = {"attach": status in OPEN_STATES and may(engine, caller, "finding.attach", owner=owner),
                   "extend": status in OVERDUE_STATES and may(engine, caller, "finding.extend")}
    return item


# -- the web's pages of audits, inspections and auditors


def audit_page(engine: Engine, caller: Caller, code: str) -> dict[str, Any]:
    """An audit as its page shows it: its plan (kind, window, lead, team, status, report) and its checklist
    area by area and item by item, each item with its units' rows (result, note, who recorded it and when, the
    finding it raised, its evidence files without their content) and whether the caller may record the row
    (the unit's auditor on the team, while the checklist is open); the rows still unchecked, and for CAP-g last
    year's improvement measures (`audit_checklist`)."""
    from sqlalchemy import select

    from handlers.audits import checklist_status, get_audit, row_evidence, unit_auditors
    from handlers.checklist import AUDIT_AREAS, AUDIT_ITEMS, RESULTS
    from store import ChecklistResult, Finding

    from .base import may

    with reading(engine) as session:
        audit = get_audit(session, code)
        status = checklist_status(session, audit.code)
        rows = {(r.item_code, r.unit): r for r in session.scalars(
            select(ChecklistResult).where(ChecklistResult.audit_id == audit.id))}
        raised = [r.finding_id for r in rows.values() if r.finding_id is not None]
        findings = {f.id: f.code for f in session.scalars(select(Finding).where(Finding.id.in_(raised)))} \
            if raised else {}
        files = {key: [{"id": e.id, "file": e.file_name, "sha256": e.sha256, "size": e.size, "added_by": e.added_by,
                        "added_at": e.added_at} for e in found]
                 for key, found in row_evidence(session, audit.code).items()}
        units = status["units"]
        auditors = {unit: unit_auditors(audit, unit) for unit in units}
        plan = {"code": audit.code, "year": audit.year, "full": audit.full, "units": units,
                "team": json.loads(audit.team), "lead": audit.lead_auditor, "status": audit.status,
                "planned_start": audit.planned_start, "planned_end": audit.planned_end, "instance": audit.instance_id,
                "reported_at": audit.reported_at, "report_summary": audit.report_summary,
                "report_conclusion": audit.report_conclusion, "created_by": audit.created_by,
                "created_at": audit.created_at}
        cells = {key: {"result": r.result, "evidence": r.evidence_text, "na_reason": r.na_reason,
                       "auditor": r.auditor, "checked_at": r.checked_at, "finding": findings.get(r.finding_id)}
                 for key, r in rows.items()}
    checklist_open = plan["status"] in ("planned", "in_progress")
    may_record = {unit: checklist_open and may(engine, caller, "audit.record", auditor=names)
                  for unit, names in auditors.items()}
    standing = {area["area"]: area["status"] for area in status["areas"]}
    areas = []
    for area in AUDIT_AREAS:
        items = [{"code": item.code, "text": item.text_zh, "document": item.governing_doc,
                  "units": [{"unit": unit, "auditors": auditors[unit], "may": may_record[unit],
                             "files": files.get((item.code, unit), []),
                             **cells.get((item.code, unit), {"result": None, "evidence": None, "na_reason": None,
                                                              "auditor": None, "checked_at": None, "finding": None})}
                            for unit in units]}
                 for item in AUDIT_ITEMS if item.area == area.code]
        areas.append({"area": area.code, "name": area.name_zh, "name_en": area.name_en,
                      "status": standing[area.code], "items": items})
    return {**plan, "areas": areas, "results": list(RESULTS), "missing": status["missing"],
            "complete": status["complete"], "nonconformities": status["nonconformities"],
            "improvement": status["improvement"], "open": checklist_open, "may_record": any(may_record.values())}


def _fitting(name: str, limit: int = 240) -> str:
    """A file name short enough for any file system (at most `limit` bytes), its extension kept."""
    if len(name.encode()) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix.encode()) > 20:
        stem, suffix, dot = name, "", ""
    room = limit - len(f"{dot}{suffix}".encode())
    while len(stem.encode()) > room:
        stem = stem[:-1]
    return f"{stem}{dot}{suffix}"


def record_audit_upload(engine: Engine, caller: Caller, code: str, *, unit: str, item: str, result: str,
                        evidence: str | None = None, na_reason: str | None = None,
                        upload: tuple[str, bytes] | None = None) -> dict[str, Any]:
    """`record_audit` of one checklist row sent from a browser, with its evidence file (if any) as (name,
    content) rather than a path on this machine. The file is checked as a finding's uploaded evidence is (a
    name, not empty, not too large) and refused when the row has it already; it is then kept by the row's own
    attachment (whole, with its SHA-256, named in the row's history event), by way of a private temporary copy
    under its own name (shortened to fit a file system, its extension kept)."""
    import tempfile

    from handlers.audits import get_audit, record_result, row_evidence, unit_auditors
    from handlers.findings import uploaded_evidence

    with reading(engine) as session:
        auditors = unit_auditors(get_audit(session, code), unit)
    with acting(engine, caller, "audit.record", auditor=auditors) as act, \
            tempfile.TemporaryDirectory(prefix="opsqa-upload-") as folder:
        attachments: tuple[str, ...] = ()
        name = None
        if upload is not None:
            name, content, digest = uploaded_evidence(*upload)
            same = [e for e in row_evidence(act.session, code).get((item, unit), []) if e.sha256 == digest]
            if same:
                raise OpsqaError(_("{name} is already attached to {item} at {unit} as evidence {id} ({file})").format(
                                     name=name, item=item, unit=unit, id=same[0].id, file=same[0].file_name))
            path = Path(folder) / _fitting(name)
            path.write_bytes(content)
            attachments = (str(path),)
        record_result(act.session, code, item=item, unit=unit, result=result, evidence=evidence, na_reason=na_reason,
                      now=act.now, actor=act.actor, attachments=attachments)
        return {"audit": code.upper(), "unit": unit, "items": [item], "file": name}


def audit_evidence(engine: Engine, code: str, evidence_id: int) -> tuple[str, bytes]:
    """A checklist row's evidence file: its name and content, checked against its SHA-256 (a changed file is
    refused)."""
    import hashlib

    from handlers.audits import row_evidence

    with reading(engine) as session:
        found = [(e.file_name, e.content, e.sha256) for files in row_evidence(session, code).values() for e in files
                 if e.id == evidence_id]
    if not found:
        raise OpsqaError(_("{code} has no evidence {evidence_id}").format(code=code.upper(), evidence_id=evidence_id))
    name, content, digest = found[0]
    if hashlib.sha256(content).hexdigest() != digest:
        raise OpsqaError(_("evidence {evidence_id} of {code} no longer matches its SHA-256 {digest}: it was changed "
                           "after it was attached").format(evidence_id=evidence_id, code=code.upper(), digest=digest))
    return name, content


def inspections_of(engine: Engine, *, year: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """`inspections`, those started in `year` (in the organisation's zone) and of `status` only, if given."""
    from handlers.inspections import list_inspections

    with reading(engine) as session:
        zone = settings.zone(session)
        rows = list_inspections(session)
    return [row for row in rows if (year is None or row["started_at"].astimezone(zone).year == year)
            and (status is None or row["status"] == status)]


def inspection_page(engine: Engine, caller: Caller, code: str) -> dict[str, Any]:
    """An inspection as its page shows it: how it was started (trigger, seed and sample size of a draw), its
    inspector and status, and each sampled project with the five check points (SVC-a..e) as recorded (passed,
    evidence, samples, when, the rectification item raised), and whether the caller may record them (the
    inspector, while the inspection is in progress)."""
    from sqlalchemy import select

    from handlers.checklist import INSPECTION_ITEMS
    from handlers.inspections import get_inspection, missing_checks
    from store import Finding, InspectionResult, Project

    from .base import may

    with reading(engine) as session:
        found = get_inspection(session, code)
        results = {(r.project, r.item_code): r for r in session.scalars(
            select(InspectionResult).where(InspectionResult.inspection_id == found.id))}
        raised = [r.finding_id for r in results.values() if r.finding_id is not None]
        findings = {f.id: f.code for f in session.scalars(select(Finding).where(Finding.id.in_(raised)))} \
            if raised else {}
        codes = json.loads(found.projects)
        known = {p.code: p for p in session.scalars(select(Project).where(Project.code.in_(codes)))}
        projects = []
        for project in codes:
            points = []
            for item in INSPECTION_ITEMS:
                row = results.get((project, item.code))
                points.append({"item": item.code, "text": item.text_zh, "passed": None if row is None else row.passed,
                               "evidence": row.evidence if row else None,
                               "samples": json.loads(row.samples) if row is not None and row.samples else None,
                               "checked_at": row.checked_at if row else None,
                               "finding": findings.get(row.finding_id) if row else None})
            record = known.get(project)
            projects.append({"code": project, "name": record.name if record else None,
                             "pm": record.pm if record else None, "points": points})
        view = {"code": found.code, "trigger_type": found.trigger_type, "seed": found.seed,
                "size": found.sample_size, "inspector": found.inspector, "status": found.status,
                "instance": found.instance_id, "started_at": found.started_at, "reported_at": found.reported_at,
                "projects": projects, "missing": missing_checks(session, found)}
    view["may_record"] = view["status"] == "in_progress" and may(engine, caller, "inspection.record",
                                                                 inspector=view["inspector"])
    return view


def auditor_register(engine: Engine, caller: Caller) -> dict[str, Any]:
    """The auditor register as its page shows it: each auditor with their department, certificate and validity
    (valid, expired, or with no end date; today in the organisation's zone); the active users not on it yet (whom
    the caller may add); and whether the caller may add auditors and renew their qualification."""
    from handlers.audits import list_auditors

    from .base import may

    now = engine.clock.now()
    with reading(engine) as session:
        today = now.astimezone(settings.zone(session)).date()
        rows = list_auditors(session)
    for row in rows:
        until = row["valid_until"]
        row["status"] = "no_end" if until is None else "expired" if until < today else "valid"
    registered = {row["user"] for row in rows}
    candidates = [{"name": u["name"], "display_name": u["display_name"], "department": u["department"]}
                  for u in engine.users() if u["status"] == "active" and u["name"] not in registered]
    return {"auditors": rows, "candidates": candidates, "today": today,
            "may": {"add": may(engine, caller, "auditor.add"), "renew": may(engine, caller, "auditor.renew")}}
