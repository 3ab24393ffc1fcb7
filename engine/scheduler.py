"""The scheduler's pass over due work: schedules that are due, then timers that are due.

`tick(now)` is the whole of it; `opsqa tick` calls it once (cron, systemd timers) and
`opsqa scheduler run` calls it from an APScheduler loop. The database, not APScheduler,
holds the truth: a fire is a `schedule_fire` row unique per (process, period), so a retry,
a restart or two schedulers at once never start the same period twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from store import Job, Schedule, ScheduleFire, append_event

from . import checkpoints, jobs, notices, outbox, settings, timers
from .clock import local_time
from .errors import DuplicateBusinessKey, InstanceChanged, RunawayStep
from .users import Actor

log = logging.getLogger("opsqa.scheduler")

# A fire handled later than this after its time was missed (the scheduler was down): a catch-up.
CATCH_UP_AFTER = timedelta(minutes=10)
SCHEDULER = Actor("scheduler", frozenset())


@dataclass
class TickReport:
    now: datetime
    started: list[dict] = field(default_factory=list)  # schedule fires: process, period, instance
    skipped: list[dict] = field(default_factory=list)  # periods a `latest` policy passed over
    timers: list[dict] = field(default_factory=list)  # timers fired: instance, timer, ...
    failed: list[dict] = field(default_factory=list)  # instances whose timer step failed
    overdue: int = 0  # open tasks found past their deadline (their people told)
    due_soon: int = 0  # open tasks falling due within a day (their people told)
    digests: int = 0  # people sent their morning digest
    sent: int = 0  # notifications delivered
    unsent: list[dict] = field(default_factory=list)  # notifications that failed (retried later)
    checkpoint: dict | None = None  # the history's checkpoint signed in this pass

    @property
    def quiet(self) -> bool:
        return not (self.started or self.skipped or self.timers or self.failed or self.overdue or self.sent
                    or self.unsent)


def tick(engine, now: datetime, *, limit: int = 1000) -> TickReport:
    """One pass: fire due schedules, then due timers. Each fire is its own transaction."""
    report = TickReport(now)
    notices.scheduler_gap(engine, now)
    fire_schedules(engine, now, report)
    fire_due_timers(engine, now, report, limit=limit)
    report.overdue = notices.overdue(engine, now)
    report.due_soon = notices.due_soon(engine, now)
    report.digests = notices.digest(engine, now)
    report.sent, report.unsent = outbox.deliver(engine, now, worker=engine.worker)
    report.checkpoint = checkpoints.maybe_take(engine, now)
    return report


def fire_schedules(engine, now: datetime, report: TickReport) -> None:
    with engine.database.reading() as session:
        schedules = session.scalars(select(Schedule).where(Schedule.enabled.is_(True)).order_by(Schedule.id)).all()
        last_fires = dict(session.execute(
            select(ScheduleFire.process_id, func.max(ScheduleFire.fire_time)).group_by(ScheduleFire.process_id)
        ).all())
    for schedule in schedules:
        try:
            zone = ZoneInfo(schedule.zone)
            cycle = timers.parse_cycle(schedule.timer_kind, schedule.expression, zone)
            # Fires from before the schedule existed are not missed ones: start those by hand if wanted.
            created = schedule.created_at - timedelta(microseconds=1)
            after = max(filter(None, [last_fires.get(schedule.process_id), created]))
            due = cycle.fires_between(after, now)
        except Exception as exc:  # one schedule that cannot be computed must not stop the others
            _disable(engine, schedule, exc, now, report)
            continue
        if schedule.policy == "latest" and len(due) > 1:
            passed = due[:-1]
            due = due[-1:]
            _record_skipped(engine, schedule, cycle, zone, passed, now, report)
        for fire_time in due:
            _fire(engine, schedule, cycle.period(fire_time, zone), fire_time, now, report)


def _fire(engine, schedule: Schedule, period: str, fire_time: datetime, now: datetime, report: TickReport) -> None:
    caught_up = now - fire_time > CATCH_UP_AFTER
    variables = {"period": period, "fire_time": fire_time.astimezone(UTC).isoformat()}
    if period.isdigit():
        variables["year"] = int(period)
    try:
        with engine.database.transaction() as session:
            fire = ScheduleFire(schedule_id=schedule.id, process_id=schedule.process_id, period=period,
                                fire_time=fire_time, fired_at=now, caught_up=caught_up)
            session.add(fire)
            session.flush()  # the unique (process, period) key: a second scheduler stops here
            try:
                with session.begin_nested():
                    instance_id = engine.runtime.start_in(
                        session, schedule.process_id, now=now, actor=SCHEDULER, business_key=period,
                        variables=variables, payload={"schedule": schedule.expression, "caught_up": caught_up},
                    )
            except DuplicateBusinessKey as exc:
                # started by hand before the scheduler got to it, or its record made another way: recorded,
                # not repeated
                instance_id, refused = None, str(exc)
            else:
                refused = None
            fire.instance_id = instance_id
            payload = {"process": schedule.process_id, "period": period, "already_started": instance_id is None,
                       "fire_time": fire_time.astimezone(UTC).isoformat(),
                       "late_by": str(now - fire_time).split(".")[0]}
            if refused is not None:
                payload["refused"] = refused
            append_event(session, at=now, kind="schedule.caught_up" if caught_up else "schedule.fired",
                         actor=SCHEDULER.name, instance_id=instance_id, payload=payload)
    except IntegrityError:
        return  # fired already (another scheduler, or a retry): nothing to do
    except DBAPIError:
        raise  # the database, not this schedule: the tick fails and the next one tries again
    except Exception as exc:  # its start fails (a loop that never waits, a diagram error): the others go on
        _disable(engine, schedule, exc, now, report)
        return
    entry = {"process": schedule.process_id, "period": period, "fire_time": fire_time, "instance": instance_id,
             "caught_up": caught_up}
    report.started.append(entry)
    log.info("fired %s period %s%s -> instance %s", schedule.process_id, period,
             " (caught up)" if caught_up else "", instance_id)


def _disable(engine, schedule: Schedule, exc: Exception, now: datetime, report: TickReport) -> None:
    """A schedule whose fire times cannot be computed (stored before the deploy-time checks), or whose
    start fails: disabled with its reason, once, as an event of its own, so that the rest of the tick and
    the ticks after it go on; redeploying the process enables it again (missed periods then catch up)."""
    error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"[:300]
    with engine.database.transaction() as session:
        row = session.get(Schedule, schedule.id)
        if row is None or not row.enabled:
            return
        row.enabled, row.updated_at = False, now
        append_event(session, at=now, kind="schedule.failed", actor=SCHEDULER.name,
                     payload={"process": schedule.process_id, "expression": schedule.expression, "error": error,
                              "disabled": True})
    report.failed.append({"process": schedule.process_id, "error": error})
    log.warning("schedule of %s (%s) disabled: %s", schedule.process_id, schedule.expression, error)


def _record_skipped(engine, schedule, cycle, zone, passed, now, report) -> None:
    periods = [cycle.period(when, zone) for when in passed]
    with engine.database.transaction() as session:
        append_event(session, at=now, kind="schedule.skipped", actor=SCHEDULER.name,
                     payload={"process": schedule.process_id, "periods": periods, "policy": "latest"})
    report.skipped.append({"process": schedule.process_id, "periods": periods})
    log.info("skipped %s periods %s (policy latest)", schedule.process_id, ", ".join(periods))


def fire_due_timers(engine, now: datetime, report: TickReport, *, limit: int = 1000, worker: str | None = None,
                    lease: timedelta = jobs.LEASE) -> None:
    """Claim the timer jobs due by `now` and fire them; only the due instances are loaded (the job
    index finds them). Several workers may run this at once: each job goes to one of them."""
    worker = worker or engine.worker
    zone = None  # the organisation's, read once for the log when something fires
    for claim in jobs.claim(engine.database, worker, now, limit=limit, lease=lease):
        try:
            fired = engine.runtime.fire_timers(claim.instance_id, now=now, actor=SCHEDULER, claim=claim)
        except (jobs.LeaseLost, InstanceChanged) as exc:  # another worker has it: not a failure
            log.info("timer job %s skipped: %s", claim.key, exc)
            continue
        except Exception as exc:  # one instance's failure must not stop the others' timers
            _record_failure(engine, claim, exc, now)
            report.failed.append({"instance": claim.instance_id, "error": str(exc).splitlines()[0]})
            log.warning("timer of instance %s failed: %s", claim.instance_id, exc)
            continue
        for item in fired:
            report.timers.append({"instance": claim.instance_id, **item})
            if log.isEnabledFor(logging.INFO):
                zone = zone or _zone(engine)
                log.info("timer %s of instance %s fired (due %s)", item["timer"], claim.instance_id,
                         local_time(datetime.fromisoformat(item["due"]), zone))


def _zone(engine):
    with engine.database.reading() as session:
        return settings.zone(session)


def _record_failure(engine, claim: jobs.Claim, exc: Exception, now: datetime) -> None:
    """Back off a failing timer job; after jobs.MAX_ATTEMPTS the instance gets an incident, at once when
    its step would not come to rest (trying again would only run the same loop again)."""
    error = (str(exc).splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, RunawayStep):
        engine.runtime.incident(claim.instance_id, error, now=now, actor=SCHEDULER)
        return
    with engine.database.transaction() as session:
        exhausted = jobs.failed(session, claim, error, now)
    if exhausted:
        engine.runtime.incident(claim.instance_id, f"timer step failed {jobs.MAX_ATTEMPTS} times: {error}", now=now,
                                actor=SCHEDULER)


def next_wake(engine, now: datetime) -> datetime | None:
    """When there is next something to do: the earliest schedule fire or timer after `now`."""
    candidates = []
    with engine.database.reading() as session:
        due = select(func.min(Job.run_after))
        if settings.simulated_time(session) is not None:  # its messages wait for ever: never a reason to wake
            due = due.where(Job.kind != "message")
        job = session.scalar(due)
        if job is not None:
            candidates.append(max(job, now))
        for schedule in session.scalars(select(Schedule).where(Schedule.enabled.is_(True))):
            try:
                cycle = timers.parse_cycle(schedule.timer_kind, schedule.expression, ZoneInfo(schedule.zone))
                upcoming = cycle.next_fires(now, 1)
            except Exception:  # the next tick disables it with its reason
                candidates.append(now)
                continue
            if upcoming:
                candidates.append(upcoming[0])
    return min(candidates) if candidates else None
