"""The `opsqa` group and what every command shares: the state (database, engine, acting user), the
parameter types and options, the refusal handling, help texts in the chosen language, progress bars."""

from __future__ import annotations

import inspect
import os
import sys
from contextlib import contextmanager

import click

import i18n
import usecases
from i18n import N_, _


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


class Utf8Values:
    """Refuses a value that is not UTF-8 text — bytes from a terminal in another encoding arrive as lone
    surrogates ('\\udcff') and could be neither stored nor shown — in one line naming its option."""

    def invoke(self, ctx: click.Context):
        for param in self.get_params(ctx):
            values = ctx.params.get(param.name) if param.name else None
            values = values if isinstance(values, tuple | list) else (values,)
            if any(isinstance(value, str) and not _utf8(value) for value in values):
                _refuse_non_utf8(param.opts[0] if isinstance(param, click.Option) else param.human_readable_name)
        state = ctx.find_object(State)
        if state is not None and state.as_name is not None and not _utf8(state.as_name):
            _refuse_non_utf8("--as")
        return super().invoke(ctx)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_non_utf8(name: str):
    raise usecases.OpsqaError(_("{option}: the value is not UTF-8 text; opsqa takes UTF-8 (check the terminal's "
                                "encoding, LANG)").format(option=name))


class Command(Translated, Utf8Values, click.Command):
    """Every command also takes `--as USER` after its name (`opsqa task complete ID --as gm`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(["--as", "as_name"], metavar="USER", expose_value=False,
                                        callback=_act_as, help=N_("Act as another user (admins only).")))


def _act_as(ctx: click.Context, param, value: str | None) -> None:
    if value is None:
        return
    state = ctx.find_object(State)
    if state.as_name not in (None, value):
        raise click.BadParameter(_("given twice, as {first} and as {second}").format(first=state.as_name,
                                                                                      second=value))
    state.as_name = value


class Group(Translated, Utf8Values, click.Group):
    command_class = Command
    group_class = type


class OpsqaGroup(Translated, Utf8Values, click.Group):
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
        self._login = login  # the OS login, looked up when a command first needs it
        self._engine, self._owns_engine = engine, engine is None  # a simulation lends its engine and clock
        self._zone = None

    @property
    def login(self) -> str:
        if self._login is None:
            self._login = _os_login()
        return self._login

    @property
    def engine(self):
        if self._engine is None:
            self._engine = usecases.open_engine(self.db)
        return self._engine

    @property
    def zone(self):
        """The organisation's time zone (its `timezone` setting), read once per command: times are shown in it."""
        if self._zone is None:
            self._zone = usecases.zone.zone_of(self.db, lambda: self.engine)
        return self._zone

    @zone.setter
    def zone(self, zone) -> None:  # a command on no database yet (simulate) names the zone it runs in
        self._zone = zone

    @property
    def caller(self):
        """Who asks, as the use cases take it: the OS login, and the user an admin acts as."""
        return usecases.Caller(self.login, self.as_name)

    def close(self) -> None:
        if self._owns_engine and self._engine is not None:
            self._engine.close()


def _os_login() -> str:
    """The OS account's name. An account without one (a uid with no passwd entry, as in some containers) is
    refused: USER and LOGNAME are whatever the caller set, so they cannot say who acts."""
    import pwd

    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise usecases.OpsqaError(_("this account (uid {uid}) has no name in the system's user list; run opsqa as a "
                                    "named user").format(uid=uid)) from None


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
    function = force_option(function)
    return click.option("--xlsx", "xlsx_file", type=FilePath(dir_okay=False), metavar="FILE.xlsx",
                        help=N_("Write all the rows (the --json ones) to this workbook instead."))(function)


def _remember_force(ctx: click.Context, param, value: bool) -> bool:
    ctx.meta["opsqa.force"] = value
    return value


def force_option(function):
    """--force: replace an existing output file (never a symbolic link); the command reads it with forced()."""
    return click.option("--force", is_flag=True, expose_value=False, callback=_remember_force,
                        help=N_("Replace the output file if it exists."))(function)


def forced() -> bool:
    """Whether the running command was given --force."""
    return bool(click.get_current_context().meta.get("opsqa.force", False))


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
      opsqa deploy processes/ --reason "首次部署"
                                      deploy the BPMN files
      opsqa cycle start --year 2027   start the year's cycle: its quality plan first
      opsqa tasks --mine              what is waiting for you
      opsqa task complete ID --set decision=approved
    """
    given = ctx.obj if isinstance(ctx.obj, dict) else {}
    ctx.obj = State(db, as_name, given.get("login"), given.get("engine"))
    ctx.call_on_close(ctx.obj.close)


def _complete(ctx: click.Context, incomplete: str, kind: str) -> list[str]:
    """Shell completion of process ids and open task ids (`eval "$(_OPSQA_COMPLETE=bash_source opsqa)"`)."""
    found = usecases.documents.completions(ctx.find_root().params.get("db"), kind)
    return [value for value in found if value.startswith(incomplete)]


def task_id_argument(function):
    """A task id argument, completed from the open tasks."""
    return click.argument("task_id", shell_complete=lambda ctx, param, incomplete: _complete(
        ctx, incomplete, "tasks"))(function)


def main() -> None:
    cli(prog_name="opsqa")
