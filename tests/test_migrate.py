"""Moving running instances onto a new version of their process (`opsqa instance migrate`): what may
move does, in one transaction each, with its ready tasks and armed timers as they were; what has passed
a changed or removed task is left with the task named; every move is in the history and reverts."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from helpers import ADMIN, PROCESSES, flow, linear, process, user_task
from lxml import etree
from sqlalchemy import select
from test_year import (
    at,
    do,
    in_session,
    local,
    org,  # noqa: F401  (the fixture: DOMAIN.md's company)
    plan_year,
    ready,
    run_audit,
    run_survey,
)

from engine import OpsqaError
from handlers.improvement import list_items, set_item
from handlers.inspections import record_check
from handlers.reviews import initiate
from store import Inspection, Instance, InstanceMigration, Job


def deploy(engine, tmp_path, xml: str) -> int:
    path = tmp_path / "p.bpmn"
    path.write_text(xml, encoding="utf-8")
    [result] = engine.deploy([str(path)], actor=engine.actor(ADMIN))
    return result["version"]


def abc(*tasks: str) -> str:
    return linear("p", *((t, user_task(t, '<camunda:formField id="note" type="string" />')) for t in tasks))


def done(engine, instance_id: int, bpmn_id: str, values: dict | None = None) -> None:
    [task] = [t for t in engine.tasks(instance_id=instance_id) if t["task"] == bpmn_id]
    engine.complete(task["id"], values or {}, actor=engine.actor(ADMIN))


def snapshot(engine, instance_id: int) -> tuple:
    with engine.database.reading() as session:
        row = session.get(Instance, instance_id)
        return row.definition_id, row.state_json, row.lock_version


@pytest.fixture
def ops(engine):
    engine.add_user("ops1", ["ops"], actor=engine.actor(ADMIN))
    engine.add_user(ADMIN, ["admin", "ops"])  # the admin does the tasks of these small processes
    return engine


def test_an_instance_before_an_inserted_task_moves_and_runs_it(ops, tmp_path):
    deploy(ops, tmp_path, abc("a", "b"))
    at_a = ops.start("p", actor=ops.actor(ADMIN))
    [before] = ops.tasks(instance_id=at_a)
    assert deploy(ops, tmp_path, abc("a", "n", "b")) == 2

    [result] = ops.migrate("p", 2, actor=ops.actor(ADMIN))
    assert (result["outcome"], result["from_version"], result["to_version"]) == ("moved", 1, 2)
    [after] = ops.tasks(instance_id=at_a)
    assert after["id"] == before["id"]  # the ready task is the same task, not a new one
    assert ops.instance(at_a)["version"] == 2
    done(ops, at_a, "a")
    assert [t["task"] for t in ops.tasks(instance_id=at_a)] == ["n"]
    done(ops, at_a, "n")
    done(ops, at_a, "b")
    assert ops.instance(at_a)["status"] == "completed"


def test_an_instance_past_a_removed_task_is_left_and_named(ops, tmp_path):
    deploy(ops, tmp_path, abc("a", "b", "c"))
    at_a = ops.start("p", actor=ops.actor(ADMIN))
    past_b = ops.start("p", actor=ops.actor(ADMIN))
    done(ops, past_b, "a")
    done(ops, past_b, "b")
    deploy(ops, tmp_path, abc("a", "c"))
    untouched = snapshot(ops, past_b)

    results = {r["instance"]: r for r in ops.migrate("p", 2, actor=ops.actor(ADMIN))}
    assert results[at_a]["outcome"] == "moved"
    left = results[past_b]
    assert left["outcome"] == "left"
    assert "task b of p is completed and was removed" in map(str, left["obstacles"])
    assert snapshot(ops, past_b) == untouched
    assert ops.instance(past_b)["version"] == 1
    done(ops, past_b, "c")  # it finishes on the version it started on
    assert ops.instance(past_b)["status"] == "completed"
    done(ops, at_a, "a")
    assert [t["task"] for t in ops.tasks(instance_id=at_a)] == ["c"]  # b is gone from its way


def test_a_dry_run_says_what_would_happen_and_changes_nothing(ops, tmp_path):
    deploy(ops, tmp_path, abc("a", "b"))
    instance_id = ops.start("p", actor=ops.actor(ADMIN))
    deploy(ops, tmp_path, abc("a", "n", "b"))
    before = snapshot(ops, instance_id)
    events = len(ops.history())
    [result] = ops.migrate("p", 2, actor=ops.actor(ADMIN), dry_run=True)
    assert result["outcome"] == "would move"
    assert snapshot(ops, instance_id) == before and len(ops.history()) == events


def test_a_revert_restores_the_instance_exactly(ops, tmp_path):
    deploy(ops, tmp_path, abc("a", "b"))
    instance_id = ops.start("p", actor=ops.actor(ADMIN))
    definition, state, _lock = snapshot(ops, instance_id)
    deploy(ops, tmp_path, abc("a", "n", "b"))
    ops.migrate("p", 2, actor=ops.actor(ADMIN))
    assert snapshot(ops, instance_id)[:2] != (definition, state)

    [result] = ops.migrate("p", 2, actor=ops.actor(ADMIN), revert=True)
    assert (result["outcome"], result["exact"], result["to_version"]) == ("reverted", True, 1)
    assert snapshot(ops, instance_id)[:2] == (definition, state)
    kinds = [e["kind"] for e in ops.history(instance_id)]
    assert kinds[-2:] == ["instance.migrated", "instance.migration_reverted"]
    assert ops.verify_history().intact
    with ops.database.reading() as session:
        record = session.scalar(select(InstanceMigration))
        assert record.reverted_by == ADMIN
    assert ops.migrate("p", 2, actor=ops.actor(ADMIN), revert=True) == []  # nothing left to revert
    done(ops, instance_id, "a")
    assert [t["task"] for t in ops.tasks(instance_id=instance_id)] == ["b"]  # version 1's way again


def test_a_revert_after_progress_moves_back_by_the_same_rules(ops, tmp_path):
    deploy(ops, tmp_path, abc("a", "b", "c"))
    early = ops.start("p", actor=ops.actor(ADMIN))
    late = ops.start("p", actor=ops.actor(ADMIN))
    deploy(ops, tmp_path, abc("a", "b", "n", "c"))
    ops.migrate("p", 2, actor=ops.actor(ADMIN))
    done(ops, early, "a")  # still before the change: it can go back
    for task in ("a", "b"):
        done(ops, late, task)  # now at n, which version 1 does not have
    results = {r["instance"]: r for r in ops.migrate("p", 2, actor=ops.actor(ADMIN), revert=True)}
    assert (results[early]["outcome"], results[early]["exact"]) == ("reverted", False)
    assert ops.instance(early)["version"] == 1
    assert results[late]["outcome"] == "left"
    assert "task n of p is ready and was removed" in map(str, results[late]["obstacles"])
    assert ops.instance(late)["version"] == 2


def test_armed_timers_and_deadlines_keep_their_times(ops, tmp_path):
    body = ('<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition '
            'id="wait_def"><bpmn:timeDuration>P10D</bpmn:timeDuration></bpmn:timerEventDefinition>'
            "</bpmn:intermediateCatchEvent>" + user_task("handle")
            + '<bpmn:boundaryEvent id="deadline" attachedToRef="handle"><bpmn:timerEventDefinition id="d_def">'
            "<bpmn:timeDuration>P3D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
            + user_task("escalate") + '<bpmn:endEvent id="end" /><bpmn:endEvent id="escalated" />')
    flows = flow("f1", "start", "wait") + flow("f2", "wait", "handle") + flow("f4", "deadline", "escalate") + flow(
        "f5", "escalate", "escalated")
    nodes = ["start", "wait", "handle", "deadline", "escalate", "end", "escalated"]
    deploy(ops, tmp_path, process("p", body + flows + flow("f3", "handle", "end"), {"ops": nodes}))
    at_handle = ops.start("p", actor=ops.actor(ADMIN))
    ops.clock.set(ops.clock.now().replace(day=12))
    assert not ops.tick().failed
    waiting = ops.start("p", actor=ops.actor(ADMIN))  # a later instance, still waiting on its P10D
    timers = {i: ops.instance(i)["timers"] for i in (waiting, at_handle)}
    deadline = ops.tasks(instance_id=at_handle)[0]["due_at"]
    with ops.database.reading() as session:
        jobs = {j.instance_id: j.run_after for j in session.scalars(select(Job))}

    # Version 2: a check after the task, before the end.
    body2 = body.replace('<bpmn:endEvent id="end" />', user_task("check") + '<bpmn:endEvent id="end" />')
    deploy(ops, tmp_path, process("p", body2 + flows + flow("f3", "handle", "check") + flow("f6", "check", "end"),
                                  {"ops": [*nodes, "check"]}))
    assert {r["outcome"] for r in ops.migrate("p", 2, actor=ops.actor(ADMIN))} == {"moved"}
    assert {i: ops.instance(i)["timers"] for i in (waiting, at_handle)} == timers
    assert ops.tasks(instance_id=at_handle)[0]["due_at"] == deadline
    with ops.database.reading() as session:
        assert {j.instance_id: j.run_after for j in session.scalars(select(Job))} == jobs
    done(ops, at_handle, "handle")
    assert [t["task"] for t in ops.tasks(instance_id=at_handle)] == ["check"]

    # Version 3 changes the timer the first instance waits on: that one stays.
    deploy(ops, tmp_path, process("p", body2.replace("P10D", "P20D") + flows + flow("f3", "handle", "check")
                                  + flow("f6", "check", "end"), {"ops": [*nodes, "check"]}))
    [left] = ops.migrate("p", 3, actor=ops.actor(ADMIN), instance_ids=[waiting])
    assert left["outcome"] == "left"
    assert list(map(str, left["obstacles"])) == ["task wait of p is waiting and changed (event)"]


def test_an_instance_inside_a_called_process_moves_with_it(ops, tmp_path):
    """The called process changed ahead of the task the instance is at inside it: the call moves too."""
    callee, caller = tmp_path / "inner.bpmn", tmp_path / "outer.bpmn"
    callee.write_text(linear("inner", ("a", user_task("a")), ("b", user_task("b"))), encoding="utf-8")
    caller.write_text(linear("outer", ("call", '<bpmn:callActivity id="call" calledElement="inner" />'),
                             ("after", user_task("after"))), encoding="utf-8")
    ops.deploy([str(callee), str(caller)], actor=ops.actor(ADMIN))
    inside = ops.start("outer", actor=ops.actor(ADMIN))
    past = ops.start("outer", actor=ops.actor(ADMIN))
    done(ops, past, "a")
    done(ops, past, "b")  # its call is over: inner's completed tasks are in the state it keeps
    callee.write_text(linear("inner", ("a", user_task("a")), ("n", user_task("n")), ("b", user_task("b"))),
                      encoding="utf-8")
    assert {d["process"]: d["version"] for d in ops.deploy([str(callee), str(caller)], actor=ops.actor(ADMIN))} == {
        "inner": 2, "outer": 2}

    results = {r["instance"]: r for r in ops.migrate("outer", 2, actor=ops.actor(ADMIN))}
    assert results[inside]["outcome"] == "moved"
    assert results[past]["outcome"] == "left"
    assert "task a of inner is completed and changed (outgoing flows)" in map(str, results[past]["obstacles"])
    done(ops, inside, "a")
    assert [t["task"] for t in ops.tasks(instance_id=inside)] == ["n"]
    for task in ("n", "b", "after"):
        done(ops, inside, task)
    assert ops.instance(inside)["status"] == "completed"


def test_refusals_name_what_is_wrong_and_change_nothing(ops, tmp_path, run):
    deploy(ops, tmp_path, abc("a", "b"))
    instance_id = ops.start("p", actor=ops.actor(ADMIN))
    other = tmp_path / "q.bpmn"
    other.write_text(linear("q", ("x", user_task("x"))), encoding="utf-8")
    ops.deploy([str(other)], actor=ops.actor(ADMIN))
    q_instance = ops.start("q", actor=ops.actor(ADMIN))
    deploy(ops, tmp_path, abc("a", "n", "b"))
    before = snapshot(ops, instance_id), snapshot(ops, q_instance)

    cases = [
        (["--process", "p", "--to-version", "7"], "opsqa: process p has no version 7; see `opsqa processes show p`"),
        (["--process", "nope", "--to-version", "1"], "opsqa: no process 'nope' is deployed; see `opsqa processes`"),
        (["--process", "p", "--to-version", "2", "--instance", str(q_instance)],
         f"opsqa: instance {q_instance} runs q, not p; a version of p cannot take it"),
        (["--process", "p", "--to-version", "2", "--instance", "99"], "opsqa: no instance 99; see `opsqa instances`"),
        (["--process", "p", "--to-version", "1", "--instance", str(instance_id)],
         f"opsqa: instance {instance_id} already runs version 1 of p"),
    ]
    for args, message in cases:
        result = run("instance", "migrate", *args, "--reason", "测试")
        assert result.exit_code == 1, result.output
        assert result.stderr == message + "\n"
    assert (snapshot(ops, instance_id), snapshot(ops, q_instance)) == before
    ops.cancel(q_instance, actor=ops.actor(ADMIN))
    with pytest.raises(OpsqaError, match=f"instance {q_instance} is cancelled"):
        ops.migrate("q", 1, actor=ops.actor(ADMIN), instance_ids=[q_instance])


def test_the_command_reports_each_instance_and_fails_when_one_is_left(ops, tmp_path, run):
    deploy(ops, tmp_path, abc("a", "b", "c"))
    at_a = ops.start("p", actor=ops.actor(ADMIN), business_key="K-1")
    past_b = ops.start("p", actor=ops.actor(ADMIN), business_key="K-2")
    done(ops, past_b, "a")
    done(ops, past_b, "b")
    (tmp_path / "p.bpmn").write_text(abc("a", "c"), encoding="utf-8")
    deployed = run("deploy", "--reason", "set-up", str(tmp_path / "p.bpmn"))
    assert deployed.stderr == ("2 running instances of p stay on older versions; to move them: "
                               "opsqa instance migrate --process p --to-version 2 --dry-run\n")

    dry = run("instance", "migrate", "--process", "p", "--to-version", "2", "--dry-run")
    assert dry.exit_code == 1
    assert dry.stdout.splitlines() == [
        f"instance {at_a} (K-1): would move from version 1 to 2",
        f"instance {past_b} (K-2): left on version 1: task a of p is completed and changed (outgoing flows); "
        "task b of p is completed and was removed",
    ]
    assert dry.stderr == "1 of 2 instances left where it was\n"
    in_chinese = run("--lang", "zh_CN", "instance", "migrate", "--process", "p", "--to-version", "2", "--dry-run")
    assert in_chinese.stdout.splitlines()[1].endswith(
        "p 的任务 a（已完成）已被修改：出流；p 的任务 b（已完成）已被删除"), in_chinese.stdout
    assert ops.instance(at_a)["version"] == 1

    unexplained = run("instance", "migrate", "--process", "p", "--to-version", "2", "--instance", str(at_a))
    assert (unexplained.exit_code, unexplained.stderr) == (
        1, "opsqa: instance.migrate needs a reason (why, kept in the history)\n")
    assert ops.instance(at_a)["version"] == 1
    moved = run("instance", "migrate", "--process", "p", "--to-version", "2", "--instance", str(at_a), "--json",
                "--reason", "b 不再需要")
    assert moved.exit_code == 0, moved.output
    [result] = json.loads(moved.stdout)
    assert (result["outcome"], result["migration"]) == ("moved", 1)
    again = run("instance", "migrate", "--process", "p", "--to-version", "2", "--revert", "--reason", "仍需 b")
    assert again.stdout == f"instance {at_a} (K-1): reverted from version 2 to 1 exactly as it was\n"
    nothing = run("instance", "migrate", "--process", "p", "--to-version", "2", "--revert", "--reason", "仍需 b")
    assert (nothing.exit_code, nothing.stderr) == (0, "no running instance of p to take back from version 2\n")
    history = [e for e in run.json("history") if e["kind"].startswith("instance.migrat")]
    assert [(e["kind"], e["payload"]["from_version"], e["payload"]["to_version"], e["payload"]["reason"])
            for e in history] == [("instance.migrated", 1, 2, "b 不再需要"),
                                  ("instance.migration_reverted", 2, 1, "仍需 b")]
    assert isinstance(datetime.fromisoformat(history[0]["at"]), datetime)


# -- the annual cycle: version 2 of the management review asks for a new input ---------------------------

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"


def review_with_a_new_input(tmp_path) -> str:
    """management_review.bpmn with one more review input: qmd records the changes in the organisation's
    context (ISO 9001 9.3.2 b) between gathering the inputs and the meeting."""
    tree = etree.parse(str(PROCESSES / "management_review.bpmn"))
    process_node = tree.find(f"{{{BPMN}}}process")
    hold = process_node.find(f"{{{BPMN}}}userTask[@id='hold_review']")
    task = etree.Element(f"{{{BPMN}}}userTask", id="record_context_changes", name="记录内外部环境变化")
    fields = etree.SubElement(etree.SubElement(task, f"{{{BPMN}}}extensionElements"), f"{{{CAMUNDA}}}formData")
    field = etree.SubElement(fields, f"{{{CAMUNDA}}}formField", id="context_changes", label="内外部环境变化",
                             type="string")
    etree.SubElement(etree.SubElement(field, f"{{{CAMUNDA}}}validation"), f"{{{CAMUNDA}}}constraint", name="required")
    hold.addprevious(task)
    process_node.find(f"{{{BPMN}}}sequenceFlow[@id='flow_gather_to_hold']").set("targetRef", "record_context_changes")
    etree.SubElement(process_node, f"{{{BPMN}}}sequenceFlow", id="flow_context_to_hold",
                     sourceRef="record_context_changes", targetRef="hold_review")
    lane = process_node.find(f".//{{{BPMN}}}lane[@id='qmd']")
    etree.SubElement(lane, f"{{{BPMN}}}flowNodeRef").text = "record_context_changes"
    path = tmp_path / "management_review.bpmn"
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")
    return str(path)


def inspect_everything(company, task: dict) -> None:
    """oms1 finds every point of the drawn project in order."""
    with company.database.transaction() as session:
        inspection = session.scalars(select(Inspection).order_by(Inspection.id.desc())).first()
        for project in json.loads(inspection.projects):
            for item in ("SVC-a", "SVC-b", "SVC-c", "SVC-d", "SVC-e"):
                record_check(session, inspection.code, project=project, item=item, passed=True, evidence=None,
                             samples=None, now=company.clock.now(), actor=company.actor("oms1"))
    company.complete(task["id"], {}, actor=company.actor("oms1"))


def test_the_annual_cycle_moves_mid_year_to_a_review_with_a_new_input(org, tmp_path, run):  # noqa: F811
    plan_year(org)
    run_audit(org, tmp_path)  # late July: the audit is reported, the survey and the spot checks wait
    [cycle] = org.instances(process_id="annual_cycle")
    timers = org.instance(cycle["id"])["timers"]
    assert timers and cycle["version"] == 1

    admin = org.actor(ADMIN)
    deployed = {d["process"]: d for d in org.deploy([review_with_a_new_input(tmp_path),
                                                     str(PROCESSES / "annual_cycle.bpmn")], actor=admin)}
    assert (deployed["management_review"]["version"], deployed["annual_cycle"]["version"]) == (2, 2)
    changes = [str(change) for change in org.diff("management_review", 1, 2)]
    assert "added userTask record_context_changes (记录内外部环境变化) in lane qmd" in changes
    dry = run("instance", "migrate", "--process", "annual_cycle", "--to-version", "2", "--dry-run")
    assert dry.stdout == f"instance {cycle['id']} (2027): would move from version 1 to 2\n", dry.output
    moved = run("instance", "migrate", "--process", "annual_cycle", "--to-version", "2", "--reason", "评审新增输入")
    assert moved.exit_code == 0, moved.output
    assert org.instance(cycle["id"])["version"] == 2
    assert org.instance(cycle["id"])["timers"] == timers  # the survey window and the next spot check

    run_survey(org, tmp_path)
    at(org, local(2027, 11, 20, 9))
    with org.database.transaction() as session:
        task_id = initiate(session, 2027, start_instance=None)
    org.complete(task_id, {"review_date": "2027-11-20", "attendees": "gm1、qmd1、ops1、ogm"}, actor=org.actor("mr"))
    with pytest.raises(OpsqaError, match="context_changes"):
        do(org, "record_context_changes", {}, "qmd1")
    do(org, "record_context_changes", {"context_changes": "新增两个平安城市项目"}, "qmd1")
    assert org.task(ready(org, "hold_review")["id"])["variables"]["context_changes"] == "新增两个平安城市项目"
    do(org, "hold_review", {"minutes": "评审了内审、满意度调查、指标和环境变化", "decisions": "资源保障满足要求"}, "mr")
    at(org, local(2027, 11, 25, 10))
    with org.database.reading() as session:
        items = list_items(session, 2027)
    for item in items:
        in_session(org, lambda s, item=item: set_item(
            s, item["code"], cause="原因分析", measure="改进措施", owner=item["owner"] or "pm1",
            due=date(2028, 3, 31), expected=None, now=org.clock.now(), actor=org.actor("ops1")))
    do(org, "plan_improvement", {"plan_summary": "改进"}, "ops1")
    do(org, "approve_improvement", {"improvement_decision": "imp_approved"}, "gm1")
    at(org, local(2027, 12, 31, 10))
    while [t for t in org.tasks() if t["task"] == "inspect"]:  # the spot checks the year still owes
        inspect_everything(org, ready(org, "inspect"))
        at(org, org.clock.now())
    at(org, local(2028, 1, 1, 0, 1))
    finished = org.instance(cycle["id"])
    assert (finished["status"], finished["version"]) == ("completed", 2)
    assert "cycle.closed" in [e["kind"] for e in org.history(cycle["id"])]
    # The fixtures' clocks differ (the users made on 2027-01-01, the organisation's on 2026-12-20, the CLI on the
    # real clock): the times go back where they meet, which verify reports; nothing else may be wrong.
    report = org.verify_history()
    assert report.problems and all(" is dated " in problem for problem in report.problems), report.problems
