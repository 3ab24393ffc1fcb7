"""The task page and the instance page over HTTP: a form rendered from camunda:formData, every problem beside
its field from the CLI's validator, values kept, a stale form, the policy's refusal with nothing changed,
claiming, a redraft prefilled but never an earlier decision, and the instance with its diagram and history."""

from __future__ import annotations

import re

import pytest
from helpers import ADMIN, PASSWORD, PROCESSES, linear, start_instance
from starlette.testclient import TestClient
from test_web import csrf_of, events, sign_in

import usecases
import web

FIELDS = (
    '<camunda:formField id="summary" label="处理摘要" type="string">'
    '<camunda:validation><camunda:constraint name="required" /><camunda:constraint name="maxlength" config="400" />'
    "</camunda:validation></camunda:formField>"
    '<camunda:formField id="code" label="编号" type="string">'
    '<camunda:validation><camunda:constraint name="maxlength" config="20" /></camunda:validation></camunda:formField>'
    '<camunda:formField id="result" label="结论" type="enum"><camunda:value id="pass" name="合格" />'
    '<camunda:value id="fail" name="不合格" /><camunda:validation><camunda:constraint name="required" />'
    "</camunda:validation></camunda:formField>"
    '<camunda:formField id="hours" label="工时" type="long"><camunda:validation>'
    '<camunda:constraint name="min" config="0" /><camunda:constraint name="max" config="100" />'
    "</camunda:validation></camunda:formField>"
    '<camunda:formField id="on" label="完成日期" type="date" />'
    '<camunda:formField id="urgent" label="紧急" type="boolean" />'
)


@pytest.fixture
def formed(site, tmp_path):
    """A process whose one task (lane qmd) has a form of every kind, documented for the person doing it."""
    task = (f'<bpmn:userTask id="fill" name="记录处理结果"><bpmn:documentation>按实际情况填写。\n不得留空。'
            f"</bpmn:documentation><bpmn:extensionElements><camunda:formData>{FIELDS}</camunda:formData>"
            "</bpmn:extensionElements></bpmn:userTask>")
    path = tmp_path / "record.bpmn"
    path.write_text(linear("record", ("fill", task), lane="qmd"), encoding="utf-8")
    site.deploy([str(path)], actor=site.actor(ADMIN))
    instance = site.start("record", actor=site.actor(ADMIN), business_key="R-1")
    return site, instance, site.tasks(instance_id=instance)[0]["id"]


@pytest.fixture
def client(site):
    with TestClient(web.create_app(site)) as client:
        yield client


def test_the_form_is_rendered_from_the_bpmn(formed, client):
    _engine, _instance, task_id = formed
    sign_in(client)
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    html = page.text
    assert "按实际情况填写。\n不得留空。" in html  # the documentation, as instructions
    assert re.search(r'<textarea id="f-summary" name="summary" rows="4" required maxlength="400"', html)
    assert re.search(r'<input id="f-code" name="code" value="" type="text" maxlength="20">', html)
    assert '<option value="pass">合格</option>' in html and '<option value="fail">不合格</option>' in html
    assert re.search(r'id="f-hours" name="hours" value="" type="number" step="1" inputmode="numeric" min="0" '
                     r'max="100"', html)
    assert 'type="date"' in html and '<option value="true">是</option>' in html
    assert 'data-bpmn="/definitions/' in html and "data-marks='{\"fill\": \"current\"}'" in html


def test_every_problem_is_shown_beside_its_field_and_the_values_stay(formed, client):
    engine, instance, task_id = formed
    sign_in(client)
    page = client.get(f"/tasks/{task_id}")
    posted = client.post(f"/tasks/{task_id}", data={"csrf": csrf_of(page), "summary": "  ", "code": "A-1",
                                                    "result": "maybe", "hours": "200", "on": "2027-13-01"})
    assert posted.status_code == 400
    problems = dict(re.findall(r'<p class="field-error" id="e-(\w+)" role="alert">([^<]+)</p>', posted.text))
    assert set(problems) == {"summary", "result", "hours", "on"}
    assert problems["summary"] == "必须填写一个值"
    assert "200" in problems["hours"] and "100" in problems["hours"]
    assert 'value="A-1"' in posted.text  # what the person typed stays
    assert "表单有 4 处问题" in posted.text
    assert engine.tasks(instance_id=instance)[0]["state"] == "ready"


def test_a_completed_form_goes_back_to_the_inbox_and_a_stale_one_says_who(formed, client):
    engine, instance, task_id = formed
    sign_in(client)
    page = client.get(f"/tasks/{task_id}")
    values = {"csrf": csrf_of(page), "summary": "已处理", "result": "pass", "hours": "3", "on": "2027-01-01",
              "urgent": "false"}
    done = client.post(f"/tasks/{task_id}", data=values, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/?completed={task_id}"
    assert "已完成：记录处理结果" in client.get(done.headers["location"]).text
    [completed] = [e for e in events(engine, "task.completed") if e.get("task") == "fill"]
    assert completed["values"]["result"] == "pass" and completed["values"]["hours"] == 3
    finished = client.get(f"/instances/{instance}").text
    variables = dict(re.findall(r"<dt><code>(\w+)</code></dt><dd>([^<]*)</dd>", finished))
    assert (variables["summary"], variables["result"], variables["hours"]) == ("已处理", "pass", "3")
    again = client.post(f"/tasks/{task_id}", data=values)
    assert again.status_code == 409 and "已由 qmd1 于 2027-01-01 09:00 +08:00 完成" in again.text
    shown = client.get(f"/tasks/{task_id}")
    assert "qmd1" in shown.text and "<form method=\"post\" action=\"/tasks/" not in shown.text


def test_someone_the_policy_does_not_name_is_refused_with_nothing_changed(formed, client):
    engine, instance, task_id = formed
    sign_in(client, "pm1")
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200 and "你可以查看此任务，但不能办理" in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # the sign-out form's
    refused = client.post(f"/tasks/{task_id}", data={"csrf": token, "summary": "x", "result": "pass"})
    assert refused.status_code == 403 and "需要角色 qmd" in refused.text
    assert engine.tasks(instance_id=instance)[0]["state"] == "ready"
    [denial] = events(engine, "security.denied")
    assert (denial["actor"], denial["action"]) == ("pm1", "task.complete")


def test_a_post_without_the_sessions_token_changes_nothing(formed, client):
    engine, instance, task_id = formed
    sign_in(client)
    forged = client.post(f"/tasks/{task_id}", data={"summary": "x", "result": "pass"})
    assert forged.status_code == 403 and "表单已失效" in forged.text
    assert engine.tasks(instance_id=instance)[0]["state"] == "ready"


def test_claim_and_release(formed, client):
    engine, instance, task_id = formed
    sign_in(client, "qmd2")
    page = client.get(f"/tasks/{task_id}")
    claimed = client.post(f"/tasks/{task_id}/claim", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert claimed.status_code == 303
    assert engine.tasks(instance_id=instance)[0]["claimed_by"] == "qmd2"
    client.cookies.clear()
    sign_in(client)  # qmd1 now sees it claimed, and may not complete it
    assert "qmd2 已认领" in client.get(f"/tasks/{task_id}").text
    assert "你可以查看此任务，但不能办理" in client.get(f"/tasks/{task_id}").text
    client.cookies.clear()
    sign_in(client, "qmd2")
    page = client.get(f"/tasks/{task_id}")
    client.post(f"/tasks/{task_id}/unclaim", data={"csrf": csrf_of(page)})
    assert engine.tasks(instance_id=instance)[0]["claimed_by"] is None


def test_an_unknown_task_or_instance_is_a_clear_page(site, client):
    sign_in(client)
    assert "没有任务" in client.get("/tasks/0123456789abcdef").text
    assert client.get("/tasks/<script>").status_code == 400
    assert client.get("/instances/99").status_code == 400 and "没有实例 99" in client.get("/instances/99").text


def test_the_instance_page_shows_its_diagram_timers_tasks_and_history(formed, client):
    engine, instance, _task_id = formed
    sign_in(client)
    page = client.get(f"/instances/{instance}")
    assert page.status_code == 200
    assert "data-marks='{" in page.text and '"fill": "ready"' in page.text
    assert "R-1" in page.text and "发起实例" in page.text and "待办" in page.text
    definition = re.search(r'data-bpmn="(/definitions/\d+\.bpmn)"', page.text).group(1)
    xml = client.get(definition)
    assert xml.headers["content-type"].startswith("application/xml") and "记录处理结果" in xml.text
    client.cookies.clear()
    assert client.get(definition, follow_redirects=False).status_code == 303  # signed in only


def test_a_redraft_is_prefilled_and_a_decision_never_is(engine, run, tmp_path):
    """The quality plan: qmd drafts, the GM returns it, qmd sees the draft again, the GM decides afresh."""
    admin = usecases.Caller(ADMIN)
    for name in ("qmd1", "gm1"):
        usecases.auth.set_password(engine, admin, name, PASSWORD)
    engine.deploy([str(PROCESSES / "quality_plan.bpmn")], actor=engine.actor(ADMIN))
    instance = start_instance(str(run.db_path), "quality_plan", key="2027", year=2027)
    with TestClient(web.create_app(engine)) as client:
        sign_in(client)
        draft = engine.tasks(instance_id=instance)[0]["id"]
        page = client.get(f"/tasks/{draft}")
        form = {"csrf": csrf_of(page), "objectives": "全年客户满意度不低于 90 分", "verification": "内审与抽查",
                "resources": "质量管理部 2 人", "audit_schedule": "每年 6 月内审，12 月管理评审",
                "audit_start": "2027-06-01", "survey_start": "2027-10-08", "indicator_cycle": "monthly",
                "spot_check_plan": "每季度抽查 1 个项目", "spot_check_frequency": "spot_quarterly",
                "spot_check_sample": "1"}
        assert client.post(f"/tasks/{draft}", data=form, follow_redirects=False).status_code == 303, \
            client.post(f"/tasks/{draft}", data=form).text
        client.cookies.clear()
        sign_in(client, "gm1")
        approve = engine.tasks(instance_id=instance)[0]["id"]
        page = client.get(f"/tasks/{approve}")
        returned = client.post(f"/tasks/{approve}", data={"csrf": csrf_of(page), "decision": "rejected",
                                                         "comment": "目标需量化"}, follow_redirects=False)
        assert returned.status_code == 303
        client.cookies.clear()
        sign_in(client)
        redraft = engine.tasks(instance_id=instance)[0]["id"]
        page = client.get(f"/tasks/{redraft}").text
        assert "全年客户满意度不低于 90 分</textarea>" in page and 'value="2027-06-01"' in page
        client.post(f"/tasks/{redraft}", data={**form, "csrf": csrf_of(client.get(f"/tasks/{redraft}")),
                                               "objectives": "全年客户满意度不低于 92 分"})
        client.cookies.clear()
        sign_in(client, "gm1")
        again = engine.tasks(instance_id=instance)[0]["id"]
        page = client.get(f"/tasks/{again}").text
        assert '<option value="rejected" selected>' not in page and "目标需量化</textarea>" not in page


@pytest.fixture
def finding_task(site):
    """A finding owned by pm1, its corrective action planned and accepted: the implementation task is pm1's."""
    site.deploy([str(PROCESSES / "nc_followup.bpmn")], actor=site.actor(ADMIN))
    raised = usecases.audits.add_finding(site, usecases.Caller("qmd1"), owner="pm1", description="巡检记录缺失")
    code = raised["code"]
    instance = usecases.audits.finding(site, code)["instance"]

    def ready(bpmn_id: str) -> str:
        return next(t["id"] for t in site.tasks(instance_id=instance) if t["task"] == bpmn_id)

    site.complete(ready("plan_action"), {"root_cause": "交接遗漏", "corrective_action": "补录并培训"},
                  actor=site.actor("pm1"))
    site.complete(ready("review_plan"), {"plan_decision": "plan_accepted"}, actor=site.actor("qmd1"))
    return site, code, ready("implement")


def test_evidence_is_uploaded_where_the_task_asks_for_it_and_downloaded_checked(finding_task, client):
    engine, code, task_id = finding_task
    sign_in(client, "pm1")
    page = client.get(f"/tasks/{task_id}")
    assert f"{code} 的证据" in page.text and "暂无证据" in page.text
    token = csrf_of(page)
    refused = client.post(f"/tasks/{task_id}", data={"csrf": token, "implementation": "已补录"})
    assert refused.status_code == 400 and code in refused.text  # the domain's check: no evidence yet
    photo = "现场 照片.jpg".encode().decode()
    sent = client.post(f"/findings/{code}/evidence", data={"csrf": token, "back": task_id, "note": "补录后的记录"},
                       files={"file": (photo, b"\xff\xd8 a photo", "image/jpeg")}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == f"/tasks/{task_id}#evidence"
    page = client.get(f"/tasks/{task_id}")
    link = re.search(rf'href="(/findings/{code}/evidence/\d+)" download>现场 照片.jpg</a>', page.text).group(1)
    download = client.get(link)
    assert download.content == b"\xff\xd8 a photo"
    assert download.headers["content-type"] == "application/octet-stream"
    assert "filename*=UTF-8''%E7%8E%B0%E5%9C%BA%20%E7%85%A7%E7%89%87.jpg" in download.headers["content-disposition"]
    again = client.post(f"/findings/{code}/evidence", data={"csrf": token, "back": task_id},
                        files={"file": ("copy.jpg", b"\xff\xd8 a photo", "image/jpeg")})
    assert again.status_code == 400 and "已作为证据" in again.text  # the same bytes twice: refused
    done = client.post(f"/tasks/{task_id}", data={"csrf": token, "implementation": "已补录"}, follow_redirects=False)
    assert done.status_code == 303
    [added] = events(engine, "finding.evidence_added")
    assert (added["actor"], added["file"], added["size"]) == ("pm1", "现场 照片.jpg", 10)


def test_evidence_by_someone_the_policy_does_not_name_is_refused(finding_task, client):
    engine, code, task_id = finding_task
    sign_in(client, "qmd2")  # qmd may attach; gm1 may not (and has no password: pm1 is the owner)
    page = client.get(f"/tasks/{task_id}")
    assert 'enctype="multipart/form-data"' in page.text
    client.cookies.clear()
    usecases.auth.set_password(engine, usecases.Caller(ADMIN), "gm1", PASSWORD)
    sign_in(client, "gm1")
    page = client.get(f"/tasks/{task_id}")
    assert 'enctype="multipart/form-data"' not in page.text
    refused = client.post(f"/findings/{code}/evidence", data={"csrf": csrf_of(page)},
                          files={"file": ("x.txt", b"x", "text/plain")})
    assert refused.status_code == 403
    assert usecases.audits.finding(engine, code)["evidence"] == []
    empty = client.post(f"/findings/{code}/evidence", data={"csrf": csrf_of(page)})
    assert empty.status_code == 400


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, Router

    from web.app import BodyLimit

    async def echo(request):
        return PlainTextResponse(str(len(await request.body())))

    app = BodyLimit(Router(routes=[Route("/", echo, methods=["POST"])]), limit=10)
    with TestClient(app) as client:
        assert client.post("/", content=b"0123456789").text == "10"
        assert client.post("/", content=b"0123456789x").status_code == 413

        def chunks():
            yield b"01234"
            yield b"56789x"

        assert client.post("/", content=chunks()).status_code == 413  # no Content-Length: counted as it comes


def test_a_collection_task_takes_the_periods_indicator_values(site, client, clock):
    from datetime import timedelta

    site.deploy([str(PROCESSES / "kpi_collection.bpmn")], actor=site.actor(ADMIN))
    usecases.review.define_indicator(site, usecases.Caller("qmd1"), "K1", name="事件按时解决率", target=95)
    clock.advance(timedelta(days=31, hours=-8))  # 2027-02-01 01:00: January's collection opens
    site.tick()
    [collection] = [i for i in site.instances(process_id="kpi_collection") if i["business_key"] == "2027-02"]
    [enter] = site.tasks(instance_id=collection["id"])
    sign_in(client)
    page = client.get(f"/tasks/{enter['id']}")
    assert "本期指标数据" in page.text and 'name="v:K1@2027-01"' in page.text
    bad = client.post("/indicators/values", data={"csrf": csrf_of(page), "back": enter["id"], "v:K1@2027-01": "九十"})
    assert bad.status_code == 400 and "K1 2027-01" in bad.text
    saved = client.post("/indicators/values", data={"csrf": csrf_of(page), "back": enter["id"], "v:K1@2027-01": "96.5"},
                        follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"/tasks/{enter['id']}#indicators"
    page = client.get(f"/tasks/{enter['id']}")
    assert 'value="96.5"' in page.text and "达标" in page.text
    done = client.post(f"/tasks/{enter['id']}", data={"csrf": csrf_of(page), "collection_note": "ITSM 导出"},
                       follow_redirects=False)
    assert done.status_code == 303
    client.cookies.clear()
    sign_in(client, "pm1")  # pm may record values too; gm may not
    usecases.auth.set_password(site, usecases.Caller(ADMIN), "gm1", PASSWORD)
    client.cookies.clear()
    sign_in(client, "gm1")
    page = client.get("/")
    refused = client.post("/indicators/values", data={"csrf": csrf_of(page), "v:K1@2027-01": "90"})
    assert refused.status_code == 403
    assert usecases.review.values(site, indicator="K1")[0]["value"] == 96.5
