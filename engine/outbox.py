"""Messages leaving the system: written in the step's transaction, delivered later by a worker.

A notification is an outbox job (kind `email`) committed with the change it tells of, so a rolled-back
step sends nothing. A worker claims it under a lease (engine/jobs.py), sends it over SMTP, then deletes
it and records `notification.sent` in the history. A worker that dies after sending and before that
commit leaves the job to be sent again: delivery is at least once, and every copy carries the same
Message-ID (made from the job's idempotency key), by which a receiver drops the second.

SMTP is set with `opsqa settings smtp_host HOST` (and smtp_port, smtp_from); with no host, messages
wait in the outbox. Users without an e-mail address are not notified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import smtplib
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import Job, Task, User, UserRole, append_event, failpoints, rows

from . import jobs, settings
from .clock import local_time

log = logging.getLogger("opsqa.outbox")


def message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@opsqa>"


def anyone_mailed(session: Session) -> bool:
    """Whether any user has an e-mail address (asked once per transaction: most steps notify nobody)."""
    if "anyone_mailed" not in session.info:
        session.info["anyone_mailed"] = rows.anyone_mailed(session)
    return session.info["anyone_mailed"]


def notify(session: Session, *, key: str, to: str, subject: str, body: str, now: datetime) -> bool:
    """Queue an e-mail to user `to`, once per (key, user). Returns False when `to` has no address."""
    user = session.get(User, to)
    if user is None or not user.email:
        return False
    full_key = f"email:{key}:{to}"
    if session.scalar(select(Job.id).where(Job.key == full_key)) is not None:
        return True
    session.add(Job(key=full_key, kind="email", instance_id=None, run_after=now, attempts=0, fence=0, created_at=now,
                    payload=json.dumps({"to": user.email, "user": to, "subject": header(subject), "body": body},
                                       ensure_ascii=False)))
    return True


def header(text: str, limit: int = 200) -> str:
    """A mail header's value from text a person wrote (a task's or a process's name): control characters
    become spaces, runs of space one, and the length is bounded. A line break in a header would be refused
    by the mail library at delivery (or, in a looser one, start a header of the sender's choosing)."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def role_members(session: Session, role: str) -> list[str]:
    return sorted(session.scalars(select(UserRole.user_name).where(UserRole.role == role)))


def pending(session: Session) -> list[dict]:
    """The messages waiting to be sent, oldest first, with their attempts and last error."""
    rows = []
    for job in session.scalars(select(Job).where(Job.kind == "email").order_by(Job.created_at, Job.id)):
        payload = json.loads(job.payload or "{}")
        rows.append({"key": job.key, "to": payload.get("user"), "address": payload.get("to"),
                     "subject": payload.get("subject"), "created_at": job.created_at, "next_try": job.run_after,
                     "attempts": job.attempts, "last_error": job.last_error})
    return rows


def queue_overdue_tasks(engine, now: datetime, *, limit: int = 500) -> int:
    """Once per task: tell whoever may do an open task that it is past its deadline."""
    with engine.database.transaction() as session:
        tasks = session.scalars(select(Task).where(Task.state == "ready", Task.due_at <= now,
                                                   Task.overdue_notified_at.is_(None))
                                .order_by(Task.due_at).limit(limit).with_for_update(skip_locked=True)).all()
        zone = settings.zone(session) if tasks else None
        for task in tasks:
            users = [task.assignee] if task.assignee else role_members(session, task.role) if task.role else []
            for user in users:
                notify(session, key=f"task.overdue:{task.id}", to=user, now=now,
                       subject=f"[opsqa] 已超期：{task.name}（期限 {local_time(task.due_at, zone)}）",
                       body=f"待办任务已超过期限：{task.name}\n实例 {task.instance_id}\n"
                            f"查看：opsqa task show {task.id[:8]}\n")
            task.overdue_notified_at = now
        return len(tasks)


def deliver(engine, now: datetime, *, worker: str, limit: int = 100) -> tuple[int, list[dict]]:
    """Send what the outbox holds (when SMTP is set up); returns (sent, failures)."""
    with engine.database.reading() as session:
        host = settings.get(session, "smtp_host")
        port, sender = int(settings.get(session, "smtp_port")), settings.get(session, "smtp_from")
        simulated = settings.simulated_time(session) is not None
    if not host or simulated:  # a simulated year's messages are counted, never sent to real people
        return 0, []
    sent, failures = 0, []
    claims = jobs.claim(engine.database, worker, now, kind="email", limit=limit)
    if not claims:
        return 0, []
    try:
        connection = smtplib.SMTP(host, port, timeout=30)
    except OSError as exc:
        for claim in claims:
            _failed(engine, claim, f"cannot reach {host}:{port}: {exc}", now)
        return 0, [{"key": c.key, "error": f"cannot reach {host}:{port}: {exc}"} for c in claims]
    with engine.database.reading() as session:
        payloads = {job_id: json.loads(payload) for job_id, payload in session.execute(
            select(Job.id, Job.payload).where(Job.id.in_([c.job_id for c in claims]), Job.payload.is_not(None)))}
    with connection:
        for claim in claims:
            payload = payloads.get(claim.job_id)
            if payload is None:
                continue
            try:
                message = EmailMessage()
                message["From"], message["To"] = header(sender), header(payload["to"])
                message["Subject"] = header(payload["subject"])
                message["Message-ID"] = message_id(claim.key)
                message.set_content(payload["body"])
                connection.send_message(message)
            except (smtplib.SMTPException, ValueError, TypeError) as exc:  # this message; the others go on
                error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
                _failed(engine, claim, error, now)
                failures.append({"key": claim.key, "error": error})
                continue
            failpoints.point("email.sent")
            try:
                with engine.database.transaction() as session:
                    jobs.hold(session, claim)
                    session.delete(session.get(Job, claim.job_id))
                    append_event(session, at=now, kind="notification.sent", actor="scheduler",
                                 payload={"key": claim.key, "to": payload["user"], "subject": payload["subject"],
                                          "message_id": message_id(claim.key)})
            except jobs.LeaseLost:
                log.info("e-mail %s: sent, but its lease was lost meanwhile; it may be sent again", claim.key)
                continue
            sent += 1
    return sent, failures


def _failed(engine, claim: jobs.Claim, error: str, now: datetime) -> None:
    with engine.database.transaction() as session:
        jobs.failed(session, claim, error, now)  # backs off; an e-mail never becomes an instance incident
