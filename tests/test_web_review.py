"""The survey, indicator and improvement pages over HTTP: each with and without records; a survey started, its
invitations and responses uploaded (a bad file refused whole, naming its row), one response entered, an answer
held after the collection closed; an indicator defined, a period's values entered as a grid and uploaded as a
file, all or none; an improvement item planned; the policy's refusals with nothing changed; hostile text
escaped."""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from helpers import ADMIN, PROCESSES
from starlette.testclient import TestClient
from test_web import csrf_of, events, sign_in

import usecases
import web

SHANGHAI = ZoneInfo("Asia/Shanghai")
EN = {"accept-language": "en"}
HOSTILE = "<script>alert(1)</script>"
INVITES = f"customer,project,channel\n公安局,P-01,phone\n城管局,P-02,电话\n{HOSTILE},P-02,visit\n"


@pytest.fixture
def client(site):
    """In English: the refusals asserted below are the use cases' messages, in the language asked for."""
    with TestClient(web.create_app(site), headers=EN) as client:
        yield client


@pytest.fixture
def org(site):
    """The site with the survey's processes, an ops user, projects P-01 and P-02."""
    admin = usecases.Caller(ADMIN)
    site.deploy([str(PROCESSES / "satisfaction_survey.bpmn"), str(PROCESSES / "nc_followup.bpmn")],
                actor=site.actor(ADMIN))
    for name, roles in (("ops1", ["ops"]), ("oms1", ["oms"])):
        usecases.admin.add_user(site, admin, name, roles)
    for code, pm in (("P-01", "pm1"), ("P-02", "pm1")):
        usecases.plans.add_project(site, usecases.Caller("qmd1"), code, name=f"项目{code}", customer="客户", pm=pm,
                                   oms="oms1")
    return site


def text_of(page) -> str:
    """What a person reads: the page without its tags (attributes carry ids, the words must not)."""
    return re.sub(r"<[^>]+>", " ", page.text)


def upload(client, path: str, page, name: str, content: bytes, **fields):
    return client.post(path, data={"csrf": csrf_of(page), **fields}, files={"file": (name, content)},
                       follow_redirects=False)


def xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def complete(engine, bpmn_id: str, values: dict, user: str) -> None:
    [task] = [t for t in engine.tasks() if t["task"] == bpmn_id]
    engine.complete(task["id"], values, actor=engine.actor(user))


def survey(engine, year: int = 2027) -> dict:
    return usecases.customers.survey_page(engine, usecases.Caller(ADMIN), year)["survey"]


# -- surveys


def test_the_survey_pages_without_records(org, client):
    sign_in(client)
    listing = client.get("/surveys")
    assert listing.status_code == 200 and 'class="empty"' in listing.text
    assert 'action="/surveys"' in listing.text and 'value="2027"' in listing.text  # qmd may start this year's
    missing = client.get("/surveys/2027")
    assert missing.status_code == 404 and "There is no satisfaction survey for 2027" in missing.text
    assert client.get("/surveys/20x7").status_code == 400
    client.cookies.clear()
    sign_in(client, "pm1")
    assert 'action="/surveys"' not in client.get("/surveys").text  # pm may not start one: no form


def test_a_survey_started_its_invitations_and_responses_uploaded(org, client):
    sign_in(client)
    page = client.get("/surveys")
    started = client.post("/surveys", data={"csrf": csrf_of(page), "year": "2027"}, follow_redirects=False)
    assert (started.status_code, started.headers["location"]) == (303, "/surveys/2027?done=started")
    again = client.post("/surveys", data={"csrf": csrf_of(page), "year": "2027"})
    assert again.status_code == 400 and "the 2027 satisfaction survey already exists" in again.text
    assert 'value="2027"' in again.text  # the year typed, kept

    page = client.get("/surveys/2027")
    bad = upload(client, "/surveys/2027/invitations", page, "invites.csv",
                 "customer,project,channel\n公安局,P-01,phone\n城管局,P-02,fax\n".encode())
    assert bad.status_code == 400
    assert "invites.csv:3: channel &#39;fax&#39; is not one of phone, form, visit" in bad.text
    assert survey(org)["invitations"] == []  # the good first row was not kept either
    wrong = upload(client, "/surveys/2027/invitations", page, "invites.txt", b"customer\n")
    assert wrong.status_code == 400 and "invites.txt: only .csv and .xlsx files can be imported" in wrong.text
    invited = upload(client, "/surveys/2027/invitations", page, "C:\\Users\\qmd\\invites.csv", INVITES.encode())
    assert invited.status_code == 303 and "added=3" in invited.headers["location"]
    shown = client.get(invited.headers["location"])
    assert "3 invited, 0 already invited" in shown.text
    assert HOSTILE not in shown.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.text
    [event] = events(org, "survey.invited")
    assert (event["actor"], event["source"], event["added"]) == ("qmd1", "invites.csv", 3)

    complete(org, "setup_survey", {"collect_until": "2027-01-31", "questionnaire": "Q-2027"}, "qmd1")
    complete(org, "support_survey", {}, "ops1")
    header = ["customer", "project", "channel", "overall", "q_om_service", "q_service_desk", "respondent", "issues"]
    refused = upload(client, "/surveys/2027/responses", page, "responses.xlsx", xlsx([
        header, ["公安局", "P-01", "电话", 5, 5, 4, "王工", None], ["城管局", "P-02", "phone", 9, 3, 3, None, None]]))
    assert refused.status_code == 400
    assert "responses.xlsx row 3: overall &#39;9&#39; is not a score from 1 to 5" in refused.text
    assert survey(org)["answers"] == []
    taken = upload(client, "/surveys/2027/responses", page, "responses.xlsx", xlsx([
        header, ["公安局", "P-01", "电话", 5, 5, 4, "王工", None],
        ["城管局", "P-02", "phone", 3, 3, 3, None, HOSTILE]]))
    assert taken.status_code == 303 and "added=2" in taken.headers["location"]
    detail = client.get("/surveys/2027")
    words = text_of(detail)
    assert "Satisfaction with the O&amp;M service" in words and "Satisfaction with the service desk" in words
    assert "q_om_service" not in words and "q_service_desk" not in words  # questions in words, never their ids
    assert "4.0 of 5" in words and "王工" in words  # the mean, an answer
    assert HOSTILE not in detail.text and "&lt;script&gt;" in detail.text


def test_one_response_entered_by_hand_and_one_held_after_the_collection_closed(org, client, clock):
    usecases.customers.start_survey(org, usecases.Caller("qmd1"), 2027)
    usecases.customers.invite_upload(org, usecases.Caller("qmd1"), 2027, "invites.csv", INVITES.encode())
    complete(org, "setup_survey", {"collect_until": "2027-01-31", "questionnaire": "Q-2027"}, "qmd1")
    complete(org, "support_survey", {}, "ops1")
    sign_in(client)
    page = client.get("/surveys/2027")
    assert 'id="r-q_om_service"' in page.text and "Satisfaction with the O&amp;M service" in page.text
    form = {"csrf": csrf_of(page), "customer": "外省", "project": "P-01", "channel": "phone", "overall": "4",
            "q_om_service": "5", "q_service_desk": "", "respondent": "刘工", "comments": HOSTILE, "issues": ""}
    bad = client.post("/surveys/2027/respond", data=form)
    assert bad.status_code == 400 and "&#39;外省&#39; was not invited about &#39;P-01&#39;" in bad.text
    assert 'value="刘工"' in bad.text and "&lt;script&gt;" in bad.text and HOSTILE not in bad.text  # kept, escaped
    assert survey(org)["answers"] == []
    entered = client.post("/surveys/2027/respond", data={**form, "customer": "公安局"}, follow_redirects=False)
    assert entered.status_code == 303 and "done=response" in entered.headers["location"]
    [answer] = survey(org)["answers"]
    assert (answer["customer"], answer["overall"], answer["scores"], answer["held"]) == (
        "公安局", 4, {"q_om_service": 5}, False)

    clock.set(datetime(2027, 2, 1, 9, tzinfo=SHANGHAI))  # the collection closed with one answer: analysed
    assert not org.tick().failed
    assert survey(org)["status"] == "analysing"
    page = client.get("/surveys/2027")
    assert 'action="/surveys/2027/respond"' not in page.text  # no longer taking answers: no form


def test_an_answer_after_a_collection_closed_without_any_is_held(org, client, clock):
    usecases.customers.start_survey(org, usecases.Caller("qmd1"), 2027)
    usecases.customers.invite_upload(org, usecases.Caller("qmd1"), 2027, "invites.csv", INVITES.encode())
    complete(org, "setup_survey", {"collect_until": "2027-01-31", "questionnaire": "Q-2027"}, "qmd1")
    complete(org, "support_survey", {}, "ops1")
    clock.set(datetime(2027, 2, 1, 9, tzinfo=SHANGHAI))
    assert not org.tick().failed
    sign_in(client)
    page = client.get("/surveys/2027")
    assert "awaiting the QMD&#39;s decision" in page.text
    late = client.post("/surveys/2027/respond", data={
        "csrf": csrf_of(page), "customer": "公安局", "project": "P-01", "channel": "phone", "overall": "5",
        "respondent": "", "comments": "", "issues": ""}, follow_redirects=False)
    assert late.status_code == 303 and "late=1" in late.headers["location"]
    shown = client.get(late.headers["location"])
    assert "held for the QMD&#39;s decision" in shown.text and "Held for the QMD" in shown.text
    assert "no responses: no score" in shown.text
    [answer] = survey(org)["answers"]
    assert answer["held"] is True


def test_a_survey_refused_by_the_policy_changes_nothing(org, client):
    usecases.customers.start_survey(org, usecases.Caller("qmd1"), 2027)
    sign_in(client, "pm1")
    page = client.get("/surveys/2027")
    assert page.status_code == 200 and 'action="/surveys/2027/invitations"' not in page.text
    refused = upload(client, "/surveys/2027/invitations", page, "invites.csv", INVITES.encode())
    assert refused.status_code == 403 and "survey.responses" in refused.text
    started = client.post("/surveys", data={"csrf": csrf_of(page), "year": "2028"})
    assert started.status_code == 403
    assert survey(org)["invitations"] == [] and survey(org, 2028) is None
    assert [e["action"] for e in events(org, "security.denied")] == ["survey.responses", "survey.start"]


# -- indicators


def test_the_indicator_pages_without_records(site, client):
    sign_in(client)
    listing = client.get("/indicators")
    assert listing.status_code == 200 and 'class="empty"' in listing.text
    assert 'method="post" action="/indicators"' in listing.text  # qmd may define one
    grid = client.get("/indicators/enter")
    assert grid.status_code == 200 and "2026-12" in grid.text and 'class="empty"' in grid.text  # last month
    assert client.get("/indicators/K9").status_code == 400
    assert client.get("/indicators/enter?period=2027-13").status_code == 400


def test_an_indicator_defined_and_its_values_entered_as_a_grid(site, client):
    sign_in(client)
    page = client.get("/indicators")
    form = {"csrf": csrf_of(page), "code": "K1", "name": "事件按时解决率", "target": "九十五", "unit": "%",
            "direction": "higher_better", "cycle": "monthly", "yearly_rule": "mean"}
    bad = client.post("/indicators", data=form)
    assert bad.status_code == 400 and "target &#39;九十五&#39; is not a number" in bad.text
    assert 'value="事件按时解决率"' in bad.text and usecases.review.indicators(site) == []
    defined = client.post("/indicators", data={**form, "target": "95"}, follow_redirects=False)
    assert defined.status_code == 303 and "defined=K1" in defined.headers["location"]
    client.post("/indicators", data={**form, "code": "K2", "name": HOSTILE, "target": "4", "unit": "h",
                                     "direction": "lower_better", "cycle": "quarterly"})
    listing = client.get("/indicators")
    assert "K1 事件按时解决率" in listing.text and "≥95%" in listing.text and "not measured" in listing.text
    assert HOSTILE not in listing.text and "&lt;script&gt;" in listing.text

    grid = client.get("/indicators/enter?period=2027-03")
    assert 'name="v:K1@2027-03"' in grid.text and 'name="v:K2@2027-03"' in grid.text
    refused = client.post("/indicators/enter", data={"csrf": csrf_of(grid), "period": "2027-03",
                                                      "v:K1@2027-03": "96.5", "v:K2@2027-03": "九十"})
    assert refused.status_code == 400 and "K2 2027-03: &#39;九十&#39; is not a number" in refused.text
    assert 'value="96.5"' in refused.text and 'value="九十"' in refused.text  # as typed
    assert usecases.review.values(site) == []  # all or none: K1's good value was not kept
    saved = client.post("/indicators/enter", data={"csrf": csrf_of(grid), "period": "2027-03",
                                                    "v:K1@2027-03": "96.5", "v:K2@2027-03": "4.5"},
                        follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == (
        "/indicators/enter?period=2027-03&added=2&updated=0&unchanged=0")
    assert {(v["indicator"], v["value"], v["attainment"]) for v in usecases.review.values(site)} == {
        ("K1", 96.5, "met"), ("K2", 4.5, "unmet")}
    detail = client.get("/indicators/K1")
    assert detail.status_code == 200 and "2027-03" in detail.text and "96.5%" in detail.text
    assert "target met" in detail.text and "mean of 1 values" in detail.text
    via_task = client.post("/indicators/values", data={"csrf": csrf_of(grid), "v:K1@2027-04": "97"},
                           follow_redirects=False)  # a collection task's grid: not taken for an indicator's page
    assert via_task.status_code == 303 and len(usecases.review.values(site)) == 3


def test_a_values_file_uploaded_all_or_none(site, client):
    usecases.review.define_indicator(site, usecases.Caller("qmd1"), "K1", name="事件按时解决率", target=95)
    sign_in(client, "pm1")  # pm may record values
    page = client.get("/indicators")
    assert 'action="/indicators/import"' in page.text
    assert 'method="post" action="/indicators"' not in page.text  # but not define indicators
    bad = upload(client, "/indicators/import", page, "kpi.csv",
                 b"indicator,period,value\nK1,2027-01,96\nK1,2027-02,x\n")
    assert bad.status_code == 400 and "kpi.csv:3: value &#39;x&#39; is not a number" in bad.text
    assert usecases.review.values(site) == []
    unknown = upload(client, "/indicators/import", page, "kpi.xlsx",
                     xlsx([["indicator", "period", "value"], ["K1", "2027-01", 96], ["K7", "2027-01", 1]]))
    assert unknown.status_code == 400 and "kpi.xlsx row 3: unknown indicator &#39;K7&#39;" in unknown.text
    assert usecases.review.values(site) == []
    taken = upload(client, "/indicators/import", page, "kpi.xlsx",
                   xlsx([["indicator", "period", "value"], ["K1", "2027-01", 96], ["K1", "2027-02", 90]]))
    assert taken.status_code == 303 and taken.headers["location"] == "/indicators?added=2&updated=0&unchanged=0"
    assert [(v["period"], v["attainment"]) for v in usecases.review.values(site)] == [
        ("2027-01", "met"), ("2027-02", "unmet")]


def test_an_indicator_refused_by_the_policy_changes_nothing(site, client):
    usecases.review.define_indicator(site, usecases.Caller("qmd1"), "K1", name="事件按时解决率", target=95)
    usecases.auth.set_password(site, usecases.Caller(ADMIN), "gm1", "correct horse battery")
    sign_in(client, "pm1")
    page = client.get("/indicators")
    refused = client.post("/indicators", data={"csrf": csrf_of(page), "code": "K1", "name": "改名", "target": "50"})
    assert refused.status_code == 403 and "indicator.define" in refused.text
    assert usecases.review.indicators(site)[0]["name"] == "事件按时解决率"
    client.cookies.clear()
    sign_in(client, "gm1")
    grid = client.get("/indicators/enter?period=2027-01")
    assert "disabled" in grid.text and "Save the values" not in client.get(
        "/indicators/enter?period=2027-01").text
    refused = client.post("/indicators/enter", data={"csrf": csrf_of(grid), "period": "2027-01",
                                                      "v:K1@2027-01": "99"})
    assert refused.status_code == 403 and usecases.review.values(site) == []
    assert [e["action"] for e in events(site, "security.denied")] == ["indicator.define", "indicator.record"]


# -- the improvement plan


@pytest.fixture
def planned(site):
    """Two items of the 2027 plan, one still proposed (its description hostile), and the 2027 review."""
    from store import ImprovementItem, ManagementReview

    now = datetime(2027, 1, 1, 9, tzinfo=SHANGHAI)
    with site.database.transaction() as session:
        session.add(ManagementReview(year=2027, status="reported", precondition_snapshot="{}", initiated_by="gm1",
                                     review_date=date(2026, 12, 20), created_at=now, reported_at=now,
                                     decisions=json.dumps([{"no": 1, "text": "加强夜间值守",
                                                            "requires_action": True}])))
        session.add(ImprovementItem(code="IMP-2027-01", year=2027, source_type="unmet_kpi", source_ref="K1",
                                    description=f"指标K1未达标{HOSTILE}", status="proposed", created_at=now,
                                    updated_at=now))
        session.add(ImprovementItem(code="IMP-2027-02", year=2027, source_type="mr", source_ref="MR-2027-1",
                                    description="管理评审决议：加强夜间值守", cause="人手不足", measure="增设夜班",
                                    owner="pm1", due_date=date(2027, 3, 31), status="planned", created_at=now,
                                    updated_at=now))
    return site


def test_the_improvement_page_without_records(site, client):
    sign_in(client)
    page = client.get("/improvement")
    assert page.status_code == 200 and 'class="empty"' in page.text and "Improvement plan 2027" in page.text
    assert "/reviews/" not in page.text  # no review: no link
    assert client.get("/improvement?year=abc").status_code == 400


def test_an_improvement_item_planned(planned, client):
    sign_in(client)
    page = client.get("/improvement")
    assert "IMP-2027-01" in page.text and "IMP-2027-02" in page.text and "增设夜班" in page.text
    assert "indicator missed" in page.text and "management review decision" in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    assert 'href="/reviews/2027"' in page.text and "加强夜间值守" in page.text  # the review in brief
    form = {"csrf": csrf_of(page), "year": "2027", "cause": "夜间值守不足", "measure": "增设夜班", "owner": "pm1",
            "due": "2026-12-31", "expected": "K1≥95%"}
    bad = client.post("/improvement/IMP-2027-01", data=form)
    assert bad.status_code == 400 and "due date 2026-12-31 is not in the future" in bad.text
    assert 'value="K1≥95%"' in bad.text and "夜间值守不足</textarea>" in bad.text  # kept
    not_a_date = client.post("/improvement/IMP-2027-01", data={**form, "due": "next week"})
    assert not_a_date.status_code == 400 and "next week" in not_a_date.text
    nobody = client.post("/improvement/IMP-2027-01", data={**form, "due": "2027-06-30", "owner": "nobody"})
    assert nobody.status_code == 400 and "owner &#39;nobody&#39; is not an opsqa user" in nobody.text
    [item] = [i for i in usecases.review.improvements(planned, 2027) if i["code"] == "IMP-2027-01"]
    assert (item["cause"], item["status"]) == (None, "proposed")
    saved = client.post("/improvement/IMP-2027-01", data={**form, "due": "2027-06-30"}, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/improvement?year=2027&saved=IMP-2027-01#IMP-2027-01"
    [item] = [i for i in usecases.review.improvements(planned, 2027) if i["code"] == "IMP-2027-01"]
    assert (item["cause"], item["owner"], item["due"], item["expected"], item["status"]) == (
        "夜间值守不足", "pm1", date(2027, 6, 30), "K1≥95%", "planned")


def test_an_improvement_item_refused_by_the_policy_changes_nothing(planned, client):
    sign_in(client, "pm1")
    page = client.get("/improvement")
    assert 'action="/improvement/IMP-2027-01"' not in page.text  # pm may not plan items: no form
    refused = client.post("/improvement/IMP-2027-01", data={"csrf": csrf_of(page), "cause": "改", "year": "2027"})
    assert refused.status_code == 403 and "improvement.set" in refused.text
    [item] = [i for i in usecases.review.improvements(planned, 2027) if i["code"] == "IMP-2027-01"]
    assert item["cause"] is None and item["status"] == "proposed"
    assert [e["action"] for e in events(planned, "security.denied")] == ["improvement.set"]
