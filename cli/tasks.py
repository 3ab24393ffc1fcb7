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
@click.option("--done", is_flag=True, help=N_("The tasks you completed (我的已办), newest first."))
@click.option("--started", is_flag=True, help=N_("The instances you started (我发起的), newest first."))
@click.option("--cc", is_flag=True, help=N_("The tasks copied to you (抄送我的), newest first."))
@click.option("--sign", is_flag=True, help=N_("The open tasks waiting for your signature (待我加签), newest first."))
@click.option("--limit", type=click.IntRange(0, None), default=200, show_default=True,
              help=N_("At most this many, oldest first (0: no limit)."))
@json_option
@xlsx_option
@pass_state
def tasks(state: State, role: str | None, mine: bool, instance_id: int | None, overdue: bool, all_states: bool,
          done: bool, started: bool, cc: bool, sign: bool, limit: int, as_json: bool, xlsx_file: str | None):
    """List open user tasks, oldest first (the first 200; --limit 0 for all; --xlsx writes all); or what you
    completed (--done), started (--started), were copied on (--cc) or are asked to sign (--sign).

    Example: opsqa tasks --role gm --overdue
    """
    limit = 0 if xlsx_file else limit
    if done or started or cc or sign:
        if done + started + cc + sign > 1 or role or mine or instance_id or overdue or all_states:
            raise click.UsageError(_("--done, --started, --cc and --sign take no other filter, nor each other"))
        view = "done" if done else "started" if started else "cc" if cc else "sign"
        return _my_work(view, state, limit, as_json, xlsx_file)
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


def _my_work(view: str, state: State, limit: int, as_json: bool, xlsx_file: str | None) -> None:
    rows = usecases.tasks.my_work(state.engine, state.caller, view, limit=limit or None)
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, f"tasks-{view}", as_json)
    if view == "done":
        columns = [("id", _("TASK")), ("instance", _("INST")), ("business_key", _("KEY")), ("name", _("NAME")),
                   ("process_name", _("PROCESS")), ("completed_at", _("DONE"))]
    elif view in ("cc", "sign"):
        columns = [("id", _("TASK")), ("instance", _("INST")), ("business_key", _("KEY")), ("name", _("NAME")),
                   ("state", _("STATE")), ("assignee", _("ASSIGNEE")), ("claimed_by", _("CLAIMED")),
                   ("due_at", _("DUE"))]
    else:
        columns = [("id", _("INST")), ("process_name", _("PROCESS")), ("business_key", _("KEY")),
                   ("status", _("STATUS")), ("started_at", _("STARTED"))]
    _render(rows, columns, as_json)


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


@task.command("transfer")
@task_id_argument
@click.option("--to", "to", required=True, metavar="USER", help=N_("Who takes the task over (they must be allowed to "
                                                                 "do it)."))
@click.option("--reason", help=N_("Why (kept in the history)."))
@pass_state
def task_transfer(state: State, task_id: str, to: str, reason: str | None):
    """Hand a task over to another user (转办): it becomes theirs. By whoever holds it, or by qmd or an admin.

    Example: opsqa task transfer 3f2a --to qmd2 --reason "张三出差，由李四核查"
    """
    result = usecases.tasks.transfer(state.engine, state.caller, task_id, to, reason=reason)
    click.echo(_("task {task_id} ({name}) is now {to}'s").format(task_id=result["task"][:8], name=result["name"],
                                                                 to=result["to"]), err=True)


@task.command("delegate")
@task_id_argument
@click.option("--to", "to", required=True, metavar="USER", help=N_("Who does the work and hands it back."))
@pass_state
def task_delegate(state: State, task_id: str, to: str):
    """Delegate a task you hold (委派): USER does the work and hands it back (task resolve); you complete it.

    Example: opsqa task delegate 3f2a --to qmd2
    """
    result = usecases.tasks.delegate(state.engine, state.caller, task_id, to)
    click.echo(_("task {task_id} ({name}) delegated to {to}; it comes back to {owner}").format(
                   task_id=result["task"][:8], name=result["name"], to=result["to"], owner=result["owner"]), err=True)


@task.command("resolve")
@task_id_argument
@click.option("--note", metavar="TEXT", help=N_("What was done, for whoever delegated it."))
@pass_state
def task_resolve(state: State, task_id: str, note: str | None):
    """Hand a delegated task back to whoever delegated it, for them to complete.

    Example: opsqa task resolve 3f2a --note "现场核查完成，照片已上传"
    """
    result = usecases.tasks.resolve(state.engine, state.caller, task_id, note=note)
    click.echo(_("task {task_id} ({name}) handed back to {owner}").format(
                   task_id=result["task"][:8], name=result["name"], owner=result["owner"]), err=True)


@task.command("cc")
@task_id_argument
@click.option("--to", "to", required=True, multiple=True, metavar="USER", help=N_("Who is copied; repeatable."))
@pass_state
def task_cc(state: State, task_id: str, to: tuple[str, ...]):
    """Copy a task to users who should know (抄送): they see it under `tasks --cc` and are told.

    Example: opsqa task cc 3f2a --to gm1 --to mr1
    """
    result = usecases.tasks.copy(state.engine, state.caller, task_id, list(to))
    click.echo(_("task {task_id} ({name}) copied to {to}").format(
                   task_id=result["task"][:8], name=result["name"], to=", ".join(result["to"]) or "-"), err=True)


@task.command("add-signer")
@task_id_argument
@click.option("--to", "to", required=True, multiple=True, metavar="USER",
              help=N_("Who is to sign; repeatable."))
@click.option("--reason", help=N_("Why their signature is needed (kept in the history)."))
@pass_state
def task_add_signer(state: State, task_id: str, to: tuple[str, ...], reason: str | None):
    """Ask users to sign a task before it counts as done (加签): it cannot be completed until each approves.
    By whoever may complete it, qmd or an admin.

    Example: opsqa task add-signer 3f2a --to mr1 --reason "涉及质量目标调整，需管理者代表会签"
    """
    result = usecases.tasks.add_signers(state.engine, state.caller, task_id, list(to), reason=reason)
    click.echo(_("task {task_id} ({name}) waits for the signature of {to}").format(
                   task_id=result["task"][:8], name=result["name"], to=", ".join(result["to"])), err=True)


@task.command("sign")
@task_id_argument
@click.option("--approve", "decision", flag_value="approve", help=N_("Approve the task."))
@click.option("--reject", "decision", flag_value="reject", help=N_("Reject it (a note says why)."))
@click.option("--note", metavar="TEXT", help=N_("A note for the task's holder (required to reject)."))
@pass_state
def task_sign(state: State, task_id: str, decision: str | None, note: str | None):
    """Approve, or reject, a task you were asked to sign (加签).

    Example: opsqa task sign 3f2a --approve --note "同意"
    """
    if decision is None:
        raise click.UsageError(_("say --approve or --reject"))
    result = usecases.tasks.sign(state.engine, state.caller, task_id, approve=decision == "approve", note=note)
    message = (_("task {task_id} ({name}): you approved it") if result["decision"] == "approved"
               else _("task {task_id} ({name}): you rejected it"))
    click.echo(message.format(task_id=result["task"][:8], name=result["name"]), err=True)


@task.command("send-back")
@task_id_argument
@click.option("--to", "step", required=True, metavar="STEP",
              help=N_("The earlier user task (its BPMN id) to go back to."))
@click.option("--reason", help=N_("Why (kept in the history)."))
@pass_state
def task_send_back(state: State, task_id: str, step: str, reason: str | None):
    """Send the instance back from this task to an earlier step it passed (退回). By whoever may complete
    the task; refused when a service task or a called process ran in between.

    Example: opsqa task send-back 3f2a --to draft_plan --reason "质量目标未量化"
    """
    result = usecases.tasks.send_back(state.engine, state.caller, task_id, step, reason=reason)
    click.echo(_("sent back to {step}: task {task_id} is ready again").format(
                   step=result["to"], task_id=result["to_task"][:8]), err=True)


@task.command("withdraw")
@task_id_argument
@click.option("--reason", help=N_("Why (kept in the history)."))
@pass_state
def task_withdraw(state: State, task_id: str, reason: str | None):
    """Take back a task you completed (撤回), while the next step is neither claimed nor done.

    Example: opsqa task withdraw 3f2a --reason "附件传错"
    """
    result = usecases.tasks.withdraw(state.engine, state.caller, task_id, reason=reason)
    click.echo(_("task {task_id} ({name}) withdrawn: it is yours again").format(
                   task_id=result["task"][:8], name=result["name"]), err=True)


@task.command("remind")
@task_id_argument
@click.option("--note", metavar="TEXT", help=N_("A line for the person reminded."))
@pass_state
def task_remind(state: State, task_id: str, note: str | None):
    """Remind whoever holds a task (催办), at most once a day. By qmd, an admin, or whoever started its instance.

    Example: opsqa task remind 3f2a --note "请于本周五前完成"
    """
    result = usecases.tasks.remind(state.engine, state.caller, task_id, note=note)
    click.echo(_("reminded {to} of task {task_id} ({name})").format(
                   to=", ".join(result["to"]) or "-", task_id=result["task"][:8], name=result["name"]), err=True)


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
