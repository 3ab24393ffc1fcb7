"""What the scheduler tells people by itself, each once: a task due within a day, a task overdue, each
person's morning digest of open tasks; and, for admin and qmd, alerts: an instance's incident, a message that
keeps failing (engine/outbox.py), a scheduler that has not passed for a while.

Texts are Chinese, for people; a message about a task carries, for the group a robot posts into, only its
name, business key and due date (and the @mention and link the outbox adds); what else the e-mail says goes
in its detail.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from store import Instance, NoticeMark, Task, User

from . import outbox, settings
from .clock import local_time
from .users import roles_of

DUE_SOON = timedelta(days=1)
DIGEST_WINDOW = timedelta(hours=3)  # a digest not sent by then (the scheduler was down) waits for tomorrow
DIGEST_TOP = 3
PASS_MARK = "scheduler.pass"


def _zone(session: Session):
    if "zone" not in session.info:
        session.info["zone"] = settings.zone(session)
    return session.info["zone"]


def task_lines(session: Session, instance, due_at: datetime | None) -> list[str]:
    """What anyone in a group may read of a task besides its name: its business key and due date."""
    lines = [f"业务编号 {instance.business_key}"] if instance.business_key else []
    if due_at is not None:
        lines.append(f"期限 {local_time(due_at, _zone(session))}")
    return lines


def task_detail(instance, task_id: str) -> list[str]:
    return [f"流程实例 {instance.process_id} #{instance.id}", f"查看：opsqa task show {task_id[:8]}"]


def incident(session: Session, instance, message: str, now: datetime) -> None:
    """An instance stopped with an incident: admin and qmd are told (its first line, and the way back)."""
    if not outbox.anyone_reachable(session):
        return
    key = f" {instance.business_key}" if instance.business_key else ""
    outbox.alert(session, key=f"incident:{instance.id}:{now.isoformat()}", now=now, path=f"/instances/{instance.id}",
                 title=f"流程实例出错：{instance.process_id} #{instance.id}{key}",
                 lines=[f"错误 {(message.splitlines() or [''])[0][:200]}",
                        f"处理后重试：opsqa instance retry {instance.id} --reason 原因"])


def overdue(engine, now: datetime, *, limit: int = 500) -> int:
    """Once per task: tell whoever may do an open task that it is past its deadline."""
    with engine.database.transaction() as session:
        tasks = session.scalars(select(Task).where(Task.state == "ready", Task.due_at <= now,
                                                   Task.overdue_notified_at.is_(None))
                                .order_by(Task.due_at).limit(limit).with_for_update(skip_locked=True)).all()
        if tasks and outbox.anyone_reachable(session):
            instances = _instances(session, tasks)
            for task in tasks:
                instance = instances[task.instance_id]
                outbox.tell_holders(session, assignee=task.assignee or task.claimed_by, role=task.role, now=now,
                                    key=f"task.overdue:{task.id}", kind="task.overdue", title=f"已超期：{task.name}",
                                    lines=task_lines(session, instance, task.due_at),
                                    detail=task_detail(instance, task.id), path=f"/tasks/{task.id}")
        for task in tasks:
            task.overdue_notified_at = now
        return len(tasks)


def due_soon(engine, now: datetime, *, limit: int = 500) -> int:
    """Once per task: tell whoever may do an open task that it falls due within a day."""
    with engine.database.transaction() as session:
        if not outbox.anyone_reachable(session):
            return 0
        tasks = session.scalars(select(Task).where(Task.state == "ready", Task.due_at > now,
                                                   Task.due_at <= now + DUE_SOON)
                                .order_by(Task.due_at).limit(limit)).all()
        marks = set(session.scalars(select(NoticeMark.key).where(
            NoticeMark.key.in_([f"due:{task.id}" for task in tasks]))))
        tasks = [task for task in tasks if f"due:{task.id}" not in marks]
        tasks = [task for task in tasks if outbox.mark(session, f"due:{task.id}", now)]  # another worker's: theirs
        instances = _instances(session, tasks)
        for task in tasks:
            instance = instances[task.instance_id]
            outbox.tell_holders(session, assignee=task.assignee or task.claimed_by, role=task.role, now=now,
                                key=f"task.due_soon:{task.id}", kind="task.due_soon", title=f"即将到期：{task.name}",
                                lines=task_lines(session, instance, task.due_at),
                                detail=task_detail(instance, task.id), path=f"/tasks/{task.id}")
        return len(tasks)


def digest(engine, now: datetime) -> int:
    """Each morning (the digest_time setting, local), once: every person who can be reached and has open
    tasks gets how many, how many overdue, and the most urgent of those they hold. Returns how many."""
    with engine.database.transaction() as session:
        at = settings.get(session, "digest_time")
        if not at or not outbox.anyone_reachable(session):
            return 0
        zone = _zone(session)
        local = now.astimezone(zone)
        start = datetime.combine(local.date(), time.fromisoformat(at), tzinfo=zone)
        if not start <= local < start + DIGEST_WINDOW or not outbox.mark(session, f"digest:{local.date()}", now):
            return 0
        late = case((Task.due_at < now, 1), else_=0)
        holder = func.coalesce(Task.assignee, Task.claimed_by)
        held = {person: (count, overdue) for person, count, overdue in session.execute(
            select(holder, func.count(), func.sum(late)).where(Task.state == "ready", holder.is_not(None))
            .group_by(holder))}
        by_role = {role: (count, overdue) for role, count, overdue in session.execute(
            select(Task.role, func.count(), func.sum(late)).where(Task.state == "ready", holder.is_(None),
                                                                  Task.role.is_not(None)).group_by(Task.role))}
        told = 0
        for user in session.scalars(select(User).where(User.disabled_at.is_(None)).order_by(User.name)):
            if outbox.route(session, user.name) is None:
                continue
            parts = [held.get(user.name, (0, 0))] + [by_role[role] for role in roles_of(session, user.name) or ()
                                                      if role in by_role]
            count, late_count = sum(p[0] for p in parts), sum(int(p[1] or 0) for p in parts)
            if not count:
                continue
            roles = [role for role in roles_of(session, user.name) or () if role in by_role]
            theirs = holder == user.name
            if roles:  # a role's task nobody holds yet is theirs to take: listed with those they hold
                theirs = or_(theirs, and_(holder.is_(None), Task.role.in_(roles)))
            top = session.execute(
                select(Task.name, Task.due_at).where(Task.state == "ready", theirs)
                .order_by(Task.due_at.is_(None), Task.due_at).limit(DIGEST_TOP)).all()
            lines = [f"其中已超期 {late_count} 项" if late_count else "没有超期的任务"]
            lines += [f"· {name}" + (f"（期限 {local_time(due, zone)}）" if due else "") for name, due in top]
            outbox.tell(session, key=f"digest:{local.date()}", to=user.name, kind="digest", now=now,
                        title=f"今日待办 {count} 项", lines=lines, path="/")
            told += 1
        return told


def scheduler_gap(engine, now: datetime) -> None:
    """Keep the time of this pass; when the one before was longer ago than the scheduler_alert_minutes
    setting, admin and qmd are told the scheduler stood still from then to now (a simulated clock's jumps
    are no gap)."""
    with engine.database.transaction() as session:
        if outbox.mark(session, PASS_MARK, now):  # the first pass ever (two at once: one of them)
            return
        row = session.scalar(select(NoticeMark).where(NoticeMark.key == PASS_MARK).with_for_update())
        before, row.at = row.at, max(row.at, now)
        minutes = int(settings.get(session, "scheduler_alert_minutes"))
        if (not minutes or now - before <= timedelta(minutes=minutes) or settings.simulated_time(session) is not None
                or not outbox.anyone_reachable(session)):
            return
        zone = _zone(session)
        outbox.alert(session, key=f"gap:{before.isoformat()}", now=now, title="调度器曾停止运行",
                     lines=[f"{local_time(before, zone)} 至 {local_time(now, zone)} 之间没有运行"
                            f"（{int((now - before).total_seconds() // 60)} 分钟）",
                            "此间到期的定时器、期限与提醒已在恢复后补上；请查明原因"])


def _instances(session: Session, tasks) -> dict:
    ids = {task.instance_id for task in tasks}
    return {row.id: row for row in session.scalars(select(Instance).where(Instance.id.in_(ids)))} if ids else {}
