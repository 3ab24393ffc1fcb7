"""The findings' and complaints' pages over HTTP: the lists with their filters (with and without records) and the
on-time closure rate, a finding with its due-date history and its evidence uploaded and downloaded from its
page, the extension refused by the policy and for a date not ahead, a finding raised by hand, a complaint
registered, a major complaint closed by the operations general manager only, and hostile text escaped."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, PASSWORD, PROCESSES
from starlette.testclient import TestClient
from test_web import csrf_of, events, sign_in

import usecases
import web
from usecases import Caller

EN = {"accept-language": "en"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def client(site):
    with TestClient(web.create_app(site)) as client:
        yield client


@pytest.fixture
def deployed(site):
    site.deploy([str(PROCESSES / "nc_followup.bpmn"), str(PROCESSES / "complaint.bpmn")], actor=site.actor(ADMIN))
    return site


@pytest.fixture
def projects(deployed):
    """A project P-01 managed by pm1, and the operations general manager ogm1 (with a password)."""
    admin = Caller(ADMIN)
    usecases.admin.add_user(deployed, admin, "oms1", ["oms"])
    usecases.admin.add_user(deployed, admin, "ogm1", ["ogm"])
    usecases.auth.set_password(deployed, admin, "ogm1", PASSWORD)
    usecases.plans.add_project(deployed, admin, "P-01", name="城市视频平台", customer="市公安局", pm="pm1", oms="oms1")
    return deployed


def raise_nc(engine, *, owner: str = "pm1", description: str = "巡检记录缺失", due: date | None = None) -> str:
    return usecases.audits.add_finding(engine, Caller("qmd1"), owner=owner, description=description, due=due)["code"]


def ready(engine, instance: int, bpmn_id: str) -> str:
    return next(t["id"] for t in engine.tasks(instance_id=instance) if t["task"] == bpmn_id)


def close_nc(engine, code: str, when: datetime) -> None:
    """Plan, accept, implement with evidence (pm1 owns it), then verify effective at `when` (qmd2)."""
    instance = usecases.audits.finding(engine, code)["instance"]
    engine.complete(ready(engine, instance, "plan_action"),
                    {"root_cause": "交接遗漏", "corrective_action": "补录并培训"}, actor=engine.actor("pm1"))
    engine.complete(ready(engine, instance, "review_plan"), {"plan_decision": "plan_accepted"},
                    actor=engine.actor("qmd1"))
    usecases.audits.upload_evidence(engine, Caller("pm1"), code, f"{code}.txt", code.encode())
    engine.complete(ready(engine, instance, "implement"), {"implementation": "已补录"}, actor=engine.actor("pm1"))
    engine.clock.set(when)
    engine.complete(ready(engine, instance, "verify"), {"verification": "verified_effective",
                                                        "verification_comment": "有效"}, actor=engine.actor("qmd2"))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def codes_listed(page, prefix: str) -> list[str]:
    return re.findall(rf'<a class="title" href="/{prefix}/([A-Z]+-\d{{4}}-\d{{3}})">', page.text)


# -- findings


def test_the_lists_render_without_records_and_refuse_a_bad_year(deployed, client):
    assert client.get("/findings", follow_redirects=False).headers["location"] == "/login?next=%2Ffindings"
    sign_in(client)
    for path in ("/findings", "/findings?open=1&overdue=1&year=2027", "/complaints", "/complaints?open=1&year=2027"):
        page = client.get(path)
        assert page.status_code == 200 and '<p class="empty">' in page.text, path
    for path in ("/findings?year=abc", "/complaints?year=20x7"):
        bad = client.get(path, headers=EN)
        assert bad.status_code == 400 and "is not a year, e.g. 2027" in bad.text
    unknown = client.get("/findings/NC-2027-999", headers=EN)
    assert unknown.status_code == 400 and "no finding NC-2027-999" in unknown.text
    assert client.get("/findings/<script>").status_code in (400, 404)
    assert client.get("/complaints/C-2027-999", headers=EN).status_code == 400


def test_the_findings_list_filters_and_shows_the_on_time_closure_rate(deployed, client, clock):
    late = raise_nc(deployed, description="交接记录缺失", due=date(2027, 1, 10))
    on_time = raise_nc(deployed, description="备件台账未更新", due=date(2027, 1, 20))
    overdue = raise_nc(deployed, description="巡检漏项", due=date(2027, 1, 11))
    hostile = raise_nc(deployed, owner="qmd2", description=HOSTILE, due=date(2027, 3, 1))
    close_nc(deployed, late, local(2027, 1, 13, 10))
    close_nc(deployed, on_time, local(2027, 1, 14, 10))
    clock.set(local(2027, 1, 15, 9))
    sign_in(client)
    page = client.get("/findings", headers=EN)
    assert page.status_code == 200
    assert codes_listed(page, "findings") == [late, on_time, overdue, hostile]
    assert "closed 3 days late" in page.text and "4 days overdue" in page.text
    assert "on-time closure 2027: 1 of 2 closed findings closed by their due date (50.0%), 1 late" in page.text
    assert f'<a href="/findings/{late}">{late}</a> (3 days)' in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'href="/findings/new"' in page.text  # qmd raises findings by hand
    assert codes_listed(client.get("/findings?open=1"), "findings") == [overdue, hostile]
    only = client.get("/findings?overdue=1")
    assert codes_listed(only, "findings") == [overdue] and 'name="overdue" value="1" checked' in only.text
    assert codes_listed(client.get("/findings?year=2027&open=1&overdue=1"), "findings") == [overdue]
    other = client.get("/findings?year=2026", headers=EN)
    assert codes_listed(other, "findings") == [] and '<p class="empty">' in other.text
    assert "on-time closure 2026: no finding closed yet" in other.text
    assert '<option value="2026" selected>' in other.text
    shown = client.get(f"/findings/{late}", headers=EN)
    assert "closed 3 days late" in shown.text and "交接记录缺失" in shown.text and "补录并培训" in shown.text
    assert client.get(f"/findings/{hostile}").text.count("&lt;script&gt;") == 1


def test_a_finding_shows_its_facts_and_takes_evidence_on_its_page(deployed, client):
    code = raise_nc(deployed)
    instance = usecases.audits.finding(deployed, code)["instance"]
    sign_in(client, "pm1")  # the owner may attach evidence, not extend the due date
    page = client.get(f"/findings/{code}", headers=EN)
    assert page.status_code == 200
    assert "巡检记录缺失" in page.text and f'href="/instances/{instance}"' in page.text
    assert "No evidence yet." in page.text and "set when raised" in page.text  # the due-date history
    assert 'enctype="multipart/form-data"' in page.text and f'action="/findings/{code}/extend"' not in page.text
    content = b"%PDF-1.4 the record"
    sent = client.post(f"/findings/{code}/attach", data={"csrf": csrf_of(page), "note": "补录后的记录"},
                       files={"file": ("巡检 记录.pdf", content, "application/pdf")}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == f"/findings/{code}#evidence"
    page = client.get(f"/findings/{code}")
    link = re.search(rf'href="(/findings/{code}/evidence/\d+)" download>巡检 记录.pdf</a>', page.text).group(1)
    assert hashlib.sha256(content).hexdigest()[:12] in page.text and "补录后的记录" in page.text
    download = client.get(link)
    assert download.status_code == 200 and download.content == content
    assert download.headers["content-type"] == "application/octet-stream"
    again = client.post(f"/findings/{code}/attach", data={"csrf": csrf_of(page)},
                        files={"file": ("copy.pdf", content, "application/pdf")}, headers=EN)
    assert again.status_code == 400 and "is already attached to" in again.text
    empty = client.post(f"/findings/{code}/attach", data={"csrf": csrf_of(page)}, headers=EN)
    assert empty.status_code == 400 and "choose an evidence file to upload" in empty.text
    forged = client.post(f"/findings/{code}/attach", data={"csrf": "forged"}, files={"file": ("x.txt", b"x")})
    assert forged.status_code == 403
    client.cookies.clear()
    usecases.auth.set_password(deployed, Caller(ADMIN), "gm1", PASSWORD)
    sign_in(client, "gm1")  # neither the owner nor qmd: no form, and refused
    page = client.get(f"/findings/{code}")
    assert 'enctype="multipart/form-data"' not in page.text and link in page.text
    refused = client.post(f"/findings/{code}/attach", data={"csrf": csrf_of(page)},
                          files={"file": ("x.txt", b"x", "text/plain")})
    assert refused.status_code == 403
    assert len(usecases.audits.finding(deployed, code)["evidence"]) == 1
    [denial] = events(deployed, "security.denied")
    assert (denial["actor"], denial["action"]) == ("gm1", "finding.attach")


def test_qmd_extends_a_due_date_and_a_pm_or_a_date_not_ahead_is_refused(deployed, client):
    code = raise_nc(deployed, due=date(2027, 1, 31))
    sign_in(client, "pm1")
    page = client.get(f"/findings/{code}")
    assert f'action="/findings/{code}/extend"' not in page.text
    refused = client.post(f"/findings/{code}/extend", data={"csrf": csrf_of(page), "to": "2027-02-28",
                                                            "reason": "备件到货延迟"})
    assert refused.status_code == 403
    assert usecases.audits.finding(deployed, code)["due"] == date(2027, 1, 31)
    [denial] = events(deployed, "security.denied")
    assert (denial["actor"], denial["action"]) == ("pm1", "finding.extend")
    client.cookies.clear()
    sign_in(client)  # qmd1
    page = client.get(f"/findings/{code}", headers=EN)
    assert f'action="/findings/{code}/extend"' in page.text and 'min="2027-02-01"' in page.text
    token = csrf_of(page)
    past = client.post(f"/findings/{code}/extend", data={"csrf": token, "to": "2026-12-31", "reason": "备件到货延迟"},
                       headers=EN)
    assert past.status_code == 400
    assert "the new due date 2026-12-31 is not after the current one (2027-01-31)" in past.text
    assert 'value="2026-12-31"' in past.text and 'value="备件到货延迟"' in past.text  # kept
    garbled = client.post(f"/findings/{code}/extend", data={"csrf": token, "to": "31/02/2027", "reason": "x"},
                          headers=EN)
    assert garbled.status_code == 400 and "is not a date, e.g. 2027-09-15" in garbled.text
    reasonless = client.post(f"/findings/{code}/extend", data={"csrf": token, "to": "2027-02-28", "reason": " "},
                             headers=EN)
    assert reasonless.status_code == 400 and "finding.extend needs a reason" in reasonless.text
    assert usecases.audits.finding(deployed, code)["due"] == date(2027, 1, 31)
    assert events(deployed, "finding.extended") == []
    done = client.post(f"/findings/{code}/extend", data={"csrf": token, "to": "2027-02-28", "reason": HOSTILE},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/findings/{code}"
    item = usecases.audits.finding(deployed, code)
    assert (item["due"], item["original_due"]) == (date(2027, 2, 28), date(2027, 1, 31))
    page = client.get(f"/findings/{code}", headers=EN)
    assert "originally 2027-01-31" in page.text and "<strong>2027-02-28</strong>" in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_finding_raised_by_hand(deployed, client):
    sign_in(client)  # qmd1
    form = client.get("/findings/new")
    assert form.status_code == 200 and '<option value="pm1">' in form.text
    token = csrf_of(form)
    values = {"csrf": token, "owner": "nobody", "description": HOSTILE, "unit": "P-01", "item": "PRC-c",
              "severity": "major", "due": "2027-02-15"}
    unknown = client.post("/findings/new", data=values, headers=EN)
    assert unknown.status_code == 400 and "is not an opsqa user" in unknown.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in unknown.text and HOSTILE not in unknown.text
    before = client.post("/findings/new", data={**values, "owner": "pm1", "due": "2026-12-01"}, headers=EN)
    assert before.status_code == 400 and "is before the finding is raised (2027-01-01)" in before.text
    assert '<option value="pm1" selected>' in before.text and 'value="2026-12-01"' in before.text
    assert usecases.audits.findings(deployed) == []
    raised = client.post("/findings/new", data={**values, "owner": "pm1", "description": "事件未按约解决"},
                         follow_redirects=False)
    assert raised.status_code == 303 and raised.headers["location"] == "/findings/NC-2027-001"
    item = usecases.audits.finding(deployed, "NC-2027-001")
    assert (item["source"], item["owner"], item["severity"], item["due"], item["unit"], item["item"]) == (
        "manual", "pm1", "major", date(2027, 2, 15), "P-01", "PRC-c")
    assert item["instance"] is not None
    page = client.get("/findings/NC-2027-001", headers=EN)
    assert "事件未按约解决" in page.text and "raised by hand" in page.text and "major" in page.text
    client.cookies.clear()
    sign_in(client, "pm1")  # pm may not raise one
    assert 'href="/findings/new"' not in client.get("/findings").text
    form = client.get("/findings/new")
    assert form.status_code == 200 and 'action="/findings/new"' not in form.text
    refused = client.post("/findings/new", data={**values, "csrf": csrf_of(form), "owner": "pm1"})
    assert refused.status_code == 403
    assert [f["code"] for f in usecases.audits.findings(deployed)] == ["NC-2027-001"]


# -- complaints


def test_a_complaint_registered_listed_and_shown(projects, client):
    sign_in(client, "pm1")
    form = client.get("/complaints/new")
    assert form.status_code == 200 and '<option value="P-01">' in form.text
    token = csrf_of(form)
    values = {"csrf": token, "project": "P-01", "description": HOSTILE, "channel": "email", "customer": "",
              "contact": "138 0000 0000", "remedy": "赔偿", "received": "2027-01-02T09:00"}
    future = client.post("/complaints/new", data=values, headers=EN)
    assert future.status_code == 400 and "is in the future" in future.text
    assert '<option value="email" selected>' in future.text and 'value="138 0000 0000"' in future.text
    garbled = client.post("/complaints/new", data={**values, "received": "yesterday"}, headers=EN)
    assert garbled.status_code == 400 and "is not a time" in garbled.text
    channel = client.post("/complaints/new", data={**values, "channel": "pigeon"}, headers=EN)
    assert channel.status_code == 400 and "is not one of phone, email" in channel.text
    assert usecases.customers.complaints(projects) == []
    added = client.post("/complaints/new", data={**values, "received": "2027-01-01T08:30"}, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/complaints/C-2027-001"
    item = usecases.customers.complaint(projects, "C-2027-001")
    assert (item["customer"], item["handler"], item["channel"], item["status"]) == (
        "市公安局", "pm1", "email", "received")
    assert item["received_at"] == local(2027, 1, 1, 8, 30)
    page = client.get("/complaints/C-2027-001", headers=EN)
    assert page.status_code == 200
    assert "市公安局 · 138 0000 0000" in page.text and "2027-01-01 08:30" in page.text and "赔偿" in page.text
    assert f'href="/instances/{item["instance_id"]}"' in page.text and "受理并评估投诉等级" in page.text
    assert "not assessed yet" in page.text and 'action="/complaints/C-2027-001/close"' not in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    listing = client.get("/complaints", headers=EN)
    assert codes_listed(listing, "complaints") == ["C-2027-001"] and "P-01 · 市公安局" in listing.text
    assert HOSTILE not in listing.text and 'href="/complaints/new"' in listing.text
    assert codes_listed(client.get("/complaints?open=1&year=2027"), "complaints") == ["C-2027-001"]
    assert codes_listed(client.get("/complaints?year=2026"), "complaints") == []
    client.cookies.clear()
    usecases.auth.set_password(projects, Caller(ADMIN), "gm1", PASSWORD)
    sign_in(client, "gm1")  # the general manager does not register complaints
    assert 'href="/complaints/new"' not in client.get("/complaints").text
    form = client.get("/complaints/new")
    assert form.status_code == 200 and 'action="/complaints/new"' not in form.text
    refused = client.post("/complaints/new", data={**values, "csrf": csrf_of(form), "received": ""})
    assert refused.status_code == 403
    assert [c["code"] for c in usecases.customers.complaints(projects)] == ["C-2027-001"]
    [denial] = events(projects, "security.denied")
    assert (denial["actor"], denial["action"]) == ("gm1", "complaint.add")


def test_a_major_complaint_is_closed_by_the_operations_general_manager(projects, client):
    site = projects
    code = usecases.customers.add_complaint(site, Caller("qmd1"), project="P-01", description="城市视频平台中断6小时",
                                            remedy="说明原因")["code"]
    instance = usecases.customers.complaint(site, code)["instance_id"]
    site.complete(ready(site, instance, "assess"),
                  {"severity": "sev_major", "severity_reason": "核心业务中断超过4小时"}, actor=site.actor("pm1"))
    site.complete(ready(site, instance, "organise_handling"),
                  {"handling_team": "pm1、网络组", "investigation": "核心交换机故障",
                   "resolution": "更换交换机并增加冗余", "systemic": False}, actor=site.actor("ogm1"))
    sign_in(client, "pm1")
    page = client.get(f"/complaints/{code}", headers=EN)
    assert page.status_code == 200
    assert "to ogm1" in page.text and "major when assessed" in page.text and "更换交换机并增加冗余" in page.text
    assert "complaint escalated" in page.text and "核心业务中断超过4小时" in page.text
    assert 'id="callback"' in page.text and f'action="/complaints/{code}/close"' not in page.text
    refused = client.post(f"/complaints/{code}/close", data={"csrf": csrf_of(page), "feedback": "satisfied"})
    assert refused.status_code == 403
    assert usecases.customers.complaint(site, code)["status"] == "resolved"
    [denial] = events(site, "security.denied")
    assert (denial["actor"], denial["action"]) == ("pm1", "complaint.close_major")
    client.cookies.clear()
    sign_in(client, "ogm1")
    page = client.get(f"/complaints/{code}")
    assert f'action="/complaints/{code}/close"' in page.text
    token = csrf_of(page)
    bad = client.post(f"/complaints/{code}/close", data={"csrf": token, "feedback": "maybe"}, headers=EN)
    assert bad.status_code == 400 and "choose satisfied or not satisfied" in bad.text
    assert usecases.customers.complaint(site, code)["status"] == "resolved"
    closed = client.post(f"/complaints/{code}/close", data={"csrf": token, "feedback": "satisfied", "note": HOSTILE},
                         follow_redirects=False)
    assert closed.status_code == 303 and closed.headers["location"] == f"/complaints/{code}"
    item = usecases.customers.complaint(site, code)
    assert (item["status"], item["closed_by"], item["customer_feedback"]) == ("closed", "ogm1", "satisfied")
    page = client.get(f"/complaints/{code}", headers=EN)
    assert 'id="callback"' not in page.text and "complaint closed" in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    again = client.post(f"/complaints/{code}/close", data={"csrf": token, "feedback": "satisfied"}, headers=EN)
    assert again.status_code == 400 and "is closed; it is not waiting for the customer" in again.text
    listing = client.get("/complaints?open=1")
    assert codes_listed(listing, "complaints") == []
    assert codes_listed(client.get("/complaints"), "complaints") == [code]
