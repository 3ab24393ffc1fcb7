"""The satisfaction survey (6.2.4) on its own: invitations, imports, no responses, the report."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, make_engine

import usecases
from engine import OpsqaError, SimulatedClock
from handlers.findings import list_findings
from handlers.indicators import define
from handlers.projects import ProjectInput, save_project
from handlers.reports import survey_documents
from handlers.reviews import attainment_of_year
from handlers.surveys import get_campaign, import_responses, invite, start_survey
from handlers.tabular import from_csv

SHANGHAI = ZoneInfo("Asia/Shanghai")
INVITES = "customer,project,channel\n公安局,P-01,phone\n城管局,P-02,电话\n交通局,P-02,visit\n"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def org(engine, db_path):
    org = make_engine(db_path, SimulatedClock(local(2027, 9, 1, 9)))
    admin = org.actor(ADMIN)
    for user, role in (("ops1", "ops"), ("pm1", "pm"), ("pm2", "pm"), ("oms1", "oms")):
        org.add_user(user, [role], actor=admin)
    org.deploy(["processes/satisfaction_survey.bpmn", "processes/nc_followup.bpmn"], actor=admin)
    with org.database.transaction() as session:
        for code, pm in (("P-01", "pm1"), ("P-02", "pm2")):
            save_project(session, ProjectInput(code, f"项目{code}", "客户", pm, "oms1"), now=org.clock.now(),
                         actor=admin)
        define(session, code="K4", name="客户满意度", unit="分", direction="higher_better", target=4.5,
               cycle="yearly", source="survey", now=org.clock.now(), actor=admin)
        start_survey(session, 2027, now=org.clock.now(), actor=org.actor("qmd1"),
                     start_instance=org.starter(session, org.actor("qmd1")))
    return org


def do(org, bpmn_id: str, values: dict, user: str) -> None:
    [task] = [t for t in org.tasks() if t["task"] == bpmn_id]
    org.complete(task["id"], values, actor=org.actor(user))


def call(org, function, *args, user: str = "qmd1"):
    with org.database.transaction() as session:
        return function(session, 2027, *args, now=org.clock.now(), actor=org.actor(user))


def at(org, when: datetime) -> None:
    org.clock.set(when)
    assert not org.tick().failed


def open_collection(org) -> None:
    assert call(org, invite, from_csv(INVITES, "invites.csv")) == {"added": 3, "unchanged": 0}
    assert call(org, invite, from_csv(INVITES, "invites.csv")) == {"added": 0, "unchanged": 3}
    do(org, "setup_survey", {"collect_until": "2027-09-30", "questionnaire": "Q-2027"}, "qmd1")
    do(org, "support_survey", {}, "ops1")


def test_no_responses_by_the_deadline_then_extended_then_reported(org):
    open_collection(org)
    at(org, local(2027, 10, 1, 9))
    with pytest.raises(OpsqaError, match="new_collect_until .*a value is required when"):
        do(org, "decide_no_data", {"no_data_decision": "nd_extend"}, "qmd1")
    do(org, "decide_no_data", {"no_data_decision": "nd_extend", "new_collect_until": "2027-10-15"}, "qmd1")
    responses = ("customer,project,channel,overall,q_om_service,q_service_desk,issues\n"
                 "公安局,P-01,phone,5,5,4,\n城管局,P-02,phone,3,3,3,夜间报修响应慢\n")
    assert call(org, import_responses, from_csv(responses, "r.csv")) == {"added": 2, "unchanged": 0}
    do(org, "collect_responses", {"collection_note": "两家已回复"}, "qmd1")
    do(org, "write_survey_report", {"report_summary": "延期后回收2份"}, "qmd1")
    with org.database.reading() as session:
        campaign = get_campaign(session, 2027)
        [fix] = list_findings(session, org.clock.now())
        [k4] = attainment_of_year(session, 2027)
        [doc] = survey_documents(session, 2027)
    assert (campaign.status, campaign.collect_until.isoformat()) == ("reported", "2027-10-15")
    assert (fix["source"], fix["unit"], fix["owner"]) == ("survey", "P-02", "pm2")
    assert (k4["actual"], k4["attainment"], k4["basis"]) == (4.0, "unmet", "satisfaction survey")
    text = doc.markdown()
    assert "| 回收率 | 66.67% |" in text and "| 电话 | 4.0 |" in text and "## 整改措施（1 项）" in text
    assert "![满意度：按调查方式与年度](satisfaction-survey-report-2027-by-channel.svg)" in text


def test_a_survey_closed_without_data_has_no_score(org):
    open_collection(org)
    at(org, local(2027, 10, 1, 9))
    do(org, "decide_no_data", {"no_data_decision": "nd_close", "no_data_reason": "客户均未回复"}, "qmd1")
    do(org, "write_survey_report", {"report_summary": "无数据"}, "qmd1")
    with org.database.reading() as session:
        [k4] = attainment_of_year(session, 2027)
        [doc] = survey_documents(session, 2027)
    assert (k4["actual"], k4["attainment"]) == (None, "not_measured")
    assert "| 总体满意度 | 无答卷，不计分 |" in doc.markdown() and "无数据结束的原因：客户均未回复" in doc.markdown()


def test_bad_survey_rows_are_refused(org):
    with pytest.raises(OpsqaError, match=r"invites.csv:2: channel 'fax' is not one of phone, form, visit"):
        call(org, invite, from_csv("customer,project,channel\n公安局,P-01,fax\n", "invites.csv"))
    with pytest.raises(OpsqaError, match=r"invites.csv:3: unknown project code 'P-09'"):
        call(org, invite, from_csv("customer,project,channel\n公安局,P-01,phone\n公安局,P-09,phone\n",
                                   "invites.csv"))
    with pytest.raises(OpsqaError, match="CS-2027 is planned; responses are taken while it is collecting"):
        call(org, import_responses, from_csv("customer,project,channel,overall\n公安局,P-01,phone,5\n", "r.csv"))
    open_collection(org)
    with pytest.raises(OpsqaError, match=r"r.csv:3: overall '6' is not a score from 1 to 5"):
        call(org, import_responses, from_csv("customer,project,channel,overall\n公安局,P-01,phone,5\n"
                                             "城管局,P-02,phone,6\n", "r.csv"))
    with pytest.raises(OpsqaError, match=r"r.csv:2: '外省' was not invited about 'P-01'"):
        call(org, import_responses, from_csv("customer,project,channel,overall\n外省,P-01,phone,5\n", "r.csv"))
    with org.database.reading() as session:
        assert get_campaign(session, 2027).status == "collecting"


def test_surveys_from_the_command_line(run, tmp_path):
    assert run("init").exit_code == 0
    for user, role in (("qmd1", "qmd"), ("pm1", "pm"), ("oms1", "oms"), ("ops1", "ops")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes").exit_code == 0
    assert run("projects", "add", "P-01", "--name", "一期", "--customer", "公安局", "--pm", "pm1",
               "--oms", "oms1").exit_code == 0
    refused = run("survey", "start", "--year", "2027", login="ops1")
    assert (refused.exit_code, refused.stderr) == (1, "opsqa: survey.start needs role qmd or admin; ops1 holds ops\n")
    assert run.json("surveys") == []
    started = run("survey", "start", "--year", "2027", login="qmd1")
    assert started.stdout.startswith("CS-2027 opened"), started.output
    again = run("survey", "start", "--year", "2027", login="qmd1")
    assert again.stderr == "opsqa: the 2027 satisfaction survey already exists\n"
    invites = tmp_path / "invites.csv"
    invites.write_text("customer,project,channel\n公安局,P-01,phone\n", encoding="utf-8")
    refused = run("survey", "invite", "--year", "2027", str(invites), login="pm1")
    assert refused.stderr == "opsqa: survey.responses needs role qmd or ops or admin; pm1 holds pm\n"
    assert run("survey", "invite", "--year", "2027", str(invites), login="qmd1").stdout.endswith(
        "1 invited, 0 already invited\n")
    [row] = run.json("surveys")
    assert (row["code"], row["status"], row["invited"], row["overall_mean"]) == ("CS-2027", "planned", 1, None)
    shown = run("survey", "show", "--year", "2027")
    assert "invited 1, responded 0" in shown.stdout and "no responses: no score" in shown.stdout
    assert [(e["actor"], e["payload"]["action"]) for e in run.json("history") if e["kind"] == "security.denied"] == [
        ("ops1", "survey.start"), ("pm1", "survey.responses")]
    # Entered by hand while collecting: checked like an imported row, and never twice.
    setup = [t for t in run.json("tasks") if t["task"] == "setup_survey"][0]["id"]
    assert run("task", "complete", setup, "--set", "collect_until=2099-12-31", "--set", "questionnaire=Q1",
               login="qmd1").exit_code == 0
    support = [t for t in run.json("tasks") if t["task"] == "support_survey"][0]["id"]
    assert run("task", "complete", support, login="ops1").exit_code == 0
    respond = ("survey", "respond", "--year", "2027", "--customer", "公安局", "--project", "P-01", "--channel",
               "phone", "--overall", "4", "--score", "om_service=5")
    assert run(*respond, login="qmd1").stdout == "recorded\n"
    assert run(*respond, login="qmd1").stdout == "already recorded\n"
    bad = run("survey", "respond", "--year", "2027", "--customer", "公安局", "--project", "P-01", "--channel",
              "phone", "--overall", "4", "--score", "om_service=9", login="qmd1")
    assert bad.exit_code == 1 and "q_om_service '9' is not a score from 1 to 5" in bad.stderr
    assert run.json("survey", "show", "--year", "2027")["responded"] == 1


LATE = ("customer,project,channel,overall,q_om_service,issues\n"
        "公安局,P-01,phone,5,5,\n城管局,P-02,phone,2,2,夜间报修响应慢\n")


def late_file(tmp_path) -> str:
    path = tmp_path / "late.csv"
    path.write_text(LATE, encoding="utf-8")
    return str(path)


def decision(org) -> dict:
    [task] = [t for t in org.tasks() if t["task"] == "decide_no_data"]
    return org.task(task["id"])


def test_answers_after_the_deadline_do_not_score_a_survey_closed_without_data(org, tmp_path):
    """Collection until 2027-09-30; nothing by then. Two answers come on 10-02: recorded, held, shown to the
    QMD's decision (due by the end of 10-04, three days on); closed without data, the survey has no score."""
    open_collection(org)
    at(org, local(2027, 10, 1, 9))
    task = decision(org)
    assert (task["due_at"], task["variables"]["late_responses"]) == (local(2027, 10, 5, 0), 0)
    assert task["business_key"] == "CS-2027"
    at(org, local(2027, 10, 2, 10))
    counts = usecases.customers.import_responses(org, usecases.Caller("qmd1"), 2027, late_file(tmp_path))
    assert counts == {"added": 2, "unchanged": 0, "late": 2}
    assert decision(org)["variables"]["late_responses"] == 2
    shown = usecases.customers.survey(org, 2027)
    assert (shown["status"], shown["responded"], shown["late"], shown["overall_mean"]) == (
        "awaiting_decision", 0, 2, None)
    do(org, "decide_no_data", {"no_data_decision": "nd_close", "no_data_reason": "截止前无人回复"}, "qmd1")
    do(org, "write_survey_report", {"report_summary": "无数据"}, "qmd1")
    with org.database.reading() as session:
        campaign = get_campaign(session, 2027)
        [k4] = attainment_of_year(session, 2027)
        [doc] = survey_documents(session, 2027)
        fixes = list_findings(session, org.clock.now())
    stats = json.loads(campaign.stats)
    assert (campaign.status, stats["responded"], stats["late"], stats["overall_mean"]) == ("reported", 0, 2, None)
    assert (k4["actual"], k4["attainment"]) == (None, "not_measured")
    assert fixes == []  # a held answer's problem is not the survey's rectification
    text = doc.markdown()
    assert "| 总体满意度 | 无答卷，不计分 |" in text
    assert "收集截止后收到 2 份答卷：已登记，未计入统计（调查以无数据结束，不计分）。" in text


def test_an_extension_must_lie_ahead_and_takes_in_the_held_answers(org, tmp_path):
    open_collection(org)
    at(org, local(2027, 10, 1, 9))
    usecases.customers.import_responses(org, usecases.Caller("qmd1"), 2027, late_file(tmp_path))
    for until in ("2027-09-30", "2027-10-01"):
        with pytest.raises(OpsqaError) as refused:
            do(org, "decide_no_data", {"no_data_decision": "nd_extend", "new_collect_until": until}, "qmd1")
        assert str(refused.value) == (f"task decide_no_data: new_collect_until {until} does not lie ahead of today "
                                      "(2027-10-01); an extension ends on a later day")
    do(org, "decide_no_data", {"no_data_decision": "nd_extend", "new_collect_until": "2027-10-02"}, "qmd1")
    assert usecases.customers.survey(org, 2027)["responded"] == 2  # extended: the held answers count
    at(org, local(2027, 10, 3, 9))  # the extension ended: the two answers are analysed
    do(org, "write_survey_report", {"report_summary": "延期后回收2份"}, "qmd1")
    with org.database.reading() as session:
        stats = json.loads(get_campaign(session, 2027).stats)
        fixes = list_findings(session, org.clock.now())
    assert (stats["responded"], stats["late"], stats["overall_mean"]) == (2, 0, 3.5)
    assert [f["unit"] for f in fixes] == ["P-02"]


def test_answers_after_the_deadline_but_before_the_scheduler_ran_are_held(org, tmp_path):
    """One answer on 09-20, one at 10-01 08:00 after the 09-30 deadline, before the scheduler closed it."""
    open_collection(org)
    at(org, local(2027, 9, 20, 10))
    call(org, import_responses, from_csv("customer,project,channel,overall\n交通局,P-02,visit,4\n", "r.csv"))
    org.clock.set(local(2027, 10, 1, 8))
    late = call(org, import_responses, from_csv("customer,project,channel,overall\n公安局,P-01,phone,1\n", "l.csv"))
    assert late == {"added": 1, "unchanged": 0, "late": 1}
    at(org, local(2027, 10, 1, 9))
    do(org, "write_survey_report", {"report_summary": "回收1份"}, "qmd1")
    with org.database.reading() as session:
        stats = json.loads(get_campaign(session, 2027).stats)
        [doc] = survey_documents(session, 2027)
    assert (stats["responded"], stats["late"], stats["overall_mean"]) == (1, 1, 4.0)
    assert "收集截止后收到 1 份答卷：已登记，未计入统计。" in doc.markdown()
