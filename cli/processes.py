"""Processes and their instances: validate and deploy BPMN, versions and their differences, the
owners' scenario tests, starting, showing, retrying, cancelling and migrating instances."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

import usecases
from i18n import N_, _, ngettext

from .base import ID, FilePath, Progress, State, _complete, cli, force_option, forced, json_option, pass_state
from .scheduling import _command_runner
from .terminal import _assignments, _cell, _print_json, _render, _scalar

# -- definitions ---------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--reason", required=True, help=N_("Why (kept in the history), e.g. what the change is for."))
@click.option("--revert", is_flag=True, help=N_("Deploy a file equal to an older version again, on purpose."))
@pass_state
def deploy(state: State, paths: tuple[str, ...], reason: str, revert: bool):
    """Deploy BPMN files (default: ./processes, else the standard processes shipped with opsqa). Unchanged
    files make no new version; a file equal to an older version (which would undo what was deployed since)
    is refused unless --revert.

    Example: opsqa deploy processes/quality_plan.bpmn --reason "抽查改为每季度"
    """
    paths = list(paths) or [usecases.processes.default_folder()]
    with Progress(_("deploying")) as progress:
        results = usecases.processes.deploy(state.engine, state.caller, paths, reason=reason, progress=progress,
                                            revert=revert)
    show_deployed(results)


def show_deployed(results: list[dict]) -> None:
    """What a deploy stored, a line a process (`file`: where it came from), then, on stderr, the running
    instances each changed process leaves on older versions, with the command that moves them."""
    for result in results:
        what = _("version {version}") if result["changed"] else _("unchanged (version {version})")
        click.echo(_("{process} ({name}): {what}  [{file}]").format(
            process=result["process"], name=result["name"], what=what.format(version=result["version"]),
            file=result["file"]))
    for result in results:
        older = result["older_running"]
        if older:
            click.echo(ngettext("{older} running instance of {process} stay on older versions; to move them: "
                                "opsqa instance migrate --process {process} --to-version {version} --dry-run",
                                "{older} running instances of {process} stay on older versions; to move them: "
                                "opsqa instance migrate --process {process} --to-version {version} --dry-run",
                                older).format(older=older, process=result["process"], version=result["version"]),
                       err=True)


@cli.command()
@click.argument("paths", nargs=-1)
@pass_state
def validate(state: State, paths: tuple[str, ...]):
    """Check BPMN files without deploying them (works without a database too).

    Example: opsqa validate processes/
    """
    for build in usecases.processes.validate(state.db, list(paths) or [usecases.processes.default_folder()]):
        click.echo(_("{process_id} ({name}): ok, {tasks} user tasks  [{source_file}]").format(
                       process_id=build["process"], name=build["name"], tasks=build["user_tasks"],
                       source_file=build["file"]))


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def processes(ctx: click.Context, as_json: bool):
    """List deployed processes (latest version of each); `processes show P` for one.

    Example: opsqa processes
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(State)
    columns = [("process", _("PROCESS")), ("name", _("NAME")), ("version", _("VER")), ("active", _("ACTIVE")),
               ("deployed_at", _("DEPLOYED")), ("deployed_by", _("BY"))]
    _render(usecases.processes.processes(state.engine), columns, as_json)


@processes.command("export")
@click.argument("folder", required=False, default="processes")
@force_option
@pass_state
def processes_export(state: State, folder: str):
    """Write the deployed processes back to their files (default folder: ./processes), so that the files and
    the database are in step after a change deployed elsewhere; a different file is replaced only with --force.

    Example: opsqa processes export processes --force
    """
    for row in usecases.processes.export(state.engine, folder, force=forced()):
        what = _("written") if row["written"] else _("unchanged")
        click.echo(f"{row['file']}  {what}  ({', '.join(row['processes'])})")


@processes.command("test")
@click.argument("folder", required=False, default="processes", type=FilePath(file_okay=False))
@json_option
@pass_state
def processes_test(state: State, folder: str, as_json: bool):
    """Run the folder's scenario tests (*.scenario.yaml) on a simulated clock, each in a new database with
    the folder's processes: pass or fail per scenario, and why.

    Example: opsqa processes test processes/
    """
    failed, rows = 0, []
    for outcome in usecases.processes.test_scenarios(Path(folder), run_command=_command_runner):
        failed += not outcome.passed
        rows.append({"scenario": outcome.scenario, "passed": outcome.passed, "failures": outcome.failures})
        if as_json:
            continue
        click.echo((_("PASS  {scenario}") if outcome.passed else _("FAIL  {scenario}")).format(
            scenario=outcome.scenario))
        for failure in outcome.failures:
            click.echo(f"      {failure}")
    if as_json:
        _print_json(rows)
    if failed:
        raise SystemExit(1)


@processes.command("diff")
@click.argument("process_id")
@click.argument("old", type=ID)
@click.argument("new", type=ID)
@json_option
@pass_state
def processes_diff(state: State, process_id: str, old: int, new: int, as_json: bool):
    """What changed between two versions: elements, forms, lanes, timers, handlers, the schedule.

    Example: opsqa processes diff quality_plan 1 2
    """
    changes = usecases.processes.diff(state.engine, process_id, old, new)
    if as_json:
        _print_json([str(change) for change in changes])  # English: --json is plain and stable
        return
    if not changes:
        click.echo(_("{process_id} v{old} and v{new} describe the same process").format(
                       process_id=process_id, old=old, new=new))
    for change in changes:
        click.echo(f"- {change.translated()}")


@processes.command("show")
@click.argument("process_id")
@click.option("--version", type=ID, help=N_("The version to draw (default: the latest)."))
@click.option("--diagram", type=FilePath(dir_okay=False), metavar="FILE.svg", help=N_("Draw the process."))
@force_option
@json_option
@pass_state
def processes_show(state: State, process_id: str, version: int | None, diagram: str | None, as_json: bool):
    """A process's versions: when and by whom each was deployed, from which file, how many instances
    still run on it; --diagram draws one.

    Example: opsqa processes show annual_cycle --diagram annual_cycle.svg
    """
    rows = usecases.processes.versions(state.engine, process_id)
    _render(rows, [("version", _("VER")), ("deployed_at", _("DEPLOYED")), ("deployed_by", _("BY")),
                   ("source_file", _("FILE")), ("sha256", _("SHA-256")), ("running", _("RUNNING"))], as_json)
    if diagram:
        chosen, svg = usecases.processes.process_diagram(state.engine, process_id, version)
        usecases.write_output(diagram, svg, force=forced())
        click.echo(_("diagram of version {chosen} written to {diagram}").format(
                       chosen=chosen, diagram=diagram), err=True)


# -- instances -----------------------------------------------------------------------------


@cli.command()
@click.argument("process", shell_complete=lambda ctx, param, incomplete: _complete(ctx, incomplete, "processes"))
@click.option("--key", "business_key", help=N_("Business key, unique per process (e.g. 2027)."))
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE", help=N_("An initial variable."))
@json_option
@pass_state
def start(state: State, process: str, business_key: str | None, assignments: tuple[str, ...], as_json: bool):
    """Start an instance of a process.

    Example: opsqa start quality_plan --key 2027 --set year=2027
    """
    variables = {name: _scalar(value) for name, value in _assignments(assignments).items()}
    view = usecases.processes.start(state.engine, state.caller, process, business_key=business_key,
                                    variables=variables)
    _show_instance(view, as_json)


@cli.command()
@click.option("--status", type=click.Choice(["running", "completed", "error", "cancelled"]))
@click.option("--process", "process_id", help=N_("Only this process."))
@json_option
@pass_state
def instances(state: State, status: str | None, process_id: str | None, as_json: bool):
    """List instances.

    Example: opsqa instances --status error
    """
    columns = [("id", _("ID")), ("process", _("PROCESS")), ("version", _("VER")), ("business_key", _("KEY")),
               ("status", _("STATUS")), ("started_at", _("STARTED")), ("incident", _("INCIDENT"))]
    _render(usecases.processes.instances(state.engine, status=status, process_id=process_id), columns, as_json)


@cli.group()
def instance():
    """One instance: show, retry, cancel."""


@instance.command("show")
@click.argument("instance_id", type=ID)
@force_option
@click.option("--diagram", "diagram", type=FilePath(dir_okay=False), metavar="FILE.svg",
              help=N_("Also draw the process with the instance's state painted on it."))
@json_option
@pass_state
def instance_show(state: State, instance_id: int, diagram: str | None, as_json: bool):
    """Show an instance and its tasks; --diagram draws it (done, ready, waiting, in error).

    Example: opsqa instance show 3 --diagram instance-3.svg
    """
    _show_instance(usecases.processes.instance(state.engine, instance_id), as_json)
    if diagram:
        usecases.check_output(diagram, force=forced())
        usecases.write_output(diagram, usecases.processes.instance_diagram(state.engine, instance_id), force=forced())
        click.echo(_("diagram written to {diagram}").format(diagram=diagram), err=True)


@instance.command("retry")
@click.argument("instance_id", type=ID)
@click.option("--reason", required=True, help=N_("Why (kept in the history), e.g. what was fixed."))
@pass_state
def instance_retry(state: State, instance_id: int, reason: str):
    """Re-run the service task whose handler failed (admin, qmd).

    Example: opsqa instance retry 3 --reason "SMTP 服务器已恢复"
    """
    _show_instance(usecases.processes.retry(state.engine, state.caller, instance_id, reason=reason), False)


@instance.command("cancel")
@click.argument("instance_id", type=ID)
@click.option("--reason", required=True, help=N_("Why (kept in the history)."))
@pass_state
def instance_cancel(state: State, instance_id: int, reason: str):
    """Cancel a running instance and its open tasks (admin, qmd).

    Example: opsqa instance cancel 3 --reason "started by mistake"
    """
    usecases.processes.cancel(state.engine, state.caller, instance_id, reason=reason)
    click.echo(_("instance {instance_id} cancelled").format(instance_id=instance_id), err=True)


@instance.command("migrate")
@click.option("--process", "process_id", required=True, help=N_("The process whose instances move."))
@click.option("--to-version", "version", type=ID, required=True, help=N_("The version they move to."))
@click.option("--instance", "instance_ids", type=ID, multiple=True,
              help=N_("Only this instance (repeatable); default: every running instance of the process."))
@click.option("--dry-run", is_flag=True, help=N_("Say what would move and what would be left; change nothing."))
@click.option("--revert", is_flag=True, help=N_("Undo the instances' migration to that version instead."))
@click.option("--reason", help=N_("Why (kept in the history); needed unless --dry-run."))
@json_option
@pass_state
def instance_migrate(state: State, process_id: str, version: int, instance_ids: tuple[int, ...], dry_run: bool,
                     revert: bool, reason: str | None, as_json: bool):
    """Move running instances onto another version of their process, each in its own transaction. An
    instance moves when no task it has reached was changed or removed; the others are left, with the
    tasks in the way. Every migration is in the history and can be reverted.

    Example: opsqa instance migrate --process annual_cycle --to-version 2 --reason "新增季度抽查"
    """
    results = usecases.processes.migrate(state.engine, state.caller, process_id, version,
                                         instance_ids=list(instance_ids), dry_run=dry_run, revert=revert,
                                         reason=reason)
    left = [r for r in results if r["outcome"] == "left"]
    if as_json:  # the tasks in the way in English: --json is plain and stable
        _print_json([{**r, "obstacles": [str(o) for o in r["obstacles"]]} for r in results])
    elif not results:
        if revert:
            message = _("no running instance of {process} to take back from version {version}")
        else:
            message = _("no running instance of {process} to move to version {version}")
        click.echo(message.format(process=process_id, version=version), err=True)
    outcomes = {"moved": _("moved"), "would move": _("would move"), "reverted": _("reverted"),
                "would revert": _("would revert")}
    for result in [] if as_json else results:
        where = _("instance {instance}").format(instance=result["instance"])
        if result.get("business_key"):
            where += f" ({result['business_key']})"
        if result["outcome"] == "left":
            if "from_version" in result:
                left_where = _("{where}: left on version {version}: ").format(where=where,
                                                                               version=result["from_version"])
            else:
                left_where = _("{where}: left: ").format(where=where)
            click.echo(left_where + _("; ").join(getattr(o, "translated", o.__str__)() for o in result["obstacles"]))
        else:
            how = _(" exactly as it was") if result.get("exact") else ""
            click.echo(_("{where}: {outcome} from version {from_version} to {to_version}{how}").format(
                where=where, outcome=outcomes.get(result["outcome"], result["outcome"]),
                from_version=result["from_version"], to_version=result["to_version"], how=how))
    if left:
        message = ngettext("{left} of {count} instance left where it was",
                           "{left} of {count} instances left where they were", len(results))
        if len(results) != 1 and len(left) == 1:
            message = _("{left} of {count} instances left where it was")
        click.echo(message.format(left=len(left), count=len(results)), err=True)
        raise SystemExit(1)


def _show_instance(view: dict, as_json: bool) -> None:
    if as_json:
        _print_json(view)
        return
    click.echo(_("instance {id}  {name} ({process} v{version})  key {business_key}  {status}").format(**view))
    click.echo(_("started {started_at} by {started_by}").format(
                   started_at=_cell(view['started_at']), started_by=view['started_by']))
    if view["incident"]:
        click.echo(_("incident: {incident}  (fix the cause, then `opsqa instance retry {id}`)").format(
                       incident=view['incident'], id=view['id']))
    if view["tasks"]:
        click.echo("")
        _render(view["tasks"], [("id", _("TASK")), ("name", _("NAME")), ("role", _("ROLE")), ("state", _("STATE")),
                                ("completed_by", _("BY")), ("completed_at", _("AT"))], False)
    if view["timers"]:
        click.echo("")
        timers = [{**t, "due": datetime.fromisoformat(t["due"]), "on": t["attached_to"] or "-"}
                  for t in view["timers"]]
        _render(timers, [("timer", _("WAITING ON TIMER")), ("name", _("NAME")), ("due", _("DUE")),
                         ("on", _("ON TASK"))], False)
