"""The pages of internal audits, service inspections, auditors and projects over HTTP: each page with and
without records, an audit planned through its form (and refused for an auditor who is not independent), a
checklist row recorded by the unit's auditor with an evidence file (and refused for anyone else, nothing
changed), the file downloaded intact, an inspection started and its points recorded, an auditor added and
renewed, a project added, corrected with a reason and its quality control started, and hostile text escaped."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from helpers import ADMIN, PASSWORD, PROCESSES
from starlette.testclient import TestClient
from test_web import csrf_of, events, sign_in

import usecases
import web

EN = {"accept-language": "en"}
QMD = usecases.Caller("qmd1")


@pytest.fixture
def client(site):
    with TestClient(web.create_app(site)) as client:
        yield client


@pytest.fixture
def org(site):
    """The site with the audit, inspection and project processes, two projects (aud1 on P-01's team), two
    registered auditors (qmd2, aud1), an O&M supervisor and an operations engineer, all with passwords."""
    admin = usecases.Caller(ADMIN)
    site.deploy([str(PROCESSES / name) for name in ("internal_audit.bpmn", "service_inspection.bpmn",
                                                    "project_qa.bpmn", "nc_followup.bpmn")],
                actor=site.actor(ADMIN))
    for name, roles, department in (("aud1", ["ops"], "ops"), ("oms1", ["oms"], "ops"), ("ops1", ["ops"], "ops"),
                                    ("aud2", ["pm"], "ops")):
        usecases.admin.add_user(site, admin, name, roles, department=department)
        usecases.auth.set_password(site, admin, name, PASSWORD)
    usecases.plans.add_project(site, QMD, "P-01", name="平安城市一期运维", customer="市公安局", pm="pm1", oms="oms1",
                               kind="safe_city", members=["aud1"])
    usecases.plans.add_project(site, QMD, "P-02", name="智慧城市运维", customer="市大数据局", pm="pm1", oms="oms1",
                               kind="smart_city")
    for auditor in ("qmd2", "aud1"):
        usecases.audits.add_auditor(site, QMD, auditor, certificate_no=f"IA-{auditor}", valid_until=date(2029, 12, 31))
    return site


def planned(org) -> str:
    """IA-2027-01: qmd2 audits P-01, aud1 audits P-02."""
    return usecases.audits.plan_audit(org, QMD, year=2027, team={"qmd2": ["P-01"], "aud1": ["P-02"]},
                                      lead_auditor="qmd2", start=date(2027, 6, 1), end=date(2027, 6, 10))["code"]


def row(org, code: str, item: str, unit: str) -> dict:
    view = usecases.audits.audit_page(org, usecases.Caller(ADMIN), code)
    [found] = [r for area in view["areas"] for i in area["items"] if i["code"] == item for r in i["units"]
               if r["unit"] == unit]
    return found


# -- the pages with no records


def test_every_page_renders_with_no_records(site, client):
    sign_in(client, "qmd1")
    for path in ("/audits", "/audits?year=all", "/audits?year=2020", "/inspections", "/inspections?year=2027",
                 "/inspections?status=reported", "/auditors", "/projects", "/projects?all=1&kind=other"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'class="empty"' in page.text, path
    for path in ("/audits/new", "/inspections/new", "/projects/new"):
        assert client.get(path).status_code == 200, path
    for path in ("/audits/IA-2027-01", "/inspections/INS-2027-01", "/projects/P-01", "/audits/IA-2027-01/evidence/1"):
        missing = client.get(path, headers=EN)
        assert missing.status_code == 400, path
    assert "no audit IA-2027-01" in client.get("/audits/IA-2027-01", headers=EN).text
    assert "unknown project code &#39;P-01&#39;" in client.get("/projects/P-01", headers=EN).text
    assert client.get("/audits?year=20x", headers=EN).status_code == 400
    page = client.get("/records")
    for path in ("/audits", "/inspections", "/projects", "/auditors"):
        assert f'href="{path}"' in page.text


def test_the_pages_offer_only_what_the_caller_may_do(org, client):
    sign_in(client, "pm1")
    assert 'href="/audits/new"' not in client.get("/audits").text
    assert 'action="/audits/new"' not in client.get("/audits/new").text
    assert 'action="/inspections/new"' not in client.get("/inspections/new").text
    assert 'action="/auditors/add"' not in client.get("/auditors").text
    assert 'action="/projects/new"' not in client.get("/projects/new").text
    assert "/fix" not in client.get("/projects/P-01").text


# -- internal audits


def test_an_audit_planned_through_the_form_and_refused_for_an_auditor_who_is_not_independent(org, client):
    sign_in(client, "qmd1")
    form = client.get("/audits/new")
    assert 'value="aud1"' in form.text and "P-01, P-02" in form.text
    values = {"csrf": csrf_of(form), "year": "2027", "kind": "full", "lead": "qmd2", "start": "2027-06-01",
              "end": "2027-06-10", "auditor_1": "qmd2", "units_1": "P-02", "auditor_2": "aud1", "units_2": "P-01"}
    refused = client.post("/audits/new", data=values, headers=EN)
    assert refused.status_code == 400
    assert "auditor aud1 is not independent of P-01 (member of the project team)" in refused.text
    assert 'value="P-01"' in refused.text and 'value="2027-06-10"' in refused.text  # the values kept
    assert re.search(r'<option value="aud1" selected>', refused.text)
    assert usecases.audits.audits(org) == []

    own_department = client.post("/audits/new", data={**values, "units_2": "ops"}, headers=EN)
    assert own_department.status_code == 400
    assert "auditor aud1 is not independent of ops (own department)" in own_department.text
    reversed_dates = client.post("/audits/new", data={**values, "start": "2027-06-10", "end": "2027-06-01"},
                                 headers=EN)
    assert reversed_dates.status_code == 400 and "is before planned_start" in reversed_dates.text
    no_units = client.post("/audits/new", data={**values, "units_2": ""}, headers=EN)
    assert no_units.status_code == 400 and "give the units aud1 audits" in no_units.text

    done = client.post("/audits/new", data={**values, "units_1": "P-01", "units_2": "P-02"}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/audits/IA-2027-01")
    [audit] = usecases.audits.audits(org)
    assert (audit["code"], audit["lead"], audit["status"], audit["full"]) == ("IA-2027-01", "qmd2", "planned", True)
    listing = client.get("/audits")
    assert "IA-2027-01" in listing.text and "P-01, P-02" in listing.text
    assert "IA-2027-01" not in client.get("/audits?year=2026").text
    page = client.get("/audits/IA-2027-01", headers=EN)
    assert page.status_code == 200
    for text in ("qmd2 → P-01", "aud1 → P-02", "2027-06-01", "CAP-a", "PRC-h", "46 rows unchecked"):
        assert text in page.text
    assert 'action="/audits/IA-2027-01/record"' not in page.text  # qmd1 is not on the team


def test_only_qmd_plans_an_audit(org, client):
    sign_in(client, "pm1")
    form = client.get("/audits")
    refused = client.post("/audits/new", data={
        "csrf": csrf_of(form), "year": "2027", "kind": "full", "lead": "qmd2", "start": "2027-06-01",
        "end": "2027-06-10", "auditor_1": "qmd2", "units_1": "P-01"}, headers=EN)
    assert refused.status_code == 403 and "audit.plan" in refused.text
    assert usecases.audits.audits(org) == []
    assert [e["action"] for e in events(org, "security.denied")] == ["audit.plan"]


def test_a_row_is_recorded_by_its_unit_auditor_with_an_evidence_file(org, client):
    code = planned(org)
    sign_in(client, "aud1")
    page = client.get(f"/audits/{code}")
    assert page.text.count(f'action="/audits/{code}/record"') == 23  # every item at P-02, none at P-01
    assert 'name="unit" value="P-01"' not in page.text
    content = "工单编号,超时\n1001,是\n".encode()
    done = client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "PRC-c", "unit": "P-02", "result": "nonconform", "note": "3起事件超时"},
        files={"file": ("事件抽查.csv", content, "text/csv")}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/audits/{code}#row-PRC-c-P-02"
    recorded = row(org, code, "PRC-c", "P-02")
    assert (recorded["result"], recorded["evidence"], recorded["auditor"]) == ("nonconform", "3起事件超时", "aud1")
    [file] = recorded["files"]
    assert (file["file"], file["size"], file["sha256"]) == ("事件抽查.csv", len(content),
                                                            hashlib.sha256(content).hexdigest())
    [event] = [e for e in events(org, "audit.result_recorded") if e["item"] == "PRC-c"]
    assert [f["file"] for f in event["files"]] == ["事件抽查.csv"]  # the history names the file as the CLI's does

    shown = client.get(f"/audits/{code}", headers=EN)
    assert "3起事件超时" in shown.text and f'href="/audits/{code}/evidence/{file["id"]}"' in shown.text
    assert "45 rows unchecked" in shown.text and "PRC-c@P-02" in shown.text

    # a row without a file, then the same file again refused
    assert client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "CAP-a", "unit": "P-02", "result": "conform", "note": ""},
        follow_redirects=False).status_code == 303
    assert row(org, code, "CAP-a", "P-02")["result"] == "conform"
    again = client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "PRC-c", "unit": "P-02", "result": "nonconform", "note": "复核"},
        files={"file": ("copy.csv", content, "text/csv")}, headers=EN)
    assert again.status_code == 400 and "copy.csv is already attached to PRC-c at P-02" in again.text
    assert len(row(org, code, "PRC-c", "P-02")["files"]) == 1 and row(org, code, "PRC-c", "P-02")["evidence"] == \
        "3起事件超时"


def test_bad_input_is_refused_beside_the_row_with_its_values_kept(org, client):
    code = planned(org)
    sign_in(client, "aud1")
    page = client.get(f"/audits/{code}")
    refused = client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "PRC-d", "unit": "P-02", "result": "observation", "note": ""}, headers=EN)
    assert refused.status_code == 400
    assert "PRC-d at P-02: a observation result needs its evidence" in refused.text
    assert re.search(r'<option value="observation" selected>', refused.text)
    assert "<details open>" in refused.text
    na = client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "PRC-d", "unit": "P-02", "result": "not_applicable", "note": ""}, headers=EN)
    assert na.status_code == 400 and "not_applicable needs a reason" in na.text
    empty = client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "PRC-d", "unit": "P-02", "result": "conform", "note": ""},
        files={"file": ("empty.txt", b"", "text/plain")}, headers=EN)
    assert empty.status_code == 400 and "empty.txt is empty" in empty.text
    unknown = client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "PRC-z", "unit": "P-02", "result": "conform"}, headers=EN)
    assert unknown.status_code == 400 and "item &#39;PRC-z&#39; is not on the checklist" in unknown.text
    assert row(org, code, "PRC-d", "P-02")["result"] is None
    assert client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "PRC-d", "unit": "P-02", "result": "not_applicable", "note": "无配置库"},
        follow_redirects=False).status_code == 303
    assert (row(org, code, "PRC-d", "P-02")["na_reason"], row(org, code, "PRC-d", "P-02")["evidence"]) == ("无配置库",
                                                                                                            None)


def test_another_user_may_not_record_a_row_nothing_changes(org, client):
    code = planned(org)
    usecases.audits.record_audit_upload(org, usecases.Caller("aud1"), code, unit="P-02", item="RES-a", result="conform")
    for name in ("qmd2", "qmd1"):  # the auditor of another unit, and qmd not on the team
        client.cookies.clear()
        sign_in(client, name)
        page = client.get(f"/audits/{code}")
        refused = client.post(f"/audits/{code}/record", data={
            "csrf": csrf_of(page), "item": "RES-a", "unit": "P-02", "result": "nonconform", "note": "改写"},
            files={"file": ("x.txt", b"x", "text/plain")}, headers=EN)
        assert refused.status_code == 403 and "audit.record" in refused.text
    kept = row(org, code, "RES-a", "P-02")
    assert (kept["result"], kept["evidence"], kept["files"]) == ("conform", None, [])
    assert [e["action"] for e in events(org, "security.denied")] == ["audit.record", "audit.record"]
    assert len(events(org, "audit.result_recorded")) == 1


def test_evidence_is_downloaded_intact_as_an_attachment(org, client):
    code = planned(org)
    content = bytes(range(256)) * 40 + b"<html><script>alert(1)</script>"
    usecases.audits.record_audit_upload(org, usecases.Caller("aud1"), code, unit="P-02", item="TEC-a",
                                        result="observation", evidence="计划未评审", upload=("评审 记录.html", content))
    [file] = row(org, code, "TEC-a", "P-02")["files"]
    sign_in(client, "pm1")  # reading is open to every user
    got = client.get(f"/audits/{code}/evidence/{file['id']}")
    assert got.status_code == 200 and got.content == content
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == (
        f"attachment; filename=\"_____.html\"; filename*=UTF-8''{quote('评审 记录.html')}")
    long_name = "运维服务质量检查记录" * 15 + ".pdf"  # 454 bytes: more than a file system takes
    usecases.audits.record_audit_upload(org, usecases.Caller("aud1"), code, unit="P-02", item="TEC-b",
                                        result="conform", upload=(long_name, b"%PDF-1.7"))
    [kept] = row(org, code, "TEC-b", "P-02")["files"]
    assert kept["file"].endswith(".pdf") and long_name.startswith(kept["file"][:-4])
    assert len(kept["file"].encode()) <= 240
    assert client.get(f"/audits/{code}/evidence/{kept['id']}").content == b"%PDF-1.7"
    assert client.get(f"/audits/{code}/evidence/{kept['id'] + 1}", headers=EN).status_code == 400
    assert client.get(f"/audits/{code}/evidence/x1", headers=EN).status_code == 400


def test_cap_g_shows_last_years_improvement_measures(org, client):
    code = planned(org)
    sign_in(client, "qmd1")
    page = client.get(f"/audits/{code}", headers=EN)
    assert 'id="improvement"' in page.text and "No improvement measures from 2026." in page.text


# -- service inspections


def test_an_inspection_is_drawn_and_its_points_recorded_by_the_inspector(org, client):
    sign_in(client, "oms1")
    form = client.get("/inspections/new")
    assert 'value="draw"' in form.text and 'value="named"' not in form.text  # oms draws; only qmd names
    started = client.post("/inspections/new", data={"csrf": csrf_of(form), "mode": "draw", "seed": "42",
                                                    "size": "1"}, follow_redirects=False)
    assert (started.status_code, started.headers["location"]) == (303, "/inspections/INS-2027-01")
    [inspection] = usecases.audits.inspections(org)
    assert (inspection["seed"], inspection["inspector"], inspection["trigger_type"]) == (42, "oms1", "random_oms")
    [drawn] = inspection["projects"]
    page = client.get("/inspections/INS-2027-01", headers=EN)
    assert "seed 42, 1 project drawn" in page.text and drawn in page.text
    assert page.text.count('action="/inspections/INS-2027-01/record"') == 5
    assert "5 check points not recorded yet" in page.text
    listing = client.get("/inspections", headers=EN)
    assert "INS-2027-01" in listing.text and "seed 42" in listing.text
    assert "INS-2027-01" not in client.get("/inspections?status=reported").text

    done = client.post("/inspections/INS-2027-01/record", data={
        "csrf": csrf_of(page), "project": drawn, "item": "SVC-a", "outcome": "pass", "evidence": "记录完整"},
        follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/inspections/INS-2027-01#point-{drawn}-SVC-a"
    failed = client.post("/inspections/INS-2027-01/record", data={
        "csrf": csrf_of(page), "project": drawn, "item": "SVC-e", "outcome": "fail", "evidence": "2起事件无记录",
        "sample_type": "incident", "sample_size": "10", "sample_defects": "2"}, follow_redirects=False)
    assert failed.status_code == 303
    view = usecases.audits.inspection_page(org, usecases.Caller("oms1"), "INS-2027-01")
    points = {p["item"]: p for p in view["projects"][0]["points"]}
    assert (points["SVC-a"]["passed"], points["SVC-a"]["evidence"]) == (True, "记录完整")
    assert points["SVC-e"]["samples"] == {"record_type": "incident", "size": 10, "defects": 2}
    shown = client.get("/inspections/INS-2027-01", headers=EN)
    assert "incident: 10 sampled, 2 defects" in shown.text and "3 check points not recorded yet" in shown.text

    bad = client.post("/inspections/INS-2027-01/record", data={
        "csrf": csrf_of(page), "project": drawn, "item": "SVC-b", "outcome": "fail", "evidence": ""}, headers=EN)
    assert bad.status_code == 400 and "SVC-b at " + drawn + ": a failed check needs its evidence" in bad.text
    assert "<details open>" in bad.text
    samples = client.post("/inspections/INS-2027-01/record", data={
        "csrf": csrf_of(page), "project": drawn, "item": "SVC-e", "outcome": "pass", "sample_size": "x"},
        headers=EN)
    assert samples.status_code == 400 and "records sampled: &#39;x&#39; is not a whole number" in samples.text

    client.cookies.clear()
    sign_in(client, "qmd1")  # not the inspector
    other = client.get("/inspections/INS-2027-01")
    assert 'action="/inspections/INS-2027-01/record"' not in other.text
    refused = client.post("/inspections/INS-2027-01/record", data={
        "csrf": csrf_of(other), "project": drawn, "item": "SVC-a", "outcome": "fail", "evidence": "改写"}, headers=EN)
    assert refused.status_code == 403 and "inspection.record" in refused.text
    again = usecases.audits.inspection_page(org, usecases.Caller("oms1"), "INS-2027-01")
    assert again["projects"][0]["points"][0]["passed"] is True
    assert [e["action"] for e in events(org, "security.denied")] == ["inspection.record"]


def test_qmd_names_the_projects_an_oms_may_not(org, client):
    sign_in(client, "oms1")
    form = client.get("/inspections/new")
    refused = client.post("/inspections/new", data={"csrf": csrf_of(form), "mode": "named", "project": "P-02"},
                          headers=EN)
    assert refused.status_code == 403 and "inspection.name" in refused.text
    too_many = client.post("/inspections/new", data={"csrf": csrf_of(form), "mode": "draw", "size": "5"}, headers=EN)
    assert too_many.status_code == 400 and "sample size 5 must be between 1 and the 2 active projects" in too_many.text
    assert usecases.audits.inspections(org) == []

    client.cookies.clear()
    sign_in(client, "qmd1")
    form = client.get("/inspections/new")
    assert 'value="named"' in form.text
    empty = client.post("/inspections/new", data={"csrf": csrf_of(form), "mode": "named"}, headers=EN)
    assert empty.status_code == 400 and "choose the projects to inspect" in empty.text
    named = client.post("/inspections/new", data={"csrf": csrf_of(form), "mode": "named", "project": ["P-02", "P-01"]},
                        follow_redirects=False)
    assert named.status_code == 303
    [inspection] = usecases.audits.inspections(org)
    assert (inspection["projects"], inspection["seed"], inspection["trigger_type"]) == (["P-01", "P-02"], None,
                                                                                        "qmd_as_needed")
    page = client.get(named.headers["location"])
    assert page.text.count('action="/inspections/INS-2027-01/record"') == 10


# -- auditors


def test_an_auditor_is_added_and_renewed_with_a_reason(org, client):
    sign_in(client, "qmd1")
    page = client.get("/auditors", headers=EN)
    assert "IA-qmd2" in page.text and "valid until 2029-12-31" in page.text
    assert '<option value="aud2">' in page.text and '<option value="aud1">' not in page.text  # aud1 is on it
    bad = client.post("/auditors/add", data={"csrf": csrf_of(page), "user": "aud2", "certificate": "IA-9",
                                             "valid_until": "2030-13-01"}, headers=EN)
    assert bad.status_code == 400 and "valid until: &#39;2030-13-01&#39; is not a date" in bad.text
    assert 'value="IA-9"' in bad.text
    added = client.post("/auditors/add", data={"csrf": csrf_of(page), "user": "aud2", "certificate": "IA-9",
                                               "valid_until": "2026-12-31"}, follow_redirects=False)
    assert added.status_code == 303
    assert usecases.audits.auditor(org, "aud2")["status"] == "expired"
    shown = client.get("/auditors", headers=EN)
    assert 'id="auditor-aud2"' in shown.text and "expired" in shown.text
    twice = client.post("/auditors/add", data={"csrf": csrf_of(page), "user": "aud2"}, headers=EN)
    assert twice.status_code == 400 and "aud2 is already a registered auditor" in twice.text

    no_reason = client.post("/auditors/aud2/renew", data={"csrf": csrf_of(page), "certificate": "IA-9",
                                                          "valid_until": "2030-12-31", "reason": ""}, headers=EN)
    assert no_reason.status_code == 400 and "auditor.renew needs a reason" in no_reason.text
    assert 'value="2030-12-31"' in no_reason.text
    renewed = client.post("/auditors/aud2/renew", data={"csrf": csrf_of(page), "certificate": "IA-9",
                                                       "valid_until": "2030-12-31", "reason": "2027年复审通过"},
                          follow_redirects=False)
    assert renewed.status_code == 303
    assert usecases.audits.auditor(org, "aud2")["valid_until"] == date(2030, 12, 31)
    [event] = events(org, "auditor.renewed")
    assert (event["reason"], event["new"]) == ("2027年复审通过", {"valid_until": "2030-12-31"})

    client.cookies.clear()
    sign_in(client, "pm1")
    page = client.get("/auditors")
    assert client.post("/auditors/add", data={"csrf": csrf_of(page), "user": "ops1"}).status_code == 403
    assert client.post("/auditors/aud2/renew", data={"csrf": csrf_of(page), "certificate": "", "reason": "x"}
                       ).status_code == 403
    assert [a["user"] for a in usecases.audits.auditors(org)] == ["aud1", "aud2", "qmd2"]
    assert usecases.audits.auditor(org, "aud2")["certificate_no"] == "IA-9"


# -- projects


def test_a_project_is_added_corrected_with_a_reason_and_its_quality_control_started(org, client, clock):
    sign_in(client, "qmd1")
    form = client.get("/projects/new")
    values = {"csrf": csrf_of(form), "code": "P-09", "name": "雪亮工程运维", "customer": "市综治办", "pm": "nobody",
              "oms": "oms1", "kind": "other", "members": "ops1，aud2", "contract": "HT-2027-09",
              "om_start": "2027-01-01", "om_end": "2029-12-31"}
    refused = client.post("/projects/new", data=values, headers=EN)
    assert refused.status_code == 400 and "pm &#39;nobody&#39; is not an opsqa user" in refused.text
    assert 'value="雪亮工程运维"' in refused.text and 'value="HT-2027-09"' in refused.text
    assert [p["code"] for p in usecases.plans.projects(org)] == ["P-01", "P-02"]
    added = client.post("/projects/new", data={**values, "pm": "pm1"}, follow_redirects=False)
    assert (added.status_code, added.headers["location"]) == (303, "/projects/P-09")
    project = usecases.plans.project(org, "P-09")
    assert (project["pm"], project["om_end"], project["team"]) == ("pm1", date(2029, 12, 31),
                                                                   ["aud2", "oms1", "ops1", "pm1"])
    listing = client.get("/projects", headers=EN)
    assert "P-09" in listing.text and "O&amp;M 2027-01-01 – 2029-12-31" in listing.text
    assert "P-09" not in client.get("/projects?kind=safe_city").text
    twice = client.post("/projects/new", data={**values, "pm": "pm1"}, headers=EN)
    assert twice.status_code == 400

    page = client.get("/projects/P-09", headers=EN)
    assert 'action="/projects/P-09/fix"' in page.text and "No report is due yet." in page.text
    fix = {"csrf": csrf_of(page), "name": "雪亮工程运维", "customer": "市综治办", "pm": "aud2", "oms": "oms1",
           "kind": "other", "status": "active", "contract": "", "om_start": "2027-01-01", "om_end": "2029-12-31",
           "reason": ""}
    no_reason = client.post("/projects/P-09/fix", data=fix, headers=EN)
    assert no_reason.status_code == 400 and "project.fix needs a reason" in no_reason.text
    assert '<option value="aud2" selected>' in no_reason.text
    fixed = client.post("/projects/P-09/fix", data={**fix, "reason": "项目经理变更"}, follow_redirects=False)
    assert fixed.status_code == 303
    project = usecases.plans.project(org, "P-09")
    assert (project["pm"], project["contract_ref"]) == ("aud2", None)
    [event] = events(org, "project.fixed")
    assert event["reason"] == "项目经理变更"
    assert (event["old"], event["new"]) == ({"pm": "pm1", "contract_ref": "HT-2027-09"},
                                            {"pm": "aud2", "contract_ref": None})

    # qmd corrects but does not start quality control (ops, admin)
    assert 'action="/projects/P-01/plan"' not in client.get("/projects/P-01").text
    refused = client.post("/projects/P-01/plan", data={"csrf": csrf_of(page), "year": "2027"}, headers=EN)
    assert refused.status_code == 403 and "project.plan" in refused.text

    client.cookies.clear()
    sign_in(client, "ops1")
    page = client.get("/projects/P-01")
    assert 'action="/projects/P-01/plan"' in page.text
    started = client.post("/projects/P-01/plan", data={"csrf": csrf_of(page), "year": "2027"}, follow_redirects=False)
    assert started.status_code == 303
    again = client.post("/projects/P-01/plan", data={"csrf": csrf_of(page), "year": "2027"}, headers=EN)
    assert again.status_code == 400 and "already has its 2027 quality control" in again.text
    assert 'value="2027"' in again.text

    # items a)-f) set and arranged: the first report is due; past its due time, overdue
    ops1, pm1 = org.actor("ops1"), org.actor("pm1")
    [define] = [t for t in org.tasks() if t["task"] == "define_qa"]
    items = {"org_structure": "项目经理1名", "kpi_control": "事件按时解决率", "spot_checks": "每季度",
             "report_frequency": "report_quarterly", "report_due_days": 5, "resource_plan": "备用2名",
             "service_desk_plan": "7×24", "spare_parts_plan": "月盘点", "emergency_plan": "2小时到场"}
    org.complete(define["id"], items, actor=ops1)
    [arrange] = [t for t in org.tasks() if t["task"] == "arrange_qa"]
    org.complete(arrange["id"], {"arrangement": "按月例会", "resources_ready": True, "service_desk_ready": True},
                 actor=pm1)
    shown = client.get("/projects/P-01", headers=EN)
    assert "plan version 1, arranged" in shown.text and "quarterly reports" in shown.text
    assert "7×24" in shown.text and "按月例会" in shown.text
    assert "2027-Q1" in shown.text and "2027-04-06" in shown.text and "overdue" not in shown.text
    clock.set(datetime(2027, 4, 7, 9, tzinfo=ZoneInfo("Asia/Shanghai")))
    client.cookies.clear()
    sign_in(client, "ops1")
    late = client.get("/projects/P-01", headers=EN)
    assert 'class="row overdue"' in late.text and "overdue" in late.text

    client.cookies.clear()
    sign_in(client, "pm1")
    page = client.get("/projects/P-01")
    assert client.post("/projects/P-01/fix", data={**fix, "reason": "改名"}).status_code == 403
    assert usecases.plans.project(org, "P-01")["name"] == "平安城市一期运维"


# -- hostile text


def test_hostile_text_is_escaped(org, client):
    hostile = "<script>alert(1)</script>"
    usecases.plans.add_project(org, QMD, "P-X", name=hostile, customer=hostile, pm="pm1", oms="oms1",
                               contract_ref=hostile)
    code = planned(org)
    usecases.audits.record_audit_upload(org, usecases.Caller("aud1"), code, unit="P-02", item="PRC-a",
                                        result="nonconform", evidence=hostile, upload=(f"{hostile}.txt", b"x"))
    sign_in(client, "aud1")
    for path in ("/projects", "/projects/P-X", f"/audits/{code}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert hostile not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, path
    refused = client.post(f"/audits/{code}/record", data={
        "csrf": csrf_of(page), "item": "PRC-b", "unit": hostile, "result": "conform"})
    assert refused.status_code == 400 and hostile not in refused.text
    assert client.get(f"/audits/{quote(hostile, safe='')}").status_code in (400, 404)
