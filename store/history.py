"""The event history: append-only and hash-chained.

Each event hashes the previous event's hash and a canonical encoding of itself (sorted-key
JSON, UTC times as ISO text with microseconds), so the chain verifies identically after a
copy to another database. The head (last hash and count) lives in its own row, so deleting
the newest events is detected as well as editing any of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Event, HistoryHead

GENESIS = "0" * 64


def _canonical(event: Event) -> bytes:
    body = {
        "id": event.id,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "instance_id": event.instance_id,
        "task_id": event.task_id,
        "kind": event.kind,
        "actor": event.actor,
        "real_actor": event.real_actor,
        "payload": json.loads(event.payload),
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _digest(prev_hash: str, event: Event) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(event)).hexdigest()


def append_event(
    session: Session,
    *,
    at: datetime,
    kind: str,
    actor: str,
    real_actor: str | None = None,
    instance_id: int | None = None,
    task_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> Event:
    """Append one event in the caller's transaction (the head row serialises writers)."""
    head = session.info.get("history_head")  # locked once per transaction, then kept
    if head is None or head not in session:
        query = select(HistoryHead).where(HistoryHead.id == 1).with_for_update()
        with session.no_autoflush:  # the step's pending rows go with the events, in one flush
            head = session.execute(query).scalar_one_or_none()
        if head is None:
            head = HistoryHead(id=1, last_hash=GENESIS, count=0)
            session.add(head)
        session.info["history_head"] = head
    event = Event(
        id=head.count + 1,
        at=at,
        kind=kind,
        actor=actor,
        real_actor=real_actor,
        instance_id=instance_id,
        task_id=task_id,
        payload=json.dumps(payload or {}, sort_keys=True, ensure_ascii=False, default=str),
        prev_hash=head.last_hash,
    )
    event.hash = _digest(head.last_hash, event)
    session.add(event)
    head.last_hash = event.hash
    head.count = event.id
    return event


@dataclass(frozen=True)
class ChainReport:
    count: int
    broken_at: int | None  # the first event id whose link fails, or None when intact
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole chain; report the first broken link."""
    prev_hash, expected_id = GENESIS, 1
    for event in session.execute(select(Event).order_by(Event.id)).scalars():
        if event.id != expected_id:
            return ChainReport(expected_id - 1, expected_id, f"event {expected_id} is missing")
        if event.prev_hash != prev_hash or _digest(prev_hash, event) != event.hash:
            return ChainReport(expected_id - 1, event.id, f"event {event.id} was altered")
        prev_hash, expected_id = event.hash, expected_id + 1
    count = expected_id - 1
    head = session.get(HistoryHead, 1)
    head_count, head_hash = (head.count, head.last_hash) if head else (0, GENESIS)
    if head_count != count or head_hash != prev_hash:
        reason = f"the history ends at event {count} but its head records {head_count}"
        return ChainReport(count, count + 1, reason)
    return ChainReport(count, None, None)
