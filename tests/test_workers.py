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


def _tick(url: str, now: datetime, barrier) -> list[str]:
    engine = Engine(open_database(url), clock=SimulatedClock(now), handlers=handlers.registry)
    barrier.wait()
    try:
        return [f"{s['process']}:{s['period']}" for s in engine.tick().started]
    finally:
        engine.database.dispose()


def test_four_schedulers_over_the_new_year_start_each_period_once(pg_url):
    create_database(pg_url).dispose()
    engine = Engine(open_database(pg_url), clock=SimulatedClock(datetime.fromisoformat("2027-12-31T20:00:00+08:00")),
                    handlers=handlers.registry)
    engine.add_user(ADMIN, ["admin"])
    engine.deploy(["processes"], actor=engine.actor(ADMIN))
    first_minutes = datetime.fromisoformat("2028-01-01T01:01:00+08:00")  # 2027-12-31 17:01 in UTC
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool, context.Manager() as manager:
        barrier = manager.Barrier(4)
        started = pool.starmap(_tick, [(pg_url, first_minutes, barrier)] * 4)
    keys = {p: [i["business_key"] for i in engine.instances(process_id=p)] for p in ("annual_cycle", "kpi_collection")}
    engine.database.dispose()
    assert sorted(s for batch in started for s in batch) == ["annual_cycle:2028", "kpi_collection:2028-01"]
    assert keys == {"annual_cycle": ["2028"], "kpi_collection": ["2028-01"]}


def _start_many(db: str, count: int, barrier) -> int:
    engine = Engine(open_database(db), clock=SimulatedClock(START), handlers=handlers.registry)
    barrier.wait()
    try:
        for _ in range(count):
            engine.start("waiting", actor=engine.actor(ADMIN), variables={"ready": 1})
        return count
    finally:
        engine.database.dispose()


def test_two_sqlite_writers_never_see_database_is_locked(tmp_path):
    """The production settings (WAL, BEGIN IMMEDIATE, a busy timeout): writers take turns."""
    db = str(tmp_path / "opsqa.db")
    create_database(db).dispose()
    engine = Engine(open_database(db), clock=SimulatedClock(START), handlers=handlers.registry)
    engine.add_user(ADMIN, ["admin"])
    (tmp_path / "waiting.bpmn").write_text(waiting(), encoding="utf-8")
    engine.deploy([str(tmp_path / "waiting.bpmn")], actor=engine.actor(ADMIN))
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool, context.Manager() as manager:
        barrier = manager.Barrier(2)
        done = pool.starmap(_start_many, [(db, 60, barrier)] * 2)
    count = len(engine.instances(process_id="waiting"))
    engine.database.dispose()
    assert done == [60, 60] and count == 120


def test_a_connection_dropped_mid_transaction_rolls_back_and_the_next_one_works(pg_url, tmp_path):
    from sqlalchemy import text

    create_database(pg_url).dispose()
    engine = Engine(open_database(pg_url), clock=SimulatedClock(START), handlers=handlers.registry)
    engine.add_user(ADMIN, ["admin"])
    (tmp_path / "waiting.bpmn").write_text(waiting(), encoding="utf-8")
    engine.deploy([str(tmp_path / "waiting.bpmn")], actor=engine.actor(ADMIN))
    killer = open_database(pg_url)
    with pytest.raises(Exception, match="terminat|closed|server"):
        with engine.database.transaction() as session:
            engine.runtime.start_in(session, "waiting", now=engine.clock.now(), actor=engine.actor(ADMIN),
                                    variables={"ready": 1})
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with killer.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            session.flush()
            session.execute(text("SELECT 1"))  # the dropped connection shows here
    killer.dispose()
    assert engine.instances(process_id="waiting") == []  # rolled back: nothing half-written
    instance = engine.start("waiting", actor=engine.actor(ADMIN), variables={"ready": 1})  # a new connection
    assert engine.instance(instance)["status"] == "running"
    engine.database.dispose()
