"""Several worker processes on one PostgreSQL database share the due timer jobs: every job is done
exactly once, whichever worker gets it (FOR UPDATE SKIP LOCKED under a lease and a fence)."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta

import pytest
from helpers import ADMIN
from sqlalchemy import func, select
from test_jobs import waiting

import handlers
from engine import Engine, SimulatedClock
from engine.scheduler import TickReport, fire_due_timers
from store import Event, Instance, Job, create_database, open_database

pytest_plugins = ["postgres"]
START = datetime.fromisoformat("2027-03-01T10:00:00+08:00")
DUE = START + timedelta(hours=2)


def _work(url: str, worker: str, due: datetime, barrier) -> int:
    """One worker process: claim and fire small batches until nothing is due; returns how many it fired."""
    engine = Engine(open_database(url), clock=SimulatedClock(due), handlers=handlers.registry)
    barrier.wait()  # all workers start together
    done = 0
    try:
        while True:
            report = TickReport(due)
            fire_due_timers(engine, due, report, worker=worker, limit=5)
            assert report.failed == [], report.failed
            if not report.timers:
                return done
            done += len(report.timers)
    finally:
        engine.database.dispose()


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_the_due_jobs_and_do_each_once(pg_url, tmp_path, workers):
    create_database(pg_url).dispose()
    engine = Engine(open_database(pg_url), clock=SimulatedClock(START), handlers=handlers.registry)
    engine.add_user(ADMIN, ["admin"])
    (tmp_path / "waiting.bpmn").write_text(waiting(), encoding="utf-8")
    engine.deploy([str(tmp_path / "waiting.bpmn")], actor=engine.actor(ADMIN))
    for _ in range(60):
        engine.start("waiting", actor=engine.actor(ADMIN), variables={"ready": 1})
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool, context.Manager() as manager:
        barrier = manager.Barrier(workers)
        counts = pool.starmap(_work, [(pg_url, f"worker-{n}", DUE, barrier) for n in range(workers)])
    with engine.database.reading() as session:
        fired_per_instance = session.execute(
            select(Event.instance_id, func.count()).where(Event.kind == "timer.fired").group_by(Event.instance_id)
        ).all()
        left = session.scalar(select(func.count()).select_from(Job))
        instances = session.scalar(select(func.count()).select_from(Instance))
    engine.database.dispose()
    assert sum(counts) == instances == 60 and left == 0
    assert sorted({n for _, n in fired_per_instance}) == [1] and len(fired_per_instance) == 60
    assert sum(1 for n in counts if n) >= 2  # the work was shared, not done by one worker alone
