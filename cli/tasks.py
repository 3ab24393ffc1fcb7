"""People's work: listing, showing, claiming and completing user tasks."""

from __future__ import annotations

import sys
from typing import Any

import click

import usecases
from i18n import N_, _

from .base import ID, FilePath, State, cli, json_option, pass_state, task_id_argument, xlsx_option
from .terminal import _assignments, _cell, _print_json, _read_data, _render, _write_xlsx

# -- tasks ---------------------------------------------------------------------------------


@cli.command()
@click.option("--role", help=N_("Only tasks of this role (lane id)."))
@click.option("--mine", is_flag=True, help=N_("Only tasks assigned to or claimed by you."))
@click.option("--instance", "instance_id", type=ID, help=N_("Only tasks of this instance."))
@click.option("--overdue", is_flag=True, help=N_("Only open tasks past their due date."))
@click.option("--all", "all_states", is_flag=True, help=N_("Completed and cancelled tasks too."))
@click.option("--limit", type=click.IntRange(0, None), default=200, show_default=True,
              help=N_("At most this many, oldest first (0: no limit)."))
@json_option
@xlsx_option
@pass_state
def tasks(state: State, role: str | None, mine: bool, instance_id: int | None, overdue: bool, all_states: bool,
          limit: int, as_json: bool, xlsx_file: str | None):
    """List open user tasks, oldest first (the first 200; --limit 0 for all; --xlsx writes all).

    Example: opsqa tasks --role gm --overdue
    """
    limit = 0 if xlsx_file else limit
    rows = usecases.tasks.tasks(state.db, lambda: state.engine, caller=state.caller if mine else None,
                                quick=state.as_name is None and state._owns_engine, role=role,
                                instance_id=instance_id, overdue=overdue, all_states=all_states,
                                limit=limit + 1 if limit else None)
    more = bool(limit) and len(rows) > limit
    rows = rows[:limit] if limit else rows
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, "tasks", as_json)
    columns = [("id", _("TASK")), ("instance", _("INST")), ("business_key", _("KEY")), ("name", _("NAME")),
               ("role", _("ROLE")),
               ("state", _("STATE")),
               ("assignee", _("ASSIGNEE")), ("claimed_by", _("CLAIMED")), ("created_at", _("SINCE")),
               ("due_at", _("DUE"))]
    _render(rows, columns, as_json)
    if more:
        click.echo(_("(the oldest {limit} shown; --limit 0 lists all)").format(limit=limit), err=True)


@cli.group()
def task():
    """One task: show, claim, unclaim, complete. A unique prefix of the id will do."""


@task.command("show")
@task_id_argument
@json_option
@pass_state
def task_show(state: State, task_id: str, as_json: bool):
    """Show a task, its form and the variables it was given.

    Example: opsqa task show 3f2a
    """
    view = usecases.tasks.task(state.engine, task_id)
    if as_json:
        _print_json(view)
        return
    click.echo(_("task {id}  {name} ({task})").format(id=view['id'], name=view['name'], task=view['task']))
    claimed = _("  claimed by {user}").format(user=view["claimed_by"]) if view["claimed_by"] else ""
    click.echo(_("instance {instance} (key {business_key})  role {role}  {state}").format(
        instance=view["instance"], business_key=view["business_key"], role=view["role"] or "-", state=view["state"])
        + claimed)
    click.echo(_("since {created_at}  due {due_at}").format(created_at=_cell(view["created_at"]),
                                                          due_at=_cell(view["due_at"])))
    if view["completed_by"]:
        click.echo(_("completed by {completed_by} at {completed_at}").format(
                       completed_by=view['completed_by'], completed_at=_cell(view['completed_at'])))
    if view["form"]:
        click.echo(_("\nform:") + (_(" (a field left out keeps its current value)") if view.get("prefill") else ""))
        for field in view["form"]:
            click.echo(f"  {field['id']}  {field['label']}  [{_describe_field(field)}]")
            current = view["variables"].get(field["id"])
            if current not in (None, ""):
                click.echo(_("      current: {current}").format(current=current))
    others = {k: v for k, v in view["variables"].items() if k not in {f["id"] for f in view["form"]}}
    if others:
        click.echo(_("\nvariables:"))
        for name, value in sorted(others.items()):
            click.echo(f"  {name} = {value}")


@task.command("claim")
@task_id_argument
@pass_state
def task_claim(state: State, task_id: str):
    """Make a role task yours until you unclaim it.

    Example: opsqa task claim 3f2a
    """
    usecases.tasks.claim(state.engine, state.caller, task_id)
    click.echo(_("task {task_id} claimed").format(task_id=task_id), err=True)


@task.command("unclaim")
@task_id_argument
@pass_state
def task_unclaim(state: State, task_id: str):
    """Give a claimed task back to its role.

    Example: opsqa task unclaim 3f2a
    """
    usecases.tasks.unclaim(state.engine, state.caller, task_id)
    click.echo(_("task {task_id} released").format(task_id=task_id), err=True)


@task.command("complete")
@task_id_argument
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE", help=N_("A form value; repeatable."))
@click.option("--data", "data_file", type=FilePath(dir_okay=False), help=N_("Form values from a JSON or YAML file."))
@pass_state
def task_complete(state: State, task_id: str, assignments: tuple[str, ...], data_file: str | None):
    """Complete a task with its form values (asked for on a terminal when missing).

    Example: opsqa task complete 3f2a --set decision=rejected --set comment="目标不够具体"
    """
    values: dict[str, Any] = _read_data(data_file) if data_file else {}
    values.update(_assignments(assignments))
    if sys.stdin.isatty():
        for field in usecases.tasks.missing_required(state.engine, task_id, values):
            values[field["id"]] = click.prompt(f"{field['label']} [{_describe_field(field)}]")
    usecases.tasks.complete(state.engine, state.caller, task_id, values)
    click.echo(_("task {task_id} completed").format(task_id=task_id), err=True)


def _outcome(word: str) -> str:
    """A handler's one-word outcome, in the chosen language."""
    return {"added": _("added"), "updated": _("updated"), "unchanged": _("unchanged")}.get(word, word)


def _describe_field(field: dict) -> str:
    parts = [field["type"]]
    if field["type"] == "enum":
        parts = [_("one of {options}").format(options=", ".join(f"{o['id']} ({o['name']})" for o in field["options"]))]
    for key in ("min", "max", "minlength", "maxlength"):
        if key in field:
            parts.append(f"{key} {field[key]}")
    if field["required"]:
        parts.append(_("required"))
    if "default" in field:
        parts.append(_("default {value}").format(value=field["default"]))
    return ", ".join(parts)
