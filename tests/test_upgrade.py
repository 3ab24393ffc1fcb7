"""Migrations carry data: a populated database taken back to the first revision (0001) and upgraded to
the head keeps its records, and its running instances go on where they stood."""

from __future__ import annotations

import pytest
from alembic import command
from helpers import ADMIN, PLAN_VALUES, make_engine, ready_task

from store import SCHEMA_REVISION, create_database, open_database, upgrade_database
from store.db import current_revision
from store.migrate import _config

pytest_plugins = ["postgres"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_path(request, tmp_path):
    return tmp_path / "opsqa.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_upgrade_from_the_first_revision_keeps_running_instances(db_path, clock):
    create_database(str(db_path)).dispose()
    engine = make_engine(db_path, clock)
    engine.add_user(ADMIN, ["admin"])
    admin = engine.actor(ADMIN)
    engine.add_user("qmd1", ["qmd"], actor=admin)
    engine.add_user("gm1", ["gm"], actor=admin)
    engine.deploy(["processes/quality_plan.bpmn"], actor=admin)
    waiting = engine.start("quality_plan", actor=admin, business_key="2027")
    halfway = engine.start("quality_plan", actor=admin, business_key="2028")
    engine.complete(ready_task(engine, halfway, "draft_plan")["id"], PLAN_VALUES, actor=engine.actor("qmd1"))
    events = len(engine.history())
    engine.database.dispose()

    old = open_database(str(db_path), check_schema=False)
    command.downgrade(_config(old), "0001")  # the schema of the first release, the records kept
    assert current_revision(old) == "0001"
    old.dispose()

    assert upgrade_database(str(db_path)) == ("0001", SCHEMA_REVISION)
    upgraded = make_engine(db_path, clock)
    assert len(upgraded.history()) == events and upgraded.verify_history().intact
    upgraded.complete(ready_task(upgraded, waiting, "draft_plan")["id"], PLAN_VALUES, actor=upgraded.actor("qmd1"))
    upgraded.complete(ready_task(upgraded, halfway, "approve_plan")["id"], {"decision": "approved"},
                      actor=upgraded.actor("gm1"))
    assert upgraded.instance(halfway)["status"] == "completed"
    assert ready_task(upgraded, waiting, "approve_plan")["role"] == "gm"
    upgraded.database.dispose()
