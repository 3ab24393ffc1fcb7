"""A whole year of the cycle through the engine on a simulated clock: DOMAIN.md S1 to its end
(the management review report and the improvement plan, with the exact figures it states) and S2
(the review refused until the year's full audit and its survey are reported)."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, PLAN_VALUES, make_engine
from lxml import etree
from sqlalchemy import select

import usecases
from engine import OpsqaError, SimulatedClock
from engine.errors import Denied
from handlers.audits import add_auditor, create_audit, record_result
from handlers.checklist import AUDIT_ITEMS
from handlers.findings import attach, extend_due, list_findings, raise_finding
from handlers.improvement import list_items, set_item
from handlers.indicators import define, parse_values, record_values
from handlers.plan import plan_history
from handlers.projects import ProjectInput, save_project
from handlers.reports import review_documents, survey_documents
from handlers.reviews import gather, get_review, initiate, preconditions
from handlers.surveys import import_responses, invite
from handlers.tabular import from_csv, read_table
from store import Event, Finding, ImprovementItem, ManagementReview, SurveyCampaign

SHANGHAI = ZoneInfo("Asia/Shanghai")
NONCONFORM = {("PRC-c", "P-01"), ("PRC-e", "P-02"), ("RES-d", "P-03")}
SCORES = {"phone": [5, 4, 4, 5, 4, 4], "form": [4, 4, 3, 5, 4, 4], "visit": [5, 4, 4]}
INVITED = {"phone": 7, "form": 7, "visit": 4}  # 18 invitations, 15 responses


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    """DOMAIN.md §5's company: users, projects, auditors and K1-K5, processes deployed in December."""
    org = make_engine(db_path, SimulatedClock(local(2026, 12, 20, 9)))
    admin = org.actor(ADMIN)
    for user, role, dept in (("mr", "mr", "mr"), ("qmd2", "qmd", "qmd"), ("ops1", "ops", "ops"),
                             ("ops_aud", "ops", "ops"), ("pm1", "pm", "ops"), ("pm2", "pm", "ops"),
                             ("oms1", "oms", "ops"), ("ogm", "ogm", "ops")):
        org.add_user(user, [role], department=dept, actor=admin)
    org.deploy(["processes"], actor=admin)
    now, qmd = org.clock.now(), org.actor("qmd1")
    with org.database.transaction() as session:
        for code, pm, members in (("P-01", "pm1", ["ops_aud"]), ("P-02", "pm2", []), ("P-03", "pm1", [])):
            save_project(session, ProjectInput(code, f"项目{code}", f"{code}客户", pm, "oms1", "safe_city",
                                               members=members), now=now, actor=qmd)
        for auditor in ("qmd2", "ops_aud"):
            add_auditor(session, auditor, certificate_no=None, valid_until=None, now=now, actor=qmd)
        for code, name, unit, direction, target, source in (
                ("K1", "事件按时解决率", "%", "higher_better", 95, None),
                ("K2", "平均修复时间", "h", "lower_better", 4.0, None),
                ("K3", "系统可用率", "%", "higher_better", 99.5, None),
                ("K4", "客户满意度", "分", "higher_better", 4.5, "survey"),
                ("K5", "报告按时提交率", "%", "higher_better", 98, None)):
            define(session, code=code, name=name, unit=unit, direction=direction, target=target, cycle="yearly",
                   source=source, now=now, actor=qmd)
    return org


def at(org, when: datetime) -> None:
    org.clock.set(when)
    report = org.tick()
    assert not report.failed, report.failed


def ready(org, bpmn_id: str) -> dict:
    found = [t for t in org.tasks() if t["task"] == bpmn_id]
    assert len(found) == 1, [t["task"] for t in org.tasks()]
    return found[0]


def do(org, bpmn_id: str, values: dict, user: str) -> None:
    org.complete(ready(org, bpmn_id)["id"], values, actor=org.actor(user))


def in_session(org, work):
    with org.database.transaction() as session:
        return work(session)


def close_finding(org, code: str, on: datetime, tmp_path) -> None:
    """The owner plans, qmd accepts, the owner implements with evidence, qmd2 verifies it effective."""
    def task_of(bpmn_id):
        [found] = [t for t in org.tasks() if t["task"] == bpmn_id and
                   org.instance(t["instance"])["business_key"] == code]
        return found["id"]

    at(org, on)
    owner = {"NC-2027-001": "pm1", "NC-2027-002": "pm2"}[code]
    org.complete(task_of("plan_action"), {"root_cause": "流程缺失", "corrective_action": "补充流程"},
                 actor=org.actor(owner))
    org.complete(task_of("review_plan"), {"plan_decision": "plan_accepted"}, actor=org.actor("qmd1"))
    evidence = tmp_path / f"{code}.txt"
    evidence.write_text(f"{code} 整改记录", encoding="utf-8")
    in_session(org, lambda s: attach(s, code, str(evidence), note=None, now=org.clock.now(),
                                     actor=org.actor(owner)))
    org.complete(task_of("implement"), {"implementation": "已整改"}, actor=org.actor(owner))
    org.complete(task_of("verify"), {"verification": "verified_effective", "verification_comment": "有效"},
                 actor=org.actor("qmd2"))


def run_audit(org, tmp_path) -> None:
    at(org, local(2027, 6, 1, 9))
    do(org, "plan_audit", {"audit_full": True, "audit_team": "qmd2=P-01; ops_aud=P-02,P-03", "lead_auditor": "qmd2",
                           "planned_start": "2027-06-01", "planned_end": "2027-06-10"}, "qmd1")
    do(org, "approve_audit_plan", {"plan_decision": "audit_plan_approved"}, "mr")
    at(org, local(2027, 6, 10, 16))

    def checklist(session):
        for item in AUDIT_ITEMS:
            for unit in ("P-01", "P-02", "P-03"):
                bad = (item.code, unit) in NONCONFORM
                record_result(session, "IA-2027-01", item=item.code, unit=unit,
                              result="nonconform" if bad else "conform", evidence="抽查记录", na_reason=None,
                              now=org.clock.now(), actor=org.actor("qmd2" if unit == "P-01" else "ops_aud"))
    in_session(org, checklist)
    do(org, "perform_audit", {"audit_notes": "全面内审"}, "qmd2")
    for code, due in (("NC-2027-002", date(2027, 7, 31)), ("NC-2027-003", date(2027, 8, 15))):
        in_session(org, lambda s, code=code, due=due: extend_due(
            s, code, to=due, reason="按整改工作量确定期限", now=org.clock.now(), actor=org.actor("qmd1"),
            rearm=org.rearmer(s, org.actor("qmd1"))))
    at(org, local(2027, 6, 20, 10))
    do(org, "write_report", {"report_summary": "23项×3单位", "report_conclusion": "基本符合，3项不符合"}, "qmd2")
    do(org, "acknowledge_report", {"report_comment": "同意"}, "mr")
    close_finding(org, "NC-2027-001", local(2027, 7, 8, 10), tmp_path)
    close_finding(org, "NC-2027-002", local(2027, 7, 30, 10), tmp_path)


def survey_files(tmp_path) -> tuple[str, str]:
    invitations = ["customer,project,channel"]
    responses = ["customer,project,channel,overall,q_om_service,q_service_desk"]
    number = 0
    for channel, count in INVITED.items():
        for index in range(count):
            number += 1
            customer, project = f"客户{number:02d}", f"P-0{number % 3 + 1}"
            invitations.append(f"{customer},{project},{channel}")
            if index < len(SCORES[channel]):
                score = SCORES[channel][index]
                responses.append(f"{customer},{project},{channel},{score},{score},{min(score + 1, 5)}")
    (tmp_path / "invitations.csv").write_text("\n".join(invitations) + "\n", encoding="utf-8")
    (tmp_path / "responses.csv").write_text("\n".join(responses) + "\n", encoding="utf-8")
    return str(tmp_path / "invitations.csv"), str(tmp_path / "responses.csv")


def run_survey(org, tmp_path, *, report: bool = True) -> None:
    for day in range(1, 32):  # the scheduler runs through August: reminders and escalations on their day
        at(org, local(2027, 8, day, 9, 5))
    at(org, local(2027, 9, 1, 9))
    invitations, responses = survey_files(tmp_path)
    qmd = org.actor("qmd1")
    with pytest.raises(OpsqaError, match="CS-2027 invites nobody yet"):
        do(org, "setup_survey", {"collect_until": "2027-10-15", "questionnaire": "Q-2027"}, "qmd1")
    counts = in_session(org, lambda s: invite(s, 2027, read_table(invitations),
                                              now=org.clock.now(), actor=qmd))
    assert counts == {"added": 18, "unchanged": 0}
    do(org, "setup_survey", {"collect_until": "2027-10-15", "questionnaire": "Q-2027"}, "qmd1")
    do(org, "support_survey", {"support_note": "联系人已确认"}, "ops1")
    table = read_table(responses)
    for expected in ({"added": 15, "unchanged": 0}, {"added": 0, "unchanged": 15}):  # the same file twice
        assert in_session(org, lambda s: import_responses(s, 2027, table, now=org.clock.now(),
                                                          actor=qmd)) == expected
    at(org, local(2027, 10, 16, 9))  # the collection deadline passed at the end of 10-15
    if report:
        at(org, local(2027, 10, 20, 10))
        do(org, "write_survey_report", {"report_summary": "总体满意度4.2"}, "qmd1")


def plan_year(org) -> None:
    at(org, local(2027, 1, 1, 0, 6))
    at(org, local(2027, 1, 5, 10))
    do(org, "draft_plan", PLAN_VALUES, "qmd1")
    at(org, local(2027, 1, 8, 10))
    do(org, "approve_plan", {"decision": "rejected", "comment": "K2目标应分解到项目"}, "gm1")
    at(org, local(2027, 1, 10, 10))
    do(org, "draft_plan", PLAN_VALUES, "qmd1")
    at(org, local(2027, 1, 12, 10))
    do(org, "approve_plan", {"decision": "approved"}, "gm1")


def test_the_2027_cycle_to_its_review_and_improvement_plan(org, tmp_path, run):
    plan_year(org)
    with org.database.reading() as session:
        history = plan_history(session, 2027)
    assert history["issued_version"] == 2
    assert [(a["by"], a["decision"], a["comment"]) for a in history["approvals"]] == [
        ("gm1", "rejected", "K2目标应分解到项目"), ("gm1", "approved", None)]
    run_audit(org, tmp_path)
    run_survey(org, tmp_path)
    values = tmp_path / "kpi-2027.csv"
    values.write_text("indicator,period,value\nK1,2027,92.5\nK2,2027,3.5\nK3,2027,99.7\nK5,2027,99.0\n",
                      encoding="utf-8")
    in_session(org, lambda s: record_values(s, parse_values(read_table(str(values))),
                                            now=org.clock.now(), actor=org.actor("qmd1")))

    # The review: both its preconditions hold, so the management representative initiates it.
    at(org, local(2027, 11, 20, 9))
    with org.database.transaction() as session:
        task_id = initiate(session, 2027, start_instance=None)
    org.complete(task_id, {"review_date": "2027-11-20", "attendees": "gm1、qmd1、ops1、ogm"}, actor=org.actor("mr"))
    do(org, "hold_review", {"minutes": "评审了内审、满意度调查和指标", "decisions": "资源保障满足要求"}, "mr")
    with org.database.reading() as session:
        review = get_review(session, 2027)
        inputs = json.loads(review.inputs)
        report, = review_documents(session, 2027)
        survey_report = survey_documents(session, 2027)[0]
    survey = inputs["survey"]
    assert (survey["invited"], survey["responded"], survey["response_rate"]) == (18, 15, 0.8333)
    assert survey["overall_mean"] == 4.2
    assert survey["mean_by_channel"] == {"form": 4.0, "phone": 4.333, "visit": 4.333}
    attainment = {k["code"]: k["attainment"] for k in inputs["indicators"]}
    assert attainment == {"K1": "unmet", "K2": "met", "K3": "met", "K4": "unmet", "K5": "met"}
    [open_nc] = inputs["open_findings"]
    assert (open_nc["code"], open_nc["overdue"], open_nc["days_overdue"]) == ("NC-2027-003", True, 97)
    snapshot = json.loads(review.precondition_snapshot)
    assert (snapshot["audit_report"], snapshot["survey_report"]) == ("QR-6.2.1-2027", "QR-6.2.4-2027")
    text = report.markdown()
    assert "## 未达标指标（2 项）" in text and "| K1 |" in text and "| K4 |" in text
    assert "## 未关闭的不符合项（1 项）" in text and "| NC-2027-003 |" in text and "超期 97 天" in text
    assert "| 总体满意度 | 4.2 |" in survey_report.markdown()
    closure = inputs["on_time_closure"]  # NC-2027-001 closed 07-08 (due 07-10), -002 07-30 (extended to 07-31)
    assert (closure["closed"], closure["closed_on_time"], closure["on_time_rate"], closure["late_findings"]) == (
        2, 2, 1.0, [])
    assert "本年度不符合项按期整改率：2/2（100.0%），逾期关闭 0 项。" in text

    # Findings as S1 states them on 11-20; the escalation to mr on 08-22.
    with org.database.reading() as session:
        findings = {f["code"]: f for f in list_findings(session, org.clock.now())}
        escalations = session.scalars(select(Event).where(Event.kind == "finding.escalated")).all()
    assert {c: f["status"] for c, f in findings.items()} == {
        "NC-2027-001": "closed", "NC-2027-002": "closed", "NC-2027-003": "open"}
    assert [(e.at.astimezone(SHANGHAI).date(), json.loads(e.payload)["finding"]) for e in escalations] == [
        (date(2027, 8, 22), "NC-2027-003")]

    # The improvement plan: one item per source, each given an owner and a due date, then approved.
    at(org, local(2027, 11, 25, 10))
    with org.database.reading() as session:
        items = list_items(session, 2027)
    assert sorted(i["source"] for i in items) == ["open_nc:NC-2027-003", "unmet_kpi:K1", "unmet_kpi:K4"]
    with pytest.raises(OpsqaError) as refused:
        do(org, "plan_improvement", {"plan_summary": "三项改进"}, "ops1")
    assert str(refused.value) == (  # each incomplete item with its source, and what it lacks
        "task plan_improvement: the improvement plan is incomplete: "
        "IMP-2027-01 (unmet_kpi:K1) needs a cause, a measure, an owner, a due date; "
        "IMP-2027-02 (unmet_kpi:K4) needs a cause, a measure, an owner, a due date; "
        "IMP-2027-03 (open_nc:NC-2027-003) needs a cause, a measure, a due date "
        "(`opsqa improvement set CODE --cause ... --measure ... --owner ... --due ...`)")
    for item in items:
        in_session(org, lambda s, item=item: set_item(
            s, item["code"], cause="原因分析", measure="改进措施", owner=item["owner"] or "pm1",
            due=date(2028, 3, 31), expected=None, now=org.clock.now(), actor=org.actor("ops1")))
    do(org, "plan_improvement", {"plan_summary": "三项改进"}, "ops1")
    cycle = org.instances(process_id="annual_cycle")[0]["id"]
    assert not [e for e in org.history(cycle) if e["kind"] == "cycle.closed"]
    do(org, "approve_improvement", {"improvement_decision": "imp_approved"}, "gm1")
    assert [e for e in org.history(cycle) if e["kind"] == "cycle.closed"]
    with org.database.reading() as session:
        assert {i["action_status"] for i in list_items(session, 2027)} == {"open"}

    shown = run("review", "show", "--year", "2027")
    assert shown.exit_code == 0 and "decision 1: 资源保障满足要求" in shown.stdout

    # The year's documents, the same bytes each time they are made; the charts are images the HTML shows.
    out = tmp_path / "reports"
    for _ in range(2):
        for kind in ("audit", "survey", "review", "improvement"):
            result = run("report", kind, "--year", "2027", "--out", str(out))
            assert result.exit_code == 0, result.output
        if _ == 0:
            first = {p.name: p.read_bytes() for p in (out / "2027").iterdir()}
    assert {p.name: p.read_bytes() for p in (out / "2027").iterdir()} == first
    charts = sorted(name for name in first if name.endswith(".svg"))
    pages = {  # each chart and the report that shows it
        "internal-audit-report-2027-IA-2027-01-findings.svg": "internal-audit-report-2027.html",
        "management-review-report-2027-findings.svg": "management-review-report-2027.html",
        "management-review-report-2027-indicators.svg": "management-review-report-2027.html",
        "satisfaction-survey-report-2027-by-channel.svg": "satisfaction-survey-report-2027.html"}
    assert charts == sorted(pages)
    for chart, page in pages.items():
        assert etree.fromstring(first[chart]).tag == "{http://www.w3.org/2000/svg}svg"
        inline = base64.b64encode(first[chart]).decode()  # the HTML stands alone: its charts inside it
        assert f'<img src="data:image/svg+xml;base64,{inline}"'.encode() in first[page]
    plan = first["improvement-plan-2027.md"].decode()
    assert plan.count("| IMP-2027-0") == 3 and "未关闭不符合项 NC-2027-003" in plan


def test_the_review_waits_for_the_audit_and_the_survey(org, tmp_path, run):
    plan_year(org)
    run_audit(org, tmp_path)
    run_survey(org, tmp_path, report=False)
    refused = run("review", "start", "--year", "2027", "--date", "2027-11-20", "--attendees", "各部门负责人",
                  login="mr")
    assert refused.exit_code == 1
    assert refused.stderr == "opsqa: the 2027 management review cannot start: survey 2027 not reported\n"
    assert in_session(org, lambda s: s.scalar(select(ManagementReview))) is None
    at(org, local(2027, 10, 20, 10))
    do(org, "write_survey_report", {"report_summary": "总体满意度4.2"}, "qmd1")
    result = run("review", "start", "--year", "2027", "--date", "2027-11-20", "--attendees", "各部门负责人",
                 login="mr")
    assert result.exit_code == 0, result.output
    shown = run.json("review", "show", "--year", "2027")
    assert shown["status"] == "initiated" and shown["precondition_snapshot"]["survey"] == "CS-2027"
    assert shown["inputs"]["open_findings"][0]["code"] == "NC-2027-003"  # open findings do not block


def test_a_partial_audit_does_not_open_the_review(org):
    with org.database.transaction() as session:
        assert preconditions(session, 2027)[0] == ["full internal audit 2027 not reported",
                                                   "survey 2027 not reported"]
        audit = create_audit(session, year=2027, full=False, team={"qmd2": ["P-02"]}, lead_auditor="qmd2",
                             planned_start=date(2027, 6, 1), planned_end=date(2027, 6, 2), now=org.clock.now(),
                             actor=org.actor("qmd1"))
        audit.status = "reported"  # as its process would leave it
        missing, snapshot = preconditions(session, 2027)
    assert missing[0] == "full internal audit 2027 not reported (IA-2027-01 was a partial audit)"
    assert snapshot["audit"] is None
    refusal = r"cannot start: full internal audit 2027 not reported \(IA-2027-01 was a partial audit\)"
    with org.database.reading() as session, pytest.raises(OpsqaError, match=refusal):
        initiate(session, 2027, start_instance=None)
    with pytest.raises(Denied, match="^review.start needs role mr or admin; qmd1 holds qmd$"):
        usecases.review.start(org, usecases.Caller("qmd1"), 2027, date(2027, 11, 20), "各部门负责人")


def test_the_review_report_lists_exactly_what_the_records_hold(org):
    """Open findings, unmet (and unmeasured) indicators and last year's unfinished actions: all of them,
    and nothing else."""
    now = local(2028, 11, 20, 9)
    org.clock.set(now)
    qmd = org.actor("qmd1")
    with org.database.transaction() as session:
        start = org.starter(session, qmd)
        raised = now - timedelta(days=60)
        codes = [raise_finding(session, source="manual", description=f"问题{n}", owner="pm1", now=raised,
                               actor="qmd1", start_instance=start).code for n in range(3)]
        session.scalar(select(Finding).where(Finding.code == codes[1])).status = "closed"
        for n, finding in enumerate(codes[:2]):  # last year's actions: one still open, one closed
            session.add(ImprovementItem(code=f"IMP-2027-0{n + 1}", year=2027, source_type="mr", source_ref=str(n),
                                        description="x", measure=f"措施{n}", owner="pm1", status="tracking",
                                        finding_id=session.scalar(select(Finding.id).where(Finding.code == finding)),
                                        created_at=now, updated_at=now))
        values = from_csv("indicator,period,value\nK1,2028,90\nK2,2028,3.0\nK3,2028,99.9\n", "kpi.csv")
        record_values(session, parse_values(values), now=now, actor=qmd)
        session.add(ManagementReview(year=2028, status="reported", precondition_snapshot="{}",
                                     inputs=json.dumps(gather(session, 2028, now), ensure_ascii=False),
                                     decisions="[]", initiated_by="mr", created_at=now, reported_at=now))
    with org.database.reading() as session:
        [report] = review_documents(session, 2028)
    text = report.markdown()

    def rows(heading: str) -> list[str]:
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        return [line.split(" | ")[0].removeprefix("| ") for line in section.splitlines()
                if line.startswith("| ") and not line.startswith(("| 指标 |", "| 编号 |"))]

    assert rows("## 未达标指标") == ["K1", "K4", "K5"]  # K1 missed; K4 (no survey) and K5 not measured
    assert "| K1 | 事件按时解决率 | ≥95.0% | 90.0% | 未达标 |" in text
    assert "| K5 | 报告按时提交率 | ≥98.0% | — | 未测量 |" in text
    assert rows("## 未关闭的不符合项") == [codes[0], codes[2]]
    assert "（2 项，未完成 1 项）" in text
    assert "| IMP-2027-01 | 管理评审决议 0 | 措施0 | 待制定措施 | 否 |" in text
    assert "| IMP-2027-02 | 管理评审决议 1 | 措施1 | 已关闭 | 是 |" in text


def test_a_review_started_by_hand_in_a_year_run_without_the_cycle(org, run):
    with org.database.transaction() as session:
        audit = create_audit(session, year=2027, full=True, team={"qmd2": ["P-02"]}, lead_auditor="qmd2",
                             planned_start=date(2027, 6, 1), planned_end=date(2027, 6, 2), now=org.clock.now(),
                             actor=org.actor("qmd1"))
        audit.status, audit.reported_at = "reported", org.clock.now()
        session.add(SurveyCampaign(code="CS-2027", year=2027, status="reported", reported_at=org.clock.now(),
                                   stats=json.dumps({"overall_mean": 4.6}), created_at=org.clock.now(),
                                   created_by="qmd1"))
    result = run("review", "start", "--year", "2027", "--date", "2027-11-20", "--attendees", "各部门负责人", login="mr")
    assert result.exit_code == 0, result.output
    review = run.json("review", "show", "--year", "2027")
    assert (review["status"], review["initiated_by"]) == ("initiated", "mr")
    assert review["precondition_snapshot"]["audit"] == "IA-2027-01"
    [instance] = org.instances(process_id="management_review")
    assert instance["business_key"] == "2027"
    again = run("review", "start", "--year", "2027", "--date", "2027-11-21", "--attendees", "x", login="mr")
    assert again.stderr == "opsqa: the 2027 management review is not waiting to be initiated (it is initiated)\n"
    # A year with its annual cycle: the cycle opens the review, not the command.
    assert run("cycle", "start", "--year", "2028").exit_code == 0
    with org.database.transaction() as session:
        audit = create_audit(session, year=2028, full=True, team={"qmd2": ["P-02"]}, lead_auditor="qmd2",
                             planned_start=date(2028, 6, 1), planned_end=date(2028, 6, 2), now=org.clock.now(),
                             actor=org.actor("qmd1"))
        audit.status, audit.reported_at = "reported", org.clock.now()
        session.add(SurveyCampaign(code="CS-2028", year=2028, status="reported", reported_at=org.clock.now(),
                                   created_at=org.clock.now(), created_by="qmd1"))
    refused = run("review", "start", "--year", "2028", "--date", "2028-11-20", "--attendees", "x", login="mr")
    assert refused.exit_code == 1 and "the 2028 annual cycle (instance" in refused.stderr
