"""DOMAIN.md S8: the scheduler is down over the New Year; on restart each period starts exactly once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, make_engine

from engine import SimulatedClock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    org = make_engine(db_path, SimulatedClock(local(2027, 12, 1, 9)))
    org.deploy(["processes"], actor=org.actor(ADMIN))
    return org


def started(org, process: str) -> list[str]:
    return [i["business_key"] for i in org.instances(process_id=process)]


def test_scheduler_down_over_the_new_year(org, run):
    org.clock.set(local(2027, 12, 30, 18))
    org.tick()
    assert started(org, "kpi_collection") == []  # the schedules began on 12-01: nothing before is "missed"

    org.clock.set(local(2028, 1, 3, 9))  # restarted after 3 days down
    report = org.tick()
    fired = sorted((s["process"], s["period"], s["caught_up"]) for s in report.started)
    assert fired == [("annual_cycle", "2028", True), ("kpi_collection", "2028-01", True)]
    assert started(org, "annual_cycle") == ["2028"]  # keyed by the Shanghai year of the fire, not UTC's 2027
    [event] = [e for e in org.history() if e["kind"] == "schedule.caught_up"
               and e["payload"]["process"] == "annual_cycle"]
    assert event["payload"]["late_by"] == "2 days, 8:55:00"

    org.clock.set(local(2028, 1, 3, 9, 10))  # restarted again ten minutes later: nothing new
    assert org.tick().started == []
    assert (started(org, "annual_cycle"), started(org, "kpi_collection")) == (["2028"], ["2028-01"])

    result = run("cycle", "start", "--year", "2028")
    assert result.exit_code == 1
    assert result.stderr == "opsqa: the 2028 annual cycle already exists (instance 1, running)\n"


def test_a_cycle_is_started_by_hand_by_qmd_or_an_admin(org, run):
    refused = run("cycle", "start", "--year", "2028", login="gm1")
    assert (refused.exit_code, refused.stderr) == (1, "opsqa: cycle.start needs role qmd or admin; gm1 holds gm\n")
    assert started(org, "annual_cycle") == []
    result = run("cycle", "start", "--year", "2028", login="qmd1")
    assert result.stdout == "the 2028 annual cycle started (instance 1)\n", result.output
    assert started(org, "annual_cycle") == ["2028"]
