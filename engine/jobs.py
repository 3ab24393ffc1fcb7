"""Due work claimed under a lease with a fence token, so that several workers share one database.

A worker claims due jobs in one short transaction: each claimed job's fence goes up by one and
the job is leased to the worker until `now + lease`. It then does each job in a transaction of
its own that starts by checking the fence (on PostgreSQL with the job row locked, so no other
worker can claim it while the step is in flight). A worker that died or stalled past its lease
has lost the job to the next claim; its late step finds a newer fence and is rejected whole.

On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`: workers never wait for each other's rows.
On SQLite, `BEGIN IMMEDIATE` makes every writer take its turn; the same code is correct there.
A job that fails is retried with exponential backoff; after `MAX_ATTEMPTS` the instance gets an
incident, which a person resolves (`opsqa instance retry`).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from i18n import _
from store import Database, Job, failpoints

from .errors import OpsqaError

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5


class LeaseLost(OpsqaError):
    """The job was claimed by another worker since this one claimed it."""


@dataclass(frozen=True)
class Claim:
    job_id: int
    key: str
    instance_id: int | None
    worker: str
    fence: int


def worker_name() -> str:
    """This process's name in leases: host, process id and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def claim(database: Database, worker: str, now: datetime, *, kind: str = "timer", limit: int = 100,
          lease: timedelta = LEASE, where=None) -> list[Claim]:
    """Lease up to `limit` due jobs that nobody holds (or whose lease ran out) to `worker`; `where`, a further
    condition (the outbox's: messages of the channels that are set up)."""
    with database.transaction() as session:
        query = select(Job).where(Job.kind == kind, Job.run_after <= now,
                                  or_(Job.lease_until.is_(None), Job.lease_until < now))
        if where is not None:
            query = query.where(where)
        jobs = session.scalars(query.order_by(Job.run_after, Job.id).limit(limit).with_for_update(skip_locked=True)
                               ).all()
        for job in jobs:
            job.fence += 1
            job.lease_owner, job.lease_until = worker, now + lease
        session.flush()
        claims = [Claim(job.id, job.key, job.instance_id, worker, job.fence) for job in jobs]
    failpoints.point("claim.after")
    return claims


def hold(session: Session, claim: Claim) -> Job:
    """First thing in the step's transaction: the lease is still ours (the job, locked), or the step is
    refused."""
    job = session.scalar(select(Job).where(Job.id == claim.job_id).with_for_update())
    if job is None or job.fence != claim.fence or job.lease_owner != claim.worker:
        holder = "gone" if job is None else f"fence {job.fence}, held by {job.lease_owner or 'nobody'}"
        raise LeaseLost(_("job {key}: the lease of {worker} (fence {fence}) was lost ({holder})").format(
                            key=claim.key, worker=claim.worker, fence=claim.fence, holder=holder))
    return job


def failed(session: Session, claim: Claim, error: str, now: datetime, *, not_before: datetime | None = None) -> bool:
    """Record a failed attempt and back off (1, 2, 4... minutes, at most 6 hours; not before `not_before`,
    when the other side asked to wait). Returns True when the job has failed `MAX_ATTEMPTS` times: the
    caller then gives the instance an incident."""
    job = session.scalar(select(Job).where(Job.id == claim.job_id).with_for_update())
    if job is None or job.fence != claim.fence:
        return False  # someone else has it now: their attempt counts, not ours
    job.attempts += 1
    job.last_error = error
    job.lease_owner, job.lease_until = None, None
    job.run_after = now + min(timedelta(minutes=2 ** (job.attempts - 1)), timedelta(hours=6))
    if not_before is not None:
        job.run_after = max(job.run_after, not_before)
    return job.attempts >= MAX_ATTEMPTS


def postpone(session: Session, claim: Claim, until: datetime) -> None:
    """Give a claimed job back untried, due again at `until` (not an attempt: a rate limit, a paused channel)."""
    job = session.scalar(select(Job).where(Job.id == claim.job_id).with_for_update())
    if job is None or job.fence != claim.fence:
        return
    job.lease_owner, job.lease_until, job.run_after = None, None, until
