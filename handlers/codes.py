"""Record codes people quote: a prefix, the year and a running number (NC-2027-003, IA-2027-01)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def next_code(session: Session, column, prefix: str, width: int) -> str:
    """The code after the highest one starting with `prefix` (the unique column refuses a racing twin)."""
    last = session.scalar(select(func.max(column)).where(column.startswith(prefix)))
    number = int(last.removeprefix(prefix)) + 1 if last else 1
    return f"{prefix}{number:0{width}d}"
