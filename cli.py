"""The `opsqa` command line: parse, call the engine once, render. No SQL or SpiffWorkflow here.

Data goes to stdout, messages to stderr. Exit 0 ok, 1 refused (one line saying what and
where, nothing changed), 2 usage. Heavy imports happen inside commands, so `--help` is quick.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import unicodedata
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

import i18n
from i18n import N_, _, ngettext

DEFAULT_ZONE = "Asia/Shanghai"


class Translated:
    """Help texts are written in English (docstrings, `help=`) and shown in the chosen language. The
    decorators run before `--lang` is read, so click keeps the English and a page is translated as it
    is drawn."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _translated(self, *self.get_params(ctx)):
            super().format_help(ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        with _translated(self):
            return super().get_short_help_str(limit)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None and not getattr(option, "keeps_msgid", False):
            # click makes it once and translates its help as it does: keep the msgid instead
            option.help, option.keeps_msgid = "Show this message and exit.", True
        return option


@contextmanager
def _translated(*objects):
    english = [(item, item.help) for item in objects]
    for item, text in english:
        item.help = _(inspect.cleandoc(text)) if text else text
    try:
        yield
    finally:
        for item, text in english:
            item.help = text


class Command(Translated, click.Command):
    pass


class Group(Translated, click.Group):
    command_class = Command
    group_class = type


class OpsqaGroup(Translated, click.Group):
    """Turns every refusal into one line on stderr and exit 1; tracebacks only with --debug."""

    command_class = Command
    group_class = Group

    def make_context(self, info_name, args, parent=None, **extra):
        # the language first, so that `opsqa --help --lang zh_CN` is drawn in it too; --lang checks the value
        given = [arg.removeprefix("--lang=") for arg in args if arg.startswith("--lang=")]
        given += [value for arg, value in zip(args, args[1:], strict=False) if arg == "--lang"]
        i18n.set_language(given[-1] if given and given[-1] in i18n.LANGUAGES else None)
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:  # `opsqa tasks | head`: the reader has gone; nothing to report
            sys.stderr.close()
            ctx.exit(141)
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            if _is_refusal(exc):
                click.echo(_("opsqa: {exc}").format(exc=exc), err=True)
            else:
                first = (str(exc).strip().splitlines() or [""])[0]
                click.echo(_("opsqa: internal error: {name}: {first} (run with --debug for details)").format(
                               name=type(exc).__name__, first=first),
                           err=True)
            ctx.exit(1)


def _is_refusal(exc: Exception) -> bool:
    """An opsqa refusal (as opposed to a bug)? Looked up without importing anything new."""
    refusals = []
    for module, name in (("engine.errors", "OpsqaError"), ("store.db", "DatabaseError")):
        loaded = sys.modules.get(module)
        if loaded is not None:
            refusals.append(getattr(loaded, name))
    return isinstance(exc, tuple(refusals))


class State:
    """What every command needs, built on first use: the database, the engine, the acting user."""

    def __init__(self, db: str | None, as_name: str | None, login: str | None, engine=None):
        self.db, self.as_name = db, as_name
        self.login = login or _os_login()
        self._engine, self._owns_engine = engine, engine is None  # a simulation lends its engine and clock

    @property
    def engine(self):
        if self._engine is None:
            from engine import Engine
            from handlers import registry
            from store import open_database

            self._engine = Engine(open_database(self.db), handlers=registry)
        return self._engine

    def actor(self):
        return self.engine.actor(self.login, self.as_name)

    def close(self) -> None:
        if self._owns_engine and self._engine is not None and self._engine.database is not None:
            self._engine.database.dispose()


def _os_login() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


pass_state = click.make_pass_decorator(State)
class FilePath(click.Path):
    """click.Path, refusing a name with a NUL in it (click would let os.stat raise)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "\x00" in value:
            self.fail(_("{value!r} is not a file name (it holds a NUL character)").format(value=value), param, ctx)
        return super().convert(value, param, ctx)


ID = click.IntRange(1, 2**63 - 1)  # a record's number, as the database can hold it
YEAR = click.IntRange(1900, 9999)


def json_option(function):
    return click.option("--json", "as_json", is_flag=True, help=N_("Print JSON instead of a table."))(function)


def xlsx_option(function):
    return click.option("--xlsx", "xlsx_file", type=FilePath(dir_okay=False), metavar="FILE.xlsx",
                        help=N_("Write all the rows (the --json ones) to this workbook instead."))(function)


def _write_xlsx(rows: list[dict], file: str, sheet: str, as_json: bool) -> None:
    from handlers.workbook import write_workbook

    if as_json:
        raise click.UsageError(_("--xlsx and --json are alternatives; give one"))
    write_workbook(file, rows, sheet=sheet, zone=_zone())
    click.echo(ngettext("{file}: {rows} row written", "{file}: {rows} rows written", len(rows)).format(
        file=file, rows=len(rows)), err=True)


class Progress:
    """A progress bar on stderr for work that takes a while (stdout stays data): only at a terminal, never
    with --json. The engine and the handlers call it as progress(done, total), knowing nothing of click."""

    DELAY = 0.5  # seconds of work before a bar appears: quick work draws nothing

    def __init__(self, label: str, as_json: bool = False):
        import time

        self.label, self.shown, self._bar = label, not as_json and sys.stderr.isatty(), None
        self._clock, self._started = time.monotonic, time.monotonic()

    def __enter__(self):
        return self if self.shown else None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            if self._clock() - self._started < self.DELAY:
                return
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_eta=False)
            self._bar.__enter__()
        self._bar.update(done - self._bar.pos)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


@click.group(cls=OpsqaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lang", type=click.Choice(i18n.LANGUAGES), is_eager=True, expose_value=False,
              help=N_("Language of messages (default: from LANG)."))  # set by OpsqaGroup.make_context
@click.option("--db", envvar="OPSQA_DB", metavar="PATH|URL",
              help=N_("Database (default: opsqa.db here; env OPSQA_DB)."))
@click.option("--as", "as_name", metavar="USER", help=N_("Act as another user (admins only; both are recorded)."))
@click.option("--debug", is_flag=True, help=N_("Show tracebacks."))
@click.version_option(package_name="opsqa")
@click.pass_context
def cli(ctx: click.Context, db: str | None, as_name: str | None, debug: bool):
    """opsqa — the O&M quality-management system, run from BPMN processes.

    \b
    Quick start:
      opsqa init                      create the database; you become its admin
      opsqa deploy processes/         deploy the BPMN files
      opsqa start quality_plan --key 2027
      opsqa tasks --mine              what is waiting for you
      opsqa task complete ID --set decision=approved
    """
    given = ctx.obj if isinstance(ctx.obj, dict) else {}
    ctx.obj = State(db, as_name, given.get("login"), given.get("engine"))
    ctx.call_on_close(ctx.obj.close)


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


# -- definitions ---------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1)
@pass_state
def deploy(state: State, paths: tuple[str, ...]):
    """Deploy BPMN files (default: the processes/ folder). Unchanged files make no new version.

    Example: opsqa deploy processes/quality_plan.bpmn
    """
    with Progress(_("deploying")) as progress:
        results = state.engine.deploy(list(paths) or ["processes"], actor=state.actor(), progress=progress)
    for result in results:
        what = _("version {version}") if result["changed"] else _("unchanged (version {version})")
        click.echo(_("{process} ({name}): {what}  [{file}]").format(
            process=result["process"], name=result["name"], what=what.format(version=result["version"]),
            file=result["file"]))
    for result in results:
        if not result["changed"] or result["version"] == 1:
            continue
        older = sum(v["running"] for v in state.engine.versions(result["process"]) if v["version"] < result["version"])
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
    from store import NoDatabase

    try:
        engine = state.engine
    except NoDatabase:  # checking files needs no database; calls then resolve among the files given
        from engine import Engine
        from handlers import registry

        engine = Engine(None, handlers=registry)
    builds = engine.validate(list(paths) or ["processes"])
    for build in builds:
        tasks = len(build.model["user_tasks"])
        click.echo(_("{process_id} ({name}): ok, {tasks} user tasks  [{source_file}]").format(
                       process_id=build.process_id, name=build.name, tasks=tasks, source_file=build.source_file))


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
    _render(state.engine.processes(), columns, as_json)


@processes.command("test")
@click.argument("folder", required=False, default="processes", type=FilePath(file_okay=False))
@pass_state
def processes_test(state: State, folder: str):
    """Run the folder's scenario tests (*.scenario.yaml) on a simulated clock, each in a new database with
    the folder's processes: pass or fail per scenario, and why.

    Example: opsqa processes test processes/
    """
    from engine import Engine
    from engine.processtest import run_scenario, scenario_files
    from handlers import registry

    failed = 0
    for path in scenario_files(Path(folder)):
        outcome = run_scenario(path, Path(folder), lambda database: Engine(database, handlers=registry),
                               run_command=_command_runner)
        failed += not outcome.passed
        click.echo((_("PASS  {scenario}") if outcome.passed else _("FAIL  {scenario}")).format(
            scenario=outcome.scenario))
        for failure in outcome.failures:
            click.echo(f"      {failure}")
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
    changes = state.engine.diff(process_id, old, new)
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
@json_option
@pass_state
def processes_show(state: State, process_id: str, version: int | None, diagram: str | None, as_json: bool):
    """A process's versions: when and by whom each was deployed, from which file, how many instances
    still run on it; --diagram draws one.

    Example: opsqa processes show annual_cycle --diagram annual_cycle.svg
    """
    rows = state.engine.versions(process_id)
    _render(rows, [("version", _("VER")), ("deployed_at", _("DEPLOYED")), ("deployed_by", _("BY")),
                   ("source_file", _("FILE")), ("sha256", _("SHA-256")), ("running", _("RUNNING"))], as_json)
    if diagram:
        from engine.diagram import render_svg

        chosen = version or rows[-1]["version"]
        xml = state.engine.definition_xml(process_id, chosen)
        Path(diagram).write_text(render_svg(xml, title=f"{process_id} v{chosen}"), encoding="utf-8")
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
    instance_id = state.engine.start(process, actor=state.actor(), business_key=business_key, variables=variables)
    _show_instance(state, instance_id, as_json)


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
    _render(state.engine.instances(status=status, process_id=process_id), columns, as_json)


@cli.group()
def instance():
    """One instance: show, retry, cancel."""


@instance.command("show")
@click.argument("instance_id", type=ID)
@click.option("--diagram", "diagram", type=FilePath(dir_okay=False), metavar="FILE.svg",
              help=N_("Also draw the process with the instance's state painted on it."))
@json_option
@pass_state
def instance_show(state: State, instance_id: int, diagram: str | None, as_json: bool):
    """Show an instance and its tasks; --diagram draws it (done, ready, waiting, in error).

    Example: opsqa instance show 3 --diagram instance-3.svg
    """
    _show_instance(state, instance_id, as_json)
    if diagram:
        from engine.diagram import render_svg

        xml, states, title = state.engine.painted(instance_id)
        Path(diagram).write_text(render_svg(xml, states=states, title=title), encoding="utf-8")
        click.echo(_("diagram written to {diagram}").format(diagram=diagram), err=True)


@instance.command("retry")
@click.argument("instance_id", type=ID)
@pass_state
def instance_retry(state: State, instance_id: int):
    """Re-run the service task whose handler failed.

    Example: opsqa instance retry 3
    """
    state.engine.retry(instance_id, actor=state.actor())
    _show_instance(state, instance_id, False)


@instance.command("cancel")
@click.argument("instance_id", type=ID)
@click.option("--reason", help=N_("Why (kept in the history)."))
@pass_state
def instance_cancel(state: State, instance_id: int, reason: str | None):
    """Cancel a running instance and its open tasks.

    Example: opsqa instance cancel 3 --reason "started by mistake"
    """
    state.engine.cancel(instance_id, actor=state.actor(), reason=reason)
    click.echo(_("instance {instance_id} cancelled").format(instance_id=instance_id), err=True)


@instance.command("migrate")
@click.option("--process", "process_id", required=True, help=N_("The process whose instances move."))
@click.option("--to-version", "version", type=ID, required=True, help=N_("The version they move to."))
@click.option("--instance", "instance_ids", type=ID, multiple=True,
              help=N_("Only this instance (repeatable); default: every running instance of the process."))
@click.option("--dry-run", is_flag=True, help=N_("Say what would move and what would be left; change nothing."))
@click.option("--revert", is_flag=True, help=N_("Undo the instances' migration to that version instead."))
@json_option
@pass_state
def instance_migrate(state: State, process_id: str, version: int, instance_ids: tuple[int, ...], dry_run: bool,
                     revert: bool, as_json: bool):
    """Move running instances onto another version of their process, each in its own transaction. An
    instance moves when no task it has reached was changed or removed; the others are left, with the
    tasks in the way. Every migration is in the history and can be reverted.

    Example: opsqa instance migrate --process annual_cycle --to-version 2 --dry-run
    """
    results = state.engine.migrate(process_id, version, actor=state.actor(), instance_ids=list(instance_ids),
                                   dry_run=dry_run, revert=revert)
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


def _show_instance(state: State, instance_id: int, as_json: bool) -> None:
    view = state.engine.instance(instance_id)
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
    wanted = "ready" if not all_states else None
    rows = None
    if not mine and state.as_name is None and state._owns_engine:  # the common case: no SQLAlchemy needed
        from store import quickread

        path = quickread.sqlite_file(state.db)
        if path is not None:
            from datetime import UTC

            rows = quickread.tasks(path, role=role, state=wanted, instance_id=instance_id,
                                   due_before=datetime.now(UTC) if overdue else None,
                                   limit=limit + 1 if limit else None)
    if rows is None:
        actor = state.actor() if mine else None
        rows = state.engine.tasks(role=role, mine=actor, instance_id=instance_id, state=wanted, overdue=overdue,
                                  limit=limit + 1 if limit else None)
    more = bool(limit) and len(rows) > limit
    rows = rows[:limit] if limit else rows
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, "tasks", as_json)
    columns = [("id", _("TASK")), ("instance", _("INST")), ("name", _("NAME")), ("role", _("ROLE")),
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
@click.argument("task_id", shell_complete=lambda ctx, param, incomplete: _complete(ctx, incomplete, "tasks"))
@json_option
@pass_state
def task_show(state: State, task_id: str, as_json: bool):
    """Show a task, its form and the variables it was given.

    Example: opsqa task show 3f2a
    """
    view = state.engine.task(task_id)
    if as_json:
        _print_json(view)
        return
    click.echo(_("task {id}  {name} ({task})").format(id=view['id'], name=view['name'], task=view['task']))
    claimed = _("  claimed by {user}").format(user=view["claimed_by"]) if view["claimed_by"] else ""
    click.echo(_("instance {instance} (key {business_key})  role {role}  {state}").format(
        instance=view["instance"], business_key=view["business_key"], role=view["role"] or "-", state=view["state"])
        + claimed)
    if view["completed_by"]:
        click.echo(_("completed by {completed_by} at {completed_at}").format(
                       completed_by=view['completed_by'], completed_at=_cell(view['completed_at'])))
    if view["form"]:
        click.echo(_("\nform:"))
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
@click.argument("task_id", shell_complete=lambda ctx, param, incomplete: _complete(ctx, incomplete, "tasks"))
@pass_state
def task_claim(state: State, task_id: str):
    """Make a role task yours until you unclaim it.

    Example: opsqa task claim 3f2a
    """
    state.engine.claim(task_id, actor=state.actor())
    click.echo(_("task {task_id} claimed").format(task_id=task_id), err=True)


@task.command("unclaim")
@click.argument("task_id", shell_complete=lambda ctx, param, incomplete: _complete(ctx, incomplete, "tasks"))
@pass_state
def task_unclaim(state: State, task_id: str):
    """Give a claimed task back to its role.

    Example: opsqa task unclaim 3f2a
    """
    state.engine.unclaim(task_id, actor=state.actor())
    click.echo(_("task {task_id} released").format(task_id=task_id), err=True)


@task.command("complete")
@click.argument("task_id", shell_complete=lambda ctx, param, incomplete: _complete(ctx, incomplete, "tasks"))
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE", help=N_("A form value; repeatable."))
@click.option("--data", "data_file", type=FilePath(dir_okay=False), help=N_("Form values from a JSON or YAML file."))
@pass_state
def task_complete(state: State, task_id: str, assignments: tuple[str, ...], data_file: str | None):
    """Complete a task with its form values (asked for on a terminal when missing).

    Example: opsqa task complete 3f2a --set decision=rejected --set comment="目标不够具体"
    """
    values: dict[str, Any] = _read_data(data_file) if data_file else {}
    values.update(_assignments(assignments))
    actor = state.actor()
    if sys.stdin.isatty():
        from engine.forms import missing_required

        for field in missing_required(state.engine.task(task_id)["form"], values):
            values[field["id"]] = click.prompt(f"{field['label']} [{_describe_field(field)}]")
    state.engine.complete(task_id, values, actor=actor)
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


# -- time ----------------------------------------------------------------------------------


@cli.command()
@click.option("--now", "now_text", metavar="TIME", help=N_("Act as if it were this time (ISO 8601 with offset)."))
@json_option
@pass_state
def tick(state: State, now_text: str | None, as_json: bool):
    """Run one scheduler pass: start due periods of schedules, fire due timers (for cron).

    Example: opsqa tick --now 2027-01-01T09:00:00+08:00
    """
    if now_text:
        from engine import SimulatedClock

        state.engine.clock = SimulatedClock(_parse_now(now_text))
    report = state.engine.tick()
    if as_json:
        _print_json({"now": report.now, "started": report.started, "skipped": report.skipped,
                     "timers": report.timers, "failed": report.failed, "overdue_tasks": report.overdue,
                     "notifications_sent": report.sent, "notifications_failed": report.unsent})
        return
    for fire in report.started:
        note = _(" (caught up)") if fire["caught_up"] else ""
        if fire["instance"]:
            started = _("instance {instance}").format(instance=fire["instance"])
        else:
            started = _("already started by hand")
        click.echo(_("started {process} period {period}{note}: {started}").format(
                       process=fire['process'], period=fire['period'], note=note, started=started))
    for skip in report.skipped:
        click.echo(_("skipped {process} periods {periods} (policy latest)").format(
                       process=skip['process'], periods=', '.join(skip['periods'])))
    for timer in report.timers:
        click.echo(_("timer {timer} of instance {instance} fired (due {due})").format(
                       timer=timer['timer'], instance=timer['instance'], due=_cell(timer['due'])))
    for failure in report.failed:
        click.echo(_("instance {instance}: timer failed: {error}").format(
                       instance=failure['instance'], error=failure['error']), err=True)
    if report.overdue:
        click.echo(_("{overdue} task(s) newly past their deadline; their people are told").format(
                       overdue=report.overdue))
    if report.sent:
        click.echo(_("{sent} notification(s) sent").format(sent=report.sent))
    for failure in report.unsent:
        click.echo(_("notification {key} not sent: {error} (retried later)").format(
                       key=failure['key'], error=failure['error']), err=True)
    if report.quiet:
        click.echo(_("nothing was due"), err=True)
    if report.failed:
        sys.exit(1)


@cli.command()
@click.option("--next", "count", type=click.IntRange(1, 100), default=3, show_default=True,
              help=N_("How many next fire times."))
@json_option
@pass_state
def schedules(state: State, count: int, as_json: bool):
    """Schedules (timer start events) with their next fire times; warns when this year has no full audit.

    Example: opsqa schedules --next 5
    """
    from handlers.audits import yearly_audit_warning

    rows = state.engine.schedules(count)
    if not as_json:
        for row in rows:
            row["next"] = ", ".join(f"{n['period']} ({_cell(n['at'])})" for n in row["next"]) or "-"
    columns = [("process", _("PROCESS")), ("expression", _("TIMER")), ("policy", _("CATCH-UP")),
               ("last_period", _("LAST")),
               ("next", _("NEXT"))]
    _render(rows, columns, as_json)
    with state.engine.database.reading() as session:
        warning = yearly_audit_warning(session, state.engine.clock.now())
    if warning:
        click.echo(_("warning: {warning}").format(warning=warning), err=True)


@cli.group()
def scheduler():
    """The scheduler daemon."""


@scheduler.command("run")
@click.option("--interval", type=float, default=30.0, show_default=True, help=N_("Seconds between passes."))
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help=N_("Worker processes sharing the due work (each job goes to one of them)."))
@pass_state
def scheduler_run(state: State, interval: float, workers: int):
    """Run the scheduler until SIGINT/SIGTERM: fires schedules and timers as they fall due. Several
    workers, here or on other machines against the same PostgreSQL database, share the work; due times
    and leases follow the database's clock.

    Example: opsqa scheduler run --interval 10 --workers 4
    """
    import functools

    from engine.daemon import run_daemon, run_workers

    if workers == 1:
        engine = state.engine
        _use_database_clock(engine)
        run_daemon(engine, interval=interval)
        return
    code = run_workers(functools.partial(_worker_engine, state.db), workers=workers, interval=interval)
    if code:
        raise SystemExit(code)


def _use_database_clock(engine) -> None:
    from engine.clock import DatabaseClock, SystemClock

    if isinstance(engine.clock, SystemClock):
        engine.clock = DatabaseClock(engine.database)


def _worker_engine(db: str | None):
    """A worker process's engine (top level, so that a spawned process can be handed it)."""
    from engine import Engine
    from handlers import registry
    from store import open_database

    engine = Engine(open_database(db), handlers=registry)
    _use_database_clock(engine)
    return engine


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


@cli.command()
@click.option("--from", "start_text", required=True, metavar="DATE", help=N_("Start: a date (local midnight) or time."))
@click.option("--to", "end_text", required=True, metavar="DATE", help=N_("End: a date (local midnight) or time."))
@click.option("--scenario", type=FilePath(dir_okay=False), help=N_("How simulated operators answer (YAML)."))
@click.option("--out", type=FilePath(dir_okay=False), help=N_("Keep the simulated database here."))
@click.option("--processes", "processes_dir", default="processes", show_default=True,
              help=N_("Deployed first when there is no database to copy."))
@json_option
@pass_state
def simulate(state: State, start_text: str, end_text: str, scenario: str | None, out: str | None,
             processes_dir: str, as_json: bool):
    """Run the processes on a simulated clock, in a copy of the database (or a new one).

    Example: opsqa simulate --from 2027-01-01 --to 2028-01-01 --scenario year.yaml
    """
    import tempfile

    from engine import Engine, SimulatedClock
    from engine.simulate import load_scenario
    from engine.simulate import simulate as run_simulation
    from handlers import registry
    from store import backup_sqlite, create_database, open_database, resolve_url

    workdir = tempfile.TemporaryDirectory(prefix="opsqa-simulate-")
    with workdir:
        target = Path(out) if out else Path(workdir.name) / "simulated.db"
        if target.exists():
            raise click.UsageError(_("{target} exists; --out needs a new file").format(target=target))
        source = resolve_url(state.db)
        fresh = not (source.startswith("sqlite:///") and Path(source.removeprefix("sqlite:///")).exists())
        if fresh:
            database = create_database(str(target))
        else:
            backup_sqlite(source, target)
            database = open_database(str(target))
        engine = Engine(database, handlers=registry)
        zone = _zone_of(engine)
        start, end = _parse_moment(start_text, zone, "--from"), _parse_moment(end_text, zone, "--to")
        if end <= start:
            raise click.BadParameter(_("--to must be after --from"), param_hint="--to")
        engine.clock = SimulatedClock(start)
        if fresh:
            engine.add_user("sim-admin", ["admin"])
            engine.deploy([processes_dir], actor=engine.actor("sim-admin"))
        models = {p["process"]: engine.model_of(p["process"]) for p in engine.processes()}
        plan = load_scenario(scenario, models)
        total = max(1, int((end - start).total_seconds() // 3600))
        with Progress(_("simulating"), as_json) as progress:

            def advance(now: datetime) -> None:
                progress(min(total, int((now - start).total_seconds() // 3600)), total)

            summary = run_simulation(engine, plan, start=start, end=end, progress=advance if progress else None,
                                     run_command=_command_runner(engine))
            if progress:
                progress(total, total)
        engine.database.dispose()
        _show_summary(summary, as_json, out)


def _command_runner(engine):
    """Runs a scenario's opsqa command in this process, on the simulation's engine and clock."""
    import contextlib
    import io

    from engine import OpsqaError

    def run(args: list[str], login: str) -> None:
        errors = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
            try:
                code = cli.main(args=args, prog_name="opsqa", obj={"login": login, "engine": engine},
                                standalone_mode=False)
            except click.ClickException as exc:
                raise OpsqaError(exc.format_message()) from None
        if code:
            raise OpsqaError(errors.getvalue().strip().removeprefix("opsqa: ")
                             or _("exit status {code}").format(code=code))

    return run


def _zone_of(engine):
    from zoneinfo import ZoneInfo

    return ZoneInfo(next(s["value"] for s in engine.settings() if s["key"] == "timezone"))


def _parse_moment(text: str, zone, hint: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(_("{text!r} is not a date (YYYY-MM-DD) or ISO 8601 time").format(
                                     text=text), param_hint=hint) from None
    return when.replace(tzinfo=zone) if when.tzinfo is None else when


def _show_summary(summary, as_json: bool, out: str | None) -> None:
    processes = sorted(set(summary.started) | set(summary.finished))
    if as_json:
        _print_json({
            "from": summary.start, "to": summary.end, "steps": summary.steps,
            "instances": {p: {"started": summary.started[p], "finished": summary.finished[p]} for p in processes},
            "tasks_done": summary.tasks_done, "tasks_open": summary.tasks_open, "overdue": summary.overdue,
            "escalations": summary.escalations, "reminders": summary.reminders,
            "unanswered": dict(summary.unanswered), "database": out,
        })
        return
    click.echo(_("simulated {start} -> {end} in {steps} steps").format(
                   start=_cell(summary.start), end=_cell(summary.end), steps=summary.steps))
    rows = [{"process": p, "started": summary.started[p], "finished": summary.finished[p]} for p in processes]
    _render(rows, [("process", _("PROCESS")), ("started", _("STARTED")), ("finished", _("FINISHED"))], False)
    click.echo(_("tasks done {tasks_done}, still open {tasks_open}, overdue {overdue}; escalations "
                 "{escalations}, reminders {reminders}").format(
                   tasks_done=summary.tasks_done, tasks_open=summary.tasks_open, overdue=summary.overdue,
                   escalations=summary.escalations, reminders=summary.reminders))
    for key, count in sorted(summary.unanswered.items()):
        click.echo(_("  open at the end: {key} x{count}").format(key=key, count=count))
    if out:
        click.echo(_("the simulated database is {out}").format(out=out))


def _parse_local(text: str, hint: str) -> datetime:
    """An ISO 8601 time; without an offset it is local to the organisation's zone."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(_("{text!r} is not an ISO 8601 time, e.g. 2028-05-10 09:00").format(
                                     text=text), param_hint=hint) from None
    return when if when.tzinfo else when.replace(tzinfo=_zone())


def _parse_now(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(_("{text!r} is not an ISO 8601 time").format(text=text), param_hint="--now") from None
    if when.tzinfo is None:
        raise click.BadParameter(_("{text!r} has no time-zone offset, e.g. {text}+08:00").format(
                                     text=text), param_hint="--now")
    return when


# -- records -------------------------------------------------------------------------------


@cli.command()
@json_option
@pass_state
def plans(state: State, as_json: bool):
    """The issued organisational quality plans (6.1.2), newest last.

    Example: opsqa plans --json
    """
    from handlers.plan import list_plans

    with state.engine.database.reading() as session:
        rows = list_plans(session)
    columns = [("period", _("PERIOD")), ("instance_id", _("INST")), ("objectives", _("OBJECTIVES")),
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
    """A year's plan: every drafted version and every approval decision (versions are read-only).

    Example: opsqa plan show 2029
    """
    from handlers.plan import plan_history

    with state.engine.database.reading() as session:
        history = plan_history(session, year)
    if as_json:
        _print_json(history)
        return
    issued = history["issued_version"]
    click.echo(_("{year} plan: {count} version(s), ").format(year=year, count=len(history["versions"]))
               + (_("version {version} issued").format(version=issued) if issued else _("not issued yet")))
    _render([{"version": v["version"], "by": v["by"], "at": v["at"]} for v in history["versions"]],
            [("version", _("VERSION")), ("by", _("DRAFTED BY")), ("at", _("AT"))], False)
    _render(history["approvals"], [("version", _("VERSION")), ("decision", _("DECISION")), ("by", _("BY")),
                    ("at", _("AT")),
                                   ("comment", _("COMMENT"))], False)


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
    from handlers.projects import ProjectInput, save_project

    project = ProjectInput(code=code, name=name, customer=customer, pm=pm, oms=oms, kind=kind, members=list(members),
                           contract_ref=contract_ref, om_start=om_start.date() if om_start else None,
                           om_end=om_end.date() if om_end else None)
    actor = state.actor()
    with state.engine.database.transaction() as session:
        save_project(session, project, now=state.engine.clock.now(), actor=actor, create_only=True)
    click.echo(_("project {code} added").format(code=code), err=True)


@projects.command("list")
@click.option("--all", "all_projects", is_flag=True, help=N_("Closed projects too."))
@json_option
@pass_state
def projects_list(state: State, all_projects: bool, as_json: bool):
    """List the projects of the register.

    Example: opsqa projects list --json
    """
    from handlers.projects import list_projects

    with state.engine.database.reading() as session:
        rows = list_projects(session, status=None if all_projects else "active")
    if not as_json:
        for row in rows:
            row["team"] = ", ".join(row["team"])
    columns = [("code", _("CODE")), ("name", _("NAME")), ("customer", _("CUSTOMER")), ("pm", _("PM")),
               ("oms", _("OMS")),
               ("team", _("TEAM")), ("status", _("STATUS"))]
    _render(rows, columns, as_json)


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
    from handlers.projects import import_projects, parse_projects
    from handlers.tabular import read_table

    rows = parse_projects(read_table(file))
    actor = state.actor()
    with state.engine.database.transaction() as session, Progress(_("importing")) as progress:
        counts = import_projects(session, rows, now=state.engine.clock.now(), actor=actor, progress=progress)
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
    from engine import settings
    from handlers.project_qa import start_project_qa

    actor, engine = state.actor(), state.engine
    with engine.database.transaction() as session:
        year = year or engine.clock.now().astimezone(settings.zone(session)).year
        start = engine.starter(session, actor)
        instance_id = start_project_qa(session, code, year=year, actor=actor, start_instance=start)
    click.echo(_("{code} {year}: quality control started (instance {instance_id}); the operations department "
                 "sets items a)-f) next").format(code=code, year=year, instance_id=instance_id))


@projects.command("reports")
@click.option("--project", help=N_("Only this project."))
@click.option("--year", type=YEAR, help=N_("Only periods of this year."))
@json_option
@pass_state
def projects_reports(state: State, project: str | None, year: int | None, as_json: bool):
    """The O&M reports projects owe (6.1.3 d): due, submitted, on time or late.

    Example: opsqa projects reports --project P-01 --year 2027
    """
    from handlers.project_qa import list_reports

    with state.engine.database.reading() as session:
        rows = list_reports(session, project=project, year=year, now=state.engine.clock.now())
    if not as_json:
        for row in rows:
            row["state"] = ("on time" if row["on_time"] else "late") if row["submitted_at"] else (
                "overdue" if row["overdue"] else "due")
    columns = [("project", _("PROJECT")), ("period", _("PERIOD")), ("due_at", _("DUE")),
               ("submitted_at", _("SUBMITTED")),
               ("state", _("STATE")), ("report_ref", _("REPORT"))]
    _render(rows, columns, as_json)


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
@json_option
@pass_state
def outbox(state: State, as_json: bool):
    """Notifications waiting to be sent (the scheduler sends them once smtp_host is set).

    Example: opsqa outbox
    """
    from engine.outbox import pending

    with state.engine.database.reading() as session:
        rows = pending(session)
    _render(rows, [("to", _("TO")), ("subject", _("SUBJECT")), ("created_at", _("QUEUED")), ("attempts", _("TRIES")),
                   ("next_try", _("NEXT TRY")), ("last_error", _("LAST ERROR"))], as_json)


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
    from engine.errors import DuplicateBusinessKey, OpsqaError

    try:
        instance_id = state.engine.start("annual_cycle", actor=state.actor(), business_key=str(year),
                                         variables={"year": year, "period": str(year)})
    except DuplicateBusinessKey:
        found = [i for i in state.engine.instances(process_id="annual_cycle") if i["business_key"] == str(year)]
        raise OpsqaError(_("the {year} annual cycle already exists (instance {id}, {status})").format(
                             year=year, id=found[0]['id'], status=found[0]['status'])) from None
    click.echo(_("the {year} annual cycle started (instance {instance_id})").format(year=year, instance_id=instance_id))


@cli.group()
def survey():
    """The customer satisfaction survey (6.2.4): invitations, responses, statistics."""


@survey.command("start")
@click.option("--year", type=YEAR, required=True)
@pass_state
def survey_start(state: State, year: int):
    """Open a year's survey outside the annual cycle (qmd).

    Example: opsqa survey start --year 2027
    """
    from handlers.surveys import start_survey

    actor, engine = state.actor(), state.engine
    with engine.database.transaction() as session:
        campaign = start_survey(session, year, now=engine.clock.now(), actor=actor,
                                start_instance=engine.starter(session, actor))
        code = campaign.code
    click.echo(_("{code} opened; register its invitations with `opsqa survey invite --year {year} FILE.csv`").format(
                   code=code, year=year))


def _read_text(file: str) -> str:
    """A UTF-8 file the user named, or a one-line refusal saying why it cannot be read."""
    from engine import OpsqaError

    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise OpsqaError(_("cannot read {file}: {strerror}").format(file=file, strerror=exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise OpsqaError(_("cannot read {file}: it is not UTF-8 text").format(file=file)) from None
    except ValueError as exc:  # a NUL in the name
        raise OpsqaError(_("cannot read {file!r}: {exc}").format(file=file, exc=exc)) from None


@survey.command("invite")
@click.option("--year", type=YEAR, required=True)
@click.argument("file", type=FilePath(dir_okay=False))
@pass_state
def survey_invite(state: State, year: int, file: str):
    """Register invitations from a .csv or .xlsx file (customer,project,channel[,contact]; channel
    phone|form|visit; in a workbook, the first worksheet). All rows or none; the same file again adds nothing.

    Example: opsqa survey invite --year 2027 invitations.xlsx
    """
    from handlers.surveys import invite
    from handlers.tabular import read_table

    table = read_table(file)
    with state.engine.database.transaction() as session, Progress(_("importing")) as progress:
        counts = invite(session, year, table, now=state.engine.clock.now(), actor=state.actor(), progress=progress)
    click.echo(_("{file}: {added} invited, {unchanged} already invited").format(
                   file=file, added=counts['added'], unchanged=counts['unchanged']))


@survey.command("import")
@click.option("--year", type=YEAR, required=True)
@click.argument("file", type=FilePath(dir_okay=False))
@pass_state
def survey_import(state: State, year: int, file: str):
    """Import responses from a .csv or .xlsx file (customer,project,channel,overall,q_*[,respondent,comments,
    issues]; in a workbook, the first worksheet); scores 1-5. All rows or none, a bad row named by its line (or
    row); importing the same file twice adds nothing.

    Example: opsqa survey import --year 2027 responses.xlsx
    """
    from handlers.surveys import import_responses
    from handlers.tabular import read_table

    table = read_table(file)
    with state.engine.database.transaction() as session, Progress(_("importing")) as progress:
        counts = import_responses(session, year, table, now=state.engine.clock.now(), actor=state.actor(),
                                  progress=progress)
    click.echo(_("{file}: {added} added, {unchanged} already imported").format(
                   file=file, added=counts['added'], unchanged=counts['unchanged']))


@survey.command("respond")
@click.option("--year", type=YEAR, required=True)
@click.option("--customer", required=True)
@click.option("--project", required=True)
@click.option("--channel", type=click.Choice(["phone", "form", "visit"]), required=True)
@click.option("--overall", type=click.IntRange(1, 5), required=True, help=N_("The overall score, 1-5."))
@click.option("--score", "scores", multiple=True, metavar="QUESTION=1..5", help=N_("A question's score; repeatable."))
@click.option("--respondent")
@click.option("--comments")
@click.option("--issues", help=N_("The problems the customer raised (each becomes a rectification)."))
@pass_state
def survey_respond(state: State, year: int, customer: str, project: str, channel: str, overall: int,
                   scores: tuple[str, ...], respondent: str | None, comments: str | None, issues: str | None):
    """Enter one response by hand (a phone call, a visit), checked like an imported row.

    Example: opsqa survey respond --year 2027 --customer 市公安局 --project P-01 --channel phone --overall 4
    """
    from handlers.surveys import import_responses
    from handlers.tabular import Table

    answers = {}
    for item in scores:
        question, sep, value = item.partition("=")
        if not sep or not question.strip():
            raise click.BadParameter(_("{item!r} is not QUESTION=SCORE").format(item=item), param_hint="--score")
        answers["q_" + question.strip().removeprefix("q_")] = value.strip()
    row = {"customer": customer, "project": project, "channel": channel, "overall": str(overall), **answers,
           "respondent": respondent or "", "comments": comments or "", "issues": issues or ""}
    table = Table("response", tuple(row), [(_("response: "), {key: value.strip() for key, value in row.items()})])
    with state.engine.database.transaction() as session:
        counts = import_responses(session, year, table, now=state.engine.clock.now(), actor=state.actor())
    click.echo(_("recorded") if counts["added"] else _("already recorded"))


@survey.command("show")
@click.option("--year", type=YEAR, required=True)
@json_option
@pass_state
def survey_show(state: State, year: int, as_json: bool):
    """A survey's statistics (live while collecting, frozen once analysed) and its rectifications.

    Example: opsqa survey show --year 2027
    """
    from handlers.surveys import get_campaign, rectifications, statistics

    with state.engine.database.reading() as session:
        campaign = get_campaign(session, year)
        stats = json.loads(campaign.stats) if campaign.stats else statistics(session, campaign)
        item = {"code": campaign.code, "status": campaign.status, "collect_until": campaign.collect_until,
                **stats, "rectifications": rectifications(session, campaign)}
    if as_json:
        _print_json(item)
        return
    if item["overall_mean"] is None:
        mean = _("no responses: no score")
    else:
        mean = _("overall mean {mean}").format(mean=item["overall_mean"])
    click.echo(_("{code}  {status}  invited {invited}, responded {responded} ({response_rate}), {mean}").format(
                   code=item['code'], status=item['status'], invited=item['invited'], responded=item['responded'],
                   response_rate=item['response_rate'], mean=mean))
    labels = {"mean_by_channel": _("mean_by_channel"), "mean_by_project": _("mean_by_project"),
              "mean_by_question": _("mean_by_question")}
    for key, label in labels.items():
        if item[key]:
            click.echo(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in item[key].items()))
    if item["rectifications"]:
        click.echo("")
        _render(item["rectifications"], [("code", _("RECTIFICATION")), ("unit", _("PROJECT")), ("owner", _("OWNER")),
                                         ("status", _("STATUS")), ("description", _("DESCRIPTION"))], False)


@cli.command()
@json_option
@pass_state
def surveys(state: State, as_json: bool):
    """The satisfaction surveys, one a year.

    Example: opsqa surveys
    """
    from handlers.surveys import list_surveys

    with state.engine.database.reading() as session:
        rows = list_surveys(session)
    _render(rows, [("code", _("SURVEY")), ("status", _("STATUS")), ("collect_until", _("UNTIL")),
                   ("invited", _("INVITED")),
                   ("responded", _("RESPONDED")), ("overall_mean", _("MEAN")), ("reported_at", _("REPORTED"))], as_json)


@cli.group()
def review():
    """The yearly management review (6.2.5)."""


@review.command("start")
@click.option("--year", type=YEAR, required=True)
@click.option("--date", "review_date", type=click.DateTime(["%Y-%m-%d"]), required=True, help=N_("The meeting day."))
@click.option("--attendees", required=True, help=N_("Who attends (the heads of the departments concerned)."))
@pass_state
def review_start(state: State, year: int, review_date, attendees: str):
    """Initiate the year's review (mr): refused, naming what is missing, until the year's full internal
    audit and its satisfaction survey are reported.

    Example: opsqa review start --year 2027 --date 2027-11-20 --attendees "各部门负责人"
    """
    from handlers.reviews import initiate

    actor, engine = state.actor(), state.engine
    with engine.database.transaction() as session:
        task_id = initiate(session, year, actor=actor, start_instance=engine.starter(session, actor))
    engine.complete(task_id, {"review_date": review_date.date().isoformat(), "attendees": attendees}, actor=actor)
    click.echo(_("the {year} management review is initiated for {review_date}; its inputs are gathered").format(
                   year=year, review_date=review_date.date()))


@review.command("show")
@click.option("--year", type=YEAR, required=True)
@json_option
@pass_state
def review_show(state: State, year: int, as_json: bool):
    """A review: its preconditions, gathered inputs and decisions.

    Example: opsqa review show --year 2027 --json
    """
    from handlers.reviews import get_review, review_view

    with state.engine.database.reading() as session:
        item = review_view(get_review(session, year))
    if as_json:
        _print_json(item)
        return
    click.echo(_("{year} management review  {status}  date {review_date}  initiated by {initiated_by}").format(
                   year=year, status=item['status'], review_date=_cell(item['review_date']),
                   initiated_by=item['initiated_by']))
    for decision in item["decisions"]:
        click.echo(_("  decision {no}: {text}").format(no=decision["no"], text=decision["text"])
                   + (_("  [needs action]") if decision["requires_action"] else ""))


@cli.group()
def improvement():
    """The service-capability improvement plan (6.2.6)."""


@improvement.command("list")
@click.option("--year", type=YEAR)
@json_option
@xlsx_option
@pass_state
def improvement_list(state: State, year: int | None, as_json: bool, xlsx_file: str | None):
    """The improvement items, their measures and how their follow-up stands.

    Example: opsqa improvement list --year 2027 --xlsx improvement-2027.xlsx
    """
    from handlers.improvement import list_items

    with state.engine.database.reading() as session:
        rows = list_items(session, year)
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, "improvement", as_json)
    _render(rows, [("code", _("ITEM")), ("source", _("SOURCE")), ("owner", _("OWNER")), ("due", _("DUE")),
                   ("status", _("STATUS")),
                   ("action", _("ACTION")), ("action_status", _("ACTION STATUS")), ("measure", _("MEASURE"))], as_json)


@improvement.command("set")
@click.argument("code")
@click.option("--cause", help=N_("The cause found by the analysis."))
@click.option("--measure", help=N_("What will be done."))
@click.option("--owner", help=N_("Who does it (a user)."))
@click.option("--due", type=click.DateTime(["%Y-%m-%d"]), help=N_("By when."))
@click.option("--expected", help=N_("The expected result, e.g. an indicator target."))
@pass_state
def improvement_set(state: State, code: str, cause: str | None, measure: str | None, owner: str | None, due,
                    expected: str | None):
    """Set an item's analysis and measure while the plan is drawn up (ops, qmd).

    Example: opsqa improvement set IMP-2027-01 --cause "夜间值守不足" --measure "增设夜班" --owner pm1 --due 2028-03-31
    """
    from handlers.improvement import set_item

    with state.engine.database.transaction() as session:
        item = set_item(session, code, cause=cause, measure=measure, owner=owner, due=due.date() if due else None,
                        expected=expected, now=state.engine.clock.now(), actor=state.actor())
        shown = (item.code, item.status)
    click.echo(f"{shown[0]}: {shown[1]}")


@cli.group()
def indicators():
    """Quality indicators (6.1.2 e): definitions and targets, values per period, the year's attainment."""


@indicators.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--target", type=float, required=True)
@click.option("--unit", default="%", show_default=True, help=N_("%, h, score, count..."))
@click.option("--direction", type=click.Choice(["higher_better", "lower_better"]), default="higher_better",
              show_default=True)
@click.option("--cycle", type=click.Choice(["monthly", "quarterly", "yearly"]), default="monthly", show_default=True,
              help=N_("How often values are collected."))
@click.option("--yearly-rule", type=click.Choice(["mean", "latest"]), default="mean", show_default=True,
              help=N_("The year's value when no yearly value is recorded."))
@click.option("--from-survey", is_flag=True, help=N_("The value is the satisfaction survey's overall mean."))
@pass_state
def indicators_add(state: State, code: str, name: str, target: float, unit: str, direction: str, cycle: str,
                   yearly_rule: str, from_survey: bool):
    """Define an indicator, or change its definition (qmd).

    Example: opsqa indicators add K1 --name 事件按时解决率 --target 95 --cycle monthly
    """
    from handlers.indicators import define

    with state.engine.database.transaction() as session:
        outcome = define(session, code=code, name=name, unit=unit, direction=direction, target=target, cycle=cycle,
                         yearly_rule=yearly_rule, source="survey" if from_survey else None,
                         now=state.engine.clock.now(), actor=state.actor())
    click.echo(f"{code}: {_outcome(outcome)}")


@indicators.command("list")
@json_option
@pass_state
def indicators_list(state: State, as_json: bool):
    """The indicators and their targets.

    Example: opsqa indicators list
    """
    from handlers.indicators import list_indicators

    with state.engine.database.reading() as session:
        rows = list_indicators(session)
    _render(rows, [("code", _("CODE")), ("name", _("NAME")), ("target", _("TARGET")), ("unit", _("UNIT")),
                   ("direction", _("DIRECTION")), ("cycle", _("CYCLE")), ("source", _("SOURCE"))], as_json)


@indicators.command("import")
@click.argument("file", type=FilePath(dir_okay=False))
@pass_state
def indicators_import(state: State, file: str):
    """Record values from a .csv or .xlsx file (indicator,period,value[,project]; in a workbook, the first
    worksheet); all rows or none, a bad row named by its line (or row). The same file again changes nothing; a
    changed value corrects the one before.

    Example: opsqa indicators import kpi-2027-03.xlsx
    """
    from handlers.indicators import parse_values, record_values
    from handlers.tabular import read_table

    rows = parse_values(read_table(file))
    with state.engine.database.transaction() as session, Progress(_("importing")) as progress:
        counts = record_values(session, rows, now=state.engine.clock.now(), actor=state.actor(), progress=progress)
    click.echo(_("{file}: {added} added, {updated} updated, {unchanged} unchanged").format(
                   file=file, added=counts['added'], updated=counts['updated'], unchanged=counts['unchanged']))


@indicators.command("set")
@click.argument("code")
@click.option("--period", required=True, help=N_("2027-03 (a month), 2027-Q1 (a quarter) or 2027 (the year)."))
@click.option("--value", type=float, required=True)
@click.option("--project", help=N_("A project's value (default: the organisation's)."))
@pass_state
def indicators_set(state: State, code: str, period: str, value: float, project: str | None):
    """Enter one value (a later value for the same period corrects it; the history keeps both).

    Example: opsqa indicators set K1 --period 2027-03 --value 96.4
    """
    from handlers.indicators import ORG, ValueRow, check_period, record_values

    row = ValueRow(code, check_period(period), value, project or ORG, f"{code} {period}: ")
    with state.engine.database.transaction() as session:
        counts = record_values(session, [row], now=state.engine.clock.now(), actor=state.actor())
    click.echo(f"{code} {period}: " + _outcome(next(k for k, v in counts.items() if v)))


@indicators.command("values")
@click.option("--year", type=YEAR)
@click.option("--indicator")
@json_option
@pass_state
def indicators_values(state: State, year: int | None, indicator: str | None, as_json: bool):
    """Recorded values and whether each met its target.

    Example: opsqa indicators values --year 2027 --indicator K1
    """
    from handlers.indicators import list_values

    with state.engine.database.reading() as session:
        rows = list_values(session, year=year, indicator=indicator)
    _render(rows, [("indicator", _("INDICATOR")), ("period", _("PERIOD")), ("scope", _("SCOPE")), ("value", _("VALUE")),
                   ("attainment", _("ATTAINMENT")), ("collected_by", _("BY"))], as_json)


@indicators.command("year")
@click.argument("year", type=YEAR)
@json_option
@pass_state
def indicators_year(state: State, year: int, as_json: bool):
    """Each indicator's attainment for a year: met, unmet or not measured.

    Example: opsqa indicators year 2027
    """
    from handlers.reviews import attainment_of_year

    with state.engine.database.reading() as session:
        rows = attainment_of_year(session, year)
    if not as_json:
        for row in rows:
            row["basis"] = _basis(row["basis"])
    _render(rows, [("code", _("INDICATOR")), ("name", _("NAME")), ("target", _("TARGET")), ("actual", _("ACTUAL")),
                   ("attainment", _("ATTAINMENT")), ("basis", _("BASIS"))], as_json)


def _basis(text: str) -> str:
    """How a yearly value was reached (handlers/indicators.py words it), in the chosen language."""
    import re

    fixed = {"yearly value": _("yearly value"), "satisfaction survey": _("satisfaction survey"),
             "no value": _("no value")}
    counted = re.fullmatch(r"(\w+) of (\d+) values", text)
    if counted:
        return _("{rule} of {count} values").format(rule=counted[1], count=counted[2])
    return fixed.get(text, text)


@cli.group()
def complaints():
    """Customer complaints (6.2.3): register, list, show, close after the customer's callback."""


@complaints.command("add")
@click.option("--project", required=True, help=N_("The project complained about (its manager handles it)."))
@click.option("--description", required=True, help=N_("What the customer complains about."))
@click.option("--channel", type=click.Choice(["phone", "email", "letter", "service_desk", "on_site", "platform"]),
              default="phone", show_default=True)
@click.option("--customer", help=N_("Who complains (default: the project's customer)."))
@click.option("--contact", help=N_("How to reach them."))
@click.option("--remedy", help=N_("What the customer asks for."))
@click.option("--received", "received_text", metavar="TIME",
              help=N_("When it was received (ISO 8601; local time if no offset). Default: now."))
@pass_state
def complaints_add(state: State, project: str, description: str, channel: str, customer: str | None,
                   contact: str | None, remedy: str | None, received_text: str | None):
    """Register a complaint; the project manager is asked to accept and assess it.

    Example: opsqa complaints add --project P-01 --description "城市视频平台中断6小时" --received "2028-05-10 09:00"
    """
    from handlers.complaints import register

    actor, engine = state.actor(), state.engine
    now = engine.clock.now()
    received = _parse_local(received_text, "--received") if received_text else now
    with engine.database.transaction() as session:
        complaint = register(session, project=project, description=description, channel=channel,
                             received_at=received, now=now, actor=actor, customer=customer, contact=contact,
                             remedy=remedy, start_instance=engine.starter(session, actor))
        shown = (complaint.code, complaint.handler, complaint.resolve_due_at)
    click.echo(_("{code} registered; {handler} assesses it (general complaints resolved by {due})").format(
                   code=shown[0], handler=shown[1], due=_cell(shown[2])))


@complaints.command("list")
@click.option("--year", type=YEAR, help=N_("Only complaints received in this year."))
@click.option("--open", "open_only", is_flag=True, help=N_("Only complaints not yet closed."))
@json_option
@xlsx_option
@pass_state
def complaints_list(state: State, year: int | None, open_only: bool, as_json: bool, xlsx_file: str | None):
    """List complaints.

    Example: opsqa complaints list --year 2028 --open --xlsx complaints-2028.xlsx
    """
    from handlers.complaints import list_complaints

    with state.engine.database.reading() as session:
        rows = list_complaints(session, year=year, open_only=open_only)
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, "complaints", as_json)
    columns = [("code", _("COMPLAINT")), ("received_at", _("RECEIVED")), ("project", _("PROJECT")),
               ("severity", _("SEVERITY")),
               ("status", _("STATUS")), ("handler", _("PM")), ("escalated_to", _("ESCALATED TO")),
               ("description", _("DESCRIPTION"))]
    _render(rows, columns, as_json)


@complaints.command("show")
@click.argument("code")
@json_option
@pass_state
def complaints_show(state: State, code: str, as_json: bool):
    """Show one complaint.

    Example: opsqa complaints show C-2028-001
    """
    from handlers.complaints import list_complaints

    with state.engine.database.reading() as session:
        found = [c for c in list_complaints(session) if c["code"] == code.upper()]
    if not found:
        from engine import OpsqaError

        raise OpsqaError(_("no complaint {code}; see `opsqa complaints list`").format(code=code))
    item = found[0]
    if as_json:
        _print_json(item)
        return
    for key, value in item.items():
        if value not in (None, "", 0, False) or key in ("escalated", "reopen_count"):
            click.echo(f"{key:18} {_cell(value)}")


@complaints.command("close")
@click.argument("code")
@click.option("--feedback", type=click.Choice(["satisfied", "not_satisfied"]), required=True,
              help=N_("The customer's answer at the callback."))
@click.option("--note", help=N_("What the customer said."))
@pass_state
def complaints_close(state: State, code: str, feedback: str, note: str | None):
    """Record the customer's callback: satisfied closes the complaint, not satisfied reopens it.
    A major complaint is closed by the operations general manager only.

    Example: opsqa complaints close C-2028-002 --feedback satisfied
    """
    from handlers.complaints import closing_task, feedback_value, get_complaint

    actor, engine = state.actor(), state.engine
    with engine.database.reading() as session:
        task_id = closing_task(session, code, actor)
        bpmn_id = engine.task(task_id)["task"]
    engine.complete(task_id, {"customer_feedback": feedback_value(bpmn_id, feedback), "feedback_note": note},
                    actor=actor)
    with engine.database.reading() as session:
        complaint = get_complaint(session, code)
        click.echo(_("{code} is {status}").format(code=complaint.code, status=complaint.status))


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


# -- input and output ----------------------------------------------------------------------


def _assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(_("{pair!r} is not NAME=VALUE").format(pair=pair), param_hint="--set")
        values[name.strip()] = value
    return values


def _scalar(text: str) -> Any:
    """Start variables: numbers, true/false and null as typed, everything else as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


def _read_data(path: str) -> dict[str, Any]:
    from engine import OpsqaError

    text = _read_text(path)
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        kind = "YAML" if path.endswith((".yaml", ".yml")) else "JSON"
        raise OpsqaError(_("{path} is not valid {kind}: {error}").format(
                             path=path, kind=kind, error=str(exc).splitlines()[0])) from None
    if not isinstance(data, dict):
        raise OpsqaError(_("{path} must hold a mapping of field names to values").format(path=path))
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _zone():
    return _zone_named(os.environ.get("OPSQA_TZ", DEFAULT_ZONE))


@functools.cache
def _zone_named(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(_zone()).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and len(value) == 36 and value.count("-") == 4:
        return value[:8]  # task ids: a unique prefix is accepted wherever an id is
    return str(value)


def _summary(payload: dict) -> str:
    parts = []
    for key, value in payload.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        if value not in (None, "", []):
            parts.append(f"{key}={value}")
    return "; ".join(parts)


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clip(text: str, limit: int) -> str:
    if _width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        if used + _width(ch) > limit - 1:
            break
        out.append(ch)
        used += _width(ch)
    return "".join(out) + "…"


_GOOD = {"completed", "closed", "met", "on time", "reported", "approved", "passed", "satisfied"}
_WAIT = {"ready", "running", "in_progress", "open", "planned", "collecting", "due", "pending_verification"}
_BAD = {"error", "failed", "overdue", "late", "unmet", "missed", "escalated", "cancelled", "not_measured"}


def _complete(ctx: click.Context, incomplete: str, kind: str) -> list[str]:
    """Shell completion of process ids and open task ids, read from a SQLite file without SQLAlchemy
    (`eval "$(_OPSQA_COMPLETE=bash_source opsqa)"`)."""
    from store import quickread

    path = quickread.sqlite_file(ctx.find_root().params.get("db"))
    if path is None:
        return []
    if kind == "processes":
        found = quickread.process_ids(path)
    else:
        found = [task["id"] for task in quickread.tasks(path) or []]
    return [value for value in found if value.startswith(incomplete)]


def _colour_on() -> bool:
    """Colour for people at a terminal: never with NO_COLOR (no-color.org), always with CLICOLOR_FORCE."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("CLICOLOR_FORCE"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _paint(text: str) -> str:
    word = text.strip()
    colour = "green" if word in _GOOD else "yellow" if word in _WAIT else "red" if word in _BAD else None
    if word.endswith(" d") and word[:-2].isdigit():  # days overdue
        colour = "red"
    return click.style(text, fg=colour) if colour else text


def _render(rows: list[dict], columns: list[tuple[str, str]], as_json: bool) -> None:
    """A table sized to the terminal (the widest column gives way), coloured where a state is shown."""
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo(_("(none)"), err=True)
        return
    cells = [[_clip(_cell(row.get(key)).replace("\n", " "), 60) for key, _ in columns] for row in rows]
    widths = [max(_width(title), *(_width(line[i]) for line in cells)) for i, (_, title) in enumerate(columns)]
    if sys.stdout.isatty():
        import shutil

        room = shutil.get_terminal_size((120, 24)).columns - 2 * (len(widths) - 1)
        while sum(widths) > room and max(widths) > 12:
            widest = widths.index(max(widths))
            widths[widest] -= 1
            cells = [[_clip(v, widths[i]) if i == widest else v for i, v in enumerate(line)] for line in cells]
    colour = _colour_on()

    def line(values, header: bool = False):
        out = []
        for value, width in zip(values, widths, strict=True):
            padded = value + " " * (width - _width(value))
            out.append(click.style(padded, bold=True) if header and colour else _paint(padded) if colour else padded)
        return "  ".join(out).rstrip()

    lines = [line([title for _, title in columns], header=True), *(line(values) for values in cells)]
    click.echo("\n".join(lines), color=colour or None)


def main() -> None:
    cli(prog_name="opsqa")


if __name__ == "__main__":
    main()
