"""The same engine and CLI on a real PostgreSQL server: the URL is the only difference.

The server comes from tests/postgres.py; these tests skip when there is none, and fail
instead under CI=true.
"""

from __future__ import annotations

import json
import multiprocessing
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from helpers import ADMIN, PLAN_VALUES, PROCESSES, ready_task, start_instance
from sqlalchemy import select

import handlers
from cli import cli
from engine import Engine, SimulatedClock
from store import QualityPlan, create_database, open_database

pytest_plugins = ["postgres"]

START = datetime(2027, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _engine(url: str) -> Engine:
    return Engine(open_database(url), clock=SimulatedClock(START), handlers=handlers.registry)


@pytest.fixture
def pg_engine(pg_url):
    """An opsqa database on PostgreSQL with an admin, one quality drafter and one manager."""
    create_database(pg_url).dispose()
    engine = _engine(pg_url)
    engine.add_user(ADMIN, ["admin"])
    admin = engine.actor(ADMIN)
    engine.add_user("qmd1", ["qmd"], display_name="张三", actor=admin)
    engine.add_user("gm1", ["gm"], display_name="李四", actor=admin)
    engine.deploy(["processes/quality_plan.bpmn"], actor=admin)
    yield engine
    engine.database.dispose()


def test_schema_is_created_at_the_expected_revision(pg_url):
    from store import SCHEMA_REVISION, describe
    from store.db import current_revision

    database = create_database(pg_url)
    try:
        assert database.engine.dialect.name == "postgresql"
        assert current_revision(database) == SCHEMA_REVISION
        assert describe(pg_url) == pg_url
    finally:
        database.dispose()


def test_quality_plan_walk_on_postgresql(pg_engine, pg_url):
    engine = pg_engine
    qmd, gm = engine.actor("qmd1"), engine.actor("gm1")
    instance_id = engine.start("quality_plan", actor=engine.actor(ADMIN), business_key="2027",
                               variables={"year": 2027})

    draft = ready_task(engine, instance_id, "draft_plan")
    assert (draft["role"], draft["name"]) == ("qmd", "编制组织级质量管理计划")
    engine.complete(draft["id"], PLAN_VALUES, actor=qmd)
    approval = ready_task(engine, instance_id, "approve_plan")
    engine.complete(approval["id"], {"decision": "rejected", "comment": "目标不够具体"}, actor=gm)

    # A second engine on the same database sees why the plan came back.
    other = _engine(pg_url)
    try:
        redraft = other.task(ready_task(engine, instance_id, "draft_plan")["id"])
    finally:
        other.database.dispose()
    assert redraft["variables"]["comment"] == "目标不够具体"
    engine.complete(redraft["id"], {**PLAN_VALUES, "objectives": "客户满意度不低于92%"}, actor=qmd)
    engine.complete(ready_task(engine, instance_id, "approve_plan")["id"], {"decision": "approved"}, actor=gm)

    view = engine.instance(instance_id)
    assert view["status"] == "completed"
    assert view["started_at"] == START and view["started_at"].utcoffset().total_seconds() == 0
    assert [t["task"] for t in view["tasks"]] == ["draft_plan", "approve_plan", "draft_plan", "approve_plan"]
    with engine.database.reading() as session:
        plans = session.scalars(select(QualityPlan)).all()
    assert len(plans) == 1
    plan = plans[0]
    assert (plan.period, plan.objectives, plan.revisions) == ("2027", "客户满意度不低于92%", 2)
    assert (plan.approved_by, plan.issued_by) == ("gm1", "gm1")
    kinds = [e["kind"] for e in engine.history(instance_id)]
    assert kinds.count("task.completed") == 4
    assert kinds[-2:] == ["service.completed", "instance.completed"]
    assert engine.verify_history().intact


def _act_in_another_process(url: str, action: str, task_id: str, login: str, barrier, delay: float) -> str:
    """Complete or claim `task_id` as `login` in a process of its own; returns "won" or the error.

    `delay` > 0 holds this process between reading the task row and acting on it (in
    `_check_may_act`, called right after `_ready_task`), so the other process commits in the
    gap: the window that PostgreSQL's READ COMMITTED leaves open unless the task row is locked.
    """
    import time

    from helpers import PLAN_VALUES

    from engine.runtime import Runtime

    check = Runtime._check_may_act

    def slow_check(self, session, task, actor, *action):
        time.sleep(delay)
        return check(self, session, task, actor, *action)

    if delay:
        Runtime._check_may_act = slow_check  # undone below: pool workers serve later calls too
    engine = _engine(url)
    try:
        actor = engine.actor(login)
        barrier.wait()
        try:
            if action == "complete":
                engine.complete(task_id, PLAN_VALUES, actor=actor)
            else:
                engine.claim(task_id, actor=actor)
            return "won"
        except Exception as exc:  # the loser's message is the point of the test
            return f"{type(exc).__name__}: {exc}"
    finally:
        Runtime._check_may_act = check
        engine.database.dispose()


def _race(engine, pg_url: str, action: str, rounds: int, delay: float = 0.0, prefix: bool = False):
    """`rounds` times: start an instance, let qmd1 and qmd2 race on its first task (qmd2 held `delay`).

    With `prefix` both name the task by the first 8 characters of its id, as people do on the CLI.
    """
    admin = engine.actor(ADMIN)
    engine.add_user("qmd2", ["qmd"], actor=admin)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool, context.Manager() as manager:
        for _round in range(rounds):
            instance_id = engine.start("quality_plan", actor=admin)
            task_id = ready_task(engine, instance_id)["id"]
            ref = task_id[:8] if prefix else task_id
            barrier = manager.Barrier(2)
            calls = [(pg_url, action, ref, "qmd1", barrier, 0.0), (pg_url, action, ref, "qmd2", barrier, delay)]
            results = pool.starmap(_act_in_another_process, calls)
            assert sorted(r == "won" for r in results) == [False, True], results
            yield instance_id, task_id, ref, next(r for r in results if r != "won")


def test_two_processes_completing_one_task_exactly_one_wins(pg_engine, pg_url):
    engine = pg_engine
    for instance_id, task_id, _ref, loser in _race(engine, pg_url, "complete", rounds=5):
        winner = engine.task(task_id)["completed_by"]
        assert loser.startswith(f"TaskAlreadyCompleted: task {task_id} was already completed by {winner} at ")
        approvals = [t for t in engine.tasks(instance_id=instance_id) if t["task"] == "approve_plan"]
        assert len(approvals) == 1
    assert engine.verify_history().intact


# PostgreSQL has no BEGIN IMMEDIATE: without a lock on the task row, a completion or claim that
# read the task before the other one committed goes on with what it read. A completion then
# finds the task done in the instance it loads ("TaskNotReady: ... is not ready in its
# instance"); a claim overwrites the other's and both are told they hold the task. `delay`
# holds the second process in that window so that these tests see it every time.
# By id prefix (the CLI's usual way) the task is first found unlocked, then read again under
# the lock; both ways are raced.
PREFIXES = [pytest.param(False, id="full-id"), pytest.param(True, id="id-prefix")]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_completion_that_read_the_task_before_the_winner_committed_still_names_the_winner(pg_engine, pg_url, prefix):
    engine = pg_engine
    for _instance_id, task_id, ref, loser in _race(engine, pg_url, "complete", rounds=2, delay=0.3, prefix=prefix):
        winner = engine.task(task_id)["completed_by"]
        assert loser.startswith(f"TaskAlreadyCompleted: task {ref}"), loser
        assert f" was already completed by {winner} at " in loser
    assert engine.verify_history().intact


@pytest.mark.parametrize("prefix", PREFIXES)
def test_two_processes_claiming_one_task_exactly_one_gets_it(pg_engine, pg_url, prefix):
    engine = pg_engine
    for _instance_id, task_id, _ref, loser in _race(engine, pg_url, "claim", rounds=2, delay=0.3, prefix=prefix):
        holder = engine.task(task_id)["claimed_by"]
        assert loser.startswith(f"NotYourTask: task.claim: task {task_id} "), loser
        assert loser.endswith(f"is claimed by {holder}")
    assert engine.verify_history().intact


def test_cli_end_to_end_on_postgresql(pg_url):
    runner = CliRunner()

    def run(*args: str, login: str = ADMIN):
        result = runner.invoke(cli, ["--db", pg_url, *args], obj={"login": login})
        assert result.exit_code == 0, (args, result.output)
        return result

    assert "admin1 is its admin" in run("init").stderr
    for user, role in (("qmd1", "qmd"), ("gm1", "gm")):
        run("users", "add", user, "--role", role)
    run("deploy", "--reason", "set-up", "processes/")
    start_instance(pg_url, "quality_plan", key="2027", year=2027)  # the engine's own start: `opsqa start` refuses it
    assert "key 2027  running" in run("instance", "show", "1").stdout
    tasks = json.loads(run("tasks", "--json").stdout)
    assert [(t["task"], t["role"], t["instance"]) for t in tasks] == [("draft_plan", "qmd", 1)]
    args = sum((["--set", f"{k}={v}"] for k, v in PLAN_VALUES.items()), [])
    run("task", "complete", tasks[0]["id"][:8], *args, login="qmd1")
    approval = json.loads(run("tasks", "--json").stdout)[0]
    run("task", "complete", approval["id"], "--set", "decision=approved", login="gm1")
    assert [i["status"] for i in json.loads(run("instances", "--json").stdout)] == ["completed"]
    assert run("history", "verify").stdout.startswith("history intact:")

    refused = runner.invoke(cli, ["--db", pg_url, "init"], obj={"login": ADMIN})
    assert refused.exit_code == 1
    assert "already holds an opsqa database" in refused.stderr


def test_an_instance_migrates_and_reverts_on_postgresql(pg_engine, tmp_path):
    """instance migrate on the server: the ORM's task listing, the migration record and its revert."""
    admin = pg_engine.actor(ADMIN)
    instance_id = pg_engine.start("quality_plan", actor=admin, business_key="2027")
    [draft] = pg_engine.tasks(instance_id=instance_id)
    changed = (PROCESSES / "quality_plan.bpmn").read_text(encoding="utf-8").replace(
        'name="总经理审批质量计划"', 'name="总经理审批年度质量计划"')
    path = tmp_path / "quality_plan.bpmn"
    path.write_text(changed, encoding="utf-8")
    assert pg_engine.deploy([str(path)], actor=admin)[0]["version"] == 2
    [moved] = pg_engine.migrate("quality_plan", 2, actor=admin)
    assert (moved["outcome"], pg_engine.instance(instance_id)["version"]) == ("moved", 2)
    assert [t["id"] for t in pg_engine.tasks(instance_id=instance_id)] == [draft["id"]]
    [reverted] = pg_engine.migrate("quality_plan", 2, actor=admin, revert=True)
    assert (reverted["outcome"], reverted["exact"]) == ("reverted", True)
    pg_engine.complete(draft["id"], PLAN_VALUES, actor=pg_engine.actor("qmd1"))
    assert [t["task"] for t in pg_engine.tasks(instance_id=instance_id)] == ["approve_plan"]
    assert pg_engine.instance(instance_id)["version"] == 1


def test_two_web_processes_share_sessions_through_the_database(pg_engine, pg_url):
    """Several `opsqa serve` side by side on one PostgreSQL database: a session begun on one is honoured by
    the other, and ended everywhere when it ends on one."""
    import re

    from starlette.testclient import TestClient

    import usecases
    import web

    usecases.auth.set_password(pg_engine, usecases.Caller(ADMIN), "qmd1", "correct horse battery")
    other = _engine(pg_url)
    try:
        with TestClient(web.create_app(pg_engine)) as one, TestClient(web.create_app(other)) as two:
            page = one.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            signed = one.post("/login", data={"csrf": token, "username": "qmd1",
                                              "password": "correct horse battery"}, follow_redirects=False)
            assert signed.status_code == 303
            two.cookies.update(one.cookies)
            home = two.get("/", follow_redirects=False)
            assert home.status_code == 200 and "张三" in home.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)
            assert two.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
            assert one.get("/", follow_redirects=False).status_code == 303  # ended there too
    finally:
        other.database.dispose()
