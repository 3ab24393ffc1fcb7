"""The operation log: manual interventions carry a reason and old -> new values, the real actor behind an
admin's `--as` stays on every event of the step, and a cancelled instance closes its domain record."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def ready(run):
    assert run("init").exit_code == 0
    for user, roles in (("qmd1", ["qmd"]), ("pm1", ["pm"]), ("ogm1", ["ogm"])):
        assert run("users", "add", user, *sum((["--role", r] for r in roles), [])).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    assert run("projects", "add", "P-01", "--name", "机房运维", "--customer", "甲方", "--pm", "pm1",
               "--oms", "qmd1").exit_code == 0
    return run


def _events(run, kind: str) -> list[dict]:
    return [e for e in run.json("history") if e["kind"] == kind]


def test_a_cancelled_follow_up_cancels_its_finding_with_the_reason(ready):
    run = ready
    assert run("finding", "add", "--owner", "pm1", "--description", "事件未按约解决", login="qmd1").exit_code == 0
    [finding] = run.json("findings", "--open")
    result = run("instance", "cancel", str(finding["instance"]), "--reason", "重复登记", login="qmd1")
    assert result.exit_code == 0, result.output
    assert run.json("finding", "show", finding["code"])["status"] == "cancelled"
    assert run.json("findings", "--open") == []
    [event] = _events(run, "finding.cancelled")
    assert (event["actor"], event["payload"]) == ("qmd1", {"finding": finding["code"], "from": "open",
                                                           "to": "cancelled", "reason": "重复登记"})
    assert run.json("tasks", "--instance", str(finding["instance"])) == []
    assert run("history", "verify").exit_code == 0


def test_a_cancelled_complaint_process_withdraws_the_complaint(ready):
    run = ready
    assert run("complaints", "add", "--project", "P-01", "--description", "响应慢", login="pm1").exit_code == 0
    [complaint] = run.json("complaints", "list")
    [instance] = [i["id"] for i in run.json("instances", "--process", "complaint")]
    assert run("instance", "cancel", str(instance), "--reason", "客户撤回", login="qmd1").exit_code == 0
    assert run.json("complaints", "show", complaint["code"])["status"] == "withdrawn"
    [event] = _events(run, "complaint.withdrawn")
    assert event["payload"]["reason"] == "客户撤回" and event["payload"]["to"] == "withdrawn"


def test_an_admins_as_keeps_the_real_actor_on_the_domains_events(ready):
    run = ready
    assert run("finding", "add", "--owner", "pm1", "--description", "记录不全", "--as", "qmd1").exit_code == 0
    [raised] = _events(run, "finding.raised")
    assert (raised["actor"], raised["real_actor"]) == ("qmd1", "admin1")
    [started] = _events(run, "instance.started")
    assert (started["actor"], started["real_actor"]) == ("qmd1", "admin1")


def test_a_deploy_needs_a_reason_and_records_the_version_it_follows(ready, tmp_path):
    run = ready
    changed = tmp_path / "quality_plan.bpmn"
    text = Path("processes/quality_plan.bpmn").read_text(encoding="utf-8")
    changed.write_text(text.replace('name="组织级质量管理计划"', 'name="组织级质量管理计划（修订）"', 1),
                       encoding="utf-8")
    assert 'name="组织级质量管理计划（修订）"' in changed.read_text(encoding="utf-8")
    before = run.json("history")
    refused = run("deploy", str(changed))
    assert refused.exit_code == 2 and "Missing option '--reason'" in refused.stderr
    assert run("deploy", str(changed), "--reason", " ").stderr == (
        "opsqa: deploy needs a reason (why, kept in the history)\n")
    assert run.json("history") == before
    assert run("deploy", str(changed), "--reason", "名称改为修订版").exit_code == 0
    [first, second] = [e["payload"] for e in _events(run, "definition.deployed")
                       if e["payload"]["process"] == "quality_plan"]
    assert (first["from_version"], first["version"], first["reason"]) == (None, 1, "set-up")
    assert (second["from_version"], second["version"], second["reason"]) == (1, 2, "名称改为修订版")
