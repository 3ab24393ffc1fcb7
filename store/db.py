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
from .history import chain_pending

# The Alembic revision this code expects. tests/test_store.py checks it is the migration head.
from .revision import SCHEMA_REVISION  # noqa: E402  (one place for it)

DEFAULT_PATH = "opsqa.db"
BUSY_TIMEOUT_MS = 30_000
BACKENDS = ("sqlite", "postgresql")  # what the schema and its migrations are written for
# PostgreSQL: an address that accepts and never answers fails within these (seconds; env overrides, 0: none)
PG_CONNECT_TIMEOUT = ("OPSQA_PG_CONNECT_TIMEOUT", 10)
PG_STATEMENT_TIMEOUT = ("OPSQA_PG_STATEMENT_TIMEOUT", 60)


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
        _check_url(db)
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def _check_url(url: str) -> None:
    """Refuse, in one line, an address opsqa cannot use: not a URL, another kind of database, no driver."""
    from sqlalchemy.exc import ArgumentError

    scheme = url.partition("://")[0]
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise DatabaseError(_("{scheme}://… is not a database address opsqa understands; give a SQLite file's path "
                              "or postgresql+psycopg://USER@HOST/NAME").format(scheme=scheme)) from None
    if parsed.get_backend_name() not in BACKENDS:
        raise DatabaseError(_("cannot use a {scheme}:// database: opsqa works with a SQLite file's path or "
                              "postgresql+psycopg://USER@HOST/NAME").format(scheme=scheme))
    try:
        parsed.get_dialect().import_dbapi()
    except (ImportError, AttributeError) as exc:
        raise DatabaseError(_("cannot use {scheme}://: its driver is not installed ({reason}); for PostgreSQL give "
                              "postgresql+psycopg://").format(scheme=scheme, reason=exc)) from None


def _seconds(setting: tuple[str, int]) -> float:
    name, default = setting
    given = os.environ.get(name, "").strip()
    try:
        value = float(given) if given else float(default)
    except ValueError:
        raise DatabaseError(_("{name}={given!r} is not a number of seconds").format(name=name, given=given)) from None
    if not 0 <= value <= 86_400:
        raise DatabaseError(_("{name}={given!r} is not a number of seconds").format(name=name, given=given))
    return value


def _postgres_args(url: str, read_only: bool = False) -> dict:
    """Connect and statement timeouts, unless the address sets them itself; read-only transactions."""
    query = make_url(url).query
    args: dict = {}
    connect = _seconds(PG_CONNECT_TIMEOUT)
    if "connect_timeout" not in query and connect:
        args["connect_timeout"] = max(1, round(connect))
    options = []
    statement = _seconds(PG_STATEMENT_TIMEOUT)
    if statement:
        options.append(f"-c statement_timeout={round(statement * 1000)}")
    if read_only:
        options.append("-c default_transaction_read_only=on")
    if "options" not in query and options:
        args["options"] = " ".join(options)
    return args


def refusal(exc: Exception, url: str) -> DatabaseError | None:
    """A database failure that is the place's, not the code's (read-only, disk full, damaged file, no
    answer, a timeout), as one line; None for anything else (a bug, a constraint)."""
    from sqlalchemy.exc import DatabaseError as SQLDatabaseError

    orig = getattr(exc, "orig", exc)
    if isinstance(exc, SQLDatabaseError) and type(orig) is sqlite3.DatabaseError:
        pass  # "database disk image is malformed", "file is not a database"
    elif not isinstance(exc, OperationalError) and not isinstance(orig, sqlite3.OperationalError):
        return None
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    mapped = _refusal(reason, url)
    mapped.reason = reason  # the driver's own words, for a report that says where it stands itself
    return mapped


def _refusal(reason: str, url: str) -> DatabaseError:
    where = describe(url)
    lowered = reason.lower()
    if "readonly database" in lowered or "read-only" in lowered:
        return DatabaseError(_("cannot write to database {url}: it is read-only ({reason}); check the permissions of "
                               "the file and its folder").format(url=where, reason=reason))
    if "disk is full" in lowered or "no space left" in lowered or "could not extend file" in lowered:
        return DatabaseError(_("cannot write to database {url}: the disk is full ({reason}); nothing was saved, free "
                               "some space and try again").format(url=where, reason=reason))
    if "malformed" in lowered or "not a database" in lowered:
        return DatabaseError(_("database {url} is damaged ({reason}); run `opsqa db check` and restore it from a "
                               "backup").format(url=where, reason=reason))
    return DatabaseError(_("database {url}: {reason}").format(url=where, reason=reason))


@contextmanager
def _refusals(url: str):
    try:
        yield
    except (DBAPIError, sqlite3.DatabaseError) as exc:
        mapped = refusal(exc, url)
        if mapped is None:
            raise
        raise mapped from exc


def describe(url: str) -> str:
    """The URL as shown to people: a path for SQLite, no password otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _sqlite_recipe(engine: Engine, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's begin event, not the driver, decide how transactions start.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED" if read_only else "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One database: a write engine (IMMEDIATE on SQLite) and a read view of it."""

    def __init__(self, url: str, *, read_only: bool = False):
        self.url, self.read_only = url, read_only
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            path = make_url(url).database
            if read_only and path not in (None, "", ":memory:"):
                self.engine = create_engine("sqlite://", creator=_read_only_connect(Path(path)))
            else:
                self.engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            _sqlite_recipe(self.engine, read_only)
            self._read_bind = self.engine.execution_options(sqlite_begin="DEFERRED")
        else:
            self.engine = create_engine(url, pool_pre_ping=True, connect_args=_postgres_args(url, read_only))
            self._read_bind = self.engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one write transaction: committed on success, rolled back on error."""
        with _refusals(self.url), Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session
                chain_pending(session)  # the records sealed and the events linked, under the head for the commit
                failpoints.point("commit.before")
            failpoints.point("commit.after")

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only; it never takes the write lock."""
        with _refusals(self.url), Session(self._read_bind, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def reading_driver(self):
        """The DB-API connection of a read transaction, for the plain readers of store/quickread.py (SQLite):
        a session costs more than the query of one instance's tasks."""
        with self._read_bind.connect() as connection, connection.begin():
            yield connection.connection.driver_connection

    def integrity_problems(self, limit: int = 20) -> list[str]:
        """SQLite's own check of the file (its pages, indexes and constraints) and of the references between
        rows: what is wrong, or [] (PostgreSQL checks its pages itself: [])."""
        if not self.is_sqlite:
            return []
        try:
            with _refusals(self.url), self._read_bind.connect() as connection:
                found = [row[0] for row in connection.exec_driver_sql(f"PRAGMA quick_check({limit})")]
                if found == ["ok"]:
                    found = [row[0] for row in connection.exec_driver_sql(f"PRAGMA integrity_check({limit})")]
                problems = [] if found == ["ok"] else found
                for table, rowid, parent, _fk in connection.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(
                        limit):
                    problems.append(_("table {table}, row {rowid}: refers to a missing row of {parent}").format(
                                        table=table, rowid=rowid, parent=parent))
        except DatabaseError as exc:  # too damaged for the check to go on
            problems = [getattr(exc, "reason", str(exc))]
        # one line each ("*** in database main ***" heads SQLite's list)
        lines = [line.strip() for problem in problems for line in str(problem).splitlines()]
        return [line for line in lines if line and not line.startswith("***")][:limit]

    def dispose(self) -> None:
        self.engine.dispose()


def _read_only_connect(path: Path):
    """Connections that cannot write: `mode=ro`, or for a file whose folder cannot be written either (a copy
    on read-only media, where a WAL file's -shm cannot be made) `immutable=1`, which reads the file as it is."""
    from urllib.parse import quote

    where = quote(str(path))

    def connect():
        connection = sqlite3.connect(f"file:{where}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return connection
        except sqlite3.OperationalError as exc:
            connection.close()
            if "readonly" not in str(exc) and "unable to open" not in str(exc):
                raise
        return sqlite3.connect(f"file:{where}?immutable=1", uri=True)

    return connect


def open_database(db: str | None = None, *, check_schema: bool = True, read_only: bool = False) -> Database:
    """Open an existing opsqa database, refusing one that is missing or on another schema; `read_only`: one
    that cannot be written through this handle, which works on a read-only file or copy too."""
    url = resolve_url(db)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.exists():
            raise NoDatabase(_("no opsqa database at {path}; run `opsqa init` to create one").format(path=path))
        if path.is_dir():
            raise DatabaseError(_("cannot open database at {path}: it is a directory").format(path=path))
    database = Database(url, read_only=read_only)
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
            if not known_revision(revision):
                raise newer_schema(url, revision)
            raise SchemaMismatch(
                _("database {url} has schema revision {revision}, this opsqa needs {schema_revision}; back it "
                  "up, then run `opsqa db upgrade`").format(
                    url=describe(url), revision=revision, schema_revision=SCHEMA_REVISION)
            )
    return database


def known_revision(revision: str) -> bool:
    """Is this a revision of our migrations or below them (an older schema), not one made by a newer opsqa?
    Revisions are numbered (0001, 0002, ...): an unknown number above ours is a newer opsqa's."""
    versions = Path(__file__).with_name("migrations") / "versions"
    if any(path.name.split("_", 1)[0] == revision for path in versions.glob("*.py")):
        return True
    return revision.isdigit() and SCHEMA_REVISION.isdigit() and int(revision) < int(SCHEMA_REVISION)


def newer_schema(url: str, revision: str) -> SchemaMismatch:
    return SchemaMismatch(_("database {url} has schema revision {revision}, made by a newer opsqa (this one knows up "
                            "to {schema_revision}); upgrade opsqa").format(
                                url=describe(url), revision=revision, schema_revision=SCHEMA_REVISION))


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
