"""Who asks a use case — kept apart from the engine, so that a face may name the caller without loading it
(`opsqa tasks` reads a SQLite file with the standard library alone)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who asks: the login a face vouches for (the OS account at the terminal, the signed-in user on the
    web), the user an admin acts as (`--as`), and where the request came from (`cli` or an address)."""

    login: str
    as_name: str | None = None
    source: str = "cli"
