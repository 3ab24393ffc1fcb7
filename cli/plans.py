"""Planning (6.1): the quality plans, the register of O&M projects and their quality control, the annual
cycle."""

from __future__ import annotations

import click

import usecases
from i18n import N_, _

from .base import YEAR, FilePath, Progress, State, cli, json_option, pass_state
from .terminal import _cell, _print_json, _render

# -- records -------------------------------------------------------------------------------


@cli.command()
@json_option
@pass_state
def plans(state: State, as_json: bool):
    """The issued organisational quality plans (6.1.2), every edition of each (a revision is a new edition
    that supersedes the one before), newest last.

    Example: opsqa plans --json
    """
    rows = usecases.plans.plans(state.engine)
    if not as_json:
        for row in rows:
            row["standing"] = _("current") if row["status"] == "current" else _(
                "superseded by edition {edition}").format(edition=row["superseded_by_edition"])
    columns = [("period", _("PERIOD")), ("edition", _("EDITION")), ("standing", _("STATUS")),
               ("instance_id", _("INST")), ("objectives", _("OBJECTIVES")),
               ("indicator_cycle", _("KPI")),
               ("revisions", _("DRAFTS")), ("approved_by", _("APPROVED")), ("issued_at", _("ISSUED"))]
    _render(rows, columns, as_json)


@cli.group()
def plan():
    """One year's organisational quality plan."""


@plan.command("show")
@click.argument("year", type=YEAR)
@json_option
@pass_state
def plan_show(state: State, year: int, as_json: bool):
    """A year's plan: every edition (the plan first issued, then each revision), each with every drafted
    version and every approval decision (versions are read-only).

    Example: opsqa plan show 2029
    """
    history = usecases.plans.plan(state.engine, year)
    if as_json:
        _print_json(history)
        return
    editions = history["editions"]
    if len(editions) > 1:
        click.echo(_("{year} plan: {count} edition(s), edition {edition} in force").format(
                       year=year, count=len(editions), edition=history["edition"]))
    for edition in editions:
        issued = edition["issued_version"]
        if len(editions) > 1:
            standing = {"current": _("in force"), "drafting": _("being drafted")}.get(edition["status"]) or _(
                "superseded by edition {edition} at {at}").format(edition=edition["superseded_by_edition"],
                                                                  at=_cell(edition["superseded_at"]))
            click.echo("\n" + _("edition {edition} ({standing}), instance {instance} ({key}): ").format(
                                      edition=edition["edition"], standing=standing, instance=edition["instance"],
                                      key=edition["business_key"])
                       + _("{count} version(s), ").format(count=len(edition["versions"]))
                       + (_("version {version} issued").format(version=issued) if issued else _("not issued yet"))
                       + (_("; reason: {reason}").format(reason=edition["reason"]) if edition["reason"] else ""))
        else:
            click.echo(_("{year} plan: {count} version(s), ").format(year=year, count=len(edition["versions"]))
                       + (_("version {version} issued").format(version=issued) if issued else _("not issued yet")))
        _render([{"version": v["version"], "by": v["by"], "at": v["at"]} for v in edition["versions"]],
                [("version", _("VERSION")), ("by", _("DRAFTED BY")), ("at", _("AT"))], False)
        _render(edition["approvals"], [("version", _("VERSION")), ("decision", _("DECISION")), ("by", _("BY")),
                                       ("at", _("AT")), ("comment", _("COMMENT"))], False)


@plan.command("revise")
@click.argument("year", type=YEAR)
@click.option("--reason", required=True, help=N_("Why the plan changes (kept in the history)."))
@pass_state
def plan_revise(state: State, year: int, reason: str):
    """Revise a year's issued plan (qmd): a new edition of the same plan, drafted from the edition in force
    and approved again by the general manager. Its issue supersedes that edition, and the year's annual cycle
    follows the revised dates for what has not happened yet.

    Example: opsqa plan revise 2027 --reason "内审推迟至7月"
    """
    started = usecases.plans.revise(state.engine, state.caller, year, reason=reason)
    click.echo(_("revision of the {year} quality plan started: edition {edition} in instance {instance_id} "
                 "({business_key}); qmd drafts it, the general manager approves it").format(
                     year=started["year"], edition=started["edition"], instance_id=started["instance_id"],
                     business_key=started["business_key"]))


@cli.group()
def projects():
    """The register of O&M projects (6.1.3): manager, supervisor, team."""


@projects.command("add")
@click.argument("code")
@click.option("--name", required=True, help=N_("The project's name."))
@click.option("--customer", required=True, help=N_("The customer (建设单位/业主)."))
@click.option("--pm", required=True, metavar="USER", help=N_("The project manager (an opsqa user)."))
@click.option("--oms", required=True, metavar="USER", help=N_("The O&M management supervisor (an opsqa user)."))
@click.option("--kind", type=click.Choice(["safe_city", "smart_city", "other"]), default="other", show_default=True)
@click.option("--member", "members", multiple=True, metavar="USER", help=N_("A team member; repeatable."))
@click.option("--contract", "contract_ref", help=N_("The contract's reference."))
@click.option("--om-start", type=click.DateTime(["%Y-%m-%d"]), help=N_("O&M start date."))
@click.option("--om-end", type=click.DateTime(["%Y-%m-%d"]), help=N_("O&M end date."))
@pass_state
def projects_add(state: State, code: str, name: str, customer: str, pm: str, oms: str, kind: str,
                 members: tuple[str, ...], contract_ref: str | None, om_start, om_end):
    """Add a project to the register (ops or qmd).

    Example: opsqa projects add P-01 --name 平安城市一期运维 --customer 市公安局 --pm wang --oms zhao
    """
    usecases.plans.add_project(state.engine, state.caller, code, name=name, customer=customer, pm=pm, oms=oms,
                               kind=kind, members=list(members), contract_ref=contract_ref,
                               om_start=om_start.date() if om_start else None,
                               om_end=om_end.date() if om_end else None)
    click.echo(_("project {code} added").format(code=code), err=True)


@projects.command("list")
@click.option("--all", "all_projects", is_flag=True, help=N_("Closed projects too."))
@json_option
@pass_state
def projects_list(state: State, all_projects: bool, as_json: bool):
    """List the projects of the register.

    Example: opsqa projects list --json
    """
    rows = usecases.plans.projects(state.engine, all_projects=all_projects)
    if not as_json:
        for row in rows:
            row["team"] = ", ".join(row["team"])
    columns = [("code", _("CODE")), ("name", _("NAME")), ("customer", _("CUSTOMER")), ("pm", _("PM")),
               ("oms", _("OMS")),
               ("team", _("TEAM")), ("status", _("STATUS"))]
    _render(rows, columns, as_json)


@projects.command("show")
@click.argument("code")
@json_option
@pass_state
def projects_show(state: State, code: str, as_json: bool):
    """Show a project of the register: customer, manager, supervisor, team, contract, O&M period.

    Example: opsqa projects show P-01
    """
    view = usecases.plans.project(state.engine, code)
    if as_json:
        _print_json(view)
        return
    click.echo(_("project {code}  {name}  ({kind}, {status})").format(**view))
    for key, label in (("customer", _("customer")), ("pm", _("project manager")), ("oms", _("O&M supervisor")),
                       ("contract_ref", _("contract")), ("om_start", _("O&M from")), ("om_end", _("O&M until"))):
        click.echo(f"  {label}: {_cell(view[key])}")
    click.echo("  " + _("team: {team}").format(team=", ".join(view["team"]) or "-"))
    click.echo("  " + _("added by {by} at {at}; last changed {changed}").format(
        by=view["created_by"], at=_cell(view["created_at"]), changed=_cell(view["updated_at"])))


@projects.command("set")
@click.argument("code")
@click.option("--name", help=N_("The project's name."))
@click.option("--customer", help=N_("The customer (建设单位/业主)."))
@click.option("--pm", metavar="USER", help=N_("The project manager (an opsqa user)."))
@click.option("--oms", metavar="USER", help=N_("The O&M management supervisor (an opsqa user)."))
@click.option("--kind", type=click.Choice(["safe_city", "smart_city", "other"]))
@click.option("--status", type=click.Choice(["active", "closed"]), help=N_("closed: the project left the register."))
@click.option("--contract", "contract_ref", help=N_("The contract's reference (\"\" clears it)."))
@click.option("--om-start", type=click.DateTime(["%Y-%m-%d"]), help=N_("O&M start date."))
@click.option("--om-end", type=click.DateTime(["%Y-%m-%d"]), help=N_("O&M end date."))
@click.option("--reason", required=True, help=N_("Why (kept in the history)."))
@pass_state
def projects_set(state: State, code: str, name: str | None, customer: str | None, pm: str | None, oms: str | None,
                 kind: str | None, status: str | None, contract_ref: str | None, om_start, om_end, reason: str):
    """Correct a project of the register (ops or qmd; the old and new values are recorded). A new manager
    or supervisor joins the team; the team itself changes by `projects import`.

    Example: opsqa projects set P-01 --pm li --reason "项目经理变更（运维合同补充协议）"
    """
    changes = {"name": name, "customer": customer, "pm": pm, "oms": oms, "kind": kind, "status": status,
               "contract_ref": contract_ref, "om_start": om_start.date() if om_start else None,
               "om_end": om_end.date() if om_end else None}
    if all(value is None for value in changes.values()):
        raise click.UsageError(_("give at least one value to change (see --help)"))
    changed = usecases.plans.fix_project(state.engine, state.caller, code, reason=reason, **changes)
    if not changed["new"]:
        click.echo(_("project {code} unchanged").format(code=code), err=True)
        return
    click.echo(_("project {code}: {changes}").format(code=code, changes="; ".join(
        f"{key} {_cell(changed['old'][key])} -> {_cell(value)}" for key, value in changed["new"].items())), err=True)


@projects.command("import")
@click.argument("file", type=FilePath(dir_okay=False))
@pass_state
def projects_import(state: State, file: str):
    """Add or update projects from a .csv or .xlsx file (code,name,customer,pm,oms[,kind,status,members,...];
    in a workbook, the first worksheet with these names in row 1).

    All rows or none: a bad row is named by its line (or row) and nothing is imported. Importing the
    same file again changes nothing.

    Example: opsqa projects import projects.xlsx
    """
    with Progress(_("importing")) as progress:
        counts = usecases.plans.import_projects(state.engine, state.caller, file, progress=progress)
    click.echo(_("{file}: {added} added, {updated} updated, {unchanged} unchanged").format(
                   file=file, added=counts['added'], updated=counts['updated'], unchanged=counts['unchanged']))


@projects.command("plan")
@click.argument("code")
@click.option("--year", type=YEAR, help=N_("The year the plan covers (default: this year)."))
@pass_state
def projects_plan(state: State, code: str, year: int | None):
    """Start a project's quality control for a year (6.1.3): ops sets a)-f), the PM arranges them, and
    each O&M report becomes a deadline with a reminder.

    Example: opsqa projects plan P-01 --year 2027
    """
    started = usecases.plans.plan_project(state.engine, state.caller, code, year=year)
    click.echo(_("{code} {year}: quality control started (instance {instance_id}); the operations department "
                 "sets items a)-f) next").format(code=code, year=started["year"], instance_id=started["instance_id"]))


@projects.command("reports")
@click.option("--project", help=N_("Only this project."))
@click.option("--year", type=YEAR, help=N_("Only periods of this year."))
@json_option
@pass_state
def projects_reports(state: State, project: str | None, year: int | None, as_json: bool):
    """The O&M reports projects owe (6.1.3 d): due, submitted, on time or late.

    Example: opsqa projects reports --project P-01 --year 2027
    """
    rows = usecases.plans.reports(state.engine, project=project, year=year)
    if not as_json:
        for row in rows:
            row["state"] = ("on time" if row["on_time"] else "late") if row["submitted_at"] else (
                "overdue" if row["overdue"] else "due")
    columns = [("project", _("PROJECT")), ("period", _("PERIOD")), ("due_at", _("DUE")),
               ("submitted_at", _("SUBMITTED")),
               ("state", _("STATE")), ("report_ref", _("REPORT"))]
    _render(rows, columns, as_json)


@cli.group()
def cycle():
    """The annual cycle: started by its yearly timer, or by hand."""


@cycle.command("start")
@click.option("--year", type=YEAR, required=True)
@pass_state
def cycle_start(state: State, year: int):
    """Start a year's annual cycle by hand (the scheduler never starts the same year again).

    Example: opsqa cycle start --year 2028
    """
    instance_id = usecases.plans.start_cycle(state.engine, state.caller, year)
    click.echo(_("the {year} annual cycle started (instance {instance_id})").format(year=year, instance_id=instance_id))
