"""The event history: append-only, hash-chained, and what it proves (`verify_chain`).

Each event hashes the previous event's hash and a canonical encoding of itself (sorted-key JSON, UTC
times as ISO text with microseconds), so the chain verifies identically after a copy to another database.
An event is written when it is appended (the rest of its transaction reads it) and linked into the chain
(`seq`, `prev_hash`, `hash`) when its transaction commits, in one statement, under the head row: the head
is held for the commit alone, so writers on PostgreSQL no longer queue behind each other's whole steps.
The head (last hash and count) lives in its own row, so deleting the newest events is detected as well as
editing any of them; the records are sealed in the chain (store/seals.py), and signed checkpoints
(store/evidence.py) make a recomputed chain and a cut history visible to whoever holds the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from i18n import _

from . import seals  # its listener notes the sealed rows each flush writes
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
    """Append one event in the caller's transaction. Written in plain SQL (store/rows.py): steps append a dozen.

    The event is inserted at once (what the same transaction reads next sees it) but linked into the chain
    only when its transaction commits (`chain_pending`, from Database.transaction): the head row is then
    locked for the commit alone, not from the first event to the end of the transaction, so that writers
    on PostgreSQL do not queue behind each other's whole steps. An event of a savepoint that rolled back
    is gone with it, so it is never linked."""
    if real_actor is None:  # an admin acting as someone: every event of theirs in the step names the admin too
        acting = session.info.get("acting_as")
        if acting is not None and acting[0] == actor:
            real_actor = acting[1]
    sql = session_sql(session)
    text = json.dumps(payload or {}, sort_keys=True, ensure_ascii=False, default=str)
    stored = sql.time(at)
    (event_id,) = sql("INSERT INTO event (at, instance_id, task_id, kind, actor, real_actor, payload, prev_hash, hash, "
                      "seq) VALUES (?, ?, ?, ?, ?, ?, ?, '', '', NULL) RETURNING id",
                      (stored, instance_id, task_id, kind, actor, real_actor, text)).fetchone()
    # linked at the commit, in this order; dropped if the savepoint it was written in rolls back
    session.info.setdefault("unchained", []).append(
        (event_id, sql.read_time(stored), instance_id, task_id, kind, actor, real_actor, text,
         session.get_nested_transaction() or session.get_transaction()))
    session.info["now"], session.info["actor"] = at, actor  # what the records' seal is dated and signed with


LINKS_PER_STATEMENT = 1000  # 4 parameters each: far below SQLite's and PostgreSQL's limits


def _link_statement(sqlite: bool, count: int) -> str:
    """UPDATE event ... FROM (VALUES (seq, prev_hash, hash, id), ...): the links of `count` events at once."""
    if sqlite:
        values = ", ".join(["(?, ?, ?, ?)"] * count)
        source = ("(SELECT column1 AS seq, column2 AS prev_hash, column3 AS hash, column4 AS id "
                  f"FROM (VALUES {values})) AS v")
    else:
        values = ", ".join(["(?::integer, ?, ?, ?::integer)"] * count)
        source = f"(VALUES {values}) AS v (seq, prev_hash, hash, id)"
    return (f"UPDATE event SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash FROM {source} "
            "WHERE event.id = v.id AND event.seq IS NULL")


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous) -> None:
    """A savepoint (or the transaction) rolled back: its events are gone from the database, and from the
    events to link at the commit."""
    pending = session.info.get("unchained")
    if not pending:
        return

    def within(transaction) -> bool:
        while transaction is not None:
            if transaction is previous:
                return True
            transaction = transaction.parent
        return False

    session.info["unchained"] = [entry for entry in pending if not within(entry[-1])]


def chain_pending(session: Session) -> None:
    """Before the commit: seal the records this transaction wrote (store/seals.py), then link its events
    into the chain after the head, in the order they were appended, and move the head."""
    seals.seal_written(session)
    pending = session.info.pop("unchained", None)
    if not pending:
        return
    sql = session_sql(session)
    head = sql(f"SELECT last_hash, count FROM history_head WHERE id = 1{sql.for_update}").fetchone()
    if head is None:  # a database made before the head was seeded (migration 0002 seeds it)
        sql("INSERT INTO history_head (id, last_hash, count) VALUES (1, ?, 0)", (GENESIS,))
        head = (GENESIS, 0)
    prev_hash, seq = head
    links = []
    for event_id, at, instance_id, task_id, kind, actor, real_actor, text, _transaction in pending:
        seq += 1
        digest = _digest(prev_hash, seq, at, instance_id, task_id, kind, actor, real_actor, text)
        links.append((seq, prev_hash, digest, event_id))
        prev_hash = digest
    linked = 0
    for start in range(0, len(links), LINKS_PER_STATEMENT):  # a step's dozen events: one round trip
        chunk = links[start:start + LINKS_PER_STATEMENT]
        linked += sql(_link_statement(sql.sqlite, len(chunk)), [value for link in chunk for value in link]).rowcount
    if linked != len(links):  # never: a savepoint's rollback is followed; but a chain is not guessed at
        raise RuntimeError(f"the history's {len(links)} new events could not all be linked ({linked} were)")
    sql("UPDATE history_head SET last_hash = ?, count = ? WHERE id = 1", (prev_hash, seq))


@dataclass(frozen=True)
class ChainReport:
    """What `history verify` found. `intact` when there is no problem; `checkpoint` is the last valid signed
    checkpoint (None when nothing is signed), `unsigned` the events after it (what could be cut unseen)."""

    count: int  # events in the chain
    broken_at: int | None  # the first event (chain position) found wrong, or None
    reason: str | None  # the first problem, in words
    problems: tuple[str, ...] = ()
    checkpoint: dict | None = None
    checkpoints: int = 0
    keys: tuple[str, ...] = ()
    records: int = 0  # sealed records checked

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def unsigned(self) -> int:
        return self.count - (self.checkpoint["seq"] if self.checkpoint else 0)


MAX_PROBLEMS = 50
SKEW = timedelta(minutes=5)  # concurrent writers read their time before each other's commit


def database_id(session: Session) -> str | None:
    """The database's identity in its checkpoints: the hash of its first event (its first seal)."""
    return session.scalar(select(Event.hash).where(Event.seq == 1))


def verify_chain(session: Session, *, trusted: dict[str, bytes] | None = None,
                 exported: dict | None = None) -> ChainReport:
    """Walk the whole chain and everything that hangs on it: the links and hashes, the head, the order of
    times, the signed checkpoints (against the keys recorded in the database, or only `trusted` ones when
    given), an exported checkpoint the auditor kept, the sealed records and the instances.

    Reads only; works on a read-only database. Problems are one line each, the first few dozen listed."""
    from . import evidence
    from .models import HistoryCheckpoint, Instance, Setting, SigningKey

    problems: list[str] = []
    broken_at = None

    def problem(text: str, at: int | None = None) -> None:
        nonlocal broken_at
        if broken_at is None and at is not None:
            broken_at = at
        problems.append(text)

    checkpoints = session.scalars(select(HistoryCheckpoint).order_by(HistoryCheckpoint.seq,
                                                                     HistoryCheckpoint.id)).all()
    wanted = {c.seq for c in checkpoints} | ({exported["seq"]} if exported else set())
    hashes: dict[int, str] = {}
    simulated = session.get(Setting, "simulated_clock") is not None
    prev_hash, expected, last_at, first_hash = GENESIS, 1, None, None
    sealed: dict[str, tuple[str | None, int]] = {}
    started: set[int] = set()
    chain_ok = True
    for event in session.execute(select(Event).where(Event.seq.is_not(None)).order_by(Event.seq)).scalars():
        if event.seq != expected:
            problem(_("event {seq} is missing").format(seq=expected) if event.seq > expected
                    else _("event {seq} appears twice").format(seq=event.seq),
                    expected)
            chain_ok = False
            break
        digest = _digest(prev_hash, event.seq, event.at, event.instance_id, event.task_id, event.kind, event.actor,
                         event.real_actor, event.payload)
        if event.prev_hash != prev_hash or digest != event.hash:
            problem(_("event {seq} was altered").format(seq=event.seq), event.seq)
            chain_ok = False
            break
        if last_at is not None and event.at < last_at - SKEW and not simulated:
            problem(_("event {seq} is dated {at}, before event {previous} ({previous_at})").format(
                        seq=event.seq, at=event.at.isoformat(), previous=event.seq - 1,
                        previous_at=last_at.isoformat()), event.seq)
        last_at = max(last_at, event.at) if last_at else event.at
        if event.seq == 1:
            first_hash = event.hash
        if event.seq in wanted:
            hashes[event.seq] = event.hash
        if event.kind == seals.KIND:
            for key, value in json.loads(event.payload).get("rows", []):
                sealed[key] = (value, event.seq)
        elif event.kind == "instance.started" and event.instance_id is not None:
            started.add(event.instance_id)
        prev_hash, expected = event.hash, expected + 1
    count = expected - 1
    unlinked = session.scalar(select(func.count()).select_from(Event).where(Event.seq.is_(None)))
    if unlinked:
        problem(_("{count} events are outside the chain (written without opsqa, or by a transaction cut short)").format(
            count=unlinked))
    if chain_ok:
        head = session.get(HistoryHead, 1)
        head_count, head_hash = (head.count, head.last_hash) if head else (0, GENESIS)
        if head_count != count or head_hash != prev_hash:
            problem(_("the history ends at event {count} but its head records {head_count}").format(
                count=count, head_count=head_count), count + 1)
        if count == 0:
            problem(_("the history is empty: even a new database holds its first seal"), 1)

    # checkpoints signed by the service
    keys = {k.key_id: base64.b64decode(k.public_key) for k in session.scalars(select(SigningKey))}
    if trusted is not None:
        keys = dict(trusted)
    last_valid = None
    for checkpoint in checkpoints:
        where = _("checkpoint of event {seq} ({at})").format(seq=checkpoint.seq,
                                                             at=checkpoint.at.isoformat(timespec="seconds"))
        public = keys.get(checkpoint.key_id)
        message = evidence.statement(checkpoint.database_id, checkpoint.seq, checkpoint.head_hash, checkpoint.at)
        if public is None:
            problem((_("{where}: signed by key {key_id}, which is not the key given") if trusted is not None
                     else _("{where}: signed by key {key_id}, which is not a key of this database")).format(
                        where=where, key_id=checkpoint.key_id))
        elif not evidence.verifies(public, message, checkpoint.signature):
            problem(_("{where}: its signature does not verify").format(where=where))
        elif checkpoint.seq > count and chain_ok:
            problem(_("{where}: the history has only {count} events: events after {count} were cut").format(
                where=where, count=count), count + 1)
        elif checkpoint.database_id != first_hash and chain_ok:
            problem(_("{where}: it belongs to another database").format(where=where))
        elif hashes.get(checkpoint.seq) != checkpoint.head_hash:
            if chain_ok:
                problem(_("{where}: the history up to it was rewritten").format(where=where), checkpoint.seq)
        else:
            last_valid = checkpoint
    if exported is not None:
        where = _("the checkpoint file of event {seq}").format(seq=exported["seq"])
        message = evidence.statement(exported["database_id"], exported["seq"], exported["head_hash"],
                                     exported["at"])
        if trusted is not None and exported["public_key"] not in trusted.values():
            problem(_("{where}: signed by a key other than the one given").format(where=where))
        elif not evidence.verifies(exported["public_key"], message, exported["signature"]):
            problem(_("{where}: its signature does not verify").format(where=where))
        elif exported["seq"] > count:
            problem(_("{where}: the history has only {count} events: events after {count} were cut").format(
                where=where, count=count), count + 1)
        elif exported["database_id"] != first_hash:
            problem(_("{where}: it belongs to another database").format(where=where))
        elif hashes.get(exported["seq"]) != exported["head_hash"]:
            problem(_("{where}: the history up to it was rewritten").format(where=where), exported["seq"])

    # records, against their last seals; instances, against their starts
    checked = 0
    if chain_ok:
        for table in seals.sealed_tables():
            for key, digest in seals.rows(session, table):
                checked += 1
                seal = sealed.pop(key, None)
                if seal is None or seal[0] is None:
                    problem(_("record {key} is not in the history (written outside opsqa)").format(key=key))
                elif seal[0] != digest:
                    problem(_("record {key} differs from what event {seq} sealed (changed outside opsqa)").format(
                        key=key, seq=seal[1]))
        for key, (digest, seq) in sorted(sealed.items()):
            if digest is not None:
                problem(_("record {key}, sealed by event {seq}, is missing (deleted outside opsqa)").format(
                    key=key, seq=seq))
        for (instance_id,) in session.execute(select(Instance.id).order_by(Instance.id)):
            if instance_id not in started:
                problem(_("instance {id} has no start in the history (written outside opsqa)").format(id=instance_id))
    shown = tuple(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        shown += (_("... and {count} more").format(count=len(problems) - MAX_PROBLEMS),)
    last = None
    if last_valid is not None:
        last = {"seq": last_valid.seq, "head_hash": last_valid.head_hash, "at": last_valid.at,
                "key_id": last_valid.key_id, "reason": last_valid.reason}
    return ChainReport(count, broken_at, problems[0] if problems else None, shown, last, len(checkpoints),
                       tuple(sorted(keys)), checked)
