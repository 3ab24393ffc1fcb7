"""The one source of "now". Engine methods read it once and pass `now` down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

DEFAULT_ZONE = "Asia/Shanghai"  # the `timezone` setting's default (engine/settings.py)


def local_time(when: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """A time as people read it, in the organisation's zone with its offset: `2027-03-01 10:10 +08:00`.
    Stored times, --json, workbooks and history payloads keep their own forms; this is for messages,
    tables and logs."""
    local = when.astimezone(zone)
    offset = local.strftime("%z")  # +0800
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + f" {offset[:3]}:{offset[3:5]}"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that moves only when told to: tests and `opsqa simulate` use it."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a simulated clock does not move backwards")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> datetime:
        when = when.astimezone(UTC)
        if when < self._now:
            raise ValueError("a simulated clock does not move backwards")
        self._now = when
        return self._now


class DatabaseClock:
    """The database server's clock: workers on several machines agree on due times and leases.
    On SQLite (one machine) it is the system clock."""

    def __init__(self, database):
        self._database = database
        self._postgres = database.engine.dialect.name == "postgresql"

    def now(self) -> datetime:
        if not self._postgres:
            return datetime.now(UTC)
        from sqlalchemy import text

        with self._database.engine.connect() as connection:
            return connection.execute(text("SELECT clock_timestamp()")).scalar_one().astimezone(UTC)
