"""The figures users feel beyond raw throughput (issue 7's table), on the settings we ship.

Large fixtures are bulk-inserted, not run through the engine: one real instance is made by the
engine, and its row (state included) is copied with new ids. Every figure is a median of several
runs; the whole-process ones run `opsqa` as a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import pwd
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from engine import Engine, SimulatedClock
from handlers import registry
from store import Definition, Instance, Job, Task, create_database

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "processes" / "quality_plan.bpmn"
PLAN_VALUES = {"objectives": "客户满意度不低于90%", "verification": "内审与现场抽查", "resources": "质量专员2名",
               "audit_schedule": "6月内审", "audit_start": "2027-06-01", "survey_start": "2027-09-01",
               "indicator_cycle": "monthly", "spot_check_plan": "每季度抽查", "spot_check_frequency": "spot_quarterly",
               "spot_check_sample": 1}
WAIT = (ROOT / "bench" / "processes" / "bench_wait.bpmn").read_text(encoding="utf-8")  # wait an hour, end
START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
LOGIN = pwd.getpwuid(os.getuid()).pw_name


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def _opsqa(db: Path, *args: str) -> float:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "--db", str(db), *args], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"opsqa {' '.join(args)}: {done.stderr.strip()}")
    return elapsed


def _engine(db: Path, process: Path | None = None, text: str | None = None) -> Engine:
    database = create_database(str(db))
    engine = Engine(database, clock=SimulatedClock(START), handlers=registry)
    engine.add_user(LOGIN, ["admin", "ops", "qmd"])
    if text is not None:
        process = db.parent / "process.bpmn"
        process.write_text(text, encoding="utf-8")
    engine.deploy([str(process)], actor=engine.actor(LOGIN))
    return engine


def _clone(engine: Engine, template_id: int, count: int, first_id: int, **changes: Any) -> None:
    """`count` copies of an instance row (state included), ids from `first_id`, in batches."""
    with engine.database.reading() as session:
        row = session.get(Instance, template_id)
        base = {c.key: getattr(row, c.key) for c in Instance.__table__.columns}
    with engine.database.transaction() as session:
        batch = []
        for n in range(count):
            batch.append({**base, "id": first_id + n, "business_key": f"bulk-{first_id + n}", **changes})
            if len(batch) == 5000:
                session.execute(insert(Instance), batch)
                batch = []
        if batch:
            session.execute(insert(Instance), batch)


def tasks_by_role(folder: Path, runs: int = 7, instances: int = 10_000) -> dict[str, Any]:
    """`opsqa tasks --role R` with 100,000 open tasks in 10,000 instances (10 roles: R has 10,000)."""
    tasks = instances * 10
    db = folder / "tasks.db"
    engine = _engine(db, PLAN)
    template = engine.start("quality_plan", actor=engine.actor(LOGIN))
    _clone(engine, template, instances, 1_000)
    with engine.database.transaction() as session:
        rows = [{"id": f"{i:08d}-0000-4000-8000-{i:012d}", "instance_id": 1_000 + i // 10, "process_id": "bench",
                 "bpmn_id": f"ut_{i % 5 + 1}", "name": f"第{i % 5 + 1}步", "role": f"r{i % 10}", "state": "ready",
                 "variables": "{}", "created_at": START + timedelta(seconds=i)} for i in range(tasks)]
        for at in range(0, len(rows), 10_000):
            session.execute(insert(Task), rows[at:at + 10_000])
    engine_ms = []
    for _ in range(runs):
        began = time.perf_counter()
        found = engine.tasks(role="r3")
        engine_ms.append(time.perf_counter() - began)
    assert len(found) == instances, len(found)
    first_page_ms = []
    for _ in range(runs):
        began = time.perf_counter()
        page = engine.tasks(role="r3", limit=100)
        first_page_ms.append(time.perf_counter() - began)
    assert len(page) == min(100, instances)
    engine.database.dispose()
    cli_all = [_opsqa(db, "tasks", "--role", "r3", "--limit", "0") for _ in range(max(3, runs // 2))]
    cli_page = [_opsqa(db, "tasks", "--role", "r3") for _ in range(max(3, runs // 2))]
    return {"tasks": tasks, "instances": instances + 1, "matching": instances,
            "engine_all_ms": _median_ms(engine_ms), "engine_first_100_ms": _median_ms(first_page_ms),
            "cli_all_rows_ms": _median_ms(cli_all), "cli_default_page_ms": _median_ms(cli_page)}


def cold_start(runs: int = 9) -> dict[str, Any]:
    """`opsqa --help` against `python -c "import click"`."""
    def timed(args: list[str]) -> float:
        began = time.perf_counter()
        subprocess.run(args, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - began

    click_ms = [timed([sys.executable, "-c", "import click"]) for _ in range(runs)]
    help_ms = [timed([sys.executable, "-c", "import cli; cli.main()", "--help"]) for _ in range(runs)]
    return {"import_click_ms": _median_ms(click_ms), "opsqa_help_ms": _median_ms(help_ms),
            "ratio": round(statistics.median(help_ms) / statistics.median(click_ms), 2)}


def task_complete(folder: Path, runs: int = 9, instances: int = 10_000) -> dict[str, Any]:
    """`opsqa task complete` as a process, in a database of 10,000 instances."""
    db = folder / "complete.db"
    engine = _engine(db, PLAN)
    real = [engine.start("quality_plan", actor=engine.actor(LOGIN)) for _ in range(runs)]
    _clone(engine, real[0], instances, 10_000)
    tasks = [engine.tasks(instance_id=i)[0]["id"] for i in real]
    engine.database.dispose()
    values = folder / "plan.json"
    values.write_text(json.dumps(PLAN_VALUES, ensure_ascii=False), encoding="utf-8")
    samples = [_opsqa(db, "task", "complete", task, "--data", str(values)) for task in tasks]
    return {"instances": instances + runs, "median_ms": _median_ms(samples), "max_ms": round(max(samples) * 1000, 1)}


def due_timer_pass(folder: Path, waiting: int = 100_000, due_count: int = 1_000) -> dict[str, Any]:
    """One scheduler pass over 100,000 waiting instances of which 1,000 are due."""
    db = folder / "timers.db"
    engine = _engine(db, text=WAIT)
    template = engine.start("bench_wait", actor=engine.actor(LOGIN))
    _clone(engine, template, waiting, 100_000)
    due, later = START + timedelta(hours=1), START + timedelta(days=30)
    with engine.database.transaction() as session:
        jobs = [{"key": f"timer:{100_000 + n}", "kind": "timer", "instance_id": 100_000 + n,
                 "run_after": due if n < due_count else later, "attempts": 0, "fence": 0, "created_at": START}
                for n in range(waiting)]
        for at in range(0, len(jobs), 10_000):
            session.execute(insert(Job), jobs[at:at + 10_000])
        session.execute(Job.__table__.delete().where(Job.instance_id == template))
    loads = []
    original = engine.runtime._load

    def counting(session, instance_id):
        loads.append(instance_id)
        return original(session, instance_id)

    engine.runtime._load = counting
    now = START + timedelta(hours=1, minutes=1)
    engine.clock = SimulatedClock(now)
    began = time.perf_counter()
    report = engine.tick()
    seconds = time.perf_counter() - began
    engine.database.dispose()
    return {"waiting": waiting, "due": due_count, "fired": len(report.timers), "instances_loaded": len(loads),
            "seconds": round(seconds, 2)}


def simulated_year(folder: Path, projects: int = 100) -> dict[str, Any]:
    """The demo's year (demo/year.yaml) for a company of `projects` O&M projects."""
    from .year import scenario_for

    scenario = scenario_for(folder, projects)
    db = folder / "year.db"
    began = time.perf_counter()
    _opsqa(db, "simulate", "--from", "2026-12-20", "--to", "2028-01-02", "--scenario", str(scenario), "--out",
           str(db))
    seconds = time.perf_counter() - began
    from store import open_database

    opened = open_database(str(db))
    with opened.reading() as session:
        definition = session.scalar(select(Definition.id).where(Definition.process_id == "annual_cycle"))
        states = session.execute(select(Instance.business_key, Instance.status, Instance.state_json)
                                 .where(Instance.definition_id == definition).order_by(Instance.id)).all()
    opened.dispose()
    sizes = {key: {"status": status, "state_bytes": len(state.encode())} for key, status, state in states}
    return {"projects": projects, "seconds": round(seconds, 1), "annual_cycle_states": sizes}
