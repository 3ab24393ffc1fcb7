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
