"""One permission policy (engine/policy.py) under every face: who may do what, the line a refusal gets,
and the security event it leaves, with nothing else changed."""

from __future__ import annotations

import pytest

from engine import policy


@pytest.fixture
def ready(run):
    assert run("init").exit_code == 0
    for user, roles in (("qmd1", ["qmd"]), ("gm1", ["gm"]), ("pm1", ["pm"]), ("po1", ["po"]), ("ops1", ["ops", "pm"])):
        assert run("users", "add", user, *sum((["--role", r] for r in roles), [])).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    return run


def _denials(run) -> list[dict]:
    return [e for e in run.json("history") if e["kind"] == "security.denied"]


def test_a_refusal_names_the_action_and_the_rule_and_is_recorded(ready):
    run = ready
    before = run.json("processes")
    result = run("deploy", "--reason", "set-up", "processes/quality_plan.bpmn", login="pm1")
    assert result.exit_code == 1
    assert result.stderr == "opsqa: deploy needs role po or admin; pm1 holds pm\n"
    assert run.json("processes") == before
    [event] = _denials(run)
    assert (event["actor"], event["real_actor"]) == ("pm1", None)
    assert event["payload"] == {"action": "deploy", "result": "denied", "source": "cli",
                                "message": "deploy needs role po or admin; pm1 holds pm"}
    assert run("history", "verify").exit_code == 0


def test_a_user_holding_several_roles_is_told_them_all(ready):
    result = ready("instance", "cancel", "1", "--reason", "x", login="ops1")
    assert result.stderr == "opsqa: instance.cancel needs role admin or qmd; ops1 holds ops, pm\n"


def test_an_admin_acting_as_someone_is_judged_as_them_and_both_are_recorded(ready):
    run = ready
    # --as after the subcommand too
    result = run("deploy", "--reason", "set-up", "processes/quality_plan.bpmn", "--as", "pm1")
    assert result.stderr == "opsqa: deploy needs role po or admin; pm1 holds pm\n"
    [event] = _denials(run)
    assert (event["actor"], event["real_actor"]) == ("pm1", "admin1")


def test_as_given_twice_differently_is_a_usage_error(ready):
    result = ready("--as", "pm1", "deploy", "--as", "gm1")
    assert result.exit_code == 2 and "given twice" in result.stderr


def test_acting_as_needs_admin_and_the_attempt_is_recorded(ready):
    run = ready
    result = run("task", "claim", "abc", "--as", "gm1", login="qmd1")
    assert result.stderr == "opsqa: --as needs the admin role, and qmd1 does not hold it\n"
    assert [e["actor"] for e in _denials(run)] == ["gm1"]


def test_a_process_owner_deploys_but_does_not_cancel(ready, tmp_path):
    run = ready
    assert run("deploy", "--reason", "set-up", "processes", login="po1").exit_code == 0
    run.start("quality_plan", key="2027", year=2027)
    result = run("instance", "cancel", "1", "--reason", "test", login="po1")
    assert result.stderr == "opsqa: instance.cancel needs role admin or qmd; po1 holds po\n"
    assert run.json("instances")[0]["status"] == "running"
    assert run("instance", "cancel", "1", "--reason", "test", login="qmd1").exit_code == 0
    assert run.json("instances")[0]["status"] == "cancelled"


def test_a_domain_owned_process_starts_only_through_its_domain_path(ready):
    run = ready
    for process, path in (("annual_cycle", "opsqa cycle start --year YEAR"), ("nc_followup", "opsqa finding add"),
                          ("complaint", "opsqa complaints add")):
        result = run("start", process, "--key", "2027")
        assert result.exit_code == 1
        assert result.stderr == (f"opsqa: instances of {process} belong to a domain record and start only through "
                                 f"it: {path}\n")
    assert run.json("instances") == []
    assert _denials(run) == []  # a pointer, not a refusal of the person


def test_the_table_is_printed_with_every_action(ready):
    rows = ready.json("permissions")
    assert [row["action"] for row in rows] == list(policy.POLICY)
    deploy = next(row for row in rows if row["action"] == "deploy")
    assert deploy["who"] == "role po or admin" and deploy["roles"] == ["po", "admin"]
    cancel = next(row for row in rows if row["action"] == "instance.cancel")
    assert cancel["reason"] is True
    verify = next(row for row in rows if row["action"] == "finding.verify")
    assert verify["who"] == "role qmd, never the finding's owner"
    text = ready("permissions").stdout
    assert text.splitlines()[0].split() == ["ACTION", "WHO", "MAY", "REASON", "WHAT"]


def test_every_action_in_the_table_names_known_facts():
    for action, rule in policy.POLICY.items():
        assert set(rule.people) | set(rule.never) <= set(policy.PEOPLE), action
        assert rule.anyone or rule.task or rule.roles or rule.people, action


def test_a_manual_intervention_needs_a_reason_and_keeps_it(ready):
    run = ready
    run.start("quality_plan", key="2027", year=2027)
    assert run("instance", "cancel", "1").exit_code == 2  # --reason is required
    result = run("instance", "cancel", "1", "--reason", "  ", login="qmd1")
    assert (result.exit_code, result.stderr) == (1, "opsqa: instance.cancel needs a reason (why, kept in the "
                                                    "history)\n")
    assert run.json("instances")[0]["status"] == "running"
    assert run("instance", "cancel", "1", "--reason", " 误启动 ", login="qmd1").exit_code == 0
    [event] = [e for e in run.json("history", "--instance", "1") if e["kind"] == "instance.cancelled"]
    assert (event["actor"], event["payload"]["reason"]) == ("qmd1", "误启动")


def test_the_security_events_are_listed_by_their_family(ready):
    run = ready
    assert run("settings", "--reason", "test", "finding_due_days", "20", login="qmd1").exit_code == 1
    assert run("users", "add", "x", "--role", "pm", login="gm1").exit_code == 1
    rows = run.json("history", "--kind", "security")
    assert [(r["actor"], r["payload"]["action"]) for r in rows] == [("qmd1", "settings"), ("gm1", "users")]
    assert "message=users needs role admin; gm1 holds gm" in run("history", "--kind", "security").stdout
    assert run.json("history", "--kind", "secur") == []  # a family is a whole word
