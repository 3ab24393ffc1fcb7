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
from .rows import session_sql

GENESIS = "0" * 64


def _canonical(id: int, at: datetime, instance_id: int | None, task_id: str | None, kind: str, actor: str,
               real_actor: str | None, payload: str) -> bytes:
    body = {
        "id": id,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "instance_id": instance_id,
        "task_id": task_id,
        "kind": kind,
        "actor": actor,
        "real_actor": real_actor,
        "payload": json.loads(payload),
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _digest(prev_hash: str, id: int, at: datetime, instance_id: int | None, task_id: str | None, kind: str,
            actor: str, real_actor: str | None, payload: str) -> str:
    canonical = _canonical(id, at, instance_id, task_id, kind, actor, real_actor, payload)
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


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
) -> None:
    """Append one event in the caller's transaction. The head row serialises writers: SQLite's writer holds
    the file, PostgreSQL locks the row. Written in plain SQL (store/rows.py): steps append a dozen.

    The head is read once per (sub)transaction and then kept: the next event in the same one continues
    from what this one wrote. Entering or leaving a savepoint reads it again, so the events of a savepoint
    that rolled back are never continued from."""
    if real_actor is None:  # an admin acting as someone: every event of theirs in the step names the admin too
        acting = session.info.get("acting_as")
        if acting is not None and acting[0] == actor:
            real_actor = acting[1]
    sql = session_sql(session)
    current = session.get_nested_transaction() or session.get_transaction()
    kept = session.info.get("history_head")
    if kept is not None and kept[0] is current and current.is_active:
        head = kept[1:]
    else:
        head = sql(f"SELECT last_hash, count FROM history_head WHERE id = 1{sql.for_update}").fetchone()
        if head is None:  # a database made before the head was seeded (migration 0002 seeds it)
            sql("INSERT INTO history_head (id, last_hash, count) VALUES (1, ?, 0)", (GENESIS,))
            head = (GENESIS, 0)
    prev_hash, event_id = head[0], head[1] + 1
    text = json.dumps(payload or {}, sort_keys=True, ensure_ascii=False, default=str)
    digest = _digest(prev_hash, event_id, at, instance_id, task_id, kind, actor, real_actor, text)
    sql("INSERT INTO event (id, at, instance_id, task_id, kind, actor, real_actor, payload, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event_id, sql.time(at), instance_id, task_id, kind, actor, real_actor, text, prev_hash, digest))
    sql("UPDATE history_head SET last_hash = ?, count = ? WHERE id = 1", (digest, event_id))
    session.info["history_head"] = (current, digest, event_id)


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
        digest = _digest(prev_hash, event.id, event.at, event.instance_id, event.task_id, event.kind, event.actor,
                         event.real_actor, event.payload)
        if event.prev_hash != prev_hash or digest != event.hash:
            return ChainReport(expected_id - 1, event.id, f"event {event.id} was altered")
        prev_hash, expected_id = event.hash, expected_id + 1
    count = expected_id - 1
    head = session.get(HistoryHead, 1)
    head_count, head_hash = (head.count, head.last_hash) if head else (0, GENESIS)
    if head_count != count or head_hash != prev_hash:
        reason = f"the history ends at event {count} but its head records {head_count}"
        return ChainReport(count, count + 1, reason)
    return ChainReport(count, None, None)
