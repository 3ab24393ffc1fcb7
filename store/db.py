"""Opening the database: URLs, the SQLite recipe, sessions, and the schema check.

SQLite is the embedded default. Writers take the lock at the start of the transaction
(`BEGIN IMMEDIATE`), so two processes that load-then-save serialise instead of failing
with "database is locked" halfway; readers use a deferred transaction so that listing
tasks never waits behind the scheduler's writes. PostgreSQL URLs need none of this.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from i18n import _

from . import failpoints

# The Alembic revision this code expects. tests/test_store.py checks it is the migration head.
from .revision import SCHEMA_REVISION  # noqa: E402  (one place for it)

DEFAULT_PATH = "opsqa.db"
BUSY_TIMEOUT_MS = 30_000


class DatabaseError(Exception):
    """The database cannot be used."""


class NoDatabase(DatabaseError):
    """There is no opsqa database here."""


class SchemaMismatch(DatabaseError):
    """The database schema is not the one this code expects."""


def resolve_url(db: str | None) -> str:
    """`--db` / `OPSQA_DB` value (a path or a URL) -> SQLAlchemy URL."""
    db = db or os.environ.get("OPSQA_DB") or DEFAULT_PATH
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def describe(url: str) -> str:
    """The URL as shown to people: a path for SQLite, no password otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _sqlite_recipe(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's begin event, not the driver, decide how transactions start.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One database: a write engine (IMMEDIATE on SQLite) and a read view of it."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            _sqlite_recipe(self.engine)
            self._read_bind = self.engine.execution_options(sqlite_begin="DEFERRED")
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self._read_bind = self.engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one write transaction: committed on success, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session
                failpoints.point("commit.before")
            failpoints.point("commit.after")

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only; it never takes the write lock."""
        with Session(self._read_bind, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def reading_driver(self):
        """The DB-API connection of a read transaction, for the plain readers of store/quickread.py (SQLite):
        a session costs more than the query of one instance's tasks."""
        with self._read_bind.connect() as connection, connection.begin():
            yield connection.connection.driver_connection

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(db: str | None = None, *, check_schema: bool = True) -> Database:
    """Open an existing opsqa database, refusing one that is missing or on another schema."""
    url = resolve_url(db)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.exists():
            raise NoDatabase(_("no opsqa database at {path}; run `opsqa init` to create one").format(path=path))
        if path.is_dir():
            raise DatabaseError(_("cannot open database at {path}: it is a directory").format(path=path))
    database = Database(url)
    if check_schema:
        try:
            revision = current_revision(database)
        except DatabaseError:
            database.dispose()
            raise
        if revision is None:
            database.dispose()
            raise NoDatabase(_("{url} is not an opsqa database; run `opsqa init` to create one").format(
                                 url=describe(url)))
        if revision != SCHEMA_REVISION:
            database.dispose()
            raise SchemaMismatch(
                _("database {url} has schema revision {revision}, this opsqa needs {schema_revision}; back it "
                  "up, then run `opsqa db upgrade`").format(
                    url=describe(url), revision=revision, schema_revision=SCHEMA_REVISION)
            )
    return database


def current_revision(database: Database) -> str | None:
    """The Alembic revision stamped in the database, or None when it has none."""
    try:
        with database.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            has_table = conn.dialect.has_table(conn, "alembic_version")
            if not has_table:
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, DBAPIError, sqlite3.DatabaseError) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise DatabaseError(_("cannot open database {url}: {reason}").format(
                                url=describe(database.url), reason=reason)) from exc


def backup_sqlite(url: str, target: Path) -> None:
    """A consistent copy of a SQLite database (the online backup API: safe while others write)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise DatabaseError(_("{url} is not a SQLite file; only SQLite databases are copied this way").format(
                                url=describe(url)))
    source = sqlite3.connect(parsed.database)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
