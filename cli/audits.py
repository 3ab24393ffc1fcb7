"""Checking (6.2.1, 6.2.2): internal audits and their checklists, auditors, service inspections, findings
and their evidence, and the documents the year's records make."""

from __future__ import annotations

import json
from pathlib import Path

import click

from i18n import N_, _

from .base import ID, YEAR, FilePath, State, cli, json_option, pass_state, xlsx_option
from .terminal import _cell, _parse_local, _print_json, _render, _write_xlsx


@cli.command()
@click.option("--open", "open_only", is_flag=True, help=N_("Only findings not yet closed."))
@click.option("--overdue", is_flag=True, help=N_("Only findings past their due date (not waiting for verification)."))
@click.option("--year", type=YEAR, help=N_("Only findings raised in this year."))
@click.option("--as-of", "as_of", metavar="TIME", help=N_("Judge overdue as of this time (default: now)."))
@json_option
@xlsx_option
@pass_state
def findings(state: State, open_only: bool, overdue: bool, year: int | None, as_of: str | None, as_json: bool,
             xlsx_file: str | None):
    """Findings (nonconformities and rectification items) and where they stand.

    Example: opsqa findings --overdue --xlsx findings.xlsx
    """
    from handlers.findings import list_findings

    now = _parse_local(as_of, "--as-of") if as_of else state.engine.clock.now()
    with state.engine.database.reading() as session:
        rows = list_findings(session, now, open_only=open_only, overdue_only=overdue, year=year)
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, "findings", as_json)
    if not as_json:
        for row in rows:
            row["overdue"] = _("{days} d").format(days=row["days_overdue"]) if row["overdue"] else "-"
    columns = [("code", _("FINDING")), ("source", _("SOURCE")), ("item", _("ITEM")), ("unit", _("UNIT")),
               ("owner", _("OWNER")),
               ("status", _("STATUS")), ("due", _("DUE")), ("overdue", _("OVERDUE")), ("description", _("DESCRIPTION"))]
    _render(rows, columns, as_json)


@cli.group()
def finding():
    """One finding: add, show, attach evidence, get evidence back."""


@finding.command("add")
@click.option("--owner", required=True, metavar="USER", help=N_("Who must correct it."))
@click.option("--description", required=True, help=N_("What does not conform, and to what requirement."))
@click.option("--unit", help=N_("The project code or department concerned."))
@click.option("--item", "item_code", help=N_("The checklist item, e.g. PRC-c."))
@click.option("--severity", type=click.Choice(["minor", "major"]), default="minor", show_default=True)
@click.option("--due", type=click.DateTime(["%Y-%m-%d"]), help=N_("Due date (default: the finding_due_days setting)."))
@pass_state
def finding_add(state: State, owner: str, description: str, unit: str | None, item_code: str | None, severity: str,
                due):
    """Raise a finding by hand (qmd) and start its follow-up.

    Example: opsqa finding add --owner pm1 --unit P-01 --item PRC-c --description "事件未按约解决"
    """
    from engine import OpsqaError
    from handlers.findings import raise_finding

    actor = state.actor()
    if not actor.roles & {"qmd", "admin"}:
        raise OpsqaError(_("findings are raised by qmd, and {name} does not hold that role").format(name=actor.name))
    engine = state.engine
    now = engine.clock.now()
    with engine.database.transaction() as session:
        raised = raise_finding(session, source="manual", description=description, owner=owner, now=now,
                               actor=actor.name, start_instance=engine.starter(session, actor), unit=unit,
                               item_code=item_code, severity=severity, due=due.date() if due else None)
        code, due_date = raised.code, raised.due_date
    click.echo(_("{code} raised, due {due_date}, owner {owner}").format(code=code, due_date=due_date, owner=owner))


@finding.command("show")
@click.argument("code")
@json_option
@pass_state
def finding_show(state: State, code: str, as_json: bool):
    """Show a finding, its due-date history and its evidence.

    Example: opsqa finding show NC-2027-003
    """
    from handlers.findings import evidence_of, get_finding, view

    with state.engine.database.reading() as session:
        from engine.settings import zone

        item = view(get_finding(session, code), state.engine.clock.now().astimezone(zone(session)).date())
        item["evidence"] = [{"id": e.id, "file": e.file_name, "sha256": e.sha256, "size": e.size,
                             "added_by": e.added_by, "added_at": e.added_at} for e in evidence_of(session, code)]
    if as_json:
        _print_json(item)
        return
    late = _(", {days} days overdue").format(days=item["days_overdue"]) if item["overdue"] else ""
    original = _(" (originally {due})").format(due=item["original_due"]) if item["due"] != item["original_due"] else ""
    click.echo(_("{code}  {status}{late}  owner {owner}  due {due}{original}").format(
        code=item["code"], status=item["status"], late=late, owner=item["owner"], due=item["due"], original=original))
    click.echo(f"{item['source']} {item['item'] or ''} {item['unit'] or ''}: {item['description']}")
    # the record's field names, shown as they are in English
    labels = {"root_cause": _("root_cause"), "corrective_action": _("corrective_action"),
              "verified_by": _("verified_by"), "escalated_at": _("escalated_at"), "closed_at": _("closed_at")}
    for key, label in labels.items():
        if item[key]:
            click.echo(f"  {label}: {_cell(item[key])}")
    if item["reopen_count"]:
        click.echo(_("  reopened {reopen_count} times").format(reopen_count=item['reopen_count']))
    for evidence in item["evidence"]:
        click.echo(_("  evidence {id}: {file} ({size} B, sha256 {sha256}…) by {added_by} {added_at}").format(
                       id=evidence['id'], file=evidence['file'], size=evidence['size'], sha256=evidence['sha256'][:12],
                       added_by=evidence['added_by'], added_at=_cell(evidence['added_at'])))


@finding.command("attach")
@click.argument("code")
@click.argument("file", type=FilePath(dir_okay=False))
@click.option("--note", help=N_("What the file shows."))
@pass_state
def finding_attach(state: State, code: str, file: str, note: str | None):
    """Attach an evidence file to a finding (kept whole, with its SHA-256 in the history).

    Example: opsqa finding attach NC-2027-001 整改记录.pdf --note "事件回访记录"
    """
    from handlers.findings import attach

    actor = state.actor()
    with state.engine.database.transaction() as session:
        evidence = attach(session, code, file, note=note, now=state.engine.clock.now(), actor=actor)
        number, digest = evidence.id, evidence.sha256
    click.echo(_("evidence {number} attached to {code} (sha256 {digest})").format(
                   number=number, code=code.upper(), digest=digest))


@finding.command("extend")
@click.argument("code")
@click.option("--to", "to", type=click.DateTime(["%Y-%m-%d"]), required=True, help=N_("The new due date."))
@click.option("--reason", required=True, help=N_("Why the finding needs more time."))
@pass_state
def finding_extend(state: State, code: str, to, reason: str):
    """Extend a finding's due date (qmd): the original date is kept, the reminders and escalation move.

    Example: opsqa finding extend NC-2027-003 --to 2027-09-15 --reason "备件到货延迟"
    """
    from handlers.findings import extend_due

    actor, engine = state.actor(), state.engine
    with engine.database.transaction() as session:
        finding = extend_due(session, code, to=to.date(), reason=reason, now=engine.clock.now(), actor=actor,
                             rearm=engine.rearmer(session, actor))
        shown = (finding.code, finding.due_date, finding.original_due_date)
    click.echo(_("{code} is now due {due} (originally {original})").format(
                   code=shown[0], due=shown[1], original=shown[2]))


@finding.command("evidence")
@click.argument("code")
@click.argument("evidence_id", type=ID)
@click.option("--out", type=FilePath(dir_okay=False), required=True, help=N_("Where to write the file."))
@pass_state
def finding_evidence(state: State, code: str, evidence_id: int, out: str):
    """Get an evidence file back, checked against its SHA-256.

    Example: opsqa finding evidence NC-2027-001 3 --out copy.pdf
    """
    from engine import OpsqaError
    from handlers.findings import evidence_of

    with state.engine.database.reading() as session:
        found = [e for e in evidence_of(session, code) if e.id == evidence_id]
        if not found:
            raise OpsqaError(_("{code} has no evidence {evidence_id}; see `opsqa finding show {given}`").format(
                                 code=code.upper(), evidence_id=evidence_id, given=code))
        _write_evidence(found[0].content, found[0].sha256, evidence_id, out)


def _write_evidence(content: bytes, digest: str, evidence_id: int, out: str) -> None:
    import hashlib

    from engine import OpsqaError

    if hashlib.sha256(content).hexdigest() != digest:
        raise OpsqaError(_("evidence {evidence_id} no longer matches its SHA-256; the database was altered").format(
                             evidence_id=evidence_id))
    if Path(out).exists():
        raise OpsqaError(_("{out} exists; give a new file name").format(out=out))
    Path(out).write_bytes(content)
    click.echo(_("wrote {out} ({content} B, sha256 {digest})").format(
                   out=out, content=len(content), digest=digest), err=True)


@cli.group()
def report():
    """The documents of the cycle: Markdown and HTML (with SVG charts), made from the records alone."""


def _reports_folder(out: str | None, year: int) -> Path:
    return Path(out or "reports") / str(year)


def _yearly_report(name: str, builder: str, doc: str) -> None:
    """`opsqa report NAME --year Y`: the year's documents built by handlers.reports.BUILDER."""

    @report.command(name, help=N_("{doc}\n\nThe same records always give the same files.\n\nExample: opsqa report "
                                 "{name} --year 2027").format(doc=doc, name=name))
    @click.option("--year", type=YEAR, required=True)
    @click.option("--out", type=FilePath(file_okay=False), help=N_("The reports folder (default: ./reports)."))
    @pass_state
    def command(state: State, year: int, out: str | None):
        from handlers import reports

        with state.engine.database.reading() as session:
            documents = getattr(reports, builder)(session, year)
        warnings: list[str] = []
        if isinstance(documents, tuple):  # the audit's documents come with the year's warnings
            documents, warnings = documents
        for document in documents:
            for path in document.write(_reports_folder(out, year)):
                click.echo(str(path))
        for warning in warnings:
            click.echo(_("warning: {warning}").format(warning=warning), err=True)


for _name, _builder, _doc in (
    ("audit", "audit_documents",
     "The year's 《运维过程内审报告》 and each audit's 《运维过程内审检查表》; warns when the year has no full audit."),
    ("survey", "survey_documents", "The 《满意度调查总结报告》 with its chart (satisfaction by channel and year)."),
    ("review", "review_documents",
     "The 《管理评审报告》 with its charts (indicators against target, findings by status)."),
    ("improvement", "improvement_documents",
     "The 《服务能力改进计划》: one line per source item, its measure and its follow-up."),
):
    _yearly_report(_name, _builder, _doc)


@report.command("inspection")
@click.argument("code", required=False)
@click.option("--year", type=YEAR, help=N_("Every inspection of this year (instead of CODE)."))
@click.option("--out", type=FilePath(file_okay=False), help=N_("The reports folder (default: ./reports)."))
@pass_state
def report_inspection(state: State, code: str | None, year: int | None, out: str | None):
    """An inspection's 运维服务质量检查记录 and 检查报告 (or every inspection of a year).

    Example: opsqa report inspection INS-2028-01
    """
    from engine import OpsqaError
    from handlers.reports import inspection_codes, inspection_documents

    if (code is None) == (year is None):
        raise OpsqaError(_("name one inspection (CODE) or a year (--year), not both"))
    with state.engine.database.reading() as session:
        codes = [code.upper()] if code else inspection_codes(session, year)
        if not codes:
            raise OpsqaError(_("no inspections in {year}; see `opsqa inspections`").format(year=year))
        documents = {c: inspection_documents(session, c) for c in codes}
    for c, pair in documents.items():
        folder = _reports_folder(out, int(c.split("-")[1]))  # INS-2028-01 is filed under 2028
        for document in pair:
            for path in document.write(folder):
                click.echo(str(path))


@cli.command()
@click.option("--year", type=YEAR, help=N_("Only this year's audits."))
@json_option
@pass_state
def audits(state: State, year: int | None, as_json: bool):
    """Internal audits (6.2.1) and where they stand.

    Example: opsqa audits --year 2027
    """
    from handlers.audits import list_audits

    with state.engine.database.reading() as session:
        rows = list_audits(session, year)
    if not as_json:
        for row in rows:
            row["scope"] = ", ".join(row["scope"])
            row["full"] = "full" if row["full"] else "partial"
    columns = [("code", _("AUDIT")), ("full", _("KIND")), ("scope", _("SCOPE")), ("lead", _("LEAD")),
               ("status", _("STATUS")),
               ("planned_start", _("FROM")), ("planned_end", _("TO")), ("reported_at", _("REPORTED"))]
    _render(rows, columns, as_json)


@cli.group()
def audit():
    """One internal audit: plan it, record its checklist, see what is unchecked."""


@audit.command("plan")
@click.option("--year", type=YEAR, required=True, help=N_("The audit year."))
@click.option("--team", "team_specs", multiple=True, required=True, metavar="AUDITOR=UNIT[,UNIT]",
              help=N_("An auditor and the units (project or department codes) they audit; repeatable."))
@click.option("--lead", "lead_auditor", required=True, metavar="AUDITOR", help=N_("The lead auditor (on the team)."))
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), required=True, help=N_("Planned start."))
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), required=True, help=N_("Planned end."))
@click.option("--partial", is_flag=True, help=N_("Not a full audit of the O&M system."))
@pass_state
def audit_plan(state: State, year: int, team_specs: tuple[str, ...], lead_auditor: str, start, end, partial: bool):
    """Plan an internal audit (qmd) and start its process: the team's independence is checked first.

    Example: opsqa audit plan --year 2027 --lead qmd2 --team qmd2=P-01 --from 2027-06-01 --to 2027-06-10
    """
    from handlers.audits import create_audit

    team: dict[str, list[str]] = {}
    for spec in team_specs:
        auditor, sep, units = spec.partition("=")
        if not sep or not auditor.strip() or not units.strip():
            raise click.BadParameter(_("{spec!r} is not AUDITOR=UNIT[,UNIT]").format(spec=spec), param_hint="--team")
        team.setdefault(auditor.strip(), []).extend(u.strip() for u in units.split(",") if u.strip())
    actor, engine = state.actor(), state.engine
    with engine.database.transaction() as session:
        planned = create_audit(session, year=year, full=not partial, team=team, lead_auditor=lead_auditor,
                               planned_start=start.date(), planned_end=end.date(), now=engine.clock.now(), actor=actor)
        planned.instance_id = engine.starter(session, actor)(
            "internal_audit", planned.code, {"audit": planned.code, "lead_auditor": lead_auditor, "year": year})
        code = planned.code
    click.echo(_("{code} planned; it waits for the management representative's approval").format(code=code))


@audit.command("record")
@click.argument("code")
@click.option("--item", help=N_("The checklist item, e.g. PRC-c."))
@click.option("--rest", is_flag=True, help=N_("Every item of the unit not recorded yet, instead of --item."))
@click.option("--unit", required=True, help=N_("The audited unit (project or department code)."))
@click.option("--result", required=True, type=click.Choice(["conform", "nonconform", "observation", "not_applicable"]))
@click.option("--evidence", help=N_("What was seen (required for nonconform and observation)."))
@click.option("--na-reason", help=N_("Why the item does not apply (required for not_applicable)."))
@click.option("--attach", "attachments", multiple=True, type=FilePath(dir_okay=False), metavar="FILE",
              help=N_("An evidence file, stored with its SHA-256; repeatable."))
@pass_state
def audit_record(state: State, code: str, item: str | None, rest: bool, unit: str, result: str,
                 evidence: str | None, na_reason: str | None, attachments: tuple[str, ...]):
    """Record one checklist row (an auditor assigned to the unit); a later record corrects it, both kept.

    Example: opsqa audit record IA-2027-01 --item PRC-c --unit P-01 --result nonconform --evidence "3起事件超时"
    --attach tickets.xlsx
    """
    from handlers.audits import record_rest, record_result

    if rest == (item is not None):
        raise click.UsageError(_("give --item, or --rest for every item of the unit not recorded yet"))
    actor = state.actor()
    with state.engine.database.transaction() as session:
        if rest:
            items = record_rest(session, code, unit=unit, result=result, evidence=evidence,
                                now=state.engine.clock.now(), actor=actor)
        else:
            record_result(session, code, item=item, unit=unit, result=result, evidence=evidence,
                          na_reason=na_reason, now=state.engine.clock.now(), actor=actor, attachments=attachments)
            items = [item]
    files = _(", {count} file(s) attached").format(count=len(attachments)) if attachments else ""
    click.echo(_("{code} {items} item(s)@{unit}: {result}{files}").format(
                   code=code.upper(), items=len(items), unit=unit, result=result, files=files), err=True)


@audit.command("evidence")
@click.argument("code")
@click.argument("evidence_id", type=ID)
@click.option("--out", type=FilePath(dir_okay=False), required=True, help=N_("Where to write the file."))
@pass_state
def audit_evidence(state: State, code: str, evidence_id: int, out: str):
    """Get a checklist row's evidence file back, checked against its SHA-256 (ids: `opsqa report audit`).

    Example: opsqa audit evidence IA-2027-01 7 --out tickets.xlsx
    """
    from engine import OpsqaError
    from handlers.audits import row_evidence

    with state.engine.database.reading() as session:
        found = [e for files in row_evidence(session, code).values() for e in files if e.id == evidence_id]
        if not found:
            raise OpsqaError(_("{code} has no evidence {evidence_id}").format(
                                 code=code.upper(), evidence_id=evidence_id))
        _write_evidence(found[0].content, found[0].sha256, evidence_id, out)


@audit.command("checklist")
@click.argument("code")
@json_option
@pass_state
def audit_checklist(state: State, code: str, as_json: bool):
    """The checklist's standing: each area, the rows still unchecked, the nonconformities.

    Example: opsqa audit checklist IA-2027-01
    """
    from handlers.audits import checklist_status

    with state.engine.database.reading() as session:
        status = checklist_status(session, code)
    if as_json:
        _print_json(status)
        return
    if status["complete"]:
        progress = _("complete")
    else:
        progress = _("{count} rows unchecked").format(count=len(status["missing"]))
    click.echo(_("{audit}: units {units}; {progress}").format(
        audit=status["audit"], units=", ".join(status["units"]), progress=progress))
    _render(status["areas"], [("area", _("AREA")), ("name", _("NAME")), ("items", _("ITEMS")),
                   ("status", _("STATUS"))], False)
    if status["nonconformities"]:
        click.echo(_("nonconformities: {codes}").format(codes=", ".join(status["nonconformities"])))


@cli.command()
@json_option
@pass_state
def inspections(state: State, as_json: bool):
    """Service quality inspections (6.2.2): trigger, seed, sampled projects, status.

    Example: opsqa inspections --json
    """
    from handlers.inspections import list_inspections

    with state.engine.database.reading() as session:
        rows = list_inspections(session)
    if not as_json:
        for row in rows:
            row["projects"] = ", ".join(row["projects"])
    columns = [("code", _("INSPECTION")), ("trigger_type", _("TRIGGER")), ("seed", _("SEED")),
               ("projects", _("PROJECTS")),
               ("inspector", _("INSPECTOR")), ("status", _("STATUS")), ("started_at", _("STARTED"))]
    _render(rows, columns, as_json)


@cli.group()
def inspection():
    """One service quality inspection: start it, record its check points."""


@inspection.command("start")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1),
              help=N_("The random draw's seed (recorded; the same seed draws the same projects)."))
@click.option("--size", type=click.IntRange(1, 1000), default=1, show_default=True, help=N_("How many projects to "
                                                                                           "draw."))
@click.option("--project", "projects", multiple=True, help=N_("Inspect this project (qmd, when necessary)."))
@click.option("--planned", is_flag=True, help=N_("A spot check from the plan rather than an ad-hoc one."))
@pass_state
def inspection_start(state: State, seed: int | None, size: int, projects: tuple[str, ...], planned: bool):
    """Start an inspection: the O&M supervisor draws projects at random, qmd may name them.

    Example: opsqa inspection start --seed 42
    """
    from handlers.inspections import start_inspection

    actor, engine = state.actor(), state.engine
    with engine.database.transaction() as session:
        started = start_inspection(session, actor=actor, now=engine.clock.now(), seed=seed, size=size,
                                   projects=list(projects) or None, planned=planned,
                                   start_instance=engine.starter(session, actor))
        code, chosen, used_seed = started.code, started.projects, started.seed
    seed_note = _(" (seed {seed})").format(seed=used_seed) if used_seed is not None else ""
    click.echo(_("{code}: inspecting {chosen}{seed_note}").format(
                   code=code, chosen=', '.join(json.loads(chosen)), seed_note=seed_note))


@inspection.command("record")
@click.argument("code")
@click.option("--project", help=N_("The inspected project (default: the sample's only project)."))
@click.option("--item", help=N_("The check point, SVC-a..SVC-e."))
@click.option("--rest", is_flag=True, help=N_("Every check point of the project not recorded yet, instead of --item."))
@click.option("--pass/--fail", "passed", required=True, help=N_("Whether the point conforms."))
@click.option("--evidence", help=N_("What was seen (required when it fails)."))
@click.option("--sample", metavar="TYPE:SIZE:DEFECTS", help=N_("For SVC-e: record type, records sampled, defects "
                                                              "found."))
@pass_state
def inspection_record(state: State, code: str, project: str | None, item: str | None, rest: bool, passed: bool,
                      evidence: str | None, sample: str | None):
    """Record check points of an inspection (its inspector): one with --item, or the rest with --rest.

    Example: opsqa inspection record INS-2028-01 --project P-03 --item SVC-e --fail --sample incident:10:2
    """
    from handlers.inspections import record_check, record_rest, sampled_project

    if rest == (item is not None):
        raise click.UsageError(_("give --item, or --rest for every point not recorded yet"))
    samples = None
    if sample:
        parts = sample.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise click.BadParameter(_("{sample!r} is not TYPE:SIZE:DEFECTS, e.g. incident:10:2").format(
                                         sample=sample), param_hint="--sample")
        samples = {"record_type": parts[0], "size": int(parts[1]), "defects": int(parts[2])}
    actor = state.actor()
    with state.engine.database.transaction() as session:
        project = sampled_project(session, code, project)
        if rest:
            items = record_rest(session, code, project=project, passed=passed, evidence=evidence,
                                now=state.engine.clock.now(), actor=actor)
        else:
            record_check(session, code, project=project, item=item, passed=passed, evidence=evidence,
                         samples=samples, now=state.engine.clock.now(), actor=actor)
            items = [item]
    click.echo(_("{code} {items}@{project}: {result}").format(
        code=code.upper(), items=", ".join(items) or _("nothing left"), project=project,
        result=_("pass") if passed else _("fail")), err=True)


@cli.group()
def auditors():
    """The register of qualified internal auditors (6.2.1)."""


@auditors.command("add")
@click.argument("user")
@click.option("--certificate", "certificate_no", help=N_("The auditor's certificate number."))
@click.option("--valid-until", type=click.DateTime(["%Y-%m-%d"]), help=N_("When the qualification lapses."))
@pass_state
def auditors_add(state: State, user: str, certificate_no: str | None, valid_until):
    """Register a user as a qualified internal auditor (qmd).

    Example: opsqa auditors add ops_aud --certificate IA-001 --valid-until 2029-12-31
    """
    from handlers.audits import add_auditor

    actor = state.actor()
    with state.engine.database.transaction() as session:
        until = valid_until.date() if valid_until else None
        add_auditor(session, user, certificate_no=certificate_no, valid_until=until, now=state.engine.clock.now(),
                    actor=actor)
    click.echo(_("{user} is a registered auditor").format(user=user), err=True)


@auditors.command("list")
@json_option
@pass_state
def auditors_list(state: State, as_json: bool):
    """List the registered auditors with their department (the units they may not audit).

    Example: opsqa auditors list
    """
    from handlers.audits import list_auditors

    with state.engine.database.reading() as session:
        rows = list_auditors(session)
    _render(rows, [("user", _("USER")), ("name", _("NAME")), ("department", _("DEPT")),
                   ("certificate_no", _("CERTIFICATE")),
                   ("valid_until", _("VALID UNTIL"))], as_json)
