"""Time: one scheduler pass (tick), the schedules, the scheduler daemon and its workers, simulation on a
simulated clock, the outbox of notifications."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine import Engine, OpsqaError, SystemClock
from i18n import _

from .base import Caller, authorized, reading

Progress = Callable[[int, int], None] | None
# A face's runner of a scenario's `run:` commands, made for the simulation's engine: (args, login) -> None,
# raising `CommandFailed` with the face's refusal.
CommandRunner = Callable[[Engine], Callable[[list[str], str], None]]


class CommandFailed(OpsqaError):
    """A scenario's command was refused; the simulation names the scenario entry that ran it."""


# -- time


def tick(engine: Engine, caller: Caller, now: datetime | None = None) -> dict[str, Any]:
    """One scheduler pass (for cron): start due periods of schedules, fire due timers, tell people of
    overdue tasks, send notifications. With `now` (admins), the pass acts as if it were that time: on a
    real database never ahead of the real clock; on a simulated one it moves that database's clock on."""
    from engine import SimulatedClock
    from engine.clock import local_time
    from engine.settings import simulated_time, stamp_simulated, zone

    with reading(engine) as session:
        simulated, local = simulated_time(session), zone(session)
    if now is not None:
        authorized(engine, caller, "tick.now")
        if simulated is None and now > SystemClock().now():
            raise OpsqaError(_("--now {now} is ahead of the real clock; a real database runs on real time (a "
                               "simulated one: `opsqa simulate`)").format(now=local_time(now, local)))
        if simulated is not None and now < simulated:
            raise OpsqaError(_("this database's simulated clock stands at {at}; it does not go back to {now}").format(
                                 at=local_time(simulated, local), now=local_time(now, local)))
        engine.clock = SimulatedClock(now)  # the handlers and timers read the clock, not an argument
    report = engine.tick()
    if simulated is not None:
        with engine.database.transaction() as session:
            stamp_simulated(session, report.now, by=caller.login)
    return {"now": report.now, "started": report.started, "skipped": report.skipped, "timers": report.timers,
            "failed": report.failed, "overdue_tasks": report.overdue, "notifications_sent": report.sent,
            "notifications_failed": report.unsent}


def schedules(engine: Engine, count: int = 3) -> tuple[list[dict[str, Any]], str | None]:
    """Schedules (timer start events) with their next `count` fire times, and a warning when this year
    has no full internal audit."""
    from handlers.audits import yearly_audit_warning

    rows = engine.schedules(count)
    with reading(engine) as session:
        warning = yearly_audit_warning(session, engine.clock.now())
    return rows, warning


def run_scheduler(db: str | None, *, interval: float, workers: int = 1) -> int:
    """Run the scheduler until SIGINT/SIGTERM, in this process or in `workers` processes sharing the due
    work; the exit status."""
    from engine.daemon import run_daemon, run_workers

    if workers > 1:
        return run_workers(functools.partial(worker_engine, db), workers=workers, interval=interval)
    engine = worker_engine(db)
    try:
        run_daemon(engine, interval=interval)
    finally:
        engine.database.dispose()
    return 0


def background(db: str | None, *, interval: float = 30.0):
    """The scheduler's passes for a process that serves the web too: `start()`, `stop()`, `status()` (the
    time of the last pass, for /healthz). Its engine is its own, on the database's clock."""
    from engine.daemon import Passes

    return Passes(worker_engine(db), interval=interval)


def worker_engine(db: str | None) -> Engine:
    """A scheduler's engine, on the database's clock so that due times and leases agree across machines
    (a simulated database's: its simulated clock, where the simulation stopped). Top level, so that a
    spawned worker process can be handed it."""
    from engine.clock import DatabaseClock

    from . import open_engine

    engine = open_engine(db)
    if isinstance(engine.clock, SystemClock):
        engine.clock = DatabaseClock(engine.database)
    return engine


# -- simulation


def simulation_zone(db: str | None) -> ZoneInfo:
    """The zone a simulation of `db` runs in, to which dates without an offset are local: the database's
    own when it is copied, else a new database's default."""
    from engine import settings
    from store import open_database

    if _copied(db) is None:
        return ZoneInfo(settings.SETTINGS["timezone"][0])
    database = open_database(db)
    try:
        with database.reading() as session:
            return settings.zone(session)
    finally:
        database.dispose()


def simulate(db: str | None, *, start: datetime, end: datetime, scenario: str | None = None, out: str | None = None,
             processes: str = "processes", progress: Progress = None,
             run_command: CommandRunner | None = None, keep_going: bool = False) -> dict[str, Any]:
    """Run the processes from `start` to `end` on a simulated clock, in a copy of the SQLite database `db`
    (or, when there is none, a new one with the `processes` folder deployed), the operators answering as
    the scenario file says (`keep_going`: past a refused command or answer, counted and listed). `out`: a new
    file to keep the simulated database in (else it is dropped); its folder is the run's folder, where the
    scenario's commands may write new files (`{work}`).
    `progress(done, total)` in simulated hours. What happened, as plain data."""
    import tempfile

    from engine import SimulatedClock
    from engine.simulate import ScenarioError, load_scenario
    from engine.simulate import simulate as run_simulation
    from handlers import registry
    from store import backup_sqlite, create_database, open_database

    with tempfile.TemporaryDirectory(prefix="opsqa-simulate-") as workdir:
        target = Path(out) if out else Path(workdir) / "simulated.db"
        source, refused = _copied(db), False
        if source is None:
            database = create_database(str(target))
        else:
            backup_sqlite(source, target)
            database = open_database(str(target))
        try:
            engine = Engine(database, clock=SimulatedClock(start), handlers=registry)
            if source is None:
                engine.add_user("sim-admin", ["admin"])
                engine.deploy([processes], actor=engine.actor("sim-admin"))
            models = {p["process"]: engine.model_of(p["process"]) for p in engine.processes()}
            try:  # the run's folder ({work}): beside the kept database, else the dropped one
                plan = load_scenario(scenario, models, workdir=target.parent)
            except ScenarioError:
                refused = True  # nothing ran: the new --out file goes too
                raise
            total = max(1, int((end - start).total_seconds() // 3600))

            def advance(now: datetime) -> None:
                progress(min(total, int((now - start).total_seconds() // 3600)), total)

            summary = run_simulation(engine, plan, start=start, end=end, progress=advance if progress else None,
                                     run_command=run_command(engine) if run_command else None,
                                     keep_going=keep_going)
            if progress:
                progress(total, total)
        finally:
            database.dispose()
            if refused and out:
                for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
                    leftover.unlink(missing_ok=True)
    processes_seen = sorted(set(summary.started) | set(summary.finished))
    return {
        "from": summary.start, "to": summary.end, "steps": summary.steps,
        "instances": {p: {"started": summary.started[p], "finished": summary.finished[p]} for p in processes_seen},
        "tasks_done": summary.tasks_done, "tasks_open": summary.tasks_open, "overdue": summary.overdue,
        "escalations": summary.escalations, "reminders": summary.reminders,
        "unanswered": dict(summary.unanswered), "messages": dict(summary.messages), "database": out,
        "refused": summary.refused, "refused_count": summary.refused_count,
    }


def _copied(db: str | None) -> str | None:
    """The URL of the SQLite file a simulation copies, or None when it starts from a new database."""
    from store import resolve_url

    url = resolve_url(db)
    return url if url.startswith("sqlite:///") and Path(url.removeprefix("sqlite:///")).exists() else None


# -- notifications


def outbox(engine: Engine) -> list[dict[str, Any]]:
    """Messages waiting to be sent, with their channel, attempts and last error."""
    from engine.outbox import pending

    with reading(engine) as session:
        return pending(session)


def database_url(engine: Engine) -> str:
    """The URL of the engine's database, for a command a scenario runs on the simulation (its `--db`)."""
    return engine.database.url
