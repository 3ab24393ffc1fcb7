"""Every action a person takes, as one function below the faces (cli/, web/): the engine and the
`Caller` in, plain data out. A use case reads `now` once, opens its transaction, asks the permission
policy (engine/policy.py), acts and records the history; the faces parse, call one and render.

Modules by subject, as the faces group them: processes (deploy, instances), tasks, admin (users,
settings, the database, the history), auth (the web face's passwords, sign-in and sessions),
scheduling (tick, simulate, the outbox), channels (where messages go), plans (projects, the
quality plan, the cycle), audits (audits, findings, inspections, reports), customers (complaints,
surveys), review (the management review, indicators, improvement).

Submodules are imported on first use (PEP 562), so that a face may `import usecases` at its top and a
command pays only for what it calls: `usecases.processes.deploy(engine, caller, paths)`."""

from __future__ import annotations

import importlib

SUBJECTS = ("admin", "auth", "audits", "channels", "overview", "zone", "customers", "documents", "drafts", "plans",
            "processes", "review", "scheduling", "tasks", "trials")


def __getattr__(name: str):
    if name in SUBJECTS or name == "base":
        return importlib.import_module(f".{name}", __name__)
    if name == "may":  # whether the policy would let the caller act: a face offers only what is allowed
        from .base import may

        return may
    if name == "Caller":
        from .caller import Caller

        return Caller
    if name == "OpsqaError":  # what the faces raise for a refusal of their own (a file they cannot read)
        from engine import OpsqaError

        return OpsqaError
    if name in ("read_text_bounded", "check_output", "write_output"):  # the files a face reads and writes itself
        from engine import files

        return getattr(files, name)
    if name in ("NotPermitted", "InvalidFormValue", "TaskAlreadyCompleted"):  # refusals a face shows its own way:
        from engine import errors  # the policy's with 403, a form's beside its fields, a stale form with who did it

        return getattr(errors, name)
    if name == "local_time":  # how a time is shown to people: local_time(when, zone), zone from admin.zone
        from engine.clock import local_time

        return local_time
    raise AttributeError(f"module 'usecases' has no attribute {name!r}")


def open_engine(db: str | None = None, *, clock=None):
    """The engine over an existing database (refused when missing or on another schema), with the domain;
    a database made by `opsqa simulate` runs on its simulated clock, from where the simulation stopped."""
    from engine import Engine, SimulatedClock
    from engine.settings import simulated_time
    from handlers import registry
    from store import open_database

    database = open_database(db)
    if clock is None:
        with database.reading() as session:
            stamped = simulated_time(session)
        clock = SimulatedClock(stamped) if stamped is not None else None
    return Engine(database, clock=clock, handlers=registry)
