"""Processes and their instances: check and deploy BPMN, versions and their differences, diagrams, the
owners' scenario tests, starting, retrying, cancelling and migrating instances."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from engine import Engine, OpsqaError
from i18n import _

from .base import Caller, authorized, guarded, who

Progress = Callable[[int, int], None] | None


# -- definitions


def deploy(engine: Engine, caller: Caller, paths: list[str], *, reason: str | None,
           progress: Progress = None) -> list[dict[str, Any]]:
    """Deploy BPMN files (process owners `po` and admins; with a reason). Each result says, for a changed
    process past its first version, how many running instances stay on older versions (`older_running`)."""
    with guarded(engine, caller, "deploy"):
        actor = authorized(engine, caller, "deploy", reason=reason)
        results = engine.deploy(paths, actor=actor, reason=reason.strip(), progress=progress)
    for result in results:
        result["older_running"] = 0
        if result["changed"] and result["version"] > 1:
            result["older_running"] = sum(v["running"] for v in engine.versions(result["process"])
                                          if v["version"] < result["version"])
    return results


def default_folder() -> str:
    """Where `deploy` and `validate` look when given no files: ./processes, else the processes shipped with
    opsqa."""
    from processes import default_folder as folder

    return folder()


def validate(db: str | None, paths: list[str]) -> list[dict[str, Any]]:
    """Check BPMN files without deploying them; without a database, calls resolve among the files given."""
    from engine import Engine
    from handlers import registry
    from store import NoDatabase, open_database

    try:
        database = open_database(db)
    except NoDatabase:
        database = None
    try:
        builds = Engine(database, handlers=registry).validate(paths)
    finally:
        if database is not None:
            database.dispose()
    return [{"process": b.process_id, "name": b.name, "user_tasks": len(b.model["user_tasks"]),
             "file": b.source_file} for b in builds]


def processes(engine: Engine) -> list[dict[str, Any]]:
    return engine.processes()


def versions(engine: Engine, process_id: str) -> list[dict[str, Any]]:
    return engine.versions(process_id)


def diff(engine: Engine, process_id: str, old: int, new: int) -> list:
    return engine.diff(process_id, old, new)


def process_diagram(engine: Engine, process_id: str, version: int | None = None) -> tuple[int, str]:
    """(version, SVG) of a process's diagram: the latest version unless one is named."""
    from engine.diagram import render_svg

    chosen = version or engine.versions(process_id)[-1]["version"]
    return chosen, render_svg(engine.definition_xml(process_id, chosen), title=f"{process_id} v{chosen}")


def test_scenarios(folder: Path, *, run_command=None):
    """Run a folder's scenario tests, each in a new database of its own: yields each `Outcome`."""
    from engine import Engine
    from engine.processtest import run_scenario, scenario_files
    from handlers import registry

    for path in scenario_files(folder):
        yield run_scenario(path, folder, lambda database: Engine(database, handlers=registry),
                           run_command=run_command)


# -- instances


def start(engine: Engine, caller: Caller, process_id: str, *, business_key: str | None = None,
          variables: dict[str, Any] | None = None) -> dict[str, Any]:
    path = engine.handlers.owner_command(process_id)
    if path is not None:
        raise OpsqaError(_("instances of {process} belong to a domain record and start only through it: {path}").format(
                             process=process_id, path=path))
    with guarded(engine, caller, "start"):
        actor = authorized(engine, caller, "start")
        instance_id = engine.start(process_id, actor=actor, business_key=business_key, variables=variables)
    return engine.instance(instance_id)


def instances(engine: Engine, *, status: str | None = None, process_id: str | None = None) -> list[dict[str, Any]]:
    return engine.instances(status=status, process_id=process_id)


def instance(engine: Engine, instance_id: int) -> dict[str, Any]:
    return engine.instance(instance_id)


def instance_page(engine: Engine, caller: Caller, instance_id: int) -> dict[str, Any]:
    """An instance as the web shows it: its tasks and timers, the state of each element for its diagram
    (done, ready, waiting, error), its history, and whether the caller may retry its incident."""
    from engine import policy

    view = engine.instance(instance_id)
    _xml, states, _title = engine.painted(instance_id)
    view["states"] = states
    for timer in view["timers"]:
        timer["due_at"] = datetime.fromisoformat(timer["due"])
    view["definition"] = engine.instance_definition(instance_id)
    view["history"] = engine.history(instance_id)
    view["variables"] = sorted(engine.variables(instance_id).items())
    view["may_retry"] = view["status"] == "error" and policy.allows(who(engine, caller), "instance.retry")
    return view


def definition_xml(engine: Engine, definition_id: int) -> str:
    """A deployed definition's BPMN as its process owner wrote it (for the diagram viewer)."""
    return engine.definition_xml_by_id(definition_id)


def instance_diagram(engine: Engine, instance_id: int) -> str:
    """The instance's process drawn with its state painted on it (done, ready, waiting, failed), as SVG."""
    from engine.diagram import render_svg

    xml, states, title = engine.painted(instance_id)
    return render_svg(xml, states=states, title=title)


def retry(engine: Engine, caller: Caller, instance_id: int, *, reason: str | None) -> dict[str, Any]:
    """Re-run the service task whose handler failed (admin, qmd; with a reason)."""
    with guarded(engine, caller, "instance.retry"):
        actor = authorized(engine, caller, "instance.retry", reason=reason)
        engine.retry(instance_id, actor=actor, reason=reason.strip())
    return engine.instance(instance_id)


def cancel(engine: Engine, caller: Caller, instance_id: int, *, reason: str | None) -> None:
    """Cancel a running instance and its open tasks (admin, qmd; with a reason)."""
    with guarded(engine, caller, "instance.cancel"):
        actor = authorized(engine, caller, "instance.cancel", reason=reason)
        engine.cancel(instance_id, actor=actor, reason=reason.strip())


def migrate(engine: Engine, caller: Caller, process_id: str, version: int, *, instance_ids: list[int] | None = None,
            dry_run: bool = False, revert: bool = False, reason: str | None = None) -> list[dict[str, Any]]:
    """Move running instances onto another version (process owners `po` and admins; with a reason unless it
    is a dry run), each in its own transaction; those that cannot move are left, with the tasks in the way."""
    with guarded(engine, caller, "instance.migrate"):
        actor = authorized(engine, caller, "instance.migrate", reason=reason if not dry_run else "dry run")
    return engine.migrate(process_id, version, actor=actor, instance_ids=instance_ids, dry_run=dry_run,
                          revert=revert, reason=(reason or "").strip() or None)
