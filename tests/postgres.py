"""A real PostgreSQL server for the tests that need one.

`pg_server` (session scope) runs `initdb` and `pg_ctl start` in a temporary directory, on a free
port on 127.0.0.1 with trust authentication, and stops it at the end of the session. Run as root
(CI and the developers' machines), the server runs as the `postgres` OS user through `runuser`,
since initdb and postgres refuse root. `pg_url` (function scope) makes a fresh database per test
and gives its SQLAlchemy URL.

The server binaries are looked for in $OPSQA_PG_BINDIR, `pg_config --bindir`,
/usr/lib/postgresql/<newest>/bin (Debian's `postgresql` package), then PATH. When none can be
found the tests skip, saying why; under CI=true they fail instead, so CI cannot go green
without PostgreSQL.

Use: `pytest_plugins = ["postgres"]` in the test module, then ask for `pg_url`.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
BASE_PREFIX = "opsqa-pg-"
OWNER_FILE = "owner.pid"  # the pytest process that started the server in this directory


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    bindir: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, dbname=database, autocommit=True)


def _unavailable(reason: str):
    """Skip, or fail under CI=true: CI must not go green without PostgreSQL."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server available: {reason}")


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in SERVER_BINARIES)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def candidate_bindirs() -> list[Path]:
    """Where the server binaries may be, best first."""
    found: list[Path] = []
    if os.environ.get("OPSQA_PG_BINDIR"):
        found.append(Path(os.environ["OPSQA_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            found.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    found.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True))
    initdb = shutil.which("initdb")
    if initdb:
        found.append(Path(initdb).parent)
    return list(dict.fromkeys(found))


def find_bindir() -> Path | None:
    """The first directory that holds initdb, pg_ctl and postgres together."""
    for bindir in candidate_bindirs():
        if _has_server(bindir):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runner() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs the server binaries, and the OS user it runs them as."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam(SUPERUSER)
    except KeyError:
        _unavailable("running as root, and there is no `postgres` OS user to run the server as")
    runuser = shutil.which("runuser")
    if runuser is None:
        _unavailable("running as root, and `runuser` is missing to run the server as `postgres`")
    return [runuser, "-u", SUPERUSER, "--"], user


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S + 30)
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).strip()
        if log is not None and log.exists():
            detail += "\n--- server log ---\n" + log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{what} failed ({' '.join(command)}):\n{detail}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_abandoned(bindir: Path, prefix: list[str], parent: Path) -> None:
    """Stop the servers of earlier test sessions that died before their teardown (killed runs)."""
    for base in parent.glob(f"{BASE_PREFIX}*"):
        try:
            owner = int((base / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        if (base / "data" / "postmaster.pid").exists():
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "-w",
                            "stop"], capture_output=True, timeout=START_TIMEOUT_S)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = find_bindir()
    if bindir is None:
        searched = ", ".join(str(p) for p in candidate_bindirs()) or "nothing"
        _unavailable(
            f"initdb/pg_ctl/postgres not found (searched $OPSQA_PG_BINDIR, pg_config --bindir, "
            f"/usr/lib/postgresql/*/bin, PATH: {searched}); install Debian's `postgresql` package"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg driver is not installed (pip install -e '.[dev]')")
    prefix, user = _runner()
    # Under /tmp, not pytest's root-only temp tree, so that the postgres user can reach it; a
    # short path keeps the socket under the 107-byte limit of a Unix socket name.
    parent = Path("/tmp" if user else tempfile.gettempdir())
    _stop_abandoned(bindir, prefix, parent)
    base = Path(tempfile.mkdtemp(prefix=BASE_PREFIX, dir=parent))
    data, log = base / "data", base / "server.log"
    (base / OWNER_FILE).write_text(str(os.getpid()))
    if user is not None:
        os.chown(base, user.pw_uid, user.pw_gid)
    try:
        _run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
              "--locale=C", "--no-sync"], "initdb")
        for attempt in range(3):  # another process may take the free port before the server does
            port = _free_port()
            options = (f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off")
            try:
                _run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                      "-t", str(START_TIMEOUT_S), "-o", options, "start"], "pg_ctl start", log)
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        server = PgServer("127.0.0.1", port, bindir)
        try:
            yield server
        finally:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=START_TIMEOUT_S)
    finally:
        shutil.rmtree(base, ignore_errors=True)


_numbers = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A new, empty database on the test server, as a SQLAlchemy URL (postgresql+psycopg://...)."""
    name = f"test_{next(_numbers)}"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    with pg_server.connect() as conn:
        # Whatever the test left connected goes too (PostgreSQL 13+).
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
