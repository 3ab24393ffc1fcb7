"""Messages where the people are (issue 19): WeCom, DingTalk and Feishu robots and e-mail on the outbox, against a
local fake robot server that checks each channel's signature and body (tests/chatserver.py)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest
from chatserver import NOW
from helpers import ADMIN, linear, make_engine, tick_in_process
from sqlalchemy import select

import usecases
from engine import SimulatedClock
from store import Job

ADMIN_CALLER = usecases.Caller(ADMIN)


@pytest.fixture
def org(engine, db_path, chat_server, tmp_path):
    """qmd1 on DingTalk, ops1 on WeCom, gm1 on Feishu; a process whose task is due a day and a half later."""
    org = make_engine(db_path, SimulatedClock(NOW))
    admin = org.actor(ADMIN)
    org.add_user("ops1", ["ops"], actor=admin)
    for name, kind in (("ding", "dingtalk"), ("wx", "wecom"), ("fs", "feishu")):
        usecases.channels.add(org, ADMIN_CALLER, name=name, kind=kind, url=chat_server.url(kind),
                              secret="" if kind == "wecom" else chat_server.secret)
    for user, channel, mention in (("qmd1", "ding", "13800138000"), ("ops1", "wx", "WangWu"),
                                   ("gm1", "fs", "ou_7d8a6e6df7621556")):
        usecases.channels.route(org, ADMIN_CALLER, user, channel=channel, mention=mention)
    for key, value in (("digest_time", ""), ("scheduler_alert_minutes", "0"), ("base_url", "https://qa.example.com")):
        org.change_setting(key, value, actor=admin, reason="测试")
    task = ('<bpmn:userTask id="handle" name="处理现场问题" camunda:assignee="${who}" camunda:dueDate="${due}" />')
    (tmp_path / "chore.bpmn").write_text(linear("chore", ("handle", task), lane="qmd"), encoding="utf-8")
    org.deploy([str(tmp_path / "chore.bpmn")], actor=admin)
    return org


def start(org, who: str, key: str = "K-1", due: timedelta = timedelta(days=3)) -> int:
    return org.start("chore", actor=org.actor(ADMIN), business_key=key,
                     variables={"who": who, "due": (org.clock.now() + due).isoformat()})


def waiting(org) -> list[Job]:
    with org.database.reading() as session:
        return session.scalars(select(Job).where(Job.kind == "message").order_by(Job.id)).all()


def text(delivery) -> str:
    body = delivery.body
    return body.get("markdown", {}).get("content") or body.get("markdown", {}).get("text") or body["content"]["text"]


def test_each_robot_gets_the_task_with_the_mention_the_link_and_nothing_private(org, chat_server):
    for who in ("qmd1", "ops1", "gm1"):
        start(org, who, key=f"K-{who}")
    report = org.tick()
    assert (report.sent, report.unsent) == (3, []) and chat_server.rejected == []
    by_robot = {d.robot: text(d) for d in chat_server.delivered}
    assert "@13800138000" in by_robot["dingtalk"] and "<@WangWu>" in by_robot["wecom"]
    assert '<at user_id="ou_7d8a6e6df7621556"></at>' in by_robot["feishu"]
    for robot, said in by_robot.items():
        assert "待办：处理现场问题" in said and "业务编号 K-" in said and "期限 2027-01-07 09:00 +08:00" in said
        assert "https://qa.example.com/tasks/" in said and "消息编号 " in said
        assert "流程实例" not in said and "opsqa task show" not in said, robot  # the detail is for e-mail only
    sent = [e["payload"] for e in org.history() if e["kind"] == "notification.sent"]
    assert sorted(p["channel"] for p in sent) == ["ding", "fs", "wx"]
    assert {p["reference"] for p in sent} == {d.reference for d in chat_server.delivered}


def test_on_a_seeded_schedule_of_failures_every_message_arrives_and_a_retry_is_the_same_message(org, chat_server):
    chat_server.schedule(seed=19, failure_rate=0.6)
    for n in range(12):
        start(org, ("qmd1", "ops1", "gm1")[n % 3], key=f"K-{n}")
    retries = 0
    for _ in range(60):
        if not waiting(org):
            break
        report = org.tick()
        retries += len(report.unsent)
        org.clock.advance(timedelta(minutes=10))  # past every back-off and Retry-After of these few attempts
        chat_server.now = org.clock.now()
    assert waiting(org) == [] and retries > 0
    outcomes = {outcome for _robot, outcome in chat_server.arrivals}
    assert {"429", "500", "errcode"} <= outcomes  # each kind of failure was met
    references = [d.reference for d in chat_server.delivered]
    assert len(references) == len(set(references)) == 12  # each once: a failed attempt was never also taken
    sent = [e["payload"]["reference"] for e in org.history() if e["kind"] == "notification.sent"]
    assert sorted(sent) == sorted(references)


def test_a_worker_killed_between_sending_and_recording_sends_the_same_message_again(org, chat_server, db_path):
    start(org, "ops1")
    env = {k: v for k, v in os.environ.items() if k != "OPSQA_CRASH"}
    assert tick_in_process(str(db_path), NOW, env | {"OPSQA_CRASH": "message.sent:1"}).returncode == 137
    assert len(chat_server.delivered) == 1 and len(waiting(org)) == 1  # sent, not recorded
    assert tick_in_process(str(db_path), NOW + timedelta(minutes=6), env).returncode == 0  # the lease ran out
    first, second = chat_server.delivered
    assert first.reference == second.reference and waiting(org) == []
    assert sum(e["kind"] == "notification.sent" for e in org.history()) == 1


def test_a_robot_takes_at_most_20_a_minute_and_the_rest_wait_untried(org, chat_server):
    for n in range(25):
        start(org, "ops1", key=f"K-{n}")
    report = org.tick()
    assert report.sent == 20 and report.unsent == []
    later = waiting(org)
    assert len(later) == 5 and all(job.attempts == 0 for job in later)  # a rate limit is not a failure
    assert all(job.run_after == NOW + timedelta(minutes=1) for job in later)
    org.clock.advance(timedelta(seconds=30))
    assert org.tick().sent == 0
    org.clock.advance(timedelta(seconds=30))
    assert org.tick().sent == 5 and len(chat_server.delivered) == 25


def test_a_channel_that_keeps_failing_blocks_no_other_and_is_reported_after_five_tries(org, chat_server, smtp):
    usecases.channels.add(org, ADMIN_CALLER, name="ding", kind="dingtalk", url=chat_server.url("dingtalk"),
                          secret="not-the-secret", replace=True)
    usecases.channels.add(org, ADMIN_CALLER, name="email", kind="email", host="127.0.0.1", port=smtp.port,
                          sender="opsqa@example.com")
    org.add_user("admin2", ["admin"], email="admin2@example.com", actor=org.actor(ADMIN))
    start(org, "qmd1", key="K-ding")
    start(org, "ops1", key="K-wx")
    for _attempt in range(5):
        report = org.tick()
        assert [f["channel"] for f in report.unsent] == ["ding"]
        assert "errcode 310000: sign not match" in report.unsent[0]["error"]
        org.clock.advance(timedelta(hours=7))
        chat_server.now = org.clock.now()
    assert [d.robot for d in chat_server.delivered] == ["wecom"]  # went at the first pass
    [stuck] = [row for row in usecases.scheduling.outbox(org)
               if row["channel"] == "ding" and row["kind"] == "task.ready"]
    assert stuck["attempts"] == 5 and "sign not match" in stuck["last_error"]
    org.tick()  # the alert, queued at the fifth failure, goes out
    alerts = [m for m in smtp.messages if "消息多次发送失败" in m["Subject"]]
    assert len(alerts) == 1 and alerts[0]["To"] == "admin2@example.com"  # once, to admin (qmd1's robot fails)


def test_a_roles_group_channel_gets_its_unheld_task_once(org, chat_server, tmp_path):
    usecases.channels.add(org, ADMIN_CALLER, name="wx-qmd", kind="wecom", url=chat_server.url("wecom"))
    org.add_user("qmd2", ["qmd"], actor=org.actor(ADMIN))
    usecases.channels.role(org, ADMIN_CALLER, "qmd", "wx-qmd")
    (tmp_path / "lane.bpmn").write_text(linear("lane", ("check", '<bpmn:userTask id="check" name="复核记录" />'),
                                               lane="qmd"), encoding="utf-8")
    org.deploy([str(tmp_path / "lane.bpmn")], actor=org.actor(ADMIN))
    org.start("lane", actor=org.actor(ADMIN), business_key="R-1")
    assert [job.key.rsplit(":", 1)[1] for job in waiting(org)] == ["@qmd"]
    assert org.tick().sent == 1
    [posted] = chat_server.delivered
    assert "待办：复核记录" in text(posted) and "<@" not in text(posted)


def test_due_tomorrow_overdue_and_the_morning_digest(org, chat_server):
    start(org, "ops1", key="K-soon", due=timedelta(hours=20))
    start(org, "ops1", key="K-late", due=timedelta(days=3))
    org.change_setting("digest_time", "08:30", actor=org.actor(ADMIN), reason="测试")
    report = org.tick()  # 09:00: two new tasks, one due within a day, and the morning digest
    assert (report.due_soon, report.digests, report.sent) == (1, 1, 4)
    said = [text(d) for d in chat_server.delivered]
    assert any("即将到期：处理现场问题" in s and "K-soon" in s for s in said)
    [digest] = [s for s in said if "今日待办" in s]
    assert "今日待办 2 项" in digest and "没有超期的任务" in digest
    assert "· 处理现场问题（期限 2027-01-05 05:00 +08:00）" in digest  # the most urgent first
    assert org.tick().sent == 0  # each once
    org.clock.advance(timedelta(days=1))  # 2027-01-05 09:00: K-soon overdue; a new day's digest
    chat_server.now = org.clock.now()
    report = org.tick()
    assert (report.overdue, report.digests) == (1, 1)
    said = [text(d) for d in chat_server.delivered[4:]]
    assert any("已超期：处理现场问题" in s for s in said)
    assert any("今日待办 2 项" in s and "其中已超期 1 项" in s for s in said)
    org.clock.advance(timedelta(hours=4))  # 13:00 is past the morning: no digest late in the day
    chat_server.now = org.clock.now()
    assert org.tick().digests == 0


def test_the_digest_lists_the_roles_tasks_nobody_holds_yet_too(org, chat_server, tmp_path):
    (tmp_path / "lane.bpmn").write_text(linear("lane", ("check", '<bpmn:userTask id="check" name="复核记录" />'),
                                               lane="qmd"), encoding="utf-8")
    org.deploy([str(tmp_path / "lane.bpmn")], actor=org.actor(ADMIN))
    org.start("lane", actor=org.actor(ADMIN), business_key="R-1")
    org.change_setting("digest_time", "08:30", actor=org.actor(ADMIN), reason="测试")
    org.tick()
    [digest] = [text(d) for d in chat_server.delivered if "今日待办" in text(d)]
    assert "今日待办 1 项" in digest and "· 复核记录" in digest  # what the one is, not only how many


def test_an_incident_and_a_scheduler_that_stood_still_alert_admin_and_qmd(org, chat_server):
    org.change_setting("scheduler_alert_minutes", "30", actor=org.actor(ADMIN), reason="测试")
    org.tick()
    org.clock.advance(timedelta(hours=2))
    chat_server.now = org.clock.now()
    org.tick()
    [gap] = [text(d) for d in chat_server.delivered if "调度器曾停止运行" in text(d)]
    assert "2027-01-04 09:00 +08:00 至 2027-01-04 11:00 +08:00 之间没有运行（120 分钟）" in gap
    assert "@13800138000" in gap  # qmd1, on DingTalk
    instance = start(org, "ops1", key="B-1")  # a step that would not come to rest, say: an incident
    org.runtime.incident(instance, "RunawayStep: 测试", now=org.clock.now(), actor=org.actor(ADMIN))
    assert org.instance(instance)["status"] == "error"
    org.tick()
    [incident] = [text(d) for d in chat_server.delivered if "流程实例出错" in text(d)]
    assert f"chore #{instance} B-1" in incident and "错误 RunawayStep: 测试" in incident
    assert f"https://qa.example.com/instances/{instance}" in incident


@pytest.mark.parametrize(("args", "words"), [
    (["channels", "add", "x", "--kind", "wecom", "--url", "ftp://example.com/hook"], "通道的 url 须为 http://"),
    (["channels", "add", "x", "--kind", "dingtalk", "--url", "https://oapi.dingtalk.com/robot/send?access_token=t"],
     "通道的 secret 缺失"),
    (["channels", "add", "ding", "--kind", "wecom", "--url", "https://qyapi.weixin.qq.com/x?key=k"],
     "there is a channel ding already"),
    (["users", "set", "ops1", "--channel", "nowhere", "--mention", "WangWu"], "no channel 'nowhere'"),
    (["users", "set", "ops1", "--channel", "ding", "--mention", "WangWu"], "is not a mobile number"),
    (["channels", "remove", "ding"], "channel ding is used by qmd1"),
    (["channels", "role", "auditor", "--channel", "wx"], "nobody holds role auditor"),
])
def test_bad_channel_input_is_one_line_and_stores_nothing(org, run, args, words):
    before = (usecases.channels.channels(org), len(org.history()))
    result = run(*args)
    assert result.exit_code == 1 and words in result.stderr and result.stderr.count("\n") == 1, result.output
    assert (usecases.channels.channels(org), len(org.history())) == before


def test_list_masks_secrets_and_tokens_and_test_sends_one_message(org, run, chat_server):
    listed = run("channels", "list", "--json")
    assert listed.exit_code == 0
    shown = json.loads(listed.stdout)
    assert chat_server.secret not in listed.stdout and chat_server.token not in listed.stdout
    assert {row["name"]: row["set_up"] for row in shown} == {"ding": True, "email": False, "fs": True, "wx": True}
    assert [row["users"] for row in shown if row["name"] == "ding"] == [["qmd1"]]
    sent = run("channels", "test", "wx", "--to", "ops1")
    assert sent.exit_code == 0 and "消息编号" in sent.stderr, sent.output
    [test] = chat_server.delivered
    assert "opsqa 测试消息" in text(test) and "<@WangWu>" in text(test)
    assert [e["payload"]["error"] for e in org.history() if e["kind"] == "channel.tested"] == [None]


def test_the_smtp_settings_of_an_older_opsqa_point_to_the_email_channel(org, run):
    result = run("settings", "smtp_host", "mail.example.com", "--reason", "x")
    assert result.exit_code == 1 and "opsqa channels add email --kind email" in result.stderr


def test_a_simulated_year_counts_messages_per_channel_and_sends_none(org, chat_server, db_path):
    from helpers import stamp_simulated

    start(org, "ops1", key="K-1")
    start(org, "qmd1", key="K-2")
    stamp_simulated(str(db_path), NOW)
    simulated = make_engine(db_path, SimulatedClock(NOW))
    assert simulated.tick().sent == 0 and chat_server.delivered == []
    with simulated.database.reading() as session:
        from engine import outbox

        assert outbox.counts(session) == {"ding": 1, "wx": 1}


def test_a_findings_reminder_reaches_its_owner_on_their_robot_with_the_findings_page(org, chat_server):
    from datetime import date

    org.deploy(["processes/nc_followup.bpmn"], actor=org.actor(ADMIN))
    code = usecases.audits.add_finding(org, usecases.Caller("qmd1"), owner="ops1", description="巡检记录缺失",
                                       due=date(2027, 1, 10))["code"]
    org.tick()
    org.clock.set(datetime(2027, 1, 7, 9, 30, tzinfo=NOW.tzinfo))  # three days before: the reminder
    chat_server.now = org.clock.now()
    org.tick()
    [reminder] = [text(d) for d in chat_server.delivered if code in text(d) and "期限 2027-01-10" in text(d)]
    assert "<@WangWu>" in reminder and f"https://qa.example.com/findings/{code}" in reminder
    assert "巡检记录缺失" not in reminder  # the description is for the owner's e-mail, not the group
