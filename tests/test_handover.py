"""Passing work on (issue 18): 转办 (transfer) and 催办 (remind), through the CLI and the web, on the real
processes; each recorded with who did it and why, each bad request one line with nothing changed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from helpers import ADMIN, PASSWORD, ready_task

import usecases


@pytest.fixture
def verification(engine, admin, tmp_path):
    """A finding raised by qmd1 and owned by pm1, rectified, waiting for a QMD member's verification."""
    engine.deploy(["processes"], actor=admin)
    for name, roles in (("qmd2", ["qmd"]), ("pm1", ["pm"])):
        engine.add_user(name, roles, actor=admin)
    code = usecases.audits.add_finding(engine, usecases.Caller("qmd1"), owner="pm1", description="记录不全")["code"]
    instance = usecases.audits.finding(engine, code)["instance"]
    pm, qmd = engine.actor("pm1"), engine.actor("qmd1")
    engine.complete(ready_task(engine, instance, "plan_action")["id"],
                    {"root_cause": "无归档规定", "corrective_action": "制定归档规定", "similar_elsewhere": False},
                    actor=pm)
    engine.complete(ready_task(engine, instance, "review_plan")["id"], {"plan_decision": "plan_accepted"}, actor=qmd)
    evidence = tmp_path / "归档规定.pdf"
    evidence.write_bytes(b"%PDF rules")
    usecases.audits.attach_evidence(engine, usecases.Caller("pm1"), code, str(evidence))
    engine.complete(ready_task(engine, instance, "implement")["id"], {"implementation": "已发布"}, actor=pm)
    task = ready_task(engine, instance, "verify")
    engine.claim(task["id"], actor=qmd)
    return {"code": code, "instance": instance, "task": task["id"]}


def events(engine, kind):
    return [e for e in engine.history() if e["kind"] == kind]


def test_a_findings_verification_is_transferred_between_qmd_staff(verification, engine, run):
    task = verification["task"]
    result = run("--as", "qmd1", "task", "transfer", task[:8], "--to", "qmd2", "--reason", "张三出差，由李四核查")
    assert result.exit_code == 0, result.output
    shown = engine.task(task)
    assert (shown["assignee"], shown["claimed_by"]) == ("qmd2", None)
    [moved] = events(engine, "task.transferred")
    assert (moved["actor"], moved["payload"]["from"], moved["payload"]["to"], moved["payload"]["reason"]) == (
        "qmd1", "qmd1", "qmd2", "张三出差，由李四核查")
    refused = run("--as", "qmd1", "task", "complete", task[:8], "--set", "verification=verified_effective")
    assert refused.exit_code == 1 and "assigned to qmd2" in refused.stderr  # no longer qmd1's
    done = run("--as", "qmd2", "task", "complete", task[:8], "--set", "verification=verified_effective",
               "--set", "verification_comment=已核实")
    assert done.exit_code == 0, done.output
    [verified] = json.loads(run("--as", "qmd2", "tasks", "--done", "--json").stdout)  # 我的已办
    assert (verified["id"], verified["task"], verified["completed_by"]) == (task, "verify", "qmd2")
    assert [row["task"] for row in json.loads(run("--as", "qmd1", "tasks", "--done", "--json").stdout)] == [
        "review_plan"]  # not the verification it handed on
    started = json.loads(run("--as", "qmd1", "tasks", "--started", "--json").stdout)  # 我发起的: the follow-up
    assert [row["id"] for row in started] == [verification["instance"]]


@pytest.mark.parametrize(("args", "login", "words"), [
    (("--to", "pm1", "--reason", "x"), "qmd1", "needs role qmd, which pm1 does not hold"),
    (("--to", "nobody", "--reason", "x"), "qmd1", "no opsqa user named 'nobody'"),
    (("--to", "qmd1", "--reason", "x"), "qmd1", "is already qmd1's"),
    (("--to", "qmd2",), "qmd1", "task.transfer needs a reason"),
    (("--to", "qmd2", "--reason", "x"), "pm1", "task.transfer needs whoever holds the task"),
])
def test_a_transfer_that_breaks_a_rule_is_one_line_and_changes_nothing(verification, engine, run, args, login,
                                                                        words):
    before = engine.task(verification["task"])
    history = len(engine.history())
    result = run("--as", login, "task", "transfer", verification["task"][:8], *args)
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert words in result.stderr, result.stderr
    assert engine.task(verification["task"]) == before
    added = engine.history()[history:]
    assert all(e["kind"] == "security.denied" for e in added) and len(added) == (login == "pm1")


def test_a_reminder_goes_to_the_holder_once_a_day(verification, engine, clock, admin):
    usecases.channels.add(engine, usecases.Caller(ADMIN), name="email", kind="email", host="127.0.0.1",
                          sender="opsqa@example.com")  # queued only: nothing listens in this test
    engine.add_user("qmd3", ["qmd"], email="qmd3@example.com", actor=admin)
    usecases.tasks.transfer(engine, usecases.Caller("qmd1"), verification["task"], "qmd3", reason="轮岗")
    reminded = usecases.tasks.remind(engine, usecases.Caller("qmd2"), verification["task"], note="请于周五前核查")
    assert reminded["to"] == ["qmd3"]
    with pytest.raises(usecases.OpsqaError, match="at most once a day"):
        usecases.tasks.remind(engine, usecases.Caller("qmd2"), verification["task"])
    clock.advance(timedelta(days=1))
    usecases.tasks.remind(engine, usecases.Caller("qmd1"), verification["task"])
    assert [e["payload"]["note"] for e in events(engine, "task.reminded")] == ["请于周五前核查", None]
    with engine.database.reading() as session:
        from sqlalchemy import select

        from store import Job

        subjects = [json.loads(job.payload)["title"] for job in session.scalars(select(Job).where(
            Job.kind == "message", Job.key.like("%task.%")).order_by(Job.id))]
    assert any("催办" in s for s in subjects) and len(subjects) >= 3, subjects  # Chinese, whoever acts


def test_transfer_and_remind_on_the_task_page(verification, engine):
    """The web face: the holder sees 转办 and 催办 on the task page; posting them does what the CLI does."""
    from starlette.testclient import TestClient
    from test_web import csrf_of, sign_in

    import web

    usecases.auth.set_password(engine, usecases.Caller(ADMIN), "qmd1", PASSWORD)
    task = verification["task"]
    with TestClient(web.create_app(engine)) as client:
        sign_in(client, "qmd1")
        page = client.get(f"/tasks/{task}")
        assert page.status_code == 200 and f'action="/tasks/{task}/transfer"' in page.text, page.text
        csrf = csrf_of(page)
        refused = client.post(f"/tasks/{task}/transfer", data={"csrf": csrf, "to": "pm1", "reason": "x"})
        assert refused.status_code == 400 and "需要角色 qmd，而 pm1 没有该角色" in refused.text  # Chinese first
        # beside the form it came from, opened, with what was typed
        assert '<details class="handover" open>' in refused.text and 'name="to" value="pm1"' in refused.text
        assert refused.text.index('role="alert"') > refused.text.index(f'action="/tasks/{task}/transfer"')
        assert engine.task(task)["claimed_by"] == "qmd1"
        moved = client.post(f"/tasks/{task}/transfer", data={"csrf": csrf, "to": "qmd2", "reason": "出差"},
                            follow_redirects=False)
        assert moved.status_code == 303 and engine.task(task)["assignee"] == "qmd2"
        reminded = client.post(f"/tasks/{task}/remind", data={"csrf": csrf, "note": "请尽快"}, follow_redirects=False)
        assert reminded.status_code == 303 and events(engine, "task.reminded")[-1]["payload"]["to"] == ["qmd2"]


def test_a_delegated_verification_comes_back_to_its_owner_who_completes_it(verification, engine, run):
    """委派 (Camunda 7's owner and assignee): qmd1 has qmd2 check on site; qmd2 hands it back; qmd1 completes."""
    task = verification["task"][:8]
    assert run("--as", "qmd1", "task", "delegate", task, "--to", "qmd2").exit_code == 0
    shown = engine.task(verification["task"])
    assert (shown["owner"], shown["assignee"], shown["claimed_by"]) == ("qmd1", "qmd2", None)
    values = ("--set", "verification=verified_effective", "--set", "verification_comment=已核实")
    for login in ("qmd2", "qmd1"):  # neither completes while it is delegated
        refused = run("--as", login, "task", "complete", task, *values)
        assert refused.exit_code == 1 and "is delegated to qmd2 by qmd1" in refused.stderr, refused.output
    refused = run("--as", "qmd1", "task", "resolve", task)
    assert refused.exit_code == 1 and "task.resolve needs whoever the task was delegated to" in refused.stderr
    assert run("--as", "qmd2", "task", "resolve", task, "--note", "现场核查完成").exit_code == 0
    assert run("--as", "qmd1", "task", "complete", task, *values).exit_code == 0
    kinds = [(e["kind"], e["actor"]) for e in engine.history(verification["instance"])
             if e["kind"] in ("task.delegated", "task.resolved", "task.completed")]
    assert kinds[-3:] == [("task.delegated", "qmd1"), ("task.resolved", "qmd2"), ("task.completed", "qmd1")]
    resolved = events(engine, "task.resolved")[-1]["payload"]
    assert (resolved["owner"], resolved["by"], resolved["note"]) == ("qmd1", "qmd2", "现场核查完成")
    refused = run("--as", "qmd2", "task", "resolve", task)  # done: nothing to hand back
    assert refused.exit_code == 1


def test_a_task_copied_shows_under_copied_to_me(verification, engine, run, admin):
    engine.add_user("gm1b", ["gm"], actor=admin)
    task = verification["task"][:8]
    result = run("--as", "qmd1", "task", "cc", task, "--to", "gm1", "--to", "gm1b", "--to", "gm1")
    assert result.exit_code == 0, result.output
    [copied] = json.loads(run("--as", "gm1", "tasks", "--cc", "--json").stdout)
    assert copied["id"] == verification["task"]
    again = usecases.tasks.copy(engine, usecases.Caller("qmd1"), verification["task"], ["gm1"])
    assert (again["to"], again["already"]) == ([], ["gm1"])  # told once
    refused = run("--as", "pm1", "task", "cc", task, "--to", "gm1")
    assert refused.exit_code == 1 and "task.cc needs" in refused.stderr
    refused = run("--as", "qmd1", "task", "cc", task, "--to", "ghost")
    assert refused.exit_code == 1 and "no opsqa user named 'ghost'" in refused.stderr
    assert [e["payload"]["to"] for e in events(engine, "task.copied")] == [["gm1", "gm1b"]]


def test_delegate_hand_back_and_copy_on_the_web(verification, engine):
    from starlette.testclient import TestClient
    from test_web import csrf_of, sign_in

    import web

    for name in ("qmd1", "qmd2", "gm1"):
        usecases.auth.set_password(engine, usecases.Caller(ADMIN), name, PASSWORD)
    task = verification["task"]
    with TestClient(web.create_app(engine)) as owner, TestClient(web.create_app(engine)) as worker, \
            TestClient(web.create_app(engine)) as reader:
        for client, name in ((owner, "qmd1"), (worker, "qmd2"), (reader, "gm1")):
            sign_in(client, name)
        page = owner.get(f"/tasks/{task}")
        assert f'action="/tasks/{task}/delegate"' in page.text and f'action="/tasks/{task}/cc"' in page.text
        csrf = csrf_of(page)
        assert owner.post(f"/tasks/{task}/delegate", data={"csrf": csrf, "to": "qmd2"},
                          follow_redirects=False).status_code == 303
        assert owner.post(f"/tasks/{task}/cc", data={"csrf": csrf, "to": "gm1，mr9"}).status_code == 400  # no mr9
        assert owner.post(f"/tasks/{task}/cc", data={"csrf": csrf, "to": "gm1"}, follow_redirects=False
                          ).status_code == 303
        page = worker.get(f"/tasks/{task}")
        assert f'action="/tasks/{task}/resolve"' in page.text and 'class="form task-form"' not in page.text
        assert worker.post(f"/tasks/{task}/resolve", data={"csrf": csrf_of(page), "note": "已核查"},
                           follow_redirects=False).status_code == 303
        assert engine.task(task)["assignee"] == "qmd1"
        assert 'class="form task-form"' in owner.get(f"/tasks/{task}").text  # the owner completes it now
        listing = reader.get("/tasks/cc")
        assert listing.status_code == 200 and f'href="/tasks/{task}"' in listing.text


# -- 退回 and 撤回 --------------------------------------------------------------------------------------------

@pytest.fixture
def plan(engine, admin):
    """The 2027 quality plan drafted by qmd1, waiting for the GM's approval."""
    from helpers import PLAN_VALUES

    engine.deploy(["processes/quality_plan.bpmn"], actor=admin)
    engine.add_user("pm1", ["pm"], actor=admin)
    engine.add_user("qmd2", ["qmd"], actor=admin)
    instance = engine.start("quality_plan", actor=admin, business_key="2027")
    draft = ready_task(engine, instance, "draft_plan")
    engine.complete(draft["id"], PLAN_VALUES, actor=engine.actor("qmd1"))
    return {"instance": instance, "draft": draft["id"], "approve": ready_task(engine, instance, "approve_plan")["id"]}


def test_the_gm_sends_the_quality_plan_back_to_drafting(plan, engine, run):
    from helpers import PLAN_VALUES

    result = run("--as", "gm1", "task", "send-back", plan["approve"][:8], "--to", "draft_plan",
                 "--reason", "质量目标未量化")
    assert result.exit_code == 0, result.output
    redraft = ready_task(engine, plan["instance"], "draft_plan")
    assert redraft["id"] == plan["draft"]  # the same step, ready again
    assert engine.task(plan["draft"])["variables"]["objectives"] == PLAN_VALUES["objectives"]  # prefilled
    assert engine.task(plan["approve"])["state"] == "cancelled"
    history = engine.history(plan["instance"])
    [sent] = [e for e in history if e["kind"] == "task.sent_back"]
    assert (sent["actor"], sent["payload"]["to"], sent["payload"]["reason"]) == ("gm1", "draft_plan", "质量目标未量化")
    assert [e["kind"] for e in history if e["task"] == plan["draft"]].count("task.completed") == 1  # kept
    engine.complete(plan["draft"], {**PLAN_VALUES, "objectives": "客户满意度不低于92%"}, actor=engine.actor("qmd1"))
    engine.complete(ready_task(engine, plan["instance"], "approve_plan")["id"], {"decision": "approved"},
                    actor=engine.actor("gm1"))
    assert engine.instance(plan["instance"])["status"] == "completed"
    report = engine.verify_history()  # only the fixture's two clocks (the CLI's is the real one) disagree
    assert all(" is dated " in problem for problem in report.problems), report.problems


@pytest.mark.parametrize(("args", "login", "words"), [
    (("--to", "issue_plan", "--reason", "x"), "gm1", "[issue_plan]: not a step this instance passed"),
    (("--to", "approve_plan", "--reason", "x"), "gm1", "it can be sent back to: draft_plan"),
    (("--to", "draft_plan",), "gm1", "task.send_back needs a reason"),
    (("--to", "draft_plan", "--reason", "x"), "pm1", "needs role gm, which pm1 does not hold"),
])
def test_a_send_back_that_breaks_a_rule_is_one_line_and_changes_nothing(plan, engine, run, args, login, words):
    before = (engine.task(plan["approve"]), engine.task(plan["draft"]), len(engine.history()))
    result = run("--as", login, "task", "send-back", plan["approve"][:8], *args)
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert words in result.stderr, result.stderr
    assert (engine.task(plan["approve"]), engine.task(plan["draft"])) == before[:2]
    assert all(e["kind"] == "security.denied" for e in engine.history()[before[2]:])


def test_the_drafter_withdraws_the_plan_until_the_gm_has_claimed_it(plan, engine, run, admin):
    from helpers import PLAN_VALUES

    refused = run("--as", "qmd2", "task", "withdraw", plan["draft"][:8])
    assert refused.exit_code == 1 and "task.withdraw needs whoever completed the task" in refused.stderr
    result = run("--as", "qmd1", "task", "withdraw", plan["draft"][:8], "--reason", "附件传错")
    assert result.exit_code == 0, result.output
    assert engine.task(plan["draft"])["state"] == "ready" and engine.task(plan["approve"])["state"] == "cancelled"
    assert [e["kind"] for e in engine.history(plan["instance"])][-2:] == ["task.withdrawn", "task.cancelled"]
    engine.complete(plan["draft"], PLAN_VALUES, actor=engine.actor("qmd1"))
    approval = ready_task(engine, plan["instance"], "approve_plan")["id"]
    engine.claim(approval, actor=engine.actor("gm1"))
    refused = run("--as", "qmd1", "task", "withdraw", plan["draft"][:8])
    assert refused.exit_code == 1 and "the next step approve_plan has been claimed" in refused.stderr
    engine.complete(approval, {"decision": "approved"}, actor=engine.actor("gm1"))
    refused = run("--as", "qmd1", "task", "withdraw", plan["draft"][:8])  # the plan is issued: a service task ran
    assert refused.exit_code == 1 and "is completed: its tasks cannot be withdrawn" in refused.stderr


def test_a_service_task_between_stops_a_send_back(engine, admin, tmp_path, db_path, clock):
    from helpers import flow, make_engine, process, service_task, user_task

    from engine.registry import Registry

    registry = Registry()
    recorded = []

    @registry.handler("test.record")
    def record(context):
        recorded.append(context.instance_id)
        return {}

    body = ('<bpmn:startEvent id="start" />' + user_task("first") + service_task("keep", "test.record")
            + user_task("second") + '<bpmn:endEvent id="end" />' + flow("f1", "start", "first")
            + flow("f2", "first", "keep") + flow("f3", "keep", "second") + flow("f4", "second", "end"))
    (tmp_path / "kept.bpmn").write_text(process("kept", body, {"qmd": ["start", "first", "keep", "second", "end"]}),
                                        encoding="utf-8")
    kept = make_engine(db_path, clock, registry)
    kept.deploy([str(tmp_path / "kept.bpmn")], actor=admin)
    instance = kept.start("kept", actor=admin)
    kept.complete(ready_task(kept, instance, "first")["id"], {}, actor=kept.actor("qmd1"))
    second = ready_task(kept, instance, "second")["id"]
    with pytest.raises(usecases.OpsqaError, match=r"kept \[keep\]: this service task ran after first"):
        kept.send_back(second, "first", actor=kept.actor("qmd1"), reason="x")
    assert ready_task(kept, instance, "second")["id"] == second and recorded == [instance]


def test_send_back_and_withdraw_on_the_web(plan, engine):
    from starlette.testclient import TestClient
    from test_web import csrf_of, sign_in

    import web

    for name in ("qmd1", "gm1"):
        usecases.auth.set_password(engine, usecases.Caller(ADMIN), name, PASSWORD)
    with TestClient(web.create_app(engine)) as drafter, TestClient(web.create_app(engine)) as gm:
        sign_in(drafter, "qmd1")
        sign_in(gm, "gm1")
        page = drafter.get(f"/tasks/{plan['draft']}")  # completed by qmd1, the GM has not moved: withdrawable
        assert f'action="/tasks/{plan["draft"]}/withdraw"' in page.text
        page = gm.get(f"/tasks/{plan['approve']}")
        assert '<option value="draft_plan">' in page.text
        refused = gm.post(f"/tasks/{plan['approve']}/send-back", data={"csrf": csrf_of(page), "to": "draft_plan"})
        assert refused.status_code == 400 and engine.task(plan["approve"])["state"] == "ready"
        sent = gm.post(f"/tasks/{plan['approve']}/send-back",
                       data={"csrf": csrf_of(page), "to": "draft_plan", "reason": "目标未量化"}, follow_redirects=False)
        assert sent.status_code == 303 and engine.task(plan["draft"])["state"] == "ready"
        assert f'action="/tasks/{plan["draft"]}/withdraw"' not in drafter.get(f"/tasks/{plan['draft']}").text
        inbox = drafter.get("/")  # back in the drafter's inbox; the filter names processes by their names
        assert f'href="/tasks/{plan["draft"]}"' in inbox.text
        assert '<option value="quality_plan">组织级质量管理计划</option>' in inbox.text


# -- 代理 ------------------------------------------------------------------------------------------------------

def test_the_gm_away_for_a_week_with_a_substitute(plan, engine, admin, clock, run):
    """gm1 is away 2027-01-01..07: mr1 (who does not hold gm) approves the plan for them, recorded as "mr1 for
    gm1"; gm1 still sees the task; outside the week, or once gm1 is back, mr1 may not."""
    from datetime import date

    engine.add_user("mr1", ["mr"], actor=admin)
    gm, mr = usecases.Caller("gm1"), usecases.Caller("mr1")
    usecases.admin.away(engine, gm, "gm1", "mr1", date(2027, 1, 1), date(2027, 1, 7), [], reason="出差")
    [listed] = [u for u in run.json("users", "list") if u["name"] == "gm1"]
    assert listed["away"] is None  # the CLI runs on the real clock, before the week: not away yet
    assert [u["away"] for u in engine.users() if u["name"] == "gm1"] == [
        {"substitute": "mr1", "until": date(2027, 1, 7), "processes": None}]
    approval = plan["approve"]
    assert usecases.tasks.inbox(engine, gm)["rows"][0]["id"] == approval  # gm1 still sees it
    listed = usecases.tasks.inbox(engine, mr)  # and it is in the substitute's inbox, once
    assert [row["id"] for row in listed["rows"]] == [approval] and listed["total"] == 1
    usecases.tasks.complete(engine, mr, approval, {"decision": "approved"})
    [done] = [e for e in engine.history(plan["instance"]) if e["kind"] == "task.completed" and e["task"] == approval]
    assert (done["actor"], done["payload"]["for"]) == ("mr1", "gm1")
    assert engine.instance(plan["instance"])["status"] == "completed"


def test_a_substitute_stands_in_only_for_the_processes_and_days_named(plan, engine, admin, clock):
    from datetime import date

    engine.add_user("mr1", ["mr"], actor=admin)
    engine.deploy(["processes/nc_followup.bpmn"], actor=admin)
    gm, mr = usecases.Caller("gm1"), usecases.Caller("mr1")
    usecases.admin.away(engine, gm, "gm1", "mr1", date(2027, 1, 1), date(2027, 1, 7), ["nc_followup"])
    with pytest.raises(usecases.NotPermitted, match="needs role gm, which mr1 does not hold"):
        usecases.tasks.complete(engine, mr, plan["approve"], {"decision": "approved"})
    assert usecases.tasks.inbox(engine, mr)["rows"] == []  # not a process the absence names
    usecases.admin.back(engine, gm, "gm1")
    usecases.admin.away(engine, gm, "gm1", "mr1", date(2027, 1, 2), date(2027, 1, 7), ["quality_plan"])
    with pytest.raises(usecases.NotPermitted):  # 2027-01-01: the week has not begun
        usecases.tasks.complete(engine, mr, plan["approve"], {"decision": "approved"})
    clock.advance(timedelta(days=1))
    usecases.admin.back(engine, usecases.Caller(ADMIN), "gm1")  # back early: no longer
    with pytest.raises(usecases.NotPermitted):
        usecases.tasks.complete(engine, mr, plan["approve"], {"decision": "approved"})
    assert [e["kind"] for e in engine.history() if e["kind"].startswith("user.")][-4:] == [
        "user.away", "user.back", "user.away", "user.back"]


@pytest.mark.parametrize(("args", "words"), [
    (("gm1", "--substitute", "gm1"), "gm1 cannot stand in for themselves"),
    (("gm1", "--substitute", "ghost"), "no opsqa user named 'ghost'"),
    (("gm1", "--substitute", "qmd2", "--from", "2099-02-01", "--to", "2099-01-01"), "ends (2099-01-01) before it "
                                                                                     "starts"),
    (("gm1", "--substitute", "qmd2", "--process", "nothing"), "no process 'nothing' is deployed"),
    (("gm1", "--substitute", "qmd2", "--from", "2099-03-02", "--to", "2099-03-09"), "already away from 2099-03-01 "
                                                                                     "to 2099-03-07"),
    (("qmd2", "--substitute", "gm1"), "gm1 is away from 2099-03-01 to 2099-03-07 and cannot stand in"),
    (("qmd1", "--substitute", "gm1", "--from", "2099-04-01", "--to", "2099-04-02"), "gm1 has qmd1 as their own "
                                                                                     "substitute"),
])
def test_an_absence_that_breaks_a_rule_is_one_line_and_changes_nothing(plan, engine, run, args, words):
    assert run("users", "away", "gm1", "--substitute", "qmd1", "--from", "2099-03-01", "--to", "2099-03-07"
               ).exit_code == 0
    rest = [] if "--from" in args else ["--from", "2099-03-01", "--to", "2099-03-07"]
    history = len(engine.history())
    result = run("users", "away", *args, *rest)
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert words in result.stderr, result.stderr
    assert len(engine.history()) == history


def test_a_substitute_sharing_the_role_sees_each_task_once(plan, engine, admin):
    from datetime import date

    engine.add_user("gm2", ["gm"], actor=admin)
    usecases.admin.away(engine, usecases.Caller("gm1"), "gm1", "gm2", date(2027, 1, 1), date(2027, 1, 7), [])
    listed = usecases.tasks.inbox(engine, usecases.Caller("gm2"))
    assert [row["id"] for row in listed["rows"]] == [plan["approve"]] and listed["total"] == 1


# -- 加签 ------------------------------------------------------------------------------------------------------

def test_the_gm_asks_the_management_representative_to_sign_the_plan(plan, engine, admin, run):
    """加签: the GM may approve the plan only once mr1 has signed it; a rejection stands until mr1 is asked
    again; the completion records who signed."""
    engine.add_user("mr1", ["mr"], actor=admin)
    approve = plan["approve"][:8]
    asked = run("--as", "gm1", "task", "add-signer", approve, "--to", "mr1", "--reason", "涉及质量目标调整")
    assert asked.exit_code == 0, asked.output
    [waiting] = json.loads(run("--as", "mr1", "tasks", "--sign", "--json").stdout)  # 待我加签
    assert (waiting["id"], waiting["task"]) == (plan["approve"], "approve_plan")
    early = run("--as", "gm1", "task", "complete", approve, "--set", "decision=approved")
    assert early.exit_code == 1 and "waits for the signature of mr1 (加签)" in early.stderr
    assert engine.task(plan["approve"])["state"] == "ready"
    bare = run("--as", "mr1", "task", "sign", approve, "--reject")
    assert bare.exit_code == 1 and "a rejection needs a note" in bare.stderr
    assert run("--as", "mr1", "task", "sign", approve, "--reject", "--note", "目标值偏低").exit_code == 0
    assert json.loads(run("--as", "mr1", "tasks", "--sign", "--json").stdout) == []  # decided
    rejected = run("--as", "gm1", "task", "complete", approve, "--set", "decision=approved")
    assert rejected.exit_code == 1 and "was rejected by mr1 (目标值偏低)" in rejected.stderr
    again = run("--as", "mr1", "task", "sign", approve, "--approve")  # not asked again yet
    assert again.exit_code == 1 and again.stderr.startswith("opsqa: task.sign needs ")
    assert run("--as", "gm1", "task", "add-signer", approve, "--to", "mr1", "--reason", "已与质量部核对").exit_code == 0
    assert run("--as", "mr1", "task", "sign", approve, "--approve", "--note", "同意").exit_code == 0
    done = run("--as", "gm1", "task", "complete", approve, "--set", "decision=approved")
    assert done.exit_code == 0, done.output
    assert engine.instance(plan["instance"])["status"] == "completed"
    history = [(e["kind"], e["actor"], e["payload"].get("decision") or e["payload"].get("reason"))
               for e in engine.history(plan["instance"]) if e["kind"] in ("task.signers_added", "task.signed")]
    assert history == [("task.signers_added", "gm1", "涉及质量目标调整"), ("task.signed", "mr1", "rejected"),
                       ("task.signers_added", "gm1", "已与质量部核对"), ("task.signed", "mr1", "approved")]
    [completed] = [e for e in events(engine, "task.completed") if e["task"] == plan["approve"]]
    assert (completed["actor"], completed["payload"]["signed_by"]) == ("gm1", ["mr1"])


@pytest.mark.parametrize(("login", "args", "words"), [
    ("pm1", ("--to", "mr1", "--reason", "x"), "needs role gm, which pm1 does not hold"),
    ("gm1", ("--to", "mr1"), "task.add_signer needs a reason"),
    ("gm1", ("--to", "nobody", "--reason", "x"), "no opsqa user named 'nobody'"),
    ("gm1", ("--to", "gm1", "--reason", "x"), "a signer is someone else"),
    ("gm1", ("--to", "qmd2", "--to", "mr1", "--reason", "x"), "mr1 already asked to sign"),
])
def test_asking_for_a_signature_against_a_rule_is_one_line_and_changes_nothing(plan, engine, admin, run, login,
                                                                               args, words):
    engine.add_user("mr1", ["mr"], actor=admin)
    engine.add_signers(plan["approve"], ["mr1"], actor=engine.actor("gm1"), reason="涉及目标")
    before = (engine.task_page(plan["approve"], admin)["signers"], engine.history())
    result = run("--as", login, "task", "add-signer", plan["approve"][:8], *args)
    assert result.exit_code == 1 and words in result.stderr and result.stderr.count("\n") == 1, result.output
    signers, history = engine.task_page(plan["approve"], admin)["signers"], engine.history()
    assert signers == before[0] and history[:len(before[1])] == before[1]
    assert [e["kind"] for e in history[len(before[1]):]] == (["security.denied"] if login == "pm1" else [])


def test_a_withdrawn_task_is_signed_again(plan, engine, admin):
    """The drafter's signer approved; the drafter withdraws the completed draft: the signature is asked again."""
    from helpers import PLAN_VALUES

    engine.add_user("mr1", ["mr"], actor=admin)
    instance = engine.start("quality_plan", actor=admin, business_key="2028")
    draft = ready_task(engine, instance, "draft_plan")["id"]
    qmd, mr = engine.actor("qmd1"), engine.actor("mr1")
    engine.add_signers(draft, ["mr1"], actor=qmd, reason="请管代审阅")
    engine.sign(draft, actor=mr, approve=True)
    engine.complete(draft, PLAN_VALUES, actor=qmd)
    engine.withdraw(draft, actor=qmd, reason="附件传错")
    assert [s["decision"] for s in engine.task_page(draft, qmd)["signers"]] == [None]
    with pytest.raises(usecases.OpsqaError, match="waits for the signature of mr1"):
        engine.complete(draft, PLAN_VALUES, actor=qmd)


def test_signatures_on_the_web(plan, engine, admin):
    """The GM asks on the task page; mr1 is told on 我的待办, finds it under 待我加签 and approves there."""
    from starlette.testclient import TestClient
    from test_web import csrf_of, sign_in

    import web

    engine.add_user("mr1", ["mr"], actor=admin)
    for name in ("gm1", "mr1"):
        usecases.auth.set_password(engine, usecases.Caller(ADMIN), name, PASSWORD)
    with TestClient(web.create_app(engine)) as gm, TestClient(web.create_app(engine)) as mr:
        sign_in(gm, "gm1")
        sign_in(mr, "mr1")
        page = gm.get(f"/tasks/{plan['approve']}")
        assert f'action="/tasks/{plan["approve"]}/signers"' in page.text
        refused = gm.post(f"/tasks/{plan['approve']}/signers", data={"csrf": csrf_of(page), "to": "mr1"})
        assert refused.status_code == 400 and engine.task_page(plan["approve"], admin)["signers"] == []
        asked = gm.post(f"/tasks/{plan['approve']}/signers", data={"csrf": csrf_of(page), "to": "mr1",
                                                                   "reason": "涉及质量目标"}, follow_redirects=False)
        assert asked.status_code == 303
        assert "1 项任务等待您加签" in mr.get("/").text
        listing = mr.get("/tasks/sign")
        assert f'href="/tasks/{plan["approve"]}"' in listing.text
        page = mr.get(f"/tasks/{plan['approve']}")
        assert f'action="/tasks/{plan["approve"]}/sign"' in page.text
        signed = mr.post(f"/tasks/{plan['approve']}/sign", data={"csrf": csrf_of(page), "decision": "approve",
                                                                 "note": "同意"}, follow_redirects=False)
        assert signed.status_code == 303
        assert [s["decision"] for s in engine.task_page(plan["approve"], admin)["signers"]] == ["approved"]
        assert f'href="/tasks/{plan["approve"]}"' not in mr.get("/tasks/sign").text


def test_away_and_back_on_the_web(plan, engine, admin):
    """gm1 records their own week away from their page (the name in the header links to it); a clash is shown
    beside the form with what was typed kept; 已返回 ends it."""
    from starlette.testclient import TestClient
    from test_web import csrf_of, sign_in

    import web

    engine.add_user("mr1", ["mr"], actor=admin)
    usecases.auth.set_password(engine, usecases.Caller(ADMIN), "gm1", PASSWORD)
    with TestClient(web.create_app(engine)) as gm:
        sign_in(gm, "gm1")
        assert 'href="/admin/users/gm1"' in gm.get("/").text
        page = gm.get("/admin/users/gm1")
        assert 'name="change" value="away"' in page.text and '<option value="quality_plan">' in page.text
        form = {"csrf": csrf_of(page), "change": "away", "substitute": "mr1", "from": "2027-01-01", "to": "2027-01-07",
                "reason": "出差"}
        assert gm.post("/admin/users/gm1/change", data=form, follow_redirects=False).status_code == 303
        page = gm.get("/admin/users/gm1")
        assert "2027-01-01 至 2027-01-07：mr1 代理" in page.text and "正在外出" in page.text
        clash = gm.post("/admin/users/gm1/change", data={**form, "from": "2027-01-05", "to": "2027-01-09"})
        assert clash.status_code == 400 and 'role="alert"' in clash.text and 'value="2027-01-09"' in clash.text
        bad = gm.post("/admin/users/gm1/change", data={**form, "from": "next week"})
        assert bad.status_code == 400 and "不是日期" in bad.text
        assert len(usecases.admin.user(engine, "gm1")["absences"]) == 1  # nothing stored by the refusals
        other = gm.post("/admin/users/mr1/change", data={**form, "substitute": "gm1"})
        assert other.status_code == 403  # not their own absence, and gm1 is neither qmd nor an admin
        back = gm.post("/admin/users/gm1/change", data={"csrf": csrf_of(page), "change": "back"},
                       follow_redirects=False)
        assert back.status_code == 303 and usecases.admin.user(engine, "gm1")["absences"] == []
    kinds = [e["kind"] for e in engine.history() if e["kind"].startswith("user.")]
    assert kinds[-2:] == ["user.away", "user.back"]


def test_a_substitute_verifies_with_the_roles_of_whom_they_stand_in_for_but_never_their_own_finding(
        verification, engine, admin):
    """qmd1 (who claimed the verification) is away. ops1, standing in, verifies the finding with qmd1's roles;
    pm1, the finding's owner, standing in for qmd1 would verify their own rectification: refused."""
    from datetime import date

    engine.add_user("ops1", ["ops"], actor=admin)
    qmd, task = usecases.Caller("qmd1"), verification["task"]
    values = {"verification": "verified_effective", "verification_comment": "已核实"}
    usecases.admin.away(engine, qmd, "qmd1", "pm1", date(2027, 1, 1), date(2027, 1, 7), [])
    with pytest.raises(usecases.NotPermitted, match="finding.verify: the finding's owner may never do it"):
        usecases.tasks.complete(engine, usecases.Caller("pm1"), task, values)
    assert engine.task(task)["state"] == "ready"
    usecases.admin.back(engine, qmd, "qmd1")
    usecases.admin.away(engine, qmd, "qmd1", "ops1", date(2027, 1, 1), date(2027, 1, 7), [])
    usecases.tasks.complete(engine, usecases.Caller("ops1"), task, values)
    [done] = [e for e in events(engine, "task.completed") if e["task"] == task]
    assert (done["actor"], done["payload"]["for"]) == ("ops1", "qmd1")
    assert usecases.audits.finding(engine, verification["code"])["status"] == "closed"
