"""Time: one scheduler pass (tick), the schedules, the scheduler daemon and its workers, simulation on
a simulated clock, the outbox of notifications."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

import usecases
from i18n import N_, _, ngettext

from .base import FilePath, Progress, State, cli, json_option, pass_state
from .terminal import _cell, _parse_moment, _parse_now, _print_json, _render

# -- time ----------------------------------------------------------------------------------


@cli.command()
@click.option("--now", "now_text", metavar="TIME", help=N_("Act as if it were this time (ISO 8601 with offset)."))
@json_option
@pass_state
def tick(state: State, now_text: str | None, as_json: bool):
    """Run one scheduler pass: start due periods of schedules, fire due timers (for cron).

    Example: opsqa tick --now 2027-01-01T09:00:00+08:00
    """
    now = _parse_now(now_text) if now_text else None
    report = usecases.scheduling.tick(state.engine, state.caller, now)
    if as_json:
        _print_json(report)
        return
    for fire in report["started"]:
        note = _(" (caught up)") if fire["caught_up"] else ""
        if fire["instance"]:
            started = _("instance {instance}").format(instance=fire["instance"])
        else:
            started = _("already started by hand")
        click.echo(_("started {process} period {period}{note}: {started}").format(
                       process=fire['process'], period=fire['period'], note=note, started=started))
    for skip in report["skipped"]:
        click.echo(_("skipped {process} periods {periods} (policy latest)").format(
                       process=skip['process'], periods=', '.join(skip['periods'])))
    for timer in report["timers"]:
        click.echo(_("timer {timer} of instance {instance} fired (due {due})").format(
                       timer=timer['timer'], instance=timer['instance'],
                       due=_cell(datetime.fromisoformat(timer['due']))))
    for failure in report["failed"]:
        click.echo(_("instance {instance}: timer failed: {error}").format(
                       instance=failure['instance'], error=failure['error']), err=True)
    if report["overdue_tasks"]:
        click.echo(_("{overdue} task(s) newly past their deadline; their people are told").format(
                       overdue=report["overdue_tasks"]))
    if report["notifications_sent"]:
        click.echo(_("{sent} notification(s) sent").format(sent=report["notifications_sent"]))
    for failure in report["notifications_failed"]:
        click.echo(_("notification {key} not sent: {error} (retried later)").format(
                       key=failure['key'], error=failure['error']), err=True)
    if not any(value for key, value in report.items() if key != "now"):
        click.echo(_("nothing was due"), err=True)
    if report["failed"]:
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
    rows, warning = usecases.scheduling.schedules(state.engine, count)
    if not as_json:
        for row in rows:
            row["next"] = ", ".join(f"{n['period']} ({_cell(n['at'])})" for n in row["next"]) or "-"
    columns = [("process", _("PROCESS")), ("expression", _("TIMER")), ("policy", _("CATCH-UP")),
               ("last_period", _("LAST")),
               ("next", _("NEXT"))]
    _render(rows, columns, as_json)
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
    code = usecases.scheduling.run_scheduler(state.db, interval=interval, workers=workers)
    if code:
        raise SystemExit(code)


@cli.command()
@click.option("--from", "start_text", required=True, metavar="DATE", help=N_("Start: a date (local midnight) or time."))
@click.option("--to", "end_text", required=True, metavar="DATE", help=N_("End: a date (local midnight) or time."))
@click.option("--scenario", type=FilePath(dir_okay=False), help=N_("How simulated operators answer (YAML)."))
@click.option("--out", type=FilePath(dir_okay=False), help=N_("Keep the simulated database here."))
@click.option("--processes", "processes_dir", default="processes", show_default=True,
              help=N_("Deployed first when there is no database to copy."))
@click.option("--keep-going", is_flag=True,
              help=N_("Go on past a refused command or answer: each is counted and listed, the year goes on."))
@json_option
@pass_state
def simulate(state: State, start_text: str, end_text: str, scenario: str | None, out: str | None,
             processes_dir: str, keep_going: bool, as_json: bool):
    """Run the processes on a simulated clock, in a copy of the database (or a new one).

    Example: opsqa simulate --from 2027-01-01 --to 2028-01-01 --scenario year.yaml
    """
    if out and (Path(out).exists() or Path(out).is_symlink()):  # a link, even dangling, is never written through
        raise click.UsageError(_("{target} exists; --out needs a new file").format(target=out))
    zone = state.zone = usecases.scheduling.simulation_zone(state.db)
    start, end = _parse_moment(start_text, zone, "--from"), _parse_moment(end_text, zone, "--to")
    if end <= start:
        raise click.BadParameter(_("--to must be after --from"), param_hint="--to")
    with Progress(_("simulating"), as_json) as progress:
        summary = usecases.scheduling.simulate(state.db, start=start, end=end, scenario=scenario, out=out,
                                               processes=processes_dir, progress=progress,
                                               run_command=_command_runner, keep_going=keep_going)
    _show_summary(summary, as_json)


def _command_runner(engine):
    """Runs a scenario's opsqa command in this process, on the simulation's engine and clock."""
    import contextlib
    import io

    failed = usecases.scheduling.CommandFailed

    def run(args: list[str], login: str) -> None:
        errors, stdin = io.StringIO(), sys.stdin
        sys.stdin = io.StringIO()  # nobody at a terminal: a command asks nothing, waits for nothing
        # --db: whatever the command reads beside the lent engine (the zone) comes from the simulation's database
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
                try:
                    code = cli.main(args=["--db", usecases.scheduling.database_url(engine), *args], prog_name="opsqa",
                                    obj={"login": login, "engine": engine}, standalone_mode=False)
                except click.ClickException as exc:
                    raise failed(exc.format_message()) from None
        finally:
            sys.stdin = stdin
        if code:
            raise failed(errors.getvalue().strip().removeprefix("opsqa: ") or _("exit status {code}").format(code=code))

    return run


def _show_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        _print_json(summary)
        return
    click.echo(_("simulated {start} -> {end} in {steps} steps").format(
                   start=_cell(summary["from"]), end=_cell(summary["to"]), steps=summary["steps"]))
    rows = [{"process": process, **counts} for process, counts in summary["instances"].items()]
    _render(rows, [("process", _("PROCESS")), ("started", _("STARTED")), ("finished", _("FINISHED"))], False)
    click.echo(_("tasks done {tasks_done}, still open {tasks_open}, overdue {overdue}; escalations "
                 "{escalations}, reminders {reminders}").format(
                   tasks_done=summary["tasks_done"], tasks_open=summary["tasks_open"], overdue=summary["overdue"],
                   escalations=summary["escalations"], reminders=summary["reminders"]))
    for key, count in sorted(summary["unanswered"].items()):
        click.echo(_("  open at the end: {key} x{count}").format(key=key, count=count))
    if summary["refused_count"]:
        click.echo(ngettext("{count} command or answer refused, the year went on:",
                            "{count} commands or answers refused, the year went on:",
                            summary["refused_count"]).format(count=summary["refused_count"]))
        for line in summary["refused"]:
            click.echo(f"  {line}")
    for channel, count in sorted(summary["messages"].items()):
        click.echo(_("{count} message(s) by {channel} queued, none sent: the simulated year's people are not "
                     "real").format(count=count, channel=channel))
    if summary["database"]:
        click.echo(_("the simulated database is {out}").format(out=summary["database"]))


@cli.command()
@json_option
@pass_state
def outbox(state: State, as_json: bool):
    """Messages waiting to be sent, with their channel, tries and last error (the scheduler sends those of the
    channels that are set up: opsqa channels list).

    Example: opsqa outbox
    """
    rows = usecases.scheduling.outbox(state.engine)
    _render(rows, [("channel", _("CHANNEL")), ("to", _("TO")), ("title", _("MESSAGE")), ("created_at", _("QUEUED")),
                   ("attempts", _("TRIES")), ("next_try", _("NEXT TRY")), ("last_error", _("LAST ERROR"))], as_json)
