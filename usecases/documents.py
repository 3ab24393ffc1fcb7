"""What records become for people, beyond the reports of each subject: workbooks of any listing."""

from __future__ import annotations

from typing import Any


def write_workbook(file: str, rows: list[dict[str, Any]], *, sheet: str, zone, force: bool = False) -> None:
    """Every row a listing gives (its --json rows) as an .xlsx file; the same rows give the same bytes. An
    existing file is replaced only with `force`, a symbolic link never."""
    from handlers.workbook import write_workbook as write

    write(file, rows, sheet=sheet, zone=zone, force=force)


def completions(db: str | None, kind: str) -> list[str]:
    """Process ids or open task ids of a SQLite database, read without SQLAlchemy (a shell's completion
    must answer at once); nothing when the database is not such a file."""
    from store import quickread

    path = quickread.sqlite_file(db)
    if path is None:
        return []
    if kind == "processes":
        return quickread.process_ids(path)
    return [task["id"] for task in quickread.tasks(path) or []]
