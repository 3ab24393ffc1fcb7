"""The 编制 / 审核 / 批准 block of each controlled document: the people and local dates the history shows."""

from __future__ import annotations

from datetime import date, timedelta

from helpers import PLAN_VALUES, ready_task

import usecases
from handlers import signoff
from handlers.projects import ProjectInput, save_project
from handlers.signoff import Signature

PROJECT_ITEMS = {
    "org_structure": "项目经理1名，驻场工程师3名", "kpi_control": "每日监控事件按时解决率",
    "spot_checks": "每季度现场巡查一次", "report_frequency": "report_quarterly", "report_due_days": 5,
    "resource_plan": "备用工程师2名", "service_desk_plan": "7×24服务台", "spare_parts_plan": "备件库每月盘点",
    "emergency_plan": "重大故障2小时到场",
}
EMPTY = [Signature("编制", "", ""), Signature("审核", "", ""), Signature("批准", "", "")]


def block(drafted: tuple[str, str] = ("", ""), approved: tuple[str, str] = ("", "")) -> list[Signature]:
    return [Signature("编制", *drafted), Signature("审核", "", ""), Signature("批准", *approved)]


def signed(engine, function: str, *args) -> list[Signature]:
    with engine.database.reading() as session:
        return getattr(signoff, function)(session, *args)


def test_the_demo_years_documents_name_who_drafted_and_approved_them(demo_year):
    """The year of demo/year.yaml: the GM rejected the first plan (drafted 01-04), qmd1 drafted it again and the GM
    approved that one; dates are Shanghai's (the second draft, 2027-01-08 16:05 UTC, is 01-09 there)."""
    gm, mr, qmd1, qmd2 = "李总（gm）", "王代表（mr）", "张三（qmd1）", "赵敏（qmd2）"
    ops1, oms1 = "孙运营（ops1）", "郑主管（oms1）"
    expected = {
        ("quality_plan", 2027): block((qmd1, "2027-01-09"), (gm, "2027-01-10")),
        ("audit_report", 2027): block((qmd2, "2027-06-15"), (mr, "2027-06-17")),
        ("audit_checklist", "IA-2027-01"): block((qmd2, "2027-06-10")),
        ("inspection_record", "INS-2027-01"): block((oms1, "2027-01-13")),
        ("inspection_report", "INS-2027-04"): block((oms1, "2027-10-03")),
        ("survey_report", 2027): block((qmd1, "2027-10-23")),
        ("review_report", 2027): block((mr, "2027-11-20"), (mr, "2027-11-20")),
        ("improvement_plan", 2027): block((ops1, "2027-11-24"), (gm, "2027-11-26")),
        ("quality_plan", 2028): EMPTY,  # the 2028 cycle began: its plan is not drafted yet
        ("audit_report", 2028): EMPTY,
        ("project_plan", "P-01", 2027): EMPTY,  # the demo starts no project quality control
    }
    assert {key: signed(demo_year, *key) for key in expected} == expected


def test_a_database_without_records_gives_three_empty_steps(engine):
    for function, *args in (("audit_report", 2027), ("audit_checklist", "IA-2027-01"),
                            ("inspection_record", "INS-2027-01"), ("inspection_report", "INS-2027-01"),
                            ("survey_report", 2027), ("review_report", 2027), ("improvement_plan", 2027),
                            ("quality_plan", 2027), ("project_plan", "P-01", 2027)):
        assert signed(engine, function, *args) == EMPTY, function


def draft_plan(engine, admin) -> int:
    engine.deploy(["processes/quality_plan.bpmn"], actor=admin)
    instance = engine.start("quality_plan", actor=admin, business_key="2027")
    engine.complete(ready_task(engine, instance, "draft_plan")["id"], PLAN_VALUES, actor=engine.actor("qmd1"))
    return instance


def test_the_latest_draft_and_the_approval_after_it_count(engine, admin, clock):
    """qmd1's draft is rejected (no approval shown), qmd2 drafts it again two days later and gm1 approves that."""
    engine.add_user("qmd2", ["qmd"], actor=admin)
    instance = draft_plan(engine, admin)
    gm = engine.actor("gm1")
    engine.complete(ready_task(engine, instance, "approve_plan")["id"], {"decision": "rejected", "comment": "重写"},
                    actor=gm)
    assert signed(engine, "quality_plan", 2027) == block(("张三（qmd1）", "2027-01-01"))
    clock.advance(timedelta(days=2))
    engine.complete(ready_task(engine, instance, "draft_plan")["id"], PLAN_VALUES, actor=engine.actor("qmd2"))
    assert signed(engine, "quality_plan", 2027) == block(("qmd2", "2027-01-03"))  # no display name: the user name
    clock.advance(timedelta(days=1))
    engine.complete(ready_task(engine, instance, "approve_plan")["id"], {"decision": "approved"}, actor=gm)
    assert signed(engine, "quality_plan", 2027) == block(("qmd2", "2027-01-03"), ("李四（gm1）", "2027-01-04"))


def test_a_substitute_who_approved_is_shown_under_their_own_name(engine, admin, clock):
    """gm1 is away; mr1 approves for them (代理, recorded "mr1 for gm1"): the plan is approved by mr1."""
    engine.add_user("mr1", ["mr"], display_name="王五", actor=admin)
    instance = draft_plan(engine, admin)
    usecases.admin.away(engine, usecases.Caller("gm1"), "gm1", "mr1", date(2027, 1, 1), date(2027, 1, 7), [],
                        reason="出差")
    clock.advance(timedelta(days=1))
    usecases.tasks.complete(engine, usecases.Caller("mr1"), ready_task(engine, instance, "approve_plan")["id"],
                            {"decision": "approved"})
    assert signed(engine, "quality_plan", 2027) == block(("张三（qmd1）", "2027-01-01"), ("王五（mr1）", "2027-01-02"))


def test_a_projects_content_is_set_by_operations_and_nobody_is_shown_approving_it(engine, admin):
    """6.1.3: ops sets items a)-f) in define_qa; no step confirms them, so 批准 stays empty rather than
    showing the drafter approving their own content."""
    engine.deploy(["processes/project_qa.bpmn"], actor=admin)
    engine.add_user("ops1", ["ops"], display_name="孙运营", department="ops", actor=admin)
    for user, role in (("pm1", "pm"), ("oms1", "oms")):
        engine.add_user(user, [role], department="ops", actor=admin)
    with engine.database.transaction() as session:
        save_project(session, ProjectInput("P-01", "平安城市一期", "公安局", "pm1", "oms1", "safe_city"),
                     now=engine.clock.now(), actor=admin)
    instance = usecases.plans.plan_project(engine, usecases.Caller("ops1"), "P-01", year=2027)["instance_id"]
    assert signed(engine, "project_plan", "P-01", 2027) == EMPTY
    engine.complete(ready_task(engine, instance, "define_qa")["id"], PROJECT_ITEMS, actor=engine.actor("ops1"))
    ops1 = ("孙运营（ops1）", "2027-01-01")
    assert signed(engine, "project_plan", "p-01", 2027) == block(ops1)
    assert signed(engine, "project_plan", "P-01", 2028) == EMPTY
