"""Checking (6.2.1, 6.2.2): internal audits and their checklists, auditors, service inspections, findings
and their evidence, and the documents the year's records make."""

from __future__ import annotations

import click

import usecases
from i18n import N_, _

from .base import ID, YEAR, FilePath, State, cli, force_option, forced, json_option, pass_state, xlsx_option
from .terminal import _cell, _parse_local, _print_json, _render, _write_xlsx


@cli.command()
@click.option("--open", "open_only", is_flag=True, help=N_("Only findings not yet closed."))
@click.option("--overdue", is_flag=True, help=N_("Only findings past their due date (not waiting for verification)."))
@click.option("--year", type=YEAR, help=N_("Only findings raised in this year."))
@click.option("--as-of", "as_of", metavar="TIME", help=N_("Judge overdue as of this time (default: now)."))
@click.option("--summary", is_flag=True,
              help=N_("Instead of the list, each year's on-time closure rate (closed by the due date / closed)."))
@json_option
@xlsx_option
@pass_state
def findings(state: State, open_only: bool, overdue: bool, year: int | None, as_of: str | None, summary: bool,
             as_json: bool, xlsx_file: str | None):
    """Findings (nonconformities and rectification items) and where they stand, with the on-time closure
    rate of their years under the table.

    Example: opsqa findings --overdue --xlsx findings.xlsx
    """
    listing = usecases.audits.findings_with_rates(state.engine, open_only=open_only, overdue=overdue, year=year,
                                                  as_of=_parse_local(as_of, "--as-of") if as_of else None)
    rows, rates = listing["findings"], listing["on_time"]
    if summary:
        if xlsx_file:
            raise click.UsageError(_("--summary and --xlsx are alternatives; give one"))
        if as_json:
            return _print_json(rates)
        for rate in rates:
            click.echo(_closure_line(rate))
        return
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, "findings", as_json)
    if not as_json:
        for row in rows:
            row["overdue"] = (_("{days} d").format(days=row["days_overdue"]) if row["overdue"]
                              else _("closed {days} d late").format(days=row["days_late"]) if row["closed_late"]
                              else "-")
    columns = [("code", _("FINDING")), ("source", _("SOURCE")), ("item", _("ITEM")), ("unit", _("UNIT")),
               ("owner", _("OWNER")),
               ("status", _("STATUS")), ("due", _("DUE")), ("overdue", _("OVERDUE")), ("description", _("DESCRIPTION"))]
    _render(rows, columns, as_json)
    if not as_json:
        for rate in rates:
            click.echo(_closure_line(rate))


def _closure_line(rate: dict) -> str:
    """A year's on-time closure rate (按期整改率) in one line."""
    if not rate["closed"]:
        return _("on-time closure {year}: no finding closed yet").format(year=rate["year"])
    return _("on-time closure {year}: {on_time} of {closed} closed findings closed by their due date ({rate:.1%}), "
             "{late} late").format(year=rate["year"], on_time=rate["closed_on_time"], closed=rate["closed"],
                                   rate=rate["on_time_rate"], late=rate["closed_late"])


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
    raised = usecases.audits.add_finding(state.engine, state.caller, owner=owner, description=description, unit=unit,
                                         item_code=item_code, severity=severity, due=due.date() if due else None)
    click.echo(_("{code} raised, due {due_date}, owner {owner}").format(
                   code=raised["code"], due_date=raised["due"], owner=raised["owner"]))


@finding.command("show")
@click.argument("code")
@json_option
@pass_state
def finding_show(state: State, code: str, as_json: bool):
    """Show a finding, its due-date history and its evidence.

    Example: opsqa finding show NC-2027-003
    """
    item = usecases.audits.finding(state.engine, code)
    if as_json:
        _print_json(item)
        return
    late = _(", {days} days overdue").format(days=item["days_overdue"]) if item["overdue"] else ""
    late = _(", {days} days late").format(days=item["days_late"]) if item["closed_late"] else late
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
    evidence = usecases.audits.attach_evidence(state.engine, state.caller, code, file, note=note)
    click.echo(_("evidence {number} attached to {code} (sha256 {digest})").format(
                   number=evidence["id"], code=evidence["finding"], digest=evidence["sha256"]))


@finding.command("extend")
@click.argument("code")
@click.option("--to", "to", type=click.DateTime(["%Y-%m-%d"]), required=True, help=N_("The new due date."))
@click.option("--reason", required=True, help=N_("Why the finding needs more time."))
@pass_state
def finding_extend(state: State, code: str, to, reason: str):
    """Extend a finding's due date (qmd): the original date is kept, the reminders and escalation move.

    Example: opsqa finding extend NC-2027-003 --to 2027-09-15 --reason "备件到货延迟"
    """
    extended = usecases.audits.extend_finding(state.engine, state.caller, code, to=to.date(), reason=reason)
    click.echo(_("{code} is now due {due} (originally {original})").format(
                   code=extended["code"], due=extended["due"], original=extended["original_due"]))


@finding.command("evidence")
@click.argument("code")
@click.argument("evidence_id", type=ID)
@click.option("--out", type=FilePath(dir_okay=False), required=True, help=N_("Where to write the file."))
@force_option
@pass_state
def finding_evidence(state: State, code: str, evidence_id: int, out: str):
    """Get an evidence file back, checked against its SHA-256.

    Example: opsqa finding evidence NC-2027-001 3 --out copy.pdf
    """
    _wrote(usecases.audits.write_finding_evidence(state.engine, code, evidence_id, out, force=forced()))


def _wrote(written: dict) -> None:
    click.echo(_("wrote {out} ({content} B, sha256 {digest})").format(
                   out=written["file"], content=written["size"], digest=written["sha256"]), err=True)


@cli.group()
def report():
    """The documents of the cycle as drafts (草稿/非受控), made from the records alone: HTML, Word, PDF or
    Markdown. `opsqa documents issue` issues the controlled copies."""


format_option = click.option("--format", "formats", default="html,md", show_default=True, metavar="FORMATS",
                             help=N_("The files to write, separated by commas: html, docx, pdf, md."))


def _yearly_report(name: str, doc: str) -> None:
    """`opsqa report NAME --year Y`: the year's documents, made by usecases.audits.report_NAME."""

    @report.command(name, help=N_("{doc}\n\nThe same records always give the same files.\n\nExample: opsqa report "
                                 "{name} --year 2027").format(doc=doc, name=name))
    @click.option("--year", type=YEAR, required=True)
    @click.option("--out", type=FilePath(file_okay=False), help=N_("The reports folder (default: ./reports)."))
    @format_option
    @pass_state
    def command(state: State, year: int, out: str | None, formats: str):
        _show_report(getattr(usecases.audits, f"report_{name}")(state.engine, year, out, formats=formats))


def _show_report(made: dict) -> None:
    for path in made["files"]:
        click.echo(path)
    for warning in made["warnings"]:
        click.echo(_("warning: {warning}").format(warning=warning), err=True)


for _name, _doc in (
    ("audit",
     "The year's 《运维过程内审报告》 and each audit's 《运维过程内审检查表》; warns when the year has no full audit."),
    ("survey", "The 《满意度调查总结报告》 with its chart (satisfaction by channel and year)."),
    ("review", "The 《管理评审报告》 with its charts (indicators against target, findings by status)."),
    ("improvement", "The 《服务能力改进计划》: one line per source item, its measure and its follow-up."),
):
    _yearly_report(_name, _doc)


@report.command("inspection")
@click.argument("code", required=False)
@click.option("--year", type=YEAR, help=N_("Every inspection of this year (instead of CODE)."))
@click.option("--out", type=FilePath(file_okay=False), help=N_("The reports folder (default: ./reports)."))
@format_option
@pass_state
def report_inspection(state: State, code: str | None, year: int | None, out: str | None, formats: str):
    """An inspection's 运维服务质量检查记录 and 检查报告 (or every inspection of a year).

    Example: opsqa report inspection INS-2028-01
    """
    _show_report(usecases.audits.report_inspection(state.engine, code, year=year, out_folder=out, formats=formats))


@cli.command()
@click.option("--year", type=YEAR, help=N_("Only this year's audits."))
@json_option
@pass_state
def audits(state: State, year: int | None, as_json: bool):
    """Internal audits (6.2.1) and where they stand.

    Example: opsqa audits --year 2027
    """
    rows = usecases.audits.audits(state.engine, year)
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
    team: dict[str, list[str]] = {}
    for spec in team_specs:
        auditor, sep, units = spec.partition("=")
        if not sep or not auditor.strip() or not units.strip():
            raise click.BadParameter(_("{spec!r} is not AUDITOR=UNIT[,UNIT]").format(spec=spec), param_hint="--team")
        team.setdefault(auditor.strip(), []).extend(u.strip() for u in units.split(",") if u.strip())
    planned = usecases.audits.plan_audit(state.engine, state.caller, year=year, team=team, lead_auditor=lead_auditor,
                                         start=start.date(), end=end.date(), full=not partial)
    click.echo(_("{code} planned; it waits for the management representative's approval").format(
                   code=planned["code"]))


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
    if rest == (item is not None):
        raise click.UsageError(_("give --item, or --rest for every item of the unit not recorded yet"))
    recorded = usecases.audits.record_audit(state.engine, state.caller, code, unit=unit, result=result, item=item,
                                            evidence=evidence, na_reason=na_reason, attachments=attachments)
    files = _(", {count} file(s) attached").format(count=len(attachments)) if attachments else ""
    click.echo(_("{code} {items} item(s)@{unit}: {result}{files}").format(
                   code=recorded["audit"], items=len(recorded["items"]), unit=unit, result=result, files=files),
               err=True)


@audit.command("evidence")
@click.argument("code")
@click.argument("evidence_id", type=ID)
@click.option("--out", type=FilePath(dir_okay=False), required=True, help=N_("Where to write the file."))
@force_option
@pass_state
def audit_evidence(state: State, code: str, evidence_id: int, out: str):
    """Get a checklist row's evidence file back, checked against its SHA-256 (ids: `opsqa report audit`).

    Example: opsqa audit evidence IA-2027-01 7 --out tickets.xlsx
    """
    _wrote(usecases.audits.write_audit_evidence(state.engine, code, evidence_id, out, force=forced()))


@audit.command("checklist")
@click.argument("code")
@json_option
@pass_state
def audit_checklist(state: State, code: str, as_json: bool):
    """The checklist's standing: each area, the rows still unchecked, the nonconformities.

    Example: opsqa audit checklist IA-2027-01
    """
    status = usecases.audits.audit_checklist(state.engine, code)
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
    improvement = status["improvement"]
    if not improvement["items"]:
        click.echo(_("{item}: no improvement measures from {year}").format(**improvement))
        return
    click.echo(_("{item}: improvement measures of {year} (and older ones still open): {count}, {unfinished} not "
                 "finished").format(count=len(improvement["items"]), **improvement))
    _render(improvement["items"], [("code", _("ITEM")), ("source", _("SOURCE")), ("owner", _("OWNER")),
                                   ("due", _("DUE")), ("status", _("STATUS")), ("action", _("ACTION")),
                                   ("measure", _("MEASURE"))], False)


@cli.command()
@json_option
@pass_state
def inspections(state: State, as_json: bool):
    """Service quality inspections (6.2.2): trigger, seed, sampled projects, status.

    Example: opsqa inspections --json
    """
    rows = usecases.audits.inspections(state.engine)
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
    started = usecases.audits.start_inspection(state.engine, state.caller, seed=seed, size=size,
                                               projects=list(projects), planned=planned)
    seed_note = _(" (seed {seed})").format(seed=started["seed"]) if started["seed"] is not None else ""
    click.echo(_("{code}: inspecting {chosen}{seed_note}").format(
                   code=started["code"], chosen=', '.join(started["projects"]), seed_note=seed_note))


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
    if rest == (item is not None):
        raise click.UsageError(_("give --item, or --rest for every point not recorded yet"))
    samples = None
    if sample:
        parts = sample.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise click.BadParameter(_("{sample!r} is not TYPE:SIZE:DEFECTS, e.g. incident:10:2").format(
                                         sample=sample), param_hint="--sample")
        samples = {"record_type": parts[0], "size": int(parts[1]), "defects": int(parts[2])}
    recorded = usecases.audits.record_inspection(state.engine, state.caller, code, passed=passed, project=project,
                                                 item=item, evidence=evidence, samples=samples)
    click.echo(_("{code} {items}@{project}: {result}").format(
        code=recorded["inspection"], items=", ".join(recorded["items"]) or _("nothing left"),
        project=recorded["project"], result=_("pass") if passed else _("fail")), err=True)


@cli.group()
def auditors():
    """The register of qualified internal auditors (6.2.1)."""


@auditors.command("add")
@click.argument("user")
@click.option("--certificate", "--certificate-no", "certificate_no", help=N_("The auditor's certificate number."))
@click.option("--valid-until", type=click.DateTime(["%Y-%m-%d"]), help=N_("When the qualification lapses."))
@pass_state
def auditors_add(state: State, user: str, certificate_no: str | None, valid_until):
    """Register a user as a qualified internal auditor (qmd).

    Example: opsqa auditors add ops_aud --certificate IA-001 --valid-until 2029-12-31
    """
    usecases.audits.add_auditor(state.engine, state.caller, user, certificate_no=certificate_no,
                                valid_until=valid_until.date() if valid_until else None)
    click.echo(_("{user} is a registered auditor").format(user=user), err=True)


@auditors.command("list")
@json_option
@pass_state
def auditors_list(state: State, as_json: bool):
    """List the registered auditors with their department (the units they may not audit).

    Example: opsqa auditors list
    """
    columns = [("user", _("USER")), ("name", _("NAME")), ("department", _("DEPT")),
               ("certificate_no", _("CERTIFICATE")), ("valid_until", _("VALID UNTIL"))]
    _render(usecases.audits.auditors(state.engine), columns, as_json)


@auditors.command("show")
@click.argument("user")
@json_option
@pass_state
def auditors_show(state: State, user: str, as_json: bool):
    """Show an auditor: certificate, until when qualified (and whether that has passed), department.

    Example: opsqa auditors show ops_aud
    """
    view = usecases.audits.auditor(state.engine, user)
    if as_json:
        _print_json(view)
        return
    click.echo(_("auditor {user}  {name}  department {department}").format(
        user=view["user"], name=_cell(view["name"]), department=_cell(view["department"])))
    click.echo(_("certificate {certificate}, valid until {valid_until} ({status})").format(
        certificate=_cell(view["certificate_no"]), valid_until=_cell(view["valid_until"]), status=view["status"]))
    click.echo(_("registered by {by} at {at}").format(by=view["added_by"], at=_cell(view["added_at"])))


@auditors.command("set")
@click.argument("user")
@click.option("--certificate", "--certificate-no", "certificate_no",
              help=N_("The auditor's certificate number (\"\" clears it)."))
@click.option("--valid-until", type=click.DateTime(["%Y-%m-%d"]), help=N_("When the qualification lapses."))
@click.option("--reason", required=True, help=N_("Why (kept in the history), e.g. the renewal's reference."))
@pass_state
def auditors_set(state: State, user: str, certificate_no: str | None, valid_until, reason: str):
    """Renew or correct an auditor's qualification (qmd; the old and new values are recorded).

    Example: opsqa auditors set ops_aud --certificate IA-007 --valid-until 2031-12-31 --reason "2028年复审通过"
    """
    if certificate_no is None and valid_until is None:
        raise click.UsageError(_("give --certificate or --valid-until to change"))
    changed = usecases.audits.renew_auditor(state.engine, state.caller, user, certificate_no=certificate_no,
                                            valid_until=valid_until.date() if valid_until else None, reason=reason)
    if not changed["new"]:
        click.echo(_("auditor {user} unchanged").format(user=user), err=True)
        return
    click.echo(_("auditor {user}: {changes}").format(user=user, changes="; ".join(
        f"{key} {_cell(changed['old'][key])} -> {_cell(value)}" for key, value in changed["new"].items())), err=True)
