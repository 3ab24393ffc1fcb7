"""Two years of the cycle (2027 as tests/test_year.py runs it, then 2028): the improvement measures still
open at the 2028 review are listed once, as last year's measures, and carried into the 2028 plan once each
— never again as open nonconformities with new items and new follow-ups; the 2028 audit shows them on
CAP-g; a refused plan names each incomplete item with its source and what it lacks."""

from __future__ import annotations

import json
from datetime import date

import pytest
import test_year
from helpers import PLAN_VALUES
from sqlalchemy import select
from test_year import at, do, in_session, local, plan_year, run_audit, run_survey, survey_files

from engine import OpsqaError
from handlers.audits import record_result
from handlers.checklist import AUDIT_ITEMS
from handlers.findings import attach
from handlers.improvement import carried_items, list_items, set_item
from handlers.indicators import parse_values, record_values
from handlers.reports import audit_documents, improvement_documents, review_documents
from handlers.reviews import get_review, initiate
from handlers.surveys import import_responses, invite
from handlers.tabular import from_csv, read_table
from store import Finding, ImprovementItem

UNITS = ("P-01", "P-02", "P-03")
org = test_year.org  # the fixture: DOMAIN.md §5's company, processes deployed in December 2026


def task_of(org, bpmn_id: str, key: str) -> str:
    [found] = [t for t in org.tasks() if t["task"] == bpmn_id and org.instance(t["instance"])["business_key"] == key]
    return found["id"]


def close(org, code: str, owner: str, tmp_path) -> None:
    """A finding's follow-up to verified closure: planned, accepted, implemented with evidence, verified."""
    org.complete(task_of(org, "plan_action", code), {"root_cause": "原因", "corrective_action": "措施"},
                 actor=org.actor(owner))
    org.complete(task_of(org, "review_plan", code), {"plan_decision": "plan_accepted"}, actor=org.actor("qmd1"))
    evidence = tmp_path / f"{code}.txt"
    evidence.write_text(f"{code} 落实记录", encoding="utf-8")
    in_session(org, lambda s: attach(s, code, str(evidence), note=None, now=org.clock.now(), actor=org.actor(owner)))
    org.complete(task_of(org, "implement", code), {"implementation": "已落实"}, actor=org.actor(owner))
    org.complete(task_of(org, "verify", code), {"verification": "verified_effective", "verification_comment": "有效"},
                 actor=org.actor("qmd2"))


def record_kpis(org, year: int, k1: float) -> None:
    table = from_csv(f"indicator,period,value\nK1,{year},{k1}\nK2,{year},3.5\nK3,{year},99.7\nK5,{year},99.0\n",
                     "kpi.csv")
    in_session(org, lambda s: record_values(s, parse_values(table), now=org.clock.now(), actor=org.actor("qmd1")))


def review(org, year: int) -> None:
    at(org, local(year, 11, 20, 9))
    with org.database.transaction() as session:
        task_id = initiate(session, year, start_instance=None)
    org.complete(task_id, {"review_date": f"{year}-11-20", "attendees": "gm1、qmd1、ops1、ogm"}, actor=org.actor("mr"))
    do(org, "hold_review", {"minutes": "评审了内审、满意度调查和指标", "decisions": "继续执行年度质量计划"}, "mr")
    at(org, local(year, 11, 25, 10))


def plan_all(org, year: int) -> None:
    """Every item of the year's plan given its analysis, the plan drawn up and approved."""
    for item in in_session(org, lambda s: list_items(s, year)):
        if item["status"] == "proposed":
            in_session(org, lambda s, item=item: set_item(
                s, item["code"], cause="原因分析", measure="改进措施", owner=item["owner"] or "pm1",
                due=date(year + 1, 3, 31), expected=None, now=org.clock.now(), actor=org.actor("ops1")))
    do(org, "plan_improvement", {"plan_summary": "改进计划"}, "ops1")
    do(org, "approve_improvement", {"improvement_decision": "imp_approved"}, "gm1")


def year_2027(org, tmp_path) -> None:
    plan_year(org)
    run_audit(org, tmp_path)  # NC-2027-001..003; 001 and 002 closed, 003 left open
    run_survey(org, tmp_path)  # overall 4.2: K4 (target 4.5) unmet
    record_kpis(org, 2027, 92.5)  # K1 (target 95) unmet
    review(org, 2027)
    plan_all(org, 2027)


def year_2028_to_the_review(org, tmp_path) -> None:
    at(org, local(2028, 1, 1, 0, 6))  # the 2028 cycle starts on its schedule
    at(org, local(2028, 1, 5, 10))
    do(org, "draft_plan", {**PLAN_VALUES, "audit_start": "2028-06-01", "survey_start": "2028-09-01"}, "qmd1")
    do(org, "approve_plan", {"decision": "approved"}, "gm1")
    at(org, local(2028, 3, 10, 10))
    close(org, "NC-2027-004", "pm1", tmp_path)  # IMP-2027-01's measure done; the other two are not

    at(org, local(2028, 6, 1, 9))
    do(org, "plan_audit", {"audit_full": True, "audit_team": "qmd2=P-01; ops_aud=P-02,P-03", "lead_auditor": "qmd2",
                           "planned_start": "2028-06-01", "planned_end": "2028-06-10"}, "qmd1")
    do(org, "approve_audit_plan", {"plan_decision": "audit_plan_approved"}, "mr")
    at(org, local(2028, 6, 10, 16))

    def checklist(session):
        for item in AUDIT_ITEMS:
            for unit in UNITS:
                bad = (item.code, unit) == ("PRC-c", "P-01")
                record_result(session, "IA-2028-01", item=item.code, unit=unit,
                              result="nonconform" if bad else "conform", evidence="抽查记录", na_reason=None,
                              now=org.clock.now(), actor=org.actor("qmd2" if unit == "P-01" else "ops_aud"))
    in_session(org, checklist)
    do(org, "perform_audit", {"audit_notes": "全面内审"}, "qmd2")  # NC-2028-001, left open
    at(org, local(2028, 6, 20, 10))
    do(org, "write_report", {"report_summary": "23项×3单位", "report_conclusion": "基本符合，1项不符合"}, "qmd2")
    do(org, "acknowledge_report", {"report_comment": "同意"}, "mr")

    at(org, local(2028, 9, 1, 9))
    folder = tmp_path / "2028"
    folder.mkdir()
    invitations, responses = survey_files(folder)
    qmd = org.actor("qmd1")
    in_session(org, lambda s: invite(s, 2028, read_table(invitations), now=org.clock.now(), actor=qmd))
    do(org, "setup_survey", {"collect_until": "2028-10-15", "questionnaire": "Q-2028"}, "qmd1")
    do(org, "support_survey", {"support_note": "联系人已确认"}, "ops1")
    in_session(org, lambda s: import_responses(s, 2028, read_table(responses), now=org.clock.now(), actor=qmd))
    at(org, local(2028, 10, 16, 9))
    at(org, local(2028, 10, 20, 10))
    do(org, "write_survey_report", {"report_summary": "总体满意度4.2"}, "qmd1")  # K4 unmet again
    record_kpis(org, 2028, 90)  # K1 unmet again
    review(org, 2028)


def test_last_years_measures_are_listed_once_and_carried(org, tmp_path):
    year_2027(org, tmp_path)
    with org.database.reading() as session:
        left = list_items(session, 2027)
    # 2027 leaves three measures, each followed up by a finding of its own; one answers a finding (NC-2027-003).
    assert [(i["code"], i["source"], i["action"], i["action_status"]) for i in left] == [
        ("IMP-2027-01", "unmet_kpi:K1", "NC-2027-004", "open"),
        ("IMP-2027-02", "unmet_kpi:K4", "NC-2027-005", "open"),
        ("IMP-2027-03", "open_nc:NC-2027-003", "NC-2027-006", "open")]

    year_2028_to_the_review(org, tmp_path)
    with org.database.reading() as session:
        inputs = json.loads(get_review(session, 2028).inputs)
        [report] = review_documents(session, 2028)
        items, carried = list_items(session, 2028), carried_items(session, 2028)
        open_findings = sorted(session.scalars(select(Finding.code).where(Finding.status == "open")))
    # Open at the review: NC-2027-003 (answered by IMP-2027-03), two measures' follow-ups, the 2028 audit's.
    assert open_findings == ["NC-2027-003", "NC-2027-005", "NC-2027-006", "NC-2028-001"]
    # The review lists the three measures once, as last year's (two unfinished), and their follow-ups nowhere else.
    assert inputs["previous_actions"] == [
        {"code": "IMP-2027-01", "source": "unmet_kpi:K1", "measure": "改进措施", "status": "closed",
         "action": "NC-2027-004"},
        {"code": "IMP-2027-02", "source": "unmet_kpi:K4", "measure": "改进措施", "status": "open",
         "action": "NC-2027-005"},
        {"code": "IMP-2027-03", "source": "open_nc:NC-2027-003", "measure": "改进措施", "status": "open",
         "action": "NC-2027-006"}]
    assert [f["code"] for f in inputs["open_findings"]] == ["NC-2027-003", "NC-2028-001"]
    text = report.markdown()
    assert "## 未关闭的不符合项（2 项）" in text and "| NC-2027-005 |" not in text
    assert "## 六、上年度改进措施落实情况（3 项，未完成 2 项）" in text
    assert text.count("| IMP-2027-0") == 3
    # The 2028 plan: the two unfinished measures carried, once each; new items only for this year's sources —
    # none for NC-2027-003 (IMP-2027-03 answers it) nor for the follow-ups NC-2027-005 and NC-2027-006.
    assert [(c["code"], c["source"], c["action_status"]) for c in carried] == [
        ("IMP-2027-02", "unmet_kpi:K4", "open"), ("IMP-2027-03", "open_nc:NC-2027-003", "open")]
    assert [(i["code"], i["source"]) for i in items] == [
        ("IMP-2028-01", "unmet_kpi:K1"), ("IMP-2028-02", "unmet_kpi:K4"), ("IMP-2028-03", "open_nc:NC-2028-001")]
    [proposed] = [e for e in org.history() if e["kind"] == "improvement.proposed" and e["payload"]["year"] == 2028]
    assert proposed["payload"]["carried"] == ["IMP-2027-02", "IMP-2027-03"]

    # A plan with incomplete items is refused, naming each with its source and what it lacks.
    in_session(org, lambda s: set_item(s, "IMP-2028-01", cause="夜班不足", measure="增设夜班", owner="pm1",
                                       due=date(2029, 3, 31), expected=None, now=org.clock.now(),
                                       actor=org.actor("ops1")))
    in_session(org, lambda s: set_item(s, "IMP-2028-02", cause="渠道不畅", measure="开通微信报修", owner=None,
                                       due=None, expected=None, now=org.clock.now(), actor=org.actor("ops1")))
    with pytest.raises(OpsqaError) as refused:
        do(org, "plan_improvement", {"plan_summary": "改进计划"}, "ops1")
    assert str(refused.value) == (
        "task plan_improvement: the improvement plan is incomplete: "
        "IMP-2028-02 (unmet_kpi:K4) needs an owner, a due date; "
        "IMP-2028-03 (open_nc:NC-2028-001) needs a cause, a measure, a due date "
        "(`opsqa improvement set CODE --cause ... --measure ... --owner ... --due ...`)")
    plan_all(org, 2028)

    # Approved: three new follow-ups, one per new item; the carried measures keep theirs.
    with org.database.reading() as session:
        followed = sorted(session.scalars(select(Finding.source_ref).where(Finding.source == "improvement")))
        assert session.scalar(select(ImprovementItem.id).where(ImprovementItem.year == 2028,
                                                               ImprovementItem.source_ref.like("NC-2027-%"))) is None
        [plan] = improvement_documents(session, 2028)
    assert followed == ["IMP-2027-01", "IMP-2027-02", "IMP-2027-03", "IMP-2028-01", "IMP-2028-02", "IMP-2028-03"]
    text = plan.markdown()
    assert text.count("| IMP-2028-0") == 3 and text.count("| IMP-2027-0") == 2
    assert "## 上年度改进措施（管理评审时未完成，结转 2 项）" in text
    assert ("| IMP-2027-03 | 未关闭不符合项 NC-2027-003 | 改进措施 | pm1 | 2028-03-31 | NC-2027-006 | 待制定措施 |"
            in text)
    assert [e["payload"]["year"] for e in org.history() if e["kind"] == "cycle.closed"] == [2027, 2028]


def test_the_next_years_audit_shows_last_years_measures_on_cap_g(org, tmp_path, run):
    year_2027(org, tmp_path)
    with org.database.reading() as session:
        [_report, checklist_2027] = audit_documents(session, 2027)[0]
    assert "CAP-g 核查依据：2026 年度无改进措施。" in checklist_2027.markdown()
    year_2028_to_the_review(org, tmp_path)

    shown = run.json("audit", "checklist", "IA-2028-01")["improvement"]
    assert (shown["item"], shown["year"], shown["unfinished"]) == ("CAP-g", 2027, 2)
    assert [(i["code"], i["source"], i["owner"], i["due"], i["status"], i["action"]) for i in shown["items"]] == [
        ("IMP-2027-01", "unmet_kpi:K1", "pm1", "2028-03-31", "closed", "NC-2027-004"),
        ("IMP-2027-02", "unmet_kpi:K4", "pm1", "2028-03-31", "open", "NC-2027-005"),
        ("IMP-2027-03", "open_nc:NC-2027-003", "pm1", "2028-03-31", "open", "NC-2027-006")]
    text = run("audit", "checklist", "IA-2028-01")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert "CAP-g: improvement measures of 2027 (and older ones still open): 3, 2 not finished" in lines
    rows = [line.split() for line in lines if line.startswith("IMP-")]
    assert [(r[0], r[1], r[4], r[5]) for r in rows] == [
        ("IMP-2027-01", "unmet_kpi:K1", "closed", "NC-2027-004"),
        ("IMP-2027-02", "unmet_kpi:K4", "open", "NC-2027-005"),
        ("IMP-2027-03", "open_nc:NC-2027-003", "open", "NC-2027-006")]

    with org.database.reading() as session:
        [_report, checklist] = audit_documents(session, 2028)[0]
    markdown, page = checklist.markdown(), checklist.html()
    assert ("CAP-g 核查依据：上年度（2027）改进措施及以前年度未完成的改进措施落实情况（3 项，未完成 2 项）"
            in markdown)
    assert "| IMP-2027-01 | 未达标指标 K1 | 改进措施 | pm1 | 2028-03-31 | NC-2027-004 | 已关闭 |" in markdown
    assert "| IMP-2027-02 | 未达标指标 K4 | 改进措施 | pm1 | 2028-03-31 | NC-2027-005 | 待制定措施 |" in markdown
    # it stands after the CAP items and before the next area
    assert markdown.index("| CAP-g |") < markdown.index("CAP-g 核查依据") < markdown.index("## 人员检查")
    assert "<td>IMP-2027-03</td><td>未关闭不符合项 NC-2027-003</td>" in page
