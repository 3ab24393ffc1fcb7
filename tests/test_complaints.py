"""Complaint handling (6.2.3, DOMAIN.md S5) through the engine on a simulated clock."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, make_engine

import usecases
from engine import OpsqaError, SimulatedClock
from handlers.complaints import add_working_days, get_complaint, summary
from handlers.findings import list_findings
from handlers.projects import ProjectInput, save_project
from usecases import Caller

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    org = make_engine(db_path, SimulatedClock(local(2028, 5, 10, 9)))
    admin = org.actor(ADMIN)
    for user, role in (("pm1", "pm"), ("pm2", "pm"), ("ogm", "ogm"), ("oms1", "oms")):
        org.add_user(user, [role], department="ops", actor=admin)
    org.deploy(["processes/complaint.bpmn", "processes/nc_followup.bpmn"], actor=admin)
    with org.database.transaction() as session:
        for code, pm in (("P-01", "pm1"), ("P-02", "pm2")):
            save_project(session, ProjectInput(code, f"项目{code}", f"{code}客户", pm, "oms1"), now=org.clock.now(),
                         actor=admin)
    return org


def complain(org, project: str, description: str, received: datetime, user: str = "qmd1") -> str:
    return usecases.customers.add_complaint(org, Caller(user), project=project, description=description,
                                            received_at=received)["code"]


def task(org, code: str, bpmn_id: str) -> dict:
    with org.database.reading() as session:
        instance = get_complaint(session, code).instance_id
    [found] = [t for t in org.tasks(instance_id=instance) if t["task"] == bpmn_id]
    return found


def close(org, code: str, user: str, feedback: str = "satisfied") -> None:
    usecases.customers.close_complaint(org, Caller(user), code, feedback=feedback)


def complaint(org, code: str):
    with org.database.reading() as session:
        return get_complaint(session, code)


def at(org, when: datetime) -> None:
    org.clock.set(when)
    assert not org.tick().failed


def test_a_major_complaint_escalated_and_a_general_one(org):
    c1 = complain(org, "P-01", "城市视频平台中断6小时", local(2028, 5, 10, 9))
    assess = task(org, c1, "assess")
    assert assess["assignee"] == "pm1"
    with pytest.raises(OpsqaError, match=r"severity_reason \(评估依据（重大投诉必填）\): a value is required"):
        org.complete(assess["id"], {"severity": "sev_major"}, actor=org.actor("pm1"))
    org.complete(assess["id"], {"severity": "重大投诉", "severity_reason": "核心业务中断超过4小时"},
                 actor=org.actor("pm1"))
    item = complaint(org, c1)
    assert (item.escalated, item.escalated_to, item.escalation_reason) == (True, "ogm", "initial_major")
    organise = task(org, c1, "organise_handling")
    assert organise["role"] == "ogm"
    with pytest.raises(OpsqaError, match=f"{c1} is escalated; it is not waiting for the customer's callback"):
        close(org, c1, "pm1")
    org.complete(organise["id"], {"handling_team": "pm1、网络组", "investigation": "核心交换机故障",
                                  "resolution": "更换交换机并增加冗余", "systemic": True}, actor=org.actor("ogm"))
    with pytest.raises(OpsqaError, match=r"^complaint.close_major needs role ogm or admin; pm1 holds pm$"):
        close(org, c1, "pm1")
    assert complaint(org, c1).status == "resolved"
    [denied] = [e for e in org.history() if e["kind"] == "security.denied"]
    assert (denied["actor"], denied["payload"]["action"]) == ("pm1", "complaint.close_major")
    close(org, c1, "ogm")
    item = complaint(org, c1)
    assert (item.status, item.closed_by, item.severity) == ("closed", "ogm", "major")
    with org.database.reading() as session:
        [nc] = list_findings(session, org.clock.now())
    assert (nc["source"], nc["unit"], nc["owner"]) == ("complaint", "P-01", "pm1")

    at(org, local(2028, 5, 11, 10))
    c2 = complain(org, "P-02", "月报迟交", local(2028, 5, 11, 10))
    org.complete(task(org, c2, "assess")["id"], {"severity": "sev_general"}, actor=org.actor("pm2"))
    org.complete(task(org, c2, "handle")["id"], {"investigation": "人员休假", "resolution": "已补交并致歉"},
                 actor=org.actor("pm2"))
    close(org, c2, "pm2")
    item = complaint(org, c2)
    assert (item.status, item.closed_by, item.escalated) == ("closed", "pm2", False)
    ogm_work = [e for e in org.history() if e["actor"] == "ogm"]
    assert all(e.get("payload", {}).get("complaint") != c2 for e in ogm_work)
    with org.database.reading() as session:
        counts = summary(session, 2028)
    assert (counts["total"], counts["major"], counts["closed"]) == (2, 1, 2)


def test_a_general_complaint_past_its_limit_is_escalated(org):
    at(org, local(2028, 5, 11, 10))
    c = complain(org, "P-02", "月报迟交", local(2028, 5, 11, 10))  # a Thursday: due Tuesday 10:00
    assert complaint(org, c).resolve_due_at == local(2028, 5, 16, 10)
    org.complete(task(org, c, "assess")["id"], {"severity": "sev_general"}, actor=org.actor("pm2"))
    at(org, local(2028, 5, 16, 9, 59))
    assert complaint(org, c).escalated is False
    at(org, local(2028, 5, 16, 10, 1))
    item = complaint(org, c)
    assert (item.escalated, item.escalation_reason, item.severity) == (True, "time_limit_breach", "major")
    assert task(org, c, "organise_handling")["role"] == "ogm"


def test_the_second_reopen_makes_a_complaint_major(org):
    c = complain(org, "P-02", "回访不及时", local(2028, 5, 10, 9))
    org.complete(task(org, c, "assess")["id"], {"severity": "sev_general"}, actor=org.actor("pm2"))
    for _ in range(2):
        org.complete(task(org, c, "handle")["id"], {"investigation": "x", "resolution": "已回访"},
                     actor=org.actor("pm2"))
        close(org, c, "pm2", feedback="not_satisfied")
    item = complaint(org, c)
    assert (item.reopen_count, item.escalated, item.escalation_reason) == (2, True, "customer_reopen")
    assert task(org, c, "organise_handling")["role"] == "ogm"


def test_bad_complaints_are_refused(org):
    with pytest.raises(OpsqaError, match="unknown project code 'P-09'"):
        complain(org, "P-09", "x", local(2028, 5, 10, 9))
    with pytest.raises(OpsqaError, match="received_at .* is in the future"):
        complain(org, "P-01", "x", local(2028, 6, 1, 9))
    with pytest.raises(OpsqaError, match=r"^complaint.add needs role pm or ops or qmd or ogm or oms or admin; "
                                         r"gm1 holds gm$"):
        complain(org, "P-01", "x", local(2028, 5, 10, 9), user="gm1")
    assert org.instances(process_id="complaint") == []


def test_working_days():
    assert add_working_days(local(2028, 5, 12, 17), 1) == local(2028, 5, 15, 17)  # Friday -> Monday
    assert add_working_days(local(2028, 5, 13, 9), 3) == local(2028, 5, 17, 9)  # Saturday -> Wednesday
    # National Day 2027: 10-01 to 10-07 off, Saturday 10-09 worked instead
    holidays = frozenset(date(2027, 10, day) for day in range(1, 8))
    worked = frozenset({date(2027, 10, 9)})
    assert add_working_days(local(2027, 9, 30, 10), 3) == local(2027, 10, 5, 10)  # weekends only
    assert add_working_days(local(2027, 9, 30, 10), 3, holidays, worked) == local(2027, 10, 11, 10)  # 8th, 9th, 11th


def test_the_holidays_and_workdays_settings_move_a_complaints_time_limit(org, run):
    assert run("settings", "--reason", "test", "holidays", "2027-10-01..2027-10-07， 2027-01-01").exit_code == 0
    assert run("settings", "--reason", "test", "workdays", "2027-10-09").exit_code == 0
    shown = {s["key"]: s["value"] for s in run.json("settings")}
    assert (shown["holidays"], shown["workdays"]) == ("2027-01-01, 2027-10-01..2027-10-07", "2027-10-09")
    code = complain(org, "P-01", "视频平台节前中断", local(2027, 9, 30, 10))
    assert complaint(org, code).resolve_due_at == local(2027, 10, 11, 10)
    for value, message in (("2027-10-32", "'2027-10-32' is not a day (2027-10-01) or a run of days"),
                           ("2027-10-07..2027-10-01", "'2027-10-07..2027-10-01': a run of days goes forward"),
                           ("2027-01-01..2028-12-31", "'2027-01-01..2028-12-31': a run of days goes forward, "
                                                      "at most a year")):
        refused = run("settings", "--reason", "test", "holidays", value)
        assert refused.exit_code == 1, refused.output
        assert refused.stderr.startswith(f"opsqa: setting holidays: {message}"), refused.stderr
    assert {s["key"]: s["value"] for s in run.json("settings")}["holidays"] == shown["holidays"]


def test_complaints_from_the_command_line(run):
    assert run("init").exit_code == 0
    for user, role in (("pm1", "pm"), ("oms1", "oms"), ("ogm", "ogm")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    assert run("projects", "add", "P-01", "--name", "一期", "--customer", "公安局", "--pm", "pm1",
               "--oms", "oms1").exit_code == 0
    result = run("complaints", "add", "--project", "P-01", "--description", "平台中断", "--received",
                 "2020-05-10 09:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("C-2020-001 registered; pm1 assesses it")
    [row] = run.json("complaints", "list", "--open")
    assert (row["code"], row["customer"], row["status"]) == ("C-2020-001", "公安局", "received")
    assert "handler            pm1" in run("complaints", "show", "c-2020-001").stdout
    refused = run("complaints", "close", "C-2020-001", "--feedback", "satisfied", login="pm1")
    assert refused.exit_code == 1
    assert refused.stderr == "opsqa: C-2020-001 is received; it is not waiting for the customer's callback\n"
    bad = run("complaints", "add", "--project", "P-01", "--description", "x", "--received", "yesterday")
    assert bad.exit_code == 2 and "'yesterday' is not an ISO 8601 time" in bad.stderr


def test_a_refused_complaint_changes_nothing_but_records_the_refusal(run):
    assert run("init").exit_code == 0
    for user, role in (("pm1", "pm"), ("oms1", "oms"), ("gm1", "gm")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes/complaint.bpmn").exit_code == 0
    assert run("projects", "add", "P-01", "--name", "一期", "--customer", "公安局", "--pm", "pm1",
               "--oms", "oms1").exit_code == 0
    before = run.json("history")
    refused = run("complaints", "add", "--project", "P-01", "--description", "平台中断", login="gm1")
    assert (refused.exit_code, refused.stderr) == (1, "opsqa: complaint.add needs role pm or ops or qmd or ogm or oms "
                                                      "or admin; gm1 holds gm\n")
    assert run.json("complaints", "list") == [] and run.json("instances") == []
    after = run.json("history")
    [event] = after[len(before):]
    assert (event["kind"], event["actor"]) == ("security.denied", "gm1")
    assert event["payload"] == {"action": "complaint.add", "result": "denied", "source": "cli",
                                "message": "complaint.add needs role pm or ops or qmd or ogm or oms or admin; "
                                           "gm1 holds gm"}
    assert after[:len(before)] == before


def test_the_acknowledgement_is_due_within_the_time_limit(org):
    """Received 2028-05-11 10:00 Shanghai time: to be acknowledged (assessed) by 05-12 10:00 (24 hours)."""
    at(org, local(2028, 5, 11, 10))
    c = complain(org, "P-02", "月报迟交", local(2028, 5, 11, 10))
    assess = task(org, c, "assess")
    assert assess["due_at"] == local(2028, 5, 12, 10) == complaint(org, c).ack_due_at
    assert assess["business_key"] == c
    at(org, local(2028, 5, 12, 9, 59))
    assert org.tasks(overdue=True) == []
    at(org, local(2028, 5, 12, 10, 1))
    assert [(t["task"], t["business_key"]) for t in org.tasks(overdue=True)] == [("assess", c)]
