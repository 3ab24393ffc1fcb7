"""Project-level quality control (6.1.3): items a)-f), then each O&M report is a deadline with a reminder."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, make_engine

import usecases
from engine import OpsqaError, SimulatedClock
from handlers.project_qa import list_reports, periods
from handlers.projects import ProjectInput, save_project
from usecases import Caller

SHANGHAI = ZoneInfo("Asia/Shanghai")
ITEMS = {
    "org_structure": "项目经理1名，驻场工程师3名", "kpi_control": "每日监控事件按时解决率",
    "spot_checks": "每季度现场巡查一次", "report_frequency": "report_quarterly", "report_due_days": 5,
    "resource_plan": "备用工程师2名", "service_desk_plan": "7×24服务台", "spare_parts_plan": "备件库每月盘点",
    "emergency_plan": "重大故障2小时到场",
}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    org = make_engine(db_path, SimulatedClock(local(2027, 2, 10, 9)))
    admin = org.actor(ADMIN)
    for user, role in (("ops1", "ops"), ("pm1", "pm"), ("oms1", "oms")):
        org.add_user(user, [role], department="ops", actor=admin)
    org.deploy(["processes/project_qa.bpmn"], actor=admin)
    with org.database.transaction() as session:
        save_project(session, ProjectInput("P-01", "平安城市一期", "公安局", "pm1", "oms1", "safe_city"),
                     now=org.clock.now(), actor=admin)
    return org


def start(org, code: str = "P-01", login: str = "ops1") -> int:
    return usecases.plans.plan_project(org, Caller(login), code, year=2027)["instance_id"]


def ready(org, bpmn_id: str) -> dict:
    [found] = [t for t in org.tasks() if t["task"] == bpmn_id]
    return found


def at(org, when: datetime) -> None:
    org.clock.set(when)
    assert not org.tick().failed


def reports(org) -> list[tuple]:
    with org.database.reading() as session:
        return [(r["period"], r["submitted_at"] is not None, r["on_time"], r["reminded_at"] is not None)
                for r in list_reports(session, project="P-01", now=org.clock.now())]


def test_report_deadlines_reminders_and_late_reports(org):
    start(org)
    with pytest.raises(OpsqaError, match=r"emergency_plan \(6\.1\.3 f\) 应急响应方案\): a value is required"):
        org.complete(ready(org, "define_qa")["id"], {**ITEMS, "emergency_plan": ""}, actor=org.actor("ops1"))
    org.complete(ready(org, "define_qa")["id"], ITEMS, actor=org.actor("ops1"))
    arrange = ready(org, "arrange_qa")
    assert arrange["assignee"] == "pm1"
    with pytest.raises(OpsqaError, match=r"the service desk, spare parts and emergency plan \(f\) must be ready"):
        org.complete(arrange["id"], {"arrangement": "按月例会", "resources_ready": True, "service_desk_ready": False},
                     actor=org.actor("pm1"))
    org.complete(arrange["id"], {"arrangement": "按月例会", "resources_ready": True, "service_desk_ready": True},
                 actor=org.actor("pm1"))

    # Q1's report (the plan came mid-Q1) is due 5 days after the quarter: 04-06 00:00, reminded 2 days before.
    submit = ready(org, "submit_report")
    assert datetime.fromisoformat(str(submit["due_at"])) == local(2027, 4, 6)
    assert reports(org) == [("2027-Q1", False, None, False)]
    at(org, local(2027, 4, 3, 23))
    assert reports(org) == [("2027-Q1", False, None, False)]
    at(org, local(2027, 4, 4, 0, 1))
    assert reports(org) == [("2027-Q1", False, None, True)]
    at(org, local(2027, 4, 7, 9))  # a day late: marked overdue, then submitted late
    assert [t["task"] for t in org.tasks(overdue=True)] == ["submit_report"]
    org.complete(ready(org, "submit_report")["id"], {"report_ref": "RPT-2027-Q1"}, actor=org.actor("pm1"))
    assert reports(org) == [("2027-Q1", True, False, True), ("2027-Q2", False, None, False)]
    kinds = [e["kind"] for e in org.history() if e["kind"].startswith("report.")]
    assert kinds == ["report.due", "report.reminded", "report.overdue", "report.submitted", "report.due"]

    for period, due in (("Q2", local(2027, 7, 6)), ("Q3", local(2027, 10, 6)), ("Q4", local(2028, 1, 6))):
        submit = ready(org, "submit_report")
        assert datetime.fromisoformat(str(submit["due_at"])) == due, period
        at(org, due.replace(day=2))
        org.complete(submit["id"], {"report_ref": f"RPT-2027-{period}"}, actor=org.actor("pm1"))
    assert [r[:3] for r in reports(org)] == [("2027-Q1", True, False), ("2027-Q2", True, True),
                                             ("2027-Q3", True, True), ("2027-Q4", True, True)]
    [instance] = org.instances(process_id="project_qa")
    assert (instance["business_key"], instance["status"]) == ("P-01/2027", "completed")


def test_bad_starts_are_refused(org):
    with pytest.raises(OpsqaError, match="unknown project code 'P-99'"):
        start(org, "P-99")
    with pytest.raises(OpsqaError, match=r"^project.plan needs role ops or admin; pm1 holds pm$"):
        start(org, login="pm1")
    start(org)
    with pytest.raises(OpsqaError, match="P-01 already has its 2027 quality control"):
        start(org)
    assert len(org.instances(process_id="project_qa")) == 1


def test_report_periods():
    zone = SHANGHAI
    months = periods(2027, "report_monthly", zone=zone, since=date(2027, 2, 10), until=date(2027, 6, 15))
    assert [name for name, _ in months] == ["2027-02", "2027-03", "2027-04", "2027-05", "2027-06"]
    assert months[-1][1] == local(2027, 7, 1)
    quarters = periods(2027, "report_quarterly", zone=zone, since=date(2027, 1, 1), until=None)
    assert [name for name, _ in quarters] == ["2027-Q1", "2027-Q2", "2027-Q3", "2027-Q4"]


def test_from_the_command_line(run, tmp_path):
    assert run("init").exit_code == 0
    for user, role in (("ops1", "ops"), ("pm1", "pm"), ("oms1", "oms")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes/project_qa.bpmn").exit_code == 0
    assert run("projects", "add", "P-01", "--name", "一期", "--customer", "公安局", "--pm", "pm1",
               "--oms", "oms1").exit_code == 0
    result = run("projects", "plan", "P-01", "--year", "2027", login="ops1")
    assert result.exit_code == 0, result.output
    assert "P-01 2027: quality control started" in result.stdout
    result = run("projects", "plan", "P-77", "--year", "2027", login="ops1")
    assert result.exit_code == 1 and result.stderr.startswith("opsqa: unknown project code 'P-77'")
    assert "Traceback" not in result.output
    assert run.json("projects", "reports") == []
