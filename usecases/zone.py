"""The organisation's time zone, the one people see times in, read without opening the engine when the
database is a SQLite file the standard library can read: a terminal's listing stays fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def zone_of(db: str | None, engine: Callable[[], Any]):
    """The `timezone` setting of the database `db` names; `engine` builds the engine when it must be asked."""
    from zoneinfo import ZoneInfo

    from engine.clock import DEFAULT_ZONE
    from store import quickread

    path = quickread.sqlite_file(db)
    if path is not None:
        answered, value = quickread.stored_setting(path, "timezone")
        if answered:
            return ZoneInfo(value or DEFAULT_ZONE)
    from .admin import zone

    return zone(engine())
