"""Messages leaving the system: written in the step's transaction, delivered later by a worker.

A message is an outbox job (kind `message`) committed with the change it tells of, so a rolled-back step
sends nothing. It goes to a person by their route — their channel and the id it mentions, else e-mail when
they have an address — or, for a role's unheld task, once to the role's group channel when it has one. Its
key is `msg:CHANNEL:KEY:TO`, one per message and recipient.

A worker claims the messages of the channels that are set up under a lease (engine/jobs.py), keeps each
robot's rate limit (counted under the channel row's lock, so several workers share it), sends, then deletes
the job and records `notification.sent` in the history. A worker that dies after sending and before that
commit leaves the job to be sent again: delivery is at least once, and every copy carries the same 消息编号
(an e-mail the same Message-ID), made from the key. A failure backs off (the channel's Retry-After when it
gives one); a channel that fails is left alone for the rest of the pass, so it never holds up the others;
a message still failing after five attempts is reported to admin and qmd.

What a message says is kept as data (its kind, title, lines) and made into the channel's text at delivery
(engine/channels.py): robots post into groups, so a chat text carries only the title and the `lines` (a
task's name, business key, due date), the @mention and the link; an e-mail carries the `detail` too.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from store import Channel, Job, NoticeMark, RoleChannel, User, UserRole, append_event, failpoints, rows

from . import channels, jobs, settings

log = logging.getLogger("opsqa.outbox")

EMAIL = "email"
PAUSE = timedelta(minutes=1)  # a channel that failed in a pass: its other messages wait this long


def message_id(key: str) -> str:
    return channels.message_id(key)


def anyone_reachable(session: Session) -> bool:
    """Whether anyone can be told at all (asked once per transaction: most steps notify nobody)."""
    if "anyone_reachable" not in session.info:
        session.info["anyone_reachable"] = rows.anyone_reachable(session)
    return session.info["anyone_reachable"]


def route(session: Session, name: str) -> tuple[str, str] | None:
    """Where a person's messages go: (channel, the id it mentions), or None (no channel and no address, or
    disabled)."""
    user = session.get(User, name)
    if user is None or user.disabled_at is not None:
        return None
    if user.channel:
        return user.channel, user.mention or ""
    if user.email:
        return EMAIL, user.email
    return None


def tell(session: Session, *, key: str, to: str, kind: str, title: str, lines: list[str] | tuple = (),
         detail: list[str] | tuple = (), path: str | None = None, now: datetime) -> bool:
    """Queue a message to user `to`, once per (key, user). Returns False when they cannot be reached."""
    where = route(session, to)
    if where is None:
        return False
    channel, mention = where
    return _queue(session, f"msg:{channel}:{key}:{to}", now, channel=channel, user=to, mention=mention, kind=kind,
                  title=title, lines=list(lines), detail=list(detail), path=path)


def tell_role(session: Session, role: str, *, key: str, kind: str, title: str, lines: list[str] | tuple = (),
              detail: list[str] | tuple = (), path: str | None = None, now: datetime) -> list[str]:
    """A message for a role: once to its group channel when it has one, else to each member. Returns who."""
    group = session.get(RoleChannel, role)
    if group is not None:
        _queue(session, f"msg:{group.channel}:{key}:@{role}", now, channel=group.channel, user=None, mention="",
               kind=kind, title=title, lines=list(lines), detail=list(detail), path=path)
        return [f"@{role}"]
    return [user for user in role_members(session, role)
            if tell(session, key=key, to=user, kind=kind, title=title, lines=lines, detail=detail, path=path,
                    now=now)]


def tell_holders(session: Session, *, assignee: str | None, role: str | None, key: str, kind: str, title: str,
                 lines: list[str] | tuple = (), detail: list[str] | tuple = (), path: str | None = None,
                 now: datetime) -> list[str]:
    """A message about a task for whoever may do it: its holder, else its role (the group, or each member)."""
    if assignee:
        return [assignee] if tell(session, key=key, to=assignee, kind=kind, title=title, lines=lines,
                                  detail=detail, path=path, now=now) else []
    if role:
        return tell_role(session, role, key=key, kind=kind, title=title, lines=lines, detail=detail, path=path,
                         now=now)
    return []


def alert(session: Session, *, key: str, title: str, lines: list[str] | tuple = (), path: str | None = None,
          now: datetime) -> None:
    """For the people who keep opsqa running (admin and qmd), once per key."""
    if not mark(session, f"alert:{key}", now):
        return
    for role in ("admin", "qmd"):
        tell_role(session, role, key=f"alert:{key}", kind="alert", title=title, lines=lines, path=path, now=now)


def mark(session: Session, key: str, now: datetime) -> bool:
    """Note that a once-only notice went out; False when it already had. An insert that gives way to a
    concurrent one (several schedulers on PostgreSQL pass at the same moment): exactly one of them wins."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    result = session.execute(dialect.insert(NoticeMark).values(key=key[:200], at=now)
                             .on_conflict_do_nothing(index_elements=["key"]))
    return result.rowcount == 1


def notify(session: Session, *, key: str, to: str, subject: str, body: str, now: datetime,
           path: str | None = None) -> bool:
    """A handler's notice to a user (a finding due, overdue, escalated): the subject is what a group sees,
    with the link to the record's page (`path`)."""
    return tell(session, key=key, to=to, kind="note", title=subject.removeprefix("[opsqa] "),
                detail=body.splitlines(), path=path, now=now)


def _queue(session: Session, key: str, now: datetime, **payload) -> bool:
    key = key[:200]
    if session.scalar(select(Job.id).where(Job.key == key)) is None:
        payload["title"] = channels.one_line(payload["title"])[:200]
        session.add(Job(key=key, kind="message", instance_id=None, run_after=now, attempts=0, fence=0, created_at=now,
                        payload=json.dumps(payload, ensure_ascii=False)))
    return True


def role_members(session: Session, role: str) -> list[str]:
    return sorted(session.scalars(select(UserRole.user_name).where(UserRole.role == role)))


def pending(session: Session) -> list[dict]:
    """The messages waiting to be sent, oldest first, with their channel, attempts and last error."""
    waiting = []
    for job in session.scalars(select(Job).where(Job.kind == "message").order_by(Job.created_at, Job.id)):
        payload = json.loads(job.payload or "{}")
        waiting.append({"key": job.key, "channel": payload.get("channel"), "to": payload.get("user"),
                        "kind": payload.get("kind"), "title": payload.get("title"), "created_at": job.created_at,
                        "next_try": job.run_after, "attempts": job.attempts, "last_error": job.last_error})
    return waiting


def counts(session: Session, *, since: datetime | None = None) -> dict[str, int]:
    """How many messages each channel has waiting (queued since `since`): what a simulated year would have
    sent. The channel is read from the key, msg:CHANNEL:..."""
    query = select(Job.key).where(Job.kind == "message")
    if since is not None:
        query = query.where(Job.created_at >= since)
    totals: dict[str, int] = {}
    for (key,) in session.execute(query):
        name = key.split(":", 2)[1] if key.count(":") >= 2 else "?"
        totals[name] = totals.get(name, 0) + 1
    return dict(sorted(totals.items()))


def message(payload: dict, key: str, kind: str, base_url: str) -> channels.Message:
    """The message a job holds, as its channel sends it (the e-mail with its detail and an [opsqa] subject)."""
    path = payload.get("path") if isinstance(payload.get("path"), str) else None
    link = f"{base_url}{path}" if base_url and path else ""
    title, lines = str(payload.get("title") or ""), [str(line) for line in payload.get("lines") or []]
    mention = payload.get("mention") if isinstance(payload.get("mention"), str) else ""
    if kind == "email":
        detail = [str(line) for line in payload.get("detail") or []]
        return channels.Message(key=payload.get("message_id_key") or key, title=f"[opsqa] {title}",
                                lines=tuple(lines + detail), mention=mention, link=link)
    return channels.Message(key=key, title=title, lines=tuple(lines), mention=mention, link=link)


def deliver(engine, now: datetime, *, worker: str, limit: int = 100) -> tuple[int, list[dict]]:
    """Send what the outbox holds for the channels that are set up; returns (sent, failures)."""
    with engine.database.reading() as session:
        if settings.simulated_time(session) is not None:  # a simulated year's messages are counted, never sent
            return 0, []
        configured = {row.name: stored_channel(row) for row in session.scalars(select(Channel))}
        base_url = settings.get(session, "base_url")
    if not configured:
        return 0, []
    ours = or_(*(Job.key.startswith(f"msg:{name}:", autoescape=True) for name in configured))
    claims = jobs.claim(engine.database, worker, now, kind="message", limit=limit, where=ours)
    if not claims:
        return 0, []
    with engine.database.reading() as session:
        payloads = {job_id: json.loads(payload) for job_id, payload in session.execute(
            select(Job.id, Job.payload).where(Job.id.in_([c.job_id for c in claims]), Job.payload.is_not(None)))}
    sent, failures, paused = 0, [], {}
    for claim in claims:
        payload = payloads.get(claim.job_id)
        name = (payload or {}).get("channel")
        channel = configured.get(name)
        if payload is None or channel is None:
            continue
        if name in paused:  # it failed a moment ago: the next pass tries again
            _postpone(engine, claim, paused[name])
            continue
        wait = _reserve(engine, channel, now)
        if wait:  # the robot's rate limit: not a failure
            _postpone(engine, claim, now + timedelta(seconds=wait))
            continue
        try:
            channels.send(channel, message(payload, claim.key, channel.kind, base_url), now)
        except (channels.DeliveryFailed, channels.ChannelError) as exc:
            retry_after = getattr(exc, "retry_after", None)
            _failed(engine, claim, str(exc), now, retry_after)
            failures.append({"key": claim.key, "channel": name, "error": str(exc)})
            if not getattr(exc, "permanent", False):  # the channel is down or busy, not this message at fault
                paused[name] = now + max(PAUSE, timedelta(seconds=retry_after or 0))
            continue
        failpoints.point("message.sent")
        try:
            with engine.database.transaction() as session:
                jobs.hold(session, claim)
                session.delete(session.get(Job, claim.job_id))
                append_event(session, at=now, kind="notification.sent", actor="scheduler",
                             payload={"key": claim.key, "channel": name, "to": payload.get("user"),
                                      "kind": payload.get("kind"), "title": payload.get("title"),
                                      "reference": channels.reference(claim.key)})
        except jobs.LeaseLost:
            log.info("message %s: sent, but its lease was lost meanwhile; it may be sent again", claim.key)
            continue
        sent += 1
    return sent, failures


def stored_channel(row: Channel) -> channels.Channel:
    """A stored channel as the wire layer takes it."""
    return channels.Channel(name=row.name, kind=row.kind, url=row.url, secret=row.secret, host=row.host,
                            port=row.port, sender=row.sender, user=row.login, password=row.password,
                            starttls=row.starttls)


def _reserve(engine, channel: channels.Channel, now: datetime) -> float:
    """Count a send against the channel's rate limit, under its row's lock; or the seconds to wait first."""
    if not channels.LIMITS.get(channel.kind):
        return 0.0
    with engine.database.transaction() as session:
        row = session.scalar(select(Channel).where(Channel.name == channel.name).with_for_update())
        if row is None:
            return 0.0  # removed meanwhile: the send fails on its own
        recent = [datetime.fromisoformat(at) for at in json.loads(row.recent or "[]")]
        wait, kept = channels.wait(channel.kind, recent, now)
        if not wait:
            row.recent = json.dumps([at.isoformat() for at in [*kept, now]])
        return wait


def _postpone(engine, claim: jobs.Claim, until: datetime) -> None:
    with engine.database.transaction() as session:
        jobs.postpone(session, claim, until)


def _failed(engine, claim: jobs.Claim, error: str, now: datetime, retry_after: float | None) -> None:
    with engine.database.transaction() as session:
        not_before = now + timedelta(seconds=retry_after) if retry_after else None
        if jobs.failed(session, claim, error, now, not_before=not_before):  # never an instance incident
            alert(session, key=f"failing:{claim.key}", now=now, title="消息多次发送失败",
                  lines=[f"消息 {channels.reference(claim.key)} 已失败 {jobs.MAX_ATTEMPTS} 次，仍在重试",
                         f"最近的错误：{error[:200]}", "查看：opsqa outbox"])
