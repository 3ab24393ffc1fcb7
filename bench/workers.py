"""1, 2 and 4 worker processes sharing one PostgreSQL database: instances run, and timer jobs done.

`python -m bench.workers --url postgresql+psycopg://...` (an empty database it may fill).

- Instances: W processes each run their share of N bench_ten_steps instances start to end, as the
  SQLite figure of `python -m bench` does (a start, then five task-list reads and completions, each its
  own transaction); it reports instances per second and checks every instance (completed, at the
  expected end, each user task once) and the history's hash chain.
- Timer jobs: each round starts N instances of a process that waits an hour then ends, moves the clock
  past the hour, and lets W worker processes claim (FOR UPDATE SKIP LOCKED, under a lease) and fire
  them in batches; it reports jobs per second and checks that every timer fired exactly once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from datetime import datetime, timedelta
from pathlib import Path

START = datetime.fromisoformat("2027-03-01T10:00:00+08:00")
DUE = START + timedelta(hours=1, minutes=1)
PROCESS = (Path(__file__).resolve().parent / "processes" / "bench_wait.bpmn").read_text(encoding="utf-8")


def _engine(url: str, now: datetime):
    from engine import Engine, SimulatedClock
    from handlers import registry
    from store import open_database

    return Engine(open_database(url), clock=SimulatedClock(now), handlers=registry)


def _work(url: str, worker: str, barrier) -> int:
    from engine.scheduler import TickReport, fire_due_timers

    engine = _engine(url, DUE)
    barrier.wait()
    done = 0
    try:
        while True:
            report = TickReport(DUE)
            fire_due_timers(engine, DUE, report, worker=worker, limit=10)
            if not report.timers:
                return done
            done += len(report.timers)
    finally:
        engine.database.dispose()


def measure(url: str, workers: int, jobs: int, folder: Path) -> dict:
    from sqlalchemy import func, select, text

    from store import Event, Job

    engine = _engine(url, START)
    admin = engine.actor("bench-admin")
    path = folder / "bench_wait.bpmn"
    path.write_text(PROCESS, encoding="utf-8")
    engine.deploy([str(path)], actor=admin)
    with engine.database.transaction() as session:  # a fresh round: no jobs or events of the last one
        session.execute(text("DELETE FROM job"))
    for _ in range(jobs):
        engine.start("bench_wait", actor=admin)
    with engine.database.reading() as session:
        first_event = session.scalar(select(func.max(Event.id)))
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool, context.Manager() as manager:
        barrier = manager.Barrier(workers + 1)
        pending = pool.starmap_async(_work, [(url, f"bench-{n}", barrier) for n in range(workers)])
        barrier.wait()
        began = time.perf_counter()
        counts = pending.get()
        seconds = time.perf_counter() - began
    with engine.database.reading() as session:
        fired = session.execute(select(Event.instance_id, func.count()).where(
            Event.kind == "timer.fired", Event.id > first_event).group_by(Event.instance_id)).all()
        left = session.scalar(select(func.count()).select_from(Job))
    engine.database.dispose()
    once = len(fired) == jobs and {n for _, n in fired} == {1} and left == 0
    return {"workers": workers, "jobs": jobs, "seconds": round(seconds, 3), "jobs_per_s": round(jobs / seconds, 1),
            "per_worker": counts, "each_exactly_once": once}


def _run_instances(url: str, count: int, barrier) -> list[int]:
    from engine import Engine
    from store import open_database

    from .variants import registry, run_instance

    engine = Engine(open_database(url), handlers=registry())
    actor = engine.actor("bench")
    barrier.wait()
    try:
        return [run_instance(engine, actor) for _ in range(count)]
    finally:
        engine.database.dispose()


def measure_instances(opsqa, url: str, workers: int, instances: int) -> dict:
    """bench_ten_steps instances start to end, shared among `workers` processes; every one checked."""
    from store import verify_chain

    share = [instances // workers + (1 if n < instances % workers else 0) for n in range(workers)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool, context.Manager() as manager:
        barrier = manager.Barrier(workers + 1)
        pending = pool.starmap_async(_run_instances, [(url, count, barrier) for count in share])
        barrier.wait()
        began = time.perf_counter()
        done = pending.get()
        seconds = time.perf_counter() - began
    ids = [instance_id for part in done for instance_id in part]
    for instance_id in ids:
        opsqa.check(instance_id)  # completed at the expected end, each user task once
    with opsqa.database.reading() as session:
        chain = verify_chain(session)
    return {"workers": workers, "instances": len(ids), "seconds": round(seconds, 3),
            "instances_per_s": round(len(ids) / seconds, 1), "per_worker": [len(part) for part in done],
            "distinct": len(set(ids)) == len(ids) == instances, "history_intact": chain.intact}


def main(argv: list[str] | None = None) -> None:
    import tempfile

    from engine import Engine
    from store import open_database

    parser = argparse.ArgumentParser(prog="python -m bench.workers")
    parser.add_argument("--url", required=True, help="an empty PostgreSQL database (postgresql+psycopg://...)")
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--instances", type=int, default=400)
    args = parser.parse_args(argv)
    from .variants import Opsqa

    opsqa = Opsqa(url=args.url)  # the schema, the user `bench` and bench_ten_steps
    try:
        for workers in (1, 2, 4):
            print(measure_instances(opsqa, args.url, workers, args.instances))
    finally:
        opsqa.close()
    setup = Engine(open_database(args.url))
    setup.add_user("bench-admin", ["admin"])
    setup.database.dispose()
    with tempfile.TemporaryDirectory() as folder:
        for workers in (1, 2, 4):
            print(measure(args.url, workers, args.jobs, Path(folder)))


if __name__ == "__main__":
    main()
