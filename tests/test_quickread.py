"""store/quickread.py answers `opsqa tasks` exactly as the engine does, or leaves it to the engine."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from helpers import ADMIN, PLAN_VALUES, ready_task
from sqlalchemy import select

from engine.app import orm_tasks
from store import Task, quickread


@pytest.fixture
def busy(engine, admin):
    engine.deploy(["processes/quality_plan.bpmn", "processes/nc_followup.bpmn"], actor=admin)
    for n in range(4):
        instance = engine.start("quality_plan", actor=admin, business_key=str(2027 + n))
        engine.clock.advance(timedelta(minutes=1))
        if n % 2:
            engine.complete(ready_task(engine, instance, "draft_plan")["id"], PLAN_VALUES, actor=engine.actor("qmd1"))
    return engine


@pytest.mark.parametrize("filters", [{}, {"role": "qmd"}, {"role": "gm"}, {"state": None}, {"state": "completed"},
                                     {"instance_id": 2}, {"limit": 2}, {"role": "nobody"}])
def test_the_same_rows_as_the_orm(busy, db_path, filters):
    with busy.database.reading() as session:
        assert quickread.tasks(db_path, **filters) == orm_tasks(session, **filters) == busy.tasks(**filters)


def test_the_same_people_and_deadlines_as_the_orm(busy, db_path):
    with busy.database.transaction() as session:
        task = session.scalars(select(Task).where(Task.state == "ready").order_by(Task.id)).first()
        task.claimed_by, task.due_at = "qmd1", busy.clock.now() - timedelta(hours=1)
    now = busy.clock.now()
    with busy.database.reading() as session:
        for filters in ({"person": "qmd1"}, {"person": "gm1"}, {"due_before": now}, {"due_before": now, "role": "gm"}):
            quick = quickread.read_tasks(session.connection().connection.driver_connection, **filters)
            assert quick == orm_tasks(session, **filters), filters
    assert [t["id"] for t in busy.tasks(mine=busy.actor("qmd1"))] == [task.id]
    assert [t["id"] for t in busy.tasks(overdue=True)] == [task.id]


def test_overdue_and_the_cases_it_leaves_to_the_engine(busy, db_path, tmp_path):
    later = busy.clock.now() + timedelta(days=1)
    assert quickread.tasks(db_path, due_before=later) == []  # the plan's tasks have no deadline
    assert quickread.tasks(tmp_path / "missing.db") is None
    assert quickread.sqlite_file(str(tmp_path / "missing.db")) is None
    assert quickread.sqlite_file("postgresql+psycopg://x@y/z") is None
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    assert quickread.tasks(db_path) is None  # an older schema: the engine refuses it properly


def test_the_command_line_gives_the_same_listing_either_way(busy, run):
    quick = run("tasks", "--role", "qmd", "--json")
    engine = run("--as", ADMIN, "tasks", "--role", "qmd", "--json")  # --as takes the engine's way
    assert quick.exit_code == engine.exit_code == 0 and quick.stdout == engine.stdout


def test_each_task_names_its_instance_business_key(busy, db_path, run):
    keys = {t["instance"]: t["business_key"] for t in quickread.tasks(db_path, state=None)}
    assert keys == {1: "2027", 2: "2028", 3: "2029", 4: "2030"}
    with busy.database.reading() as session:
        assert {t["instance"]: t["business_key"] for t in orm_tasks(session, state=None)} == keys
    listing = run("tasks", "--instance", "2").stdout.splitlines()
    assert listing[0].split()[:3] == ["TASK", "INST", "KEY"] and listing[1].split()[1:3] == ["2", "2028"]
    assert [t["business_key"] for t in run.json("tasks", "--instance", "2")] == ["2028"]
