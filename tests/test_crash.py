"""kill -9 at many points of a run of hundreds of instances, then restart: every instance completes and
no record is lost or written twice, on SQLite and on PostgreSQL.

Each instance waits an hour, then its service task writes a record (the issued quality plan, unique
per period: here each instance's own key). Worker processes (`opsqa tick`) are made to die with
os._exit — no cleanup, like kill -9 — at a crash point (store/failpoints.py): after claiming jobs,
before and after a handler, just before and just after a commit. The next worker runs after the dead
one's lease ran out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from helpers import ADMIN, PLAN_VALUES, ROOT, flow, make_engine, process, service_task, tick_in_process
from sqlalchemy import func, select

from engine import SimulatedClock
from store import Event, Instance, QualityPlan, create_database

pytest_plugins = ["postgres"]
START = datetime.fromisoformat("2027-03-01T10:00:00+08:00")
DUE = START + timedelta(hours=1, minutes=1)
INSTANCES = 200
# (crash point, on its n-th pass): each round's worker dies there, if it gets that far.
# The n are small enough that every round dies before the 200 instances are done.
KILLS = [("claim.after", 1), ("handler.before", 1), ("handler.after", 1), ("commit.before", 2),
         ("commit.after", 2), ("handler.before", 10), ("handler.after", 15), ("commit.before", 12),
         ("commit.after", 20), ("handler.after", 25), ("commit.before", 30), ("commit.after", 35)]


def crash_process() -> str:
    body = ('<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition '
            'id="wait_def"><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>'
            '</bpmn:intermediateCatchEvent>' + service_task("issue", "plan.issue") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "wait") + flow("f2", "wait", "issue") + flow("f3", "issue", "end"))
    return process("crashing", body, {"qmd": ["start", "wait", "issue", "end"]})


def worker(db: str, now: datetime, crash: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "OPSQA_CRASH"}
    if crash:
        env["OPSQA_CRASH"] = crash
    done = tick_in_process(db, now, env)
    assert done.returncode in (0, 137), done.stderr
    return done.returncode


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        url = str(tmp_path / "crash.db")
    else:
        url = request.getfixturevalue("pg_url")
    create_database(url).dispose()
    return url


def test_kill_9_at_many_points_loses_and_doubles_nothing(db, tmp_path):
    engine = make_engine(db, SimulatedClock(START))
    engine.add_user(ADMIN, ["admin"])
    (tmp_path / "crashing.bpmn").write_text(crash_process(), encoding="utf-8")
    engine.deploy([str(tmp_path / "crashing.bpmn")], actor=engine.actor(ADMIN))
    values = {**PLAN_VALUES, "audit_start": date(2027, 6, 1), "survey_start": date(2027, 9, 1),
              "decision": "approved"}  # no year: each plan's period is its instance's key
    for _ in range(INSTANCES):
        engine.start("crashing", actor=engine.actor(ADMIN), variables=values)

    now, killed = DUE, 0
    for point, n in KILLS:
        killed += worker(db, now, f"{point}:{n}") == 137
        now += timedelta(minutes=10)  # past the dead worker's five-minute lease
    assert killed == len(KILLS)  # every worker died where it was told to
    assert worker(db, now, None) == 0

    with engine.database.reading() as session:
        statuses = dict(session.execute(select(Instance.status, func.count()).group_by(Instance.status)).all())
        plans = session.execute(select(QualityPlan.instance_id, func.count()).group_by(QualityPlan.instance_id)).all()
        fired = session.execute(select(Event.instance_id, func.count()).where(Event.kind == "timer.fired")
                                .group_by(Event.instance_id)).all()
    report = engine.verify_history()
    engine.database.dispose()
    assert report.intact, report.problems[:5]
    assert statuses == {"completed": INSTANCES}
    assert len(plans) == INSTANCES and {n for _, n in plans} == {1}  # one record each, none lost
    assert len(fired) == INSTANCES and {n for _, n in fired} == {1}


def test_sigkill_of_a_running_scheduler_then_a_restart(tmp_path):
    """A real kill -9 from outside, wherever the daemon happens to be; a restart after its lease ran out
    finishes the work, each record once."""
    import signal
    import time

    from engine import SystemClock

    db = str(tmp_path / "crash.db")
    create_database(db).dispose()
    engine = make_engine(db, SystemClock())
    engine.add_user(ADMIN, ["admin"])
    (tmp_path / "crashing.bpmn").write_text(crash_process().replace("PT1H", "PT1S"), encoding="utf-8")
    engine.deploy([str(tmp_path / "crashing.bpmn")], actor=engine.actor(ADMIN))
    values = {**PLAN_VALUES, "audit_start": date(2027, 6, 1), "survey_start": date(2027, 9, 1),
              "decision": "approved"}  # no year: each plan's period is its instance's key
    for _ in range(INSTANCES):
        engine.start("crashing", actor=engine.actor(ADMIN), variables=values)
    time.sleep(1.1)  # the timers fall due (real time: the daemon runs on the system clock)
    daemon = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "--db", db, "scheduler", "run",
                               "--interval", "0.1"], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it mid-run, some of the work done
            with engine.database.reading() as session:
                if session.scalar(select(func.count()).select_from(QualityPlan)) >= 20:
                    break
            time.sleep(0.02)
        daemon.send_signal(signal.SIGKILL)
        assert daemon.wait(timeout=30) == -signal.SIGKILL
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    with engine.database.reading() as session:
        done_before = session.scalar(select(func.count()).select_from(QualityPlan))
    assert 20 <= done_before < INSTANCES
    later = datetime.now(START.tzinfo) + timedelta(minutes=6)  # past the dead daemon's lease
    assert worker(db, later, None) == 0
    with engine.database.reading() as session:
        plans = session.execute(select(QualityPlan.instance_id, func.count()).group_by(QualityPlan.instance_id)).all()
        statuses = dict(session.execute(select(Instance.status, func.count()).group_by(Instance.status)).all())
    engine.database.dispose()
    assert statuses == {"completed": INSTANCES}
    assert len(plans) == INSTANCES and {n for _, n in plans} == {1}
