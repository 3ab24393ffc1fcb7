"""Drafts of processes from the terminal: the same use cases as the browser's modeler pages (save a file as a
draft, check, compare, try against a simulated year, deploy, discard), for a process owner who edits in
Camunda Modeler on their desk."""

from __future__ import annotations

from pathlib import Path

import click

import usecases
from i18n import N_, _, ngettext

from .base import ID, FilePath, State, cli, json_option, pass_state
from .processes import show_deployed
from .terminal import _print_json, _render


@cli.group(invoke_without_command=True)
@click.option("--process", "process_id", help=N_("Only this process's drafts."))
@click.option("--all", "show_all", is_flag=True, help=N_("Deployed and discarded drafts too."))
@json_option
@click.pass_context
def drafts(ctx: click.Context, process_id: str | None, show_all: bool, as_json: bool):
    """Drafts of processes (open ones unless --all): saved in the browser or by `drafts save`, never run until
    deployed.

    Example: opsqa drafts --process quality_plan
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(State)
    rows = usecases.drafts.drafts(state.engine, process_id, status=None if show_all else "open")
    for row in rows:
        row["problems"] = len(row["problems"])
    _render(rows, [("id", _("DRAFT")), ("process", _("PROCESS")), ("based_on", _("FROM VERSION")),
                   ("status", _("STATUS")), ("problems", _("PROBLEMS")), ("saved_at", _("SAVED")),
                   ("saved_by", _("BY"))], as_json)


@drafts.command("save")
@click.argument("process_id")
@click.argument("file", type=FilePath(dir_okay=False))
@click.option("--draft", "draft_id", type=ID, help=N_("Save over this open draft rather than a new one."))
@json_option
@pass_state
def drafts_save(state: State, process_id: str, file: str, draft_id: int | None, as_json: bool):
    """Store a BPMN file as a draft of a deployed process, checked as it is saved (its problems are listed, one
    line each with its element); nothing is deployed.

    Example: opsqa drafts save quality_plan quality_plan.bpmn
    """
    text = usecases.read_text_bounded(file, limit=usecases.drafts.DRAFT_LIMIT)
    saved = usecases.drafts.save(state.engine, state.caller, process_id, text, draft_id=draft_id)
    _show(saved, as_json)


@drafts.command("check")
@click.argument("draft_id", type=ID)
@json_option
@pass_state
def drafts_check(state: State, draft_id: int, as_json: bool):
    """Check a draft again with the deploy checks (what it calls may have changed since it was saved).

    Example: opsqa drafts check 3
    """
    _show(usecases.drafts.check(state.engine, state.caller, draft_id), as_json)


@drafts.command("compare")
@click.argument("draft_id", type=ID)
@json_option
@pass_state
def drafts_compare(state: State, draft_id: int, as_json: bool):
    """What a draft changes against the deployed version, in the words of `processes diff`.

    Example: opsqa drafts compare 3
    """
    view = usecases.drafts.compare(state.engine, draft_id)
    if as_json:
        _print_json({"draft": draft_id, "version": view["version"], "changes": [str(c) for c in view["changes"]],
                     "marks": view["marks"]})
        return
    if not view["changes"]:
        click.echo(_("draft {draft} and version {version} describe the same process").format(
                       draft=draft_id, version=view["version"]))
    for change in view["changes"]:
        click.echo(f"- {change.translated()}")


@drafts.command("try")
@click.argument("draft_id", type=ID)
@click.option("--scenario", type=FilePath(dir_okay=False),
              help=N_("A scenario (YAML with from and to); default: the demo's year."))
@json_option
@pass_state
def drafts_try(state: State, draft_id: int, scenario: str | None, as_json: bool):
    """Run the scenario tests and a simulated year on the draft and on the deployed version, each in a
    throw-away copy of what is deployed, and show the two side by side.

    Example: opsqa drafts try 3 --scenario year.yaml
    """
    given = None
    if scenario is not None:
        with open(scenario, "rb") as handle:  # a little past the limit: the use case refuses it in one line
            given = (Path(scenario).name, handle.read(usecases.trials.SCENARIO_LIMIT + 1))
    started = usecases.trials.start(state.engine, state.caller, draft_id, scenario=given)
    usecases.trials.wait(started["id"])
    trial = usecases.trials.trial(state.engine, started["id"])
    if as_json:
        _print_json(trial)
        return
    if trial["status"] != "done":
        raise click.ClickException(trial["error"] or _("the trial stopped before it finished"))
    rows = []
    result = trial["result"]
    for side in ("deployed", "draft"):
        run = result[side]
        tests = run["tests"]
        if tests["ok"]:
            count = sum(t["passed"] for t in tests["output"])
            passed = _("{passed} of {count} pass").format(passed=count, count=len(tests["output"]))
        else:
            passed = tests["error"]
        simulation = run["simulation"]
        if simulation["ok"]:
            out = simulation["output"]
            year = _("tasks done {tasks_done}, open {tasks_open}, overdue {overdue}, escalations {escalations}").format(
                **out)
        else:
            year = simulation["error"]
        rows.append({"side": _(usecases.trials.SIDES[side]), "tests": passed, "year": year})
    _render(rows, [("side", ""), ("tests", _("SCENARIO TESTS")), ("year", _("SIMULATED YEAR"))], False)


@drafts.command("deploy")
@click.argument("draft_id", type=ID)
@click.option("--reason", required=True, help=N_("Why (kept in the history), e.g. what the change is for."))
@pass_state
def drafts_deploy(state: State, draft_id: int, reason: str):
    """Deploy a draft without problems as its process's next version.

    Example: opsqa drafts deploy 3 --reason "抽查改为每季度"
    """
    result = usecases.drafts.deploy(state.engine, state.caller, draft_id, reason=reason)
    show_deployed([{**result, "file": _("draft {draft}").format(draft=draft_id)}, *result["also"]])


@drafts.command("discard")
@click.argument("draft_id", type=ID)
@pass_state
def drafts_discard(state: State, draft_id: int):
    """Close an open draft without deploying it.

    Example: opsqa drafts discard 3
    """
    usecases.drafts.discard(state.engine, state.caller, draft_id)
    click.echo(_("draft {draft} discarded").format(draft=draft_id))


def _show(saved: dict, as_json: bool) -> None:
    if as_json:
        _print_json({k: v for k, v in saved.items() if k != "xml"})
        return
    click.echo(_("draft {draft} of {process}: saved").format(draft=saved["id"], process=saved["process"]))
    for problem in saved["problems"]:
        click.echo(f"  {problem['line']}")
    if saved["problems"]:
        click.echo(ngettext("{count} problem: it cannot be deployed until it is corrected",
                            "{count} problems: it cannot be deployed until they are corrected",
                            len(saved["problems"])).format(count=len(saved["problems"])), err=True)
    else:
        click.echo(_("the deploy checks pass"))
