"""Notifications leave through the outbox, at least once and deduplicated by their key, to a real SMTP
server on loopback (aiosmtpd)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest
from helpers import ADMIN, PLAN_VALUES, make_engine, ready_task, tick_in_process
from sqlalchemy import select

from engine import SimulatedClock
from engine.outbox import message_id
from store import Job

START = datetime.fromisoformat("2027-01-04T09:00:00+08:00")


@pytest.fixture
def mailed(engine, db_path, smtp):
    org = make_engine(db_path, SimulatedClock(START))
    admin = org.actor(ADMIN)
    org.add_user("qmd1", ["qmd"], email="zhangsan@example.com", actor=admin)
    org.add_user("qmd2", ["qmd"], actor=admin)  # no address: not notified
    org.add_user("gm1", ["gm"], email="lisi@example.com", actor=admin)
    mail_to(org, smtp.port)
    for key in ("digest_time", "scheduler_alert_minutes"):  # each has its own tests (test_notices.py)
        org.change_setting(key, "" if key == "digest_time" else "0", actor=admin, reason="这里只测逐条消息")
    org.deploy(["processes/quality_plan.bpmn"], actor=admin)
    return org


def mail_to(org, port: int, *, replace: bool = False) -> None:
    import usecases

    usecases.channels.add(org, usecases.Caller(ADMIN), name="email", kind="email", host="127.0.0.1", port=port,
                          sender="opsqa@example.com", replace=replace)


def outbox(engine) -> list[Job]:
    with engine.database.reading() as session:
        return session.scalars(select(Job).where(Job.kind == "message").order_by(Job.key)).all()


def test_a_new_task_is_mailed_once_and_a_refused_step_mails_nothing(mailed, smtp):
    instance = mailed.start("quality_plan", actor=mailed.actor(ADMIN), business_key="2027")
    draft = ready_task(mailed, instance, "draft_plan")
    assert [job.key for job in outbox(mailed)] == [f"msg:email:task.ready:{draft['id']}:qmd1"]
    report = mailed.tick()
    assert (report.sent, report.unsent) == (1, [])
    [message] = smtp.messages
    assert message["To"] == "zhangsan@example.com" and message["From"] == "opsqa@example.com"
    assert message["Subject"] == "[opsqa] 待办：编制组织级质量管理计划"
    assert message["Message-ID"] == message_id(f"msg:email:task.ready:{draft['id']}:qmd1")
    assert "业务编号 2027" in message.get_content() and "流程实例 quality_plan #1" in message.get_content()
    assert outbox(mailed) == [] and mailed.tick().sent == 0 and len(smtp.messages) == 1

    with pytest.raises(Exception, match="objectives"):
        mailed.complete(draft["id"], {**PLAN_VALUES, "objectives": ""}, actor=mailed.actor("qmd1"))
    assert outbox(mailed) == []  # the refused step queued nothing
    mailed.complete(draft["id"], PLAN_VALUES, actor=mailed.actor("qmd1"))
    assert mailed.tick().sent == 1 and smtp.messages[-1]["To"] == "lisi@example.com"
    sent = [e["payload"] for e in mailed.history() if e["kind"] == "notification.sent"]
    assert [(p["to"], p["channel"], message_id(p["key"])) for p in sent] == [
        ("qmd1", "email", message["Message-ID"]), ("gm1", "email", smtp.messages[-1]["Message-ID"])]


def test_a_worker_dying_after_sending_sends_again_with_the_same_message_id(mailed, smtp, db_path):
    mailed.start("quality_plan", actor=mailed.actor(ADMIN), business_key="2027")

    def tick(now: datetime, crash: str | None = None) -> int:
        env = {k: v for k, v in os.environ.items() if k != "OPSQA_CRASH"} | ({"OPSQA_CRASH": crash} if crash else {})
        return tick_in_process(str(db_path), now, env, timeout=120).returncode

    assert tick(START, crash="message.sent:1") == 137  # sent, then killed before recording it
    assert len(smtp.messages) == 1 and len(outbox(mailed)) == 1
    assert tick(START + timedelta(minutes=2)) == 0  # the dead worker's lease still holds
    assert len(smtp.messages) == 1
    assert tick(START + timedelta(minutes=6)) == 0
    assert len(smtp.messages) == 2 and outbox(mailed) == []
    assert len({m["Message-ID"] for m in smtp.messages}) == 1  # the receiver can drop the copy
    assert sum(e["kind"] == "notification.sent" for e in mailed.history()) == 1


def test_an_unreachable_server_backs_off_and_keeps_the_message(mailed, smtp, run):
    mail_to(mailed, 1, replace=True)  # nothing listens there
    mailed.start("quality_plan", actor=mailed.actor(ADMIN), business_key="2027")
    report = mailed.tick()
    assert report.sent == 0 and "ConnectionRefusedError" in report.unsent[0]["error"]
    [waiting] = run.json("outbox")
    assert (waiting["channel"], waiting["to"], waiting["attempts"]) == ("email", "qmd1", 1)
    assert "ConnectionRefusedError" in waiting["last_error"]
    [job] = outbox(mailed)
    assert (job.attempts, job.lease_owner) == (1, None) and job.run_after > mailed.clock.now()
    mail_to(mailed, smtp.port, replace=True)
    mailed.clock.advance(timedelta(minutes=1))
    assert mailed.tick().sent == 1 and len(smtp.messages) == 1


def test_an_overdue_task_is_mailed_once(mailed, smtp, tmp_path):
    from helpers import linear

    task = ('<bpmn:userTask id="handle" name="处理" camunda:assignee="${who}" camunda:dueDate="${due}" />')
    (tmp_path / "due.bpmn").write_text(linear("due", ("handle", task), lane="qmd"), encoding="utf-8")
    mailed.deploy([str(tmp_path / "due.bpmn")], actor=mailed.actor(ADMIN))
    mailed.start("due", actor=mailed.actor(ADMIN), variables={"who": "qmd1",
                                                               "due": (START + timedelta(days=1)).isoformat()})
    report = mailed.tick()
    assert (report.sent, report.due_soon) == (2, 1)  # the new task, due within a day
    assert smtp.messages[-1]["Subject"].startswith("[opsqa] 即将到期：处理")
    mailed.clock.advance(timedelta(days=1, minutes=1))
    report = mailed.tick()
    assert (report.overdue, report.sent) == (1, 1)
    assert smtp.messages[-1]["Subject"].startswith("[opsqa] 已超期：处理")
    mailed.clock.advance(timedelta(days=1))
    report = mailed.tick()
    assert (report.overdue, report.sent) == (0, 0)


def test_a_subject_with_a_line_break_is_sent_on_one_line_and_a_bad_message_does_not_block_the_rest(mailed, smtp):
    """Before: a task name with a newline (deployable then, queued by an older opsqa) raised at delivery
    outside the error handling, so no e-mail left and the outbox showed no error."""
    now = mailed.clock.now()
    with mailed.database.transaction() as session:
        for key, to, subject in (("a", "zhangsan@example.com", "[opsqa] 新任务：处理\r\nBcc: evil@example.com"),
                                 ("b", ["not", "an", "address"], "[opsqa] 新任务"),
                                 ("c", "lisi@example.com", "[opsqa] 新任务：复核")):
            session.add(Job(key=f"msg:email:{key}", kind="message", instance_id=None, run_after=now, attempts=0,
                            fence=0, created_at=now, payload=json.dumps(
                                {"channel": "email", "mention": to, "user": "qmd1", "title": subject, "detail": ["x"]},
                                ensure_ascii=False)))
    report = mailed.tick()
    assert report.sent == 2 and [failure["key"] for failure in report.unsent] == ["msg:email:b"]
    assert [m["Subject"] for m in smtp.messages] == ["[opsqa] [opsqa] 新任务：处理 Bcc: evil@example.com",
                                                     "[opsqa] [opsqa] 新任务：复核"]
    assert all(m["Bcc"] is None for m in smtp.messages)
    [waiting] = outbox(mailed)
    assert waiting.key == "msg:email:b" and waiting.attempts == 1 and "没有收件地址" in waiting.last_error
