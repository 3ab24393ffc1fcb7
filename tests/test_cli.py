"""The opsqa CLI end to end on a real SQLite file: what operators type and what they see."""

from __future__ import annotations

import json
import sqlite3

import click
import pytest
from helpers import PLAN_VALUES

from cli import cli
from store import SCHEMA_REVISION
from store.migrate import head_revision


@pytest.fixture
def ready(run):
    assert run("init").exit_code == 0
    for user, role in (("qmd1", "qmd"), ("gm1", "gm")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    return run


def _task(run, instance=None):
    args = ["tasks"] + (["--instance", str(instance)] if instance else [])
    tasks = run.json(*args)
    assert len(tasks) == 1, tasks
    return tasks[0]


def test_the_quality_plan_from_the_command_line(ready, tmp_path):
    run = ready
    result = run("start", "quality_plan", "--key", "2027", "--set", "year=2027")
    assert result.exit_code == 1
    assert result.stderr == ("opsqa: instances of quality_plan belong to a domain record and start only through it: "
                             "opsqa cycle start --year YEAR\n")
    assert run.json("instances") == []
    run.start("quality_plan", key="2027", year=2027)
    shown = run("instance", "show", "1")
    assert "key 2027  running" in shown.stdout and "编制组织级质量管理计划" in shown.stdout

    listing = run("tasks", "--role", "qmd")
    assert listing.stdout.splitlines()[0].split() == ["TASK", "INST", "KEY", "NAME", "ROLE", "STATE", "ASSIGNEE",
                                                      "CLAIMED", "SINCE", "DUE"]
    assert listing.stdout.splitlines()[1].split()[1:3] == ["1", "2027"]  # the instance's business key
    draft = _task(run)
    data = tmp_path / "plan.yaml"
    data.write_text("\n".join(f"{k}: {v}" for k, v in PLAN_VALUES.items()), encoding="utf-8")
    result = run("task", "complete", draft["id"][:8], "--data", str(data), login="qmd1")
    assert result.exit_code == 0, result.output

    approval = _task(run)
    shown = run("task", "show", approval["id"][:8], login="gm1")
    assert "decision  审批决定" in shown.stdout or "one of approved (批准), rejected (退回修改)" in shown.stdout
    result = run("task", "complete", approval["id"], "--set", "decision=rejected", "--set", "comment=目标不够具体",
                 login="gm1")
    assert result.exit_code == 0, result.output
    redraft = _task(run)
    assert "comment = 目标不够具体" in run("task", "show", redraft["id"], login="qmd1").stdout
    values = json.dumps(PLAN_VALUES, ensure_ascii=False)
    (tmp_path / "plan.json").write_text(values, encoding="utf-8")
    assert run("task", "complete", redraft["id"], "--data", str(tmp_path / "plan.json"), login="qmd1").exit_code == 0
    result = run("task", "complete", _task(run)["id"], "--set", "decision=approved", login="gm1")
    assert result.exit_code == 0, result.output

    plans = run.json("plans")
    assert [(p["period"], p["revisions"], p["approved_by"]) for p in plans] == [("2027", 2, "gm1")]
    shown = run("instance", "show", "1")
    assert "key 2027  completed" in shown.stdout
    assert [i["status"] for i in run.json("instances")] == ["completed"]
    history = run.json("history", "--instance", "1")
    assert [e["kind"] for e in history][-2:] == ["service.completed", "instance.completed"]
    assert run("history", "verify").stdout.startswith("history intact:")


def test_as_is_for_admins_and_recorded(ready):
    run = ready
    run.start("quality_plan")
    draft = _task(run)
    result = run("--as", "gm1", "task", "complete", draft["id"], "--set", "objectives=x", login="qmd1")
    assert result.exit_code == 1
    assert result.stderr == "opsqa: --as needs the admin role, and qmd1 does not hold it\n"
    args = [f"{k}={v}" for k, v in PLAN_VALUES.items()]
    result = run("--as", "qmd1", "task", "complete", draft["id"], *sum((["--set", a] for a in args), []))
    assert result.exit_code == 0, result.output
    event = [e for e in run.json("history") if e["kind"] == "task.completed"][0]
    assert (event["actor"], event["real_actor"]) == ("qmd1", "admin1")
    assert "admin1 as qmd1" in run("history").stdout


def test_unknown_user_and_ids(ready):
    run = ready
    result = run("tasks", "--mine", login="stranger")
    assert result.exit_code == 1
    assert "you (stranger) are not an opsqa user; an admin can add you with `opsqa users add stranger" in result.stderr
    for args, message in [
        (("instance", "show", "99"), "no instance 99"),
        (("task", "show", "feedbeef"), "no task feedbeef"),
        (("task", "complete", "feedbeef"), "no task feedbeef"),
        (("start", "nope"), "no process 'nope' is deployed"),
        (("instance", "retry", "99", "--reason", "x"), "no instance 99"),
    ]:
        result = run(*args)
        assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output, args


def test_task_that_is_not_ready_or_not_yours(ready):
    run = ready
    run.start("quality_plan")
    draft = _task(run)
    result = run("task", "complete", draft["id"], "--set", "objectives=x", login="gm1")
    assert result.exit_code == 1 and "needs role qmd, which gm1 does not hold" in result.stderr
    assert run("instance", "cancel", "1", "--reason", "test").exit_code == 0
    result = run("task", "complete", draft["id"], "--set", "objectives=x", login="qmd1")
    assert result.exit_code == 1 and f"task {draft['id']} is cancelled, not ready" in result.stderr


def test_bad_form_values_on_the_command_line(ready, tmp_path):
    run = ready
    run.start("quality_plan")
    draft = _task(run)
    result = run("task", "complete", draft["id"], "--set", "objectives", login="qmd1")
    assert result.exit_code == 2 and "'objectives' is not NAME=VALUE" in result.stderr
    (tmp_path / "bad.json").write_text("{nope", encoding="utf-8")
    result = run("task", "complete", draft["id"], "--data", str(tmp_path / "bad.json"), login="qmd1")
    assert result.exit_code == 1 and "bad.json is not valid JSON" in result.stderr
    result = run("task", "complete", draft["id"], "--set", "objectives=x", login="qmd1")
    assert result.stderr == "opsqa: task draft_plan, field verification (6.1.2 b) 符合性验证方式): " \
        "a value is required\n"
    assert _task(run)["id"] == draft["id"]


def test_missing_database_and_old_schema(run, tmp_path):
    result = run("tasks")
    assert result.exit_code == 1
    assert result.stderr == f"opsqa: no opsqa database at {run.db_path}; run `opsqa init` to create one\n"
    assert not run.db_path.exists()

    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello, this is not a database" * 100)
    result = run.runner.invoke(cli, ["--db", str(not_db), "tasks"], obj={"login": "x"})
    assert result.exit_code == 1 and "cannot open database" in result.stderr and "not a database" in result.stderr

    assert run("init").exit_code == 0
    assert run("init").exit_code == 1
    with sqlite3.connect(run.db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    result = run("tasks")
    assert result.exit_code == 1
    assert "has schema revision 0000, this opsqa needs" in result.stderr and "opsqa db upgrade" in result.stderr


def test_schema_revision_is_the_migration_head():
    assert head_revision() == SCHEMA_REVISION


def test_history_verify_finds_edits_and_deleted_newest_rows(ready):
    run = ready
    run.start("quality_plan")
    assert run("history", "verify").exit_code == 0
    with sqlite3.connect(run.db_path) as conn:
        count = conn.execute("SELECT count(*) FROM event").fetchone()[0]
        conn.execute("UPDATE event SET actor = 'gm1' WHERE id = 3")
    result = run("history", "verify")
    assert result.exit_code == 1 and "history: event 3 was altered" in result.stderr
    with sqlite3.connect(run.db_path) as conn:
        conn.execute("UPDATE event SET actor = 'admin1' WHERE id = 3")
    assert run("history", "verify").exit_code == 0
    with sqlite3.connect(run.db_path) as conn:
        conn.execute(f"DELETE FROM event WHERE id = {count}")
    result = run("history", "verify")
    assert result.exit_code == 1
    assert f"the history ends at event {count - 1} but its head records {count}" in result.stderr


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


COMMANDS = list(_commands(cli))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command):
    assert command.help, path
    if not isinstance(command, click.Group):
        assert "Example: opsqa " in command.help, path


def test_json_listings_are_plain_json(ready):
    run = ready
    run.start("quality_plan", key="2027")
    for args in (("processes",), ("instances",), ("tasks",), ("users", "list"), ("history",)):
        data = run.json(*args)
        assert isinstance(data, list) and data, args
    assert run.json("instance", "show", "1")["business_key"] == "2027"
    every = [e["id"] for e in run.json("history")]
    assert [e["id"] for e in run.json("history", "--limit", "2")] == every[-2:]


def test_db_upgrade_carries_a_populated_database_forward(run, tmp_path):
    """A database made by revision 0001, with a running instance, is upgraded and works on."""
    from alembic import command

    from store.db import Database
    from store.migrate import _config

    database = Database(f"sqlite:///{run.db_path}")
    command.upgrade(_config(database), "0001")
    database.dispose()
    with sqlite3.connect(run.db_path) as conn:
        conn.execute("INSERT INTO user_account (name, created_at) VALUES ('admin1', '2026-11-01 00:00:00')")
        conn.execute("INSERT INTO user_role (user_name, role) VALUES ('admin1', 'admin')")
    result = run("tasks")
    assert result.exit_code == 1 and "has schema revision 0001" in result.stderr
    result = run("db", "upgrade")
    assert result.exit_code == 0 and f"schema upgraded 0001 -> {SCHEMA_REVISION}" in result.stderr
    assert run("users", "list", "--json").exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    run.start("quality_plan", key="2027")
    assert run("db", "upgrade").stderr.startswith("schema already at revision")
