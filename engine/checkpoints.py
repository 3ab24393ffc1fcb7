"""Signed checkpoints of the history, taken by whoever holds the service's key (store/evidence.py).

The scheduler (`opsqa scheduler run`, `opsqa serve`, or a `tick` run by the service account) signs one
when the history has moved and the last is older than the setting `checkpoint_minutes`, and at once after
a milestone: a plan issued, a management review reported, an improvement plan approved, a year closed. An
operator's `tick` without the key signs nothing and says nothing: the key is the service's.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select

from i18n import _
from store import Event, HistoryCheckpoint, HistoryHead, SigningKey, evidence
from store.history import database_id

from .errors import OpsqaError

log = logging.getLogger("opsqa.checkpoints")

MILESTONES = ("review.reported", "improvement.approved", "cycle.closed", "plan.revised")
PLAN_ISSUED = '%"topic": "plan.issue"%'
DEFAULT_MINUTES = 60


def key_path(database) -> Path:
    """Where the service's private key is: $OPSQA_SIGNING_KEY, else beside a SQLite database
    (`opsqa.db.signing-key`), else /etc/opsqa/signing.key."""
    from sqlalchemy.engine import make_url

    if os.environ.get("OPSQA_SIGNING_KEY"):
        return Path(os.environ["OPSQA_SIGNING_KEY"])
    url = make_url(database.url)
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database + ".signing-key")
    return Path("/etc/opsqa/signing.key")


def take(engine, key, *, now: datetime, reason: str) -> dict:
    """Sign the history as it stands (a new checkpoint unless the newest already covers the head)."""
    public = evidence.raw_public(key)
    key_id = evidence.key_id(public)
    with engine.database.transaction() as session:
        registered = session.get(SigningKey, key_id)
        if registered is None or registered.retired_at is not None:
            raise OpsqaError((_("key {key_id} is retired; sign with the database's current key")
                              if registered is not None else _("key {key_id} is not this database's signing key"))
                             .format(key_id=key_id))
        head = session.get(HistoryHead, 1)
        last = session.scalar(select(HistoryCheckpoint).order_by(HistoryCheckpoint.seq.desc()).limit(1))
        if last is not None and head is not None and last.seq == head.count and last.key_id == key_id:
            return view(last)
        identity = database_id(session)
        statement = evidence.statement(identity, head.count, head.last_hash, now)
        checkpoint = HistoryCheckpoint(seq=head.count, head_hash=head.last_hash, at=now, database_id=identity,
                                       key_id=key_id, signature=evidence.sign(key, statement), reason=reason[:50])
        session.add(checkpoint)
        session.flush()
        return view(checkpoint)


def view(checkpoint: HistoryCheckpoint) -> dict:
    return {"seq": checkpoint.seq, "head_hash": checkpoint.head_hash, "at": checkpoint.at,
            "database_id": checkpoint.database_id, "key_id": checkpoint.key_id, "signature": checkpoint.signature,
            "reason": checkpoint.reason}


def due(engine, now: datetime, minutes: int) -> str | None:
    """Why a checkpoint is due now (a milestone since the last, or its age), or None."""
    with engine.database.reading() as session:
        head = session.get(HistoryHead, 1)
        last = session.scalar(select(HistoryCheckpoint).order_by(HistoryCheckpoint.seq.desc()).limit(1))
        if head is None or head.count == 0 or (last is not None and last.seq >= head.count):
            return None
        after = last.seq if last is not None else 0
        milestone = session.scalar(select(Event.kind).where(Event.seq > after, or_(
            Event.kind.in_(MILESTONES), (Event.kind == "service.completed") & Event.payload.like(PLAN_ISSUED)))
            .order_by(Event.seq).limit(1))
        if milestone is not None:
            return "plan.issued" if milestone == "service.completed" else milestone
        if last is None or now - last.at >= timedelta(minutes=minutes):
            return "periodic"
    return None


def maybe_take(engine, now: datetime) -> dict | None:
    """The scheduler's pass: sign when due and when this process holds a registered key."""
    from . import settings

    path = key_path(engine.database)
    try:
        if not path.is_file():
            return None
    except OSError:  # a folder this account may not look into: the key is not its to use
        return None
    with engine.database.reading() as session:
        if session.scalar(select(func.count()).select_from(SigningKey)) == 0:
            return None
        minutes = int(settings.get(session, "checkpoint_minutes"))
    reason = due(engine, now, minutes)
    if reason is None:
        return None
    try:
        key = evidence.load_key(path)
        return take(engine, key, now=now, reason=reason)
    except (evidence.KeyError_, OpsqaError) as exc:  # not this process's key to use: said in the log
        log.warning("no checkpoint signed: %s", exc)
        return None
