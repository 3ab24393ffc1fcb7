"""Alembic, driven from code: the migrations ship inside the package, no alembic.ini needed."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from i18n import _

from .db import Database, DatabaseError, describe, open_database, resolve_url

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(database: Database):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = database.engine
    return config


def _create_private(path: Path) -> None:
    """The database file for the `opsqa` group only: 0660, in folders opsqa creates 2770 (the group's files
    stay the group's); existing folders and files keep the permissions their owner gave them. SQLite gives
    its -wal and -shm files the database file's mode."""
    import os

    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        os.chmod(folder, 0o2770)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o660)
    except FileExistsError:  # an empty file the user made: theirs
        return
    try:
        os.fchmod(fd, 0o660)
    finally:
        os.close(fd)


def create_database(db: str | None) -> Database:
    """Create a new database at the head revision; refuse one that already holds opsqa. A new SQLite file is a
    copy of this process's empty database at the head revision (`_sqlite_at_head`), the same tables without
    running the migrations again."""
    from alembic import command

    url = resolve_url(db)
    parsed = make_url(url)
    path = None
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        if path.exists() and path.stat().st_size > 0:
            raise DatabaseError(_("{path} already exists; opsqa init makes a new database only").format(path=path))
        _create_private(path)
    database = Database(url)
    from .db import backup_sqlite, current_revision

    if current_revision(database) is not None:
        database.dispose()
        raise DatabaseError(_("{url} already holds an opsqa database").format(url=describe(url)))
    if path is not None and parsed.database != ":memory:":
        database.dispose()
        backup_sqlite(f"sqlite:///{_sqlite_at_head()}", path)  # into the file made above: its mode stays
        database = Database(url)
    else:
        command.upgrade(_config(database), "head")
    seal_baseline(database)
    return database


_template: Path | None = None
_template_lock = threading.Lock()


def _sqlite_at_head() -> Path:
    """An empty SQLite database at the head revision, made once in this process by the migrations (0.4 s for
    their 24 steps) and copied for every new one: a scenario test, a trial, a simulation and the test suite
    each make new databases by the dozen. Removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    from alembic import command

    global _template
    with _template_lock:
        if _template is None or not _template.exists():
            folder = Path(tempfile.mkdtemp(prefix="opsqa-schema-"))
            atexit.register(shutil.rmtree, folder, True)
            database = Database(f"sqlite:///{folder / 'head.db'}")
            try:
                command.upgrade(_config(database), "head")
            finally:
                database.dispose()
            _template = folder / "head.db"
        return _template


def upgrade_database(db: str | None) -> tuple[str | None, str]:
    """Apply pending migrations; return (revision before, revision after)."""
    from alembic import command

    from .db import current_revision

    database = open_database(db, check_schema=False)
    try:
        before = current_revision(database)
        if before is None:
            raise DatabaseError(_("{url} is not an opsqa database; run `opsqa init`").format(
                                    url=describe(database.url)))
        from .db import known_revision, newer_schema

        if not known_revision(before):
            raise newer_schema(database.url, before)
        command.upgrade(_config(database), "head")
        seal_baseline(database)
        return before, current_revision(database) or ""
    finally:
        database.dispose()


def seal_baseline(database: Database) -> None:
    """Seal the records as they stand when a database first has seals (made, or upgraded from before them):
    from then on, `history verify` finds a record changed outside opsqa."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from .models import Event
    from .seals import KIND, baseline

    with database.transaction() as session:
        if session.scalar(select(Event.id).where(Event.kind == KIND).limit(1)) is None:
            baseline(session, at=datetime.now(UTC), actor="opsqa")


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head() or ""
