"""Setting up and looking after a database: init, upgrade, copy and backup; users; settings; the history."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from i18n import N_, _

from .base import ID, FilePath, State, cli, json_option, pass_state
from .terminal import _render, _summary

# -- set-up --------------------------------------------------------------------------------


@cli.command()
@pass_state
def init(state: State):
    """Create a new database; the OS user running this becomes its admin.

    Example: opsqa --db /srv/opsqa/opsqa.db init
    """
    from engine import Engine
    from store import create_database, describe

    database = create_database(state.db)
    try:
        Engine(database).add_user(state.login, ["admin"])
    finally:
        database.dispose()
    click.echo(_("created opsqa database at {url}; {login} is its admin").format(
                   url=describe(database.url), login=state.login), err=True)


@cli.group()
def db():
    """Database maintenance."""


@db.command("copy")
@click.option("--to", "target", required=True, metavar="URL", help=N_("An empty database, e.g. postgresql+psycopg://…"))
@pass_state
def db_copy(state: State, target: str):
    """Copy this database whole into an empty one (moving from SQLite to PostgreSQL), then verify its
    row counts and its history's hash chain. Stop the scheduler first.

    Example: opsqa --db opsqa.db db copy --to postgresql+psycopg://opsqa@db.example.com/opsqa
    """
    from store import copy_database, describe

    report = copy_database(state.db, target)
    click.echo(_("copied {rows:,} rows in {tables} tables to {target}; history verified: {events:,} events, "
                 "head {head}").format(rows=sum(report.tables.values()), tables=len(report.tables),
                                       target=describe(target), events=report.events, head=report.head[:12]))


@db.command("backup")
@click.argument("file", type=FilePath(dir_okay=False))
@pass_state
def db_backup(state: State, file: str):
    """A consistent copy of the SQLite database, safe while the scheduler runs (SQLite's backup API).

    Example: opsqa db backup /backups/opsqa-2027-12-31.db
    """
    from engine import OpsqaError
    from store import backup_sqlite, open_database, resolve_url

    if Path(file).exists():
        raise OpsqaError(_("{file} exists; a backup goes to a new file").format(file=file))
    open_database(state.db).dispose()  # refuse a missing database or another schema first
    backup_sqlite(resolve_url(state.db), Path(file))
    click.echo(_("backed up to {file}").format(file=file), err=True)


@db.command("upgrade")
@pass_state
def db_upgrade(state: State):
    """Apply pending schema migrations (back the database up first).

    Example: opsqa db upgrade
    """
    from store import upgrade_database

    before, after = upgrade_database(state.db)
    if before == after:
        message = _("schema already at revision {revision}").format(revision=after)
    else:
        message = _("schema upgraded {before} -> {after}").format(before=before, after=after)
    click.echo(message, err=True)


@cli.group()
def users():
    """opsqa users and the roles they hold (lane ids: qmd, gm, ops, pm, ...)."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help=N_("A role code; repeat for several."))
@click.option("--name", "display_name", help=N_("The person's name as shown."))
@click.option("--department", help=N_("The department the person belongs to (a role code: qmd, ops, ...)."))
@click.option("--email", help=N_("Where notifications go (new tasks, reminders, escalations)."))
@pass_state
def users_add(state: State, name: str, roles: tuple[str, ...], display_name: str | None, department: str | None,
              email: str | None):
    """Add a user, or roles to an existing user (admins only).

    Example: opsqa users add zhangsan --role qmd --name 张三 --department qmd
    """
    state.engine.add_user(name, list(roles), display_name=display_name, department=department, email=email,
                          actor=state.actor())
    click.echo(_("user {name} holds {roles}").format(name=name, roles=', '.join(roles)), err=True)


@users.command("list")
@json_option
@pass_state
def users_list(state: State, as_json: bool):
    """List users and their roles.

    Example: opsqa users list --json
    """
    rows = state.engine.users()
    for row in rows:
        row["roles"] = ", ".join(row["roles"]) if not as_json else row["roles"]
    _render(rows, [("name", _("USER")), ("display_name", _("NAME")), ("department", _("DEPT")),
                   ("roles", _("ROLES"))], as_json)


@cli.command()
@click.argument("key", required=False)
@click.argument("value", required=False)
@json_option
@pass_state
def settings(state: State, key: str | None, value: str | None, as_json: bool):
    """Show the settings, or change one (admins; recorded in the history).

    Example: opsqa settings timezone Asia/Shanghai
    """
    if key is not None:
        if value is None:
            raise click.UsageError(_("give a value to set, or no key to list the settings"))
        state.engine.change_setting(key, value, actor=state.actor())
        click.echo(f"{key} = {value}", err=True)
        return
    rows = state.engine.settings()
    if not as_json:
        for row in rows:
            meaning = row["description"]  # written in engine/settings.py
            row["description"] = _(meaning)
    _render(rows, [("key", _("KEY")), ("value", _("VALUE")), ("default", _("DEFAULT")),
                   ("description", _("MEANING"))], as_json)


# -- history -------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--instance", "instance_id", type=ID, help=N_("Only this instance's history."))
@click.option("--limit", type=click.IntRange(1, 1_000_000), help=N_("Only the newest N events."))
@json_option
@click.pass_context
def history(ctx: click.Context, instance_id: int | None, limit: int | None, as_json: bool):
    """The history of changes: who did what, when. `history verify` checks it was not altered.

    Example: opsqa history --instance 3
    """
    if ctx.invoked_subcommand is not None:
        return
    state: State = ctx.obj
    rows = state.engine.history(instance_id, limit=limit)
    if not as_json:
        for row in rows:
            if row["real_actor"]:
                row["actor"] = _("{real_actor} as {actor}").format(real_actor=row["real_actor"], actor=row["actor"])
            row["payload"] = _summary(row["payload"])
    _render(rows, [("id", "#"), ("at", _("AT")), ("instance", _("INST")), ("kind", _("EVENT")), ("actor", _("BY")),
                   ("payload", _("DETAIL"))], as_json)


@history.command("verify")
@pass_state
def history_verify(state: State):
    """Check the history's hash chain; report the first broken link.

    Example: opsqa history verify
    """
    report = state.engine.verify_history()
    if report.intact:
        click.echo(_("history intact: {count} events").format(count=report.count))
        return
    click.echo(_("opsqa: history broken at event {broken_at}: {reason}").format(
                   broken_at=report.broken_at, reason=report.reason), err=True)
    sys.exit(1)
