"""`opsqa processes test`: a process owner's scenarios, run on a simulated clock before a deploy.

A scenario file sits beside the BPMN files (`*.scenario.yaml`, the format `opsqa simulate` reads) and
says what the run must end with:

    from: 2027-01-01
    to: 2027-03-01
    expect:
      completed: {quality_plan: 1}                  # instances completed, per process
      running: {quality_plan: 0}                    # instances still running
      end_events: {quality_plan: [end_plan_issued]} # the end events reached (by some instance)
      records: {quality_plan: 1}                    # rows in these tables at the end

Each scenario runs in a new database of its own, in a temporary folder (`{work}` in its commands, where
they may write files), with the folder's processes deployed, so a changed diagram is checked before it is
deployed anywhere.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, table

from i18n import _
from store import Instance, create_database

from .clock import SimulatedClock
from .errors import OpsqaError
from .simulate import ScenarioError, load_scenario, simulate

_EXPECT_KEYS = {"completed", "running", "end_events", "records"}


@dataclass
class Outcome:
    scenario: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _moment(value, key: str, source: str, zone: ZoneInfo) -> datetime:
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise ScenarioError(_("{source}: {key} {value!r} is not a date or an ISO 8601 time").format(
                                source=source, key=key, value=value)) from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


def run_scenario(path: Path, processes: Path, make_engine, run_command=None) -> Outcome:
    """Run one scenario file in a new database; compare how it ends with its `expect`."""
    import yaml

    from .files import read_text_bounded

    data = yaml.safe_load(read_text_bounded(path)) or {}
    source = str(path)
    if not isinstance(data, dict) or "from" not in data or "to" not in data or "expect" not in data:
        raise ScenarioError(_("{source}: a process test needs from, to and expect").format(source=source))
    expect = data["expect"] or {}
    unknown = set(expect) - _EXPECT_KEYS
    if unknown:
        raise ScenarioError(_("{source}: expect has unknown key {unknown!r} (known: {expect_keys})").format(
                                source=source, unknown=sorted(unknown)[0], expect_keys=', '.join(sorted(_EXPECT_KEYS))))
    zone = ZoneInfo("Asia/Shanghai")
    start, end = _moment(data["from"], "from", source, zone), _moment(data["to"], "to", source, zone)
    with tempfile.TemporaryDirectory(prefix="opsqa-process-test-") as folder:
        database = create_database(str(Path(folder) / "test.db"))
        engine = make_engine(database)
        try:
            engine.clock = SimulatedClock(start)
            engine.add_user("sim-admin", ["admin"])
            engine.deploy([str(processes)], actor=engine.actor("sim-admin"))
            models = {p["process"]: engine.model_of(p["process"]) for p in engine.processes()}
            simulate(engine, load_scenario(source, models, workdir=folder), start=start, end=end,
                     run_command=run_command(engine) if run_command else None)
            return Outcome(path.name, _compare(engine, expect, models))
        finally:
            database.dispose()


def _compare(engine, expect: dict, models: dict) -> list[str]:
    failures = []
    with engine.database.reading() as session:
        counts = {(process, status): n for process, status, n in session.execute(
            select(Instance.process_id, Instance.status, func.count()).group_by(Instance.process_id, Instance.status))}
        for status in ("completed", "running"):
            for process, wanted in (expect.get(status) or {}).items():
                got = counts.get((process, status), 0)
                if got != wanted:
                    failures.append(f"{status} {process}: expected {wanted}, got {got}")
        for name, wanted in (expect.get("records") or {}).items():
            try:
                got = session.scalar(select(func.count()).select_from(table(name)))
            except Exception:
                failures.append(f"records {name}: there is no such table")
                continue
            if got != wanted:
                failures.append(f"records {name}: expected {wanted}, got {got}")
        reached: dict[str, set[str]] = {}
        for instance_id, process in session.execute(select(Instance.id, Instance.process_id)):
            ends = {node_id for scope in models.get(process, {}).get("nodes", {}).values()
                    for node_id, node in scope.items() if node["type"] == "endEvent"}
            states = engine.runtime.element_states(session, instance_id)
            reached.setdefault(process, set()).update(e for e in ends if states.get(e) == "completed")
    for process, wanted in (expect.get("end_events") or {}).items():
        missing = set(wanted) - reached.get(process, set())
        if missing:
            failures.append(f"end events of {process}: {', '.join(sorted(missing))} not reached "
                            f"(reached: {', '.join(sorted(reached.get(process, set()))) or 'none'})")
    return failures


def scenario_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.scenario.yaml")) if folder.is_dir() else []
    if not files:
        raise OpsqaError(_("no *.scenario.yaml files in {folder}").format(folder=folder))
    return files

