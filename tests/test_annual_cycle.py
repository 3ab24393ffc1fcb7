"""The annual cycle (DOMAIN.md 2.1) through the engine on a simulated clock: the yearly timer starts it,
the plan is rejected twice and approved (S9), the audit waits for the plan's audit window and its team
is checked for independence (S4), and the spot checks follow the plan's frequency."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, PLAN_VALUES, make_engine
from lxml import etree
from sqlalchemy import func, select

from engine import OpsqaError, SimulatedClock
from handlers.audits import add_auditor, get_audit, record_result
from handlers.checklist import AUDIT_ITEMS
from handlers.inspections import record_check
from handlers.plan import plan_history
from handlers.projects import ProjectInput, save_project
from store import Audit, Inspection, Job, QualityPlan

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    """DOMAIN.md §5's company, processes deployed on 2026-12-20."""
    org = make_engine(db_path, SimulatedClock(local(2026, 12, 20, 9)))
    admin = org.actor(ADMIN)
    for user, role, dept in (("qmd2", "qmd", "qmd"), ("ops_aud", "ops", "ops"), ("pm1", "pm", "ops"),
                             ("pm2", "pm", "ops"), ("oms1", "oms", "ops"), ("mr1", "mr", "mr")):
        org.add_user(user, [role], department=dept, actor=admin)
    org.deploy(["processes"], actor=admin)
    now, qmd = org.clock.now(), org.actor("qmd1")
    with org.database.transaction() as session:
        for code, pm, members in (("P-01", "pm1", ["ops_aud"]), ("P-02", "pm2", []), ("P-03", "pm1", [])):
            save_project(session, ProjectInput(code, f"项目{code}", "公安局", pm, "oms1", "safe_city", members=members),
                         now=now, actor=qmd)
        for auditor in ("qmd2", "ops_aud"):
            add_auditor(session, auditor, certificate_no=None, valid_until=None, now=now, actor=qmd)
    return org


def at(org, when: datetime) -> None:
    """Move the clock and let the scheduler do what is due."""
    org.clock.set(when)
    report = org.tick()
    assert not report.failed, report.failed


def ready(org, bpmn_id: str) -> dict:
    found = [t for t in org.tasks() if t["task"] == bpmn_id]
    assert len(found) == 1, org.tasks()
    return found[0]


def count(org, model) -> int:
    with org.database.reading() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_the_plan_rejected_twice_then_approved_drives_the_year(org, run, tmp_path):
    at(org, local(2027, 1, 1, 0, 6))  # the yearly timer start fired at 00:05
    [cycle] = org.instances(process_id="annual_cycle")
    assert cycle["business_key"] == "2027"
    qmd, gm = org.actor("qmd1"), org.actor("gm1")

    at(org, local(2027, 1, 4, 10))
    with pytest.raises(OpsqaError, match=r"spot_check_plan \(6\.1\.2 f\) 现场抽查巡查计划\): a value is required"):
        org.complete(ready(org, "draft_plan")["id"], {**PLAN_VALUES, "spot_check_plan": ""}, actor=qmd)
    org.complete(ready(org, "draft_plan")["id"], {**PLAN_VALUES, "audit_start": "2027-05-01"}, actor=qmd)
    at(org, local(2027, 1, 6, 10))
    with pytest.raises(OpsqaError, match="comment"):
        org.complete(ready(org, "approve_plan")["id"], {"decision": "rejected"}, actor=gm)
    org.complete(ready(org, "approve_plan")["id"], {"decision": "rejected", "comment": "缺少现场抽查计划 f)"},
                 actor=gm)
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=qmd)
    at(org, local(2027, 1, 9, 10))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "rejected", "comment": "缺少培训资源 c)"}, actor=gm)
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=qmd)

    # Nothing downstream exists before the approval: no audit, no inspection, no timer job.
    at(org, local(2027, 1, 14, 10))
    assert (count(org, Audit), count(org, Inspection), count(org, Job)) == (0, 0, 0)
    with pytest.raises(OpsqaError, match="role gm"):
        org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("mr1"))

    at(org, local(2027, 1, 15, 10))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=gm)
    with org.database.reading() as session:
        history = plan_history(session, 2027)
        [plan] = session.scalars(select(QualityPlan)).all()
    assert [v["version"] for v in history["versions"]] == [1, 2, 3]
    assert history["versions"][0]["values"]["audit_start"] == "2027-05-01"
    assert [(a["by"], a["decision"], a["comment"], a["version"]) for a in history["approvals"]] == [
        ("gm1", "rejected", "缺少现场抽查计划 f)", 1), ("gm1", "rejected", "缺少培训资源 c)", 2),
        ("gm1", "approved", None, 3)]
    assert history["issued_version"] == plan.revisions == 3
    assert str(plan.audit_start) == "2027-06-01"  # the issued version's date, not version 1's

    # The audit waits for version 3's window (06-01 09:00), not version 1's (05-01).
    [job] = [j for j in org.instance(cycle["id"])["timers"] if j["timer"] == "wait_audit_window"]
    assert datetime.fromisoformat(job["due"]) == local(2027, 6, 1, 9)

    shown = run("instance", "show", str(cycle["id"])).stdout
    assert "WAITING ON TIMER" in shown
    assert [line.split()[:4] for line in shown.splitlines() if line.startswith("wait_")] == [
        ["wait_spot_check", "等待抽查日期", "2027-01-15", "10:00"],  # Q1's spot check, due at once
        ["wait_audit_window", "等待内审窗口", "2027-06-01", "09:00"],
        ["wait_survey_window", "等待满意度调查窗口", "2027-09-01", "09:00"]]
    drawn = run("instance", "show", str(cycle["id"]), "--diagram", str(tmp_path / "cycle.svg"))
    assert drawn.exit_code == 0, drawn.output
    svg = etree.parse(str(tmp_path / "cycle.svg"))
    painted = {g.get("data-element-id"): g.get("data-state") for g in svg.iter() if g.get("data-state")}
    assert {k: v for k, v in painted.items() if v != "completed"} == {
        "wait_audit_window": "waiting", "wait_survey_window": "waiting", "wait_spot_check": "waiting"}
    assert {"start_cycle", "call_quality_plan", "schedule_year", "split_year"} <= set(painted)
    shown = run("plan", "show", "2027")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("2027 plan: 3 version(s), version 3 issued")
    assert "缺少培训资源 c)" in shown.stdout
    assert run("plan", "show", "2031").stderr == "opsqa: no quality plan has been drafted for 2031\n"


def test_the_audit_starts_at_its_window_with_an_independent_team(org):
    at(org, local(2027, 1, 1, 0, 6))
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    at(org, local(2027, 5, 31, 18))
    assert not [t for t in org.tasks() if t["task"] == "plan_audit"]
    at(org, local(2027, 6, 1, 9))
    plan_audit = ready(org, "plan_audit")
    form = {"audit_full": True, "lead_auditor": "qmd2", "planned_start": "2027-06-01", "planned_end": "2027-06-10"}
    qmd = org.actor("qmd1")
    with pytest.raises(OpsqaError, match=r"auditor ops_aud is not independent of P-01 \(member of the project team\)"):
        org.complete(plan_audit["id"], {**form, "audit_team": "qmd2=P-02; ops_aud=P-01,P-03"}, actor=qmd)
    with pytest.raises(OpsqaError, match="audit_team: 'qmd2' is not AUDITOR=UNIT"):
        org.complete(plan_audit["id"], {**form, "audit_team": "qmd2"}, actor=qmd)
    assert count(org, Audit) == 0
    org.complete(plan_audit["id"], {**form, "audit_team": "qmd2：P-01；ops_aud：P-02,P-03"}, actor=qmd)
    with org.database.reading() as session:
        audit = get_audit(session, "IA-2027-01")
        assert (audit.full, audit.lead_auditor, audit.scope) == (True, "qmd2", '["P-01", "P-02", "P-03"]')

    # The management representative sends the first plan back: the cycle asks qmd for a new one.
    org.complete(ready(org, "approve_audit_plan")["id"],
                 {"plan_decision": "audit_plan_rejected", "plan_comment": "日期与节假日冲突"}, actor=org.actor("mr1"))
    org.complete(ready(org, "plan_audit")["id"], {**form, "audit_team": "qmd2=P-01; ops_aud=P-02,P-03",
                                                 "planned_start": "2027-06-08", "planned_end": "2027-06-18"}, actor=qmd)
    org.complete(ready(org, "approve_audit_plan")["id"], {"plan_decision": "audit_plan_approved"},
                 actor=org.actor("mr1"))
    with org.database.transaction() as session:
        assert get_audit(session, "IA-2027-01").status == "cancelled"
        for item in AUDIT_ITEMS:
            for unit in ("P-01", "P-02", "P-03"):
                bad = (item.code, unit) in {("PRC-c", "P-01"), ("PRC-e", "P-02"), ("RES-d", "P-03")}
                record_result(session, "IA-2027-02", item=item.code, unit=unit,
                              result="nonconform" if bad else "conform", evidence="抽查记录", na_reason=None,
                              now=org.clock.now(), actor=org.actor("qmd2" if unit == "P-01" else "ops_aud"))
    org.complete(ready(org, "perform_audit")["id"], {}, actor=org.actor("qmd2"))
    org.complete(ready(org, "write_report")["id"], {"report_summary": "23项×3单位", "report_conclusion": "基本符合"},
                 actor=org.actor("qmd2"))
    org.complete(ready(org, "acknowledge_report")["id"], {"report_comment": "同意"}, actor=org.actor("mr1"))
    cycle = org.instance(org.instances(process_id="annual_cycle")[0]["id"])
    done = {t["task"] for t in cycle["tasks"] if t["state"] == "completed"}
    assert {"plan_audit", "perform_audit", "acknowledge_report"} <= done
    assert [f["business_key"] for f in org.instances(process_id="nc_followup")] == [
        "NC-2027-001", "NC-2027-002", "NC-2027-003"]
    assert cycle["status"] == "running"  # the spot checks go on to the year's end


def test_spot_checks_follow_the_plans_frequency(org):
    at(org, local(2027, 1, 1, 0, 6))
    org.complete(ready(org, "draft_plan")["id"], PLAN_VALUES, actor=org.actor("qmd1"))
    at(org, local(2027, 2, 10, 9))  # approved mid-Q1: the first check is due at once
    org.complete(ready(org, "approve_plan")["id"], {"decision": "approved"}, actor=org.actor("gm1"))
    at(org, local(2027, 2, 10, 9, 1))
    quarters = []
    for quarter_start in (None, local(2027, 4, 1, 9), local(2027, 7, 1, 9), local(2027, 10, 1, 9)):
        if quarter_start is not None:
            at(org, quarter_start.replace(hour=8))
            assert not [t for t in org.tasks() if t["task"] == "inspect"]
            at(org, quarter_start)
        inspect = ready(org, "inspect")
        assert inspect["assignee"] == "oms1"
        with org.database.transaction() as session:
            inspection = session.scalars(select(Inspection).order_by(Inspection.id.desc())).first()
            assert (inspection.trigger_type, inspection.sample_size) == ("planned", 1)
            assert inspection.seed is not None
            [project] = inspection.projects.strip('[]"').split('", "')
            for number, item in enumerate(("SVC-a", "SVC-b", "SVC-c", "SVC-d", "SVC-e")):
                record_check(session, inspection.code, project=project, item=item, passed=number != 1,
                             evidence=None if number != 1 else "月报迟交", samples=None, now=org.clock.now(),
                             actor=org.actor("oms1"))
            quarters.append((inspection.code, org.clock.now().astimezone(SHANGHAI).date().isoformat()))
        org.complete(inspect["id"], {}, actor=org.actor("oms1"))
    assert quarters == [("INS-2027-01", "2027-02-10"), ("INS-2027-02", "2027-04-01"),
                        ("INS-2027-03", "2027-07-01"), ("INS-2027-04", "2027-10-01")]
    assert len(org.instances(process_id="nc_followup")) == 4  # one failed point each time
    at(org, local(2027, 12, 31, 23))
    assert not [t for t in org.tasks() if t["task"] == "inspect"]
    cycle = org.instance(org.instances(process_id="annual_cycle")[0]["id"])
    assert not [t for t in cycle.get("timers", []) if t["timer"] == "wait_spot_check"]
