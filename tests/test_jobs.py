"""Timer jobs claimed under a lease with a fence token (engine/jobs.py): a lease that ran out goes to
the next worker and the first worker's late step is refused; a step that keeps failing backs off,
then becomes an incident."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from helpers import ADMIN, flow, make_engine, process, user_task
from sqlalchemy import select

from engine import Registry, SimulatedClock, jobs
from engine.scheduler import SCHEDULER, TickReport, fire_due_timers
from store import Job


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def waiting(condition: str = "${ready == 1}") -> str:
    """Start, wait an hour, then a gateway whose condition may fail, then a task."""
    body = ('<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition '
            'id="wait_def"><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>'
            '</bpmn:intermediateCatchEvent><bpmn:exclusiveGateway id="gw" />' + user_task("work")
            + '<bpmn:endEvent id="end" />' + flow("f1", "start", "wait") + flow("f2", "wait", "gw")
            + flow("f3", "gw", "work", condition) + flow("f4", "work", "end"))
    return process("waiting", body, {"ops": ["start", "wait", "gw", "work", "end"]})


@pytest.fixture
def timed(engine, db_path, tmp_path):
    clock = SimulatedClock(at("2027-03-01T10:00:00+08:00"))
    timed = make_engine(db_path, clock, Registry())
    (tmp_path / "ok.bpmn").write_text(waiting(), encoding="utf-8")
    timed.deploy([str(tmp_path / "ok.bpmn")], actor=timed.actor(ADMIN))
    return timed


def job_of(engine, instance_id: int) -> Job:
    with engine.database.reading() as session:
        return session.scalar(select(Job).where(Job.instance_id == instance_id))


def fired(engine, instance_id: int) -> int:
    return sum(1 for e in engine.history(instance_id) if e["kind"] == "timer.fired")


def test_a_lost_lease_refuses_the_late_step(timed):
    instance = timed.start("waiting", actor=timed.actor(ADMIN), variables={"ready": 1})
    timed.clock.advance(timedelta(hours=1, minutes=1))
    now = timed.clock.now()
    [first] = jobs.claim(timed.database, "worker-a", now, lease=timedelta(minutes=5))
    assert (first.instance_id, first.fence) == (instance, 1)
    assert jobs.claim(timed.database, "worker-b", now) == []  # leased: nobody else gets it

    # worker-a stalls past its lease; worker-b claims the job and fires the timer.
    later = now + timedelta(minutes=6)
    [second] = jobs.claim(timed.database, "worker-b", later)
    assert second.fence == 2
    with pytest.raises(jobs.LeaseLost, match="the lease of worker-a .fence 1. was lost .fence 2, held by worker-b"):
        timed.runtime.fire_timers(instance, now=later, actor=SCHEDULER, claim=first)
    assert fired(timed, instance) == 0  # the late step changed nothing
    timed.runtime.fire_timers(instance, now=later, actor=SCHEDULER, claim=second)
    assert fired(timed, instance) == 1
    assert job_of(timed, instance) is None  # no timer left: no job
    with pytest.raises(jobs.LeaseLost):
        timed.runtime.fire_timers(instance, now=later, actor=SCHEDULER, claim=first)
    assert [t["task"] for t in timed.tasks(instance_id=instance)] == ["work"]


def test_a_failing_step_backs_off_then_becomes_an_incident(timed):
    instance = timed.start("waiting", actor=timed.actor(ADMIN), variables={})  # `ready` is missing
    now = timed.clock.advance(timedelta(hours=1, minutes=1))
    for attempt, wait in enumerate((1, 2, 4, 8), start=1):
        report = TickReport(now)
        fire_due_timers(timed, now, report, worker="w")
        assert len(report.failed) == 1 and "ready" in report.failed[0]["error"]
        job = job_of(timed, instance)
        assert (job.attempts, job.lease_owner, job.run_after) == (attempt, None, now + timedelta(minutes=wait))
        report = TickReport(now)
        fire_due_timers(timed, now + timedelta(minutes=wait) - timedelta(seconds=1), report, worker="w")
        assert report.failed == []  # backed off: not tried again before its time
        now += timedelta(minutes=wait)
    fire_due_timers(timed, now, TickReport(now), worker="w")
    view = timed.instance(instance)
    assert view["status"] == "error" and view["incident"].startswith("timer step failed 5 times:")
    assert job_of(timed, instance) is None
    assert fired(timed, instance) == 0  # every failed attempt was rolled back whole
