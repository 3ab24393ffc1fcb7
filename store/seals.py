"""Records tied to the history: a row changed outside opsqa is found by `history verify`.

Each transaction that writes rows of a sealed table appends, just before it commits, one `records.sealed`
event listing each row it wrote (table, primary key) with the SHA-256 of the row as it now stands (or
null for a row deleted). The event is in the hash chain, and the chain is signed by checkpoints, so a row
edited, added or deleted in SQL no longer matches the last seal the history holds for it.

Sealed: the quality records (store/domain.py), the users and their roles, the settings, the deployed
definitions, the schedules and their fires, the signing keys. Not sealed: the history itself and its
checkpoints (chained and signed), the engine's working state (instances and tasks, whose changes are
events of their own), the job queue, web sessions, and the few columns that change on every sign-in
(failed logins, lockout, the last one-time-password step).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from sqlalchemy import Table, event, inspect, select, tuple_
from sqlalchemy.orm import Session

from .models import Base

# The scheduler's own bookkeeping is not a record: the once-only notices' marks (and its last pass), and a
# channel's latest sends (its rate limit).
NOT_SEALED = frozenset({"event", "history_head", "history_checkpoint", "instance", "task", "job", "web_session",
                        "notice_mark"})
VOLATILE = {"user_account": frozenset({"failed_logins", "locked_until", "totp_last_step"}),
            "channel": frozenset({"recent"})}
KIND = "records.sealed"


def sealed_tables() -> list[Table]:
    from . import domain  # noqa: F401  (its tables join the metadata)

    return [table for table in Base.metadata.sorted_tables if table.name not in NOT_SEALED]


def columns(table: Table) -> list:
    volatile = VOLATILE.get(table.name, frozenset())
    return [column for column in table.columns if column.name not in volatile]


def row_key(table: Table, row) -> str:
    """`finding/3`, `user_role/qmd1/qmd`: the table and its primary key's values."""
    return "/".join([table.name, *(str(row[column.name]) for column in table.primary_key.columns)])


def digest(table: Table, row) -> str:
    """The SHA-256 of a row's sealed columns, as the database gives them back (so that it is the same on
    SQLite and PostgreSQL, before and after `db copy`)."""
    body = {column.name: _plain(row[column.name]) for column in columns(table)}
    text = json.dumps([table.name, body], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value):
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat(
            timespec="microseconds")
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    return str(value)


def rows(session: Session, table: Table) -> Iterator[tuple[str, str]]:
    """Each row of a sealed table: (key, digest)."""
    query = select(*columns(table), *[c for c in table.primary_key.columns if c not in columns(table)])
    for row in session.execute(query).mappings():
        yield row_key(table, row), digest(table, row)


@event.listens_for(Session, "after_flush")
def _written(session: Session, _context) -> None:
    """Note the sealed rows a flush wrote (new, changed in a sealed column, or deleted), by primary key."""
    noted = None
    for instance in (*session.new, *session.dirty, *session.deleted):
        table = getattr(instance, "__table__", None)
        if table is None or table.name in NOT_SEALED:
            continue
        state = inspect(instance)
        if instance in session.dirty and not any(
                state.attrs[column.key].history.has_changes() for column in columns(table)
                if column.key in state.attrs):
            continue
        mapper = state.mapper
        key = tuple(mapper.primary_key_from_instance(instance))
        if noted is None:
            noted = session.info.setdefault("sealed_written", {})
        noted.setdefault(table.name, set()).add(key)


def seal_written(session: Session) -> None:
    """Append the `records.sealed` event of what this transaction wrote (called just before it commits)."""
    session.flush()
    written = session.info.pop("sealed_written", None)
    if not written:
        return
    from .history import append_event

    tables = {table.name: table for table in sealed_tables()}
    sealed = []
    for name, keys in sorted(written.items()):
        table = tables[name]
        pk = list(table.primary_key.columns)
        found = {}
        for chunk in _chunks(sorted(keys, key=str), 500):
            query = select(*columns(table), *[c for c in pk if c not in columns(table)])
            query = query.where(tuple_(*pk).in_(chunk) if len(pk) > 1 else pk[0].in_([k[0] for k in chunk]))
            for row in session.execute(query).mappings():
                found[row_key(table, row)] = digest(table, row)
        for key in sorted(keys, key=str):
            text = "/".join([name, *(str(part) for part in key)])
            sealed.append([text, found.get(text)])
    append_event(session, at=_now(session), kind=KIND, actor=session.info.get("actor", "opsqa"),
                 payload={"rows": sealed})


def baseline(session: Session, *, at: datetime, actor: str) -> int:
    """Seal every row as it stands (an upgrade from before seals, or a repair after `history verify`
    found rows changed outside opsqa and a person has looked at them): one event. Returns the rows."""
    from .history import append_event

    sealed = [[key, value] for table in sealed_tables() for key, value in rows(session, table)]
    append_event(session, at=at, kind=KIND, actor=actor, payload={"rows": sealed, "baseline": True})
    return len(sealed)


def _now(session: Session) -> datetime:
    """The transaction's time: the last event's, else the clock's (the seal is part of the same change)."""
    when = session.info.get("now")
    return when if when is not None else datetime.now(UTC)


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
