"""The registers corrected with the same verbs everywhere (add, set, remove, list, show): users disabled (never
deleted) and their roles revoked, auditors renewed, projects fixed; each change in the history with its reason,
its real actor and acted-as user, and the values before and after."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import flow, process, stamp_simulated, user_task

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the database's (simulated) clock


@pytest.fixture
def org(run, tmp_path):
    assert run("init").exit_code == 0
    for user, roles in (("admin2", ["admin"]), ("qmd1", ["qmd"]), ("qmd2", ["qmd"]), ("pm1", ["pm"]),
                        ("pm2", ["pm"]), ("ops1", ["ops"])):
        assert run("users", "add", user, *sum((["--role", r] for r in roles), []), "--department",
                   roles[0]).exit_code == 0
    body = ('<bpmn:startEvent id="start" />' + user_task("chore_task") + '<bpmn:endEvent id="end" />'
            + flow("f1", "start", "chore_task") + flow("f2", "chore_task", "end"))
    (tmp_path / "chore.bpmn").write_text(process("chore", body, {"qmd": ["start", "chore_task", "end"]}),
                                         encoding="utf-8")
    assert run("deploy", "--reason", "set-up", "processes", str(tmp_path / "chore.bpmn")).exit_code == 0
    stamp_simulated(str(run.db_path), T0)  # every command runs on this clock: the times below are known
    return run


def _events(run, kind: str) -> list[dict]:
    return [e for e in run.json("history") if e["kind"] == kind]


def test_a_user_holding_work_is_not_disabled_and_the_refusal_lists_it(org):
    run = org
    assert run("finding", "add", "--owner", "pm1", "--description", "记录不全", login="qmd1").exit_code == 0
    [finding] = run.json("findings")
    [plan_task] = [t for t in run.json("tasks") if t["assignee"] == "pm1"]
    chore = run.start("chore")
    [chore_task] = run.json("tasks", "--instance", str(chore))
    assert run("task", "claim", chore_task["id"], login="qmd1").exit_code == 0

    result = run("users", "disable", "pm1", "--reason", "离职")
    assert (result.exit_code, result.stderr) == (1, (
        f"opsqa: pm1 cannot be disabled while holding open tasks {plan_task['id'][:8]} ({plan_task['name']}); "
        f"open findings {finding['code']}; hand them over or finish them first\n"))
    result = run("users", "disable", "qmd1", "--reason", "离职")
    assert result.stderr == (f"opsqa: qmd1 cannot be disabled while holding open tasks {chore_task['id'][:8]} "
                             "(chore_task); hand them over or finish them first\n")
    assert _events(run, "user.disabled") == []
    assert run.json("users", "show", "pm1")["open_findings"] == [finding["code"]]
    shown = run("users", "show", "qmd1").stdout
    assert "status: active" in shown and chore_task["id"][:8] in shown

    # released, the task is no longer qmd1's: qmd1 is disabled, and can no longer act
    assert run("task", "unclaim", chore_task["id"]).exit_code == 0
    result = run("users", "disable", "qmd1", "--reason", " 离职 ")
    assert result.exit_code == 0 and result.stderr == "user qmd1 disabled\n"
    [event] = _events(run, "user.disabled")
    assert (event["actor"], event["real_actor"], event["payload"]) == ("admin1", None, {
        "user": "qmd1", "reason": "离职", "old": {"status": "active"}, "new": {"status": "disabled"}})
    disabled = ("qmd1 was disabled at 2027-03-01 09:00 +08:00 and can no longer act; an admin can enable them "
                "again with `opsqa users enable qmd1 --reason ...`")
    result = run("task", "claim", chore_task["id"], login="qmd1")
    assert (result.exit_code, result.stderr) == (1, f"opsqa: {disabled}\n")
    assert run("task", "claim", chore_task["id"], "--as", "qmd1").stderr == f"opsqa: {disabled}\n"
    assert [e["payload"]["message"] for e in _events(run, "security.denied")] == [disabled, disabled]
    assert {u["name"]: u["status"] for u in run.json("users", "list")}["qmd1"] == "disabled"
    listing = run("users", "list").stdout.splitlines()
    assert listing[0].split()[-1] == "STATUS" and next(line for line in listing if line.startswith("qmd1")).endswith(
        "disabled")
    assert "status: disabled since 2027-03-01 09:00 +08:00" in run("users", "show", "qmd1").stdout
    assert run("users", "disable", "qmd1", "--reason", "x").stderr == ("opsqa: qmd1 is already disabled (since "
                                                                       "2027-03-01 09:00 +08:00)\n")

    assert run("users", "enable", "qmd1", "--reason", "返聘").exit_code == 0
    assert run("task", "claim", chore_task["id"], login="qmd1").exit_code == 0
    [event] = _events(run, "user.enabled")
    assert event["payload"] == {"user": "qmd1", "reason": "返聘",
                                "old": {"status": "disabled", "disabled_at": "2027-03-01T01:00:00+00:00"},
                                "new": {"status": "active"}}


def test_the_last_admin_who_can_act_stays(org):
    run = org
    assert run("users", "disable", "admin2", "--reason", "离职").exit_code == 0
    result = run("users", "disable", "admin1", "--reason", "x")
    assert result.stderr == ("opsqa: admin1 is the only admin who can act; make another user admin first (`opsqa "
                             "users add USER --role admin`)\n")
    assert run("users", "revoke", "admin1", "--role", "admin", "--reason", "x").exit_code == 1


def test_a_user_corrected_and_a_role_revoked(org):
    run = org
    result = run("users", "set", "qmd2", "--name", "王五", "--department", "ops", "--email", "wang@example.com",
                 "--reason", "调入运维部", "--as", "admin2")
    assert result.exit_code == 0, result.output
    assert result.stderr == ("user qmd2: display_name - -> 王五; department qmd -> ops; email - -> "
                             "wang@example.com\n")
    [event] = _events(run, "user.changed")
    assert (event["actor"], event["real_actor"]) == ("admin2", "admin1")
    assert event["payload"] == {"user": "qmd2", "reason": "调入运维部",
                                "old": {"display_name": None, "department": "qmd", "email": None},
                                "new": {"display_name": "王五", "department": "ops", "email": "wang@example.com"}}
    assert run("users", "set", "qmd2", "--department", "ops", "--reason", "x").stderr == "user qmd2 unchanged\n"
    assert run("users", "set", "qmd2", "--email", "", "--reason", "不再通知").exit_code == 0
    assert run.json("users", "show", "qmd2")["email"] is None
    assert run("users", "set", "qmd2", "--email", "nope", "--reason", "x").stderr.startswith(
        "opsqa: e-mail address 'nope' is not like")
    assert run("users", "set", "qmd2", "--reason", "x").exit_code == 2  # nothing to change
    assert run("users", "set", "qmd2", "--name", "x").stderr == (  # --reason is required
        "opsqa: users.fix needs a reason (why, kept in the history)\n")
    assert run("users", "set", "qmd2", "--name", "x", "--reason", " ").stderr == (
        "opsqa: users.fix needs a reason (why, kept in the history)\n")
    assert run("users", "set", "nobody", "--name", "x", "--reason", "x").stderr == (
        "opsqa: no opsqa user named 'nobody'; see `opsqa users list`\n")

    # Giving an existing user another role is a role change: a reason, the roles before and after.
    assert run("users", "add", "ops1", "--role", "pm").stderr == (
        "opsqa: users.grant needs a reason (why, kept in the history)\n")
    assert run("users", "add", "ops1", "--role", "pm", "--email", "o@example.com", "--reason", "x").stderr == (
        "opsqa: user ops1 exists: correct --email with `opsqa users set ops1 ... --reason ...`\n")
    assert run.json("users", "show", "ops1")["roles"] == ["ops"]
    assert run("users", "add", "ops1", "--role", "pm", "--reason", "兼任项目经理").exit_code == 0
    [event] = _events(run, "user.roles_added")
    assert event["payload"] == {"user": "ops1", "roles": ["pm"], "reason": "兼任项目经理", "old": {"roles": ["ops"]},
                                "new": {"roles": ["ops", "pm"]}}
    result = run("users", "revoke", "ops1", "--role", "ops", "--reason", "调离运维部")
    assert result.stderr == "user ops1 no longer holds ops; roles left: pm\n"
    [event] = _events(run, "user.role_revoked")
    assert event["payload"] == {"user": "ops1", "role": "ops", "reason": "调离运维部", "old": {"roles": ["ops", "pm"]},
                                "new": {"roles": ["pm"]}}
    assert run.json("users", "show", "ops1")["roles"] == ["pm"]
    result = run("projects", "add", "P-09", "--name", "x", "--customer", "y", "--pm", "pm1", "--oms", "ops1",
                 login="ops1")
    assert result.stderr == "opsqa: project.edit needs role ops or qmd or admin; ops1 holds pm\n"
    assert run("users", "revoke", "ops1", "--role", "ops", "--reason", "x").stderr == (
        "opsqa: ops1 does not hold role ops; they hold pm\n")


def test_only_admins_correct_users(org):
    run = org
    for args in (("set", "pm1", "--name", "x"), ("revoke", "pm1", "--role", "pm"), ("disable", "pm1"),
                 ("enable", "pm1")):
        action = {"set": "users.fix", "revoke": "users.revoke"}.get(args[0], "users.disable")
        result = run("users", *args, "--reason", "x", login="qmd1")
        assert (result.exit_code, result.stderr) == (1, f"opsqa: {action} needs role admin; qmd1 holds qmd\n")
    assert [e["payload"]["action"] for e in _events(run, "security.denied")] == [
        "users.fix", "users.revoke", "users.disable", "users.disable"]
    assert [e for e in run.json("history") if e["kind"].startswith("user.") and e["actor"] == "qmd1"] == []


def test_an_auditor_renewed(org):
    run = org
    assert run("auditors", "add", "qmd2", "--certificate", "IA-001", "--valid-until", "2027-01-31").exit_code == 0
    assert run.json("auditors", "show", "qmd2")["status"] == "expired"  # the clock stands at 2027-03-01
    result = run("auditors", "set", "qmd2", "--certificate-no", "IA-002", "--valid-until", "2030-12-31", "--reason",
                 "2027年复审通过", login="qmd1")
    assert result.exit_code == 0, result.output
    assert result.stderr == "auditor qmd2: certificate_no IA-001 -> IA-002; valid_until 2027-01-31 -> 2030-12-31\n"
    [event] = _events(run, "auditor.renewed")
    assert (event["actor"], event["payload"]) == ("qmd1", {
        "user": "qmd2", "reason": "2027年复审通过", "old": {"certificate_no": "IA-001", "valid_until": "2027-01-31"},
        "new": {"certificate_no": "IA-002", "valid_until": "2030-12-31"}})
    shown = run.json("auditors", "show", "qmd2")
    assert (shown["certificate_no"], shown["valid_until"], shown["status"]) == ("IA-002", "2030-12-31", "valid")
    assert "certificate IA-002, valid until 2030-12-31 (valid)" in run("auditors", "show", "qmd2").stdout

    result = run("auditors", "set", "qmd2", "--valid-until", "2031-12-31", "--reason", "x", login="pm1")
    assert result.stderr == "opsqa: auditor.renew needs role qmd or admin; pm1 holds pm\n"
    assert run("auditors", "set", "pm1", "--valid-until", "2031-12-31", "--reason", "x").stderr == (
        "opsqa: pm1 is not a registered auditor; see `opsqa auditors list`\n")
    assert run("auditors", "set", "qmd2", "--reason", "x").exit_code == 2


def test_a_project_fixed(org):
    run = org
    assert run("projects", "add", "P-01", "--name", "机房运维", "--customer", "甲方", "--pm", "pm1", "--oms",
               "ops1").exit_code == 0
    result = run("projects", "set", "P-01", "--pm", "pm2", "--customer", " 乙方 ", "--status", "closed", "--reason",
                 "项目经理变更", login="ops1")
    assert result.exit_code == 0, result.output
    assert result.stderr == "project P-01: customer 甲方 -> 乙方; pm pm1 -> pm2; status active -> closed\n"
    [event] = _events(run, "project.fixed")
    assert (event["actor"], event["payload"]) == ("ops1", {
        "project": "P-01", "reason": "项目经理变更", "old": {"customer": "甲方", "pm": "pm1", "status": "active"},
        "new": {"customer": "乙方", "pm": "pm2", "status": "closed"}})
    shown = run.json("projects", "show", "P-01")
    assert (shown["pm"], shown["status"], shown["team"]) == ("pm2", "closed", ["ops1", "pm1", "pm2"])
    assert "project P-01  机房运维  (other, closed)" in run("projects", "show", "P-01").stdout
    assert run.json("projects", "list") == []  # closed

    assert run("projects", "set", "P-01", "--pm", "pm2", "--reason", "x").stderr == "project P-01 unchanged\n"
    assert run("projects", "set", "P-01", "--pm", "nobody", "--reason", "x").stderr == (
        "opsqa: pm 'nobody' is not an opsqa user\n")
    assert run("projects", "set", "P-02", "--name", "x", "--reason", "x").stderr == (
        "opsqa: unknown project code 'P-02'; see `opsqa projects list`\n")
    result = run("projects", "set", "P-01", "--name", "x", "--reason", "x", login="pm1")
    assert result.stderr == "opsqa: project.fix needs role ops or qmd or admin; pm1 holds pm\n"
    assert len(_events(run, "project.fixed")) == 1
