"""Moving house: a whole opsqa database copied into an empty PostgreSQL (or SQLite) database.

Every table is copied row by row in dependency order, in one transaction on the target, with the
ids kept: the history's hash chain, which hashes ids, times and payloads, verifies the same on the
other side. The target is refused before anything is written when it cannot be reached or already
holds anything; after the copy the row counts and the chain are checked, and PostgreSQL's id
sequences are moved past the copied ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from i18n import _

from . import domain  # noqa: F401  (every table is copied, the domain's too)
from .db import Database, DatabaseError, describe, open_database, resolve_url
from .history import verify_chain
from .migrate import create_database
from .models import Base, HistoryHead

BATCH = 1000


@dataclass(frozen=True)
class CopyReport:
    tables: dict[str, int]  # table -> rows copied
    events: int
    head: str


def _refuse_unless_empty(target_url: str) -> None:
    from sqlalchemy import create_engine

    probe = create_engine(target_url)
    try:
        with probe.connect() as connection:
            names = inspect(connection).get_table_names()
            busy = [name for name in names
                    if connection.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None]
    except SQLAlchemyError as exc:
        first = (str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines() or [""])[0]
        raise DatabaseError(_("cannot reach {target_url}: {first}").format(
                                target_url=describe(target_url), first=first)) from None
    finally:
        probe.dispose()
    if names:
        holding = f"; {', '.join(sorted(busy)[:5])} hold rows" if busy else ""
        raise DatabaseError(_("{target_url} is not empty ({names} tables{holding}); opsqa copies into an empty "
                              "database only").format(
                                target_url=describe(target_url), names=len(names), holding=holding))


def copy_database(source: str | None, target: str) -> CopyReport:
    """Copy the opsqa database `source` into the empty database `target`, then verify it."""
    target_url = resolve_url(target)
    source_db = open_database(source)
    try:
        if resolve_url(source) == target_url:
            raise DatabaseError(_("the source and the target are the same database"))
        _refuse_unless_empty(target_url)
        target_db = create_database(target_url)
        try:
            counts = _copy(source_db, target_db)
            return _verify(source_db, target_db, counts)
        finally:
            target_db.dispose()
    finally:
        source_db.dispose()


def _copy(source: Database, target: Database) -> dict[str, int]:
    counts: dict[str, int] = {}
    tables = list(Base.metadata.sorted_tables)
    with source.engine.connect() as reading, target.engine.begin() as writing:
        for table in reversed(tables):  # what the migrations seeded (the history head) gives way to the copy
            writing.execute(table.delete())
        for table in tables:
            rows = reading.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            copied, batch = 0, []
            for row in rows:
                batch.append(dict(row))
                if len(batch) == BATCH:
                    writing.execute(table.insert(), batch)
                    copied, batch = copied + len(batch), []
            if batch:
                writing.execute(table.insert(), batch)
                copied += len(batch)
            counts[table.name] = copied
        if writing.dialect.name == "postgresql":
            for table in tables:
                keys = list(table.primary_key.columns)
                if len(keys) == 1 and keys[0].autoincrement is not False and keys[0].type.python_type is int:
                    writing.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{keys[0].name}'), "
                        f"COALESCE((SELECT MAX(\"{keys[0].name}\") FROM \"{table.name}\"), 0) + 1, false)"))
    return counts


def _verify(source: Database, target: Database, counts: dict[str, int]) -> CopyReport:
    heads = []
    for database in (source, target):
        with database.reading() as session:
            chain = verify_chain(session)
            head = session.get(HistoryHead, 1)
            heads.append((chain, head.last_hash if head else None))
            if database is target:
                for table in Base.metadata.sorted_tables:
                    there = session.scalar(select(func.count()).select_from(table))
                    if there != counts[table.name]:
                        raise DatabaseError(_("table {name}: {counts} rows copied, {there} found").format(
                                                name=table.name, counts=counts[table.name], there=there))
    (original, original_head), (copied, copied_head) = heads
    if not copied.intact:
        raise DatabaseError(_("the copied history does not verify: {reason}").format(reason=copied.reason))
    if (copied.count, copied_head) != (original.count, original_head):
        raise DatabaseError(_("the copied history's head differs from the source's"))
    return CopyReport(counts, copied.count, copied_head or "")
