"""Hostile databases and values (issue 17, item 5): every one ends in one line and exit 1, never a traceback
or a hang — an address that accepts and never answers, an unknown scheme, a newer schema, a damaged file, a
read-only or full database, an account without a name, bytes that are not UTF-8, numbers and dates in forms
other than plain ASCII, text without bound, and control characters on their way to a terminal. And
`opsqa db check`, which reads a database without writing to it."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ADMIN, ROOT, linear, user_task
from sqlalchemy import event, text

from cli import cli
from engine import Engine, forms
from engine.errors import InvalidFormValue
from handlers import registry
from store import DatabaseError, open_database

pytest_plugins = ["postgres"]

NOBODY = 65534  # the `nobody` account: it has a name, and cannot write what root made read-only
NAMELESS = 54321  # a uid with no passwd entry


def opsqa(*args, env: dict | None = None, user: int | None = None, cwd: Path = ROOT, timeout: float = 60):
    """`opsqa ARGS` in its own process (bytes or str arguments), as another uid when given (root, setpriv)."""
    command = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); from cli import main; main()",
               str(ROOT), *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(command, cwd=cwd, env={**os.environ, "LANGUAGE": "en", **(env or {})}, capture_output=True,
                          timeout=timeout)


def one_line(result) -> str:
    """The single line a refused command printed (subprocess or CliRunner)."""
    out = result.stderr.decode() if isinstance(result.stderr, bytes) else result.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return lines[0]


def cli_run(*args: str, login: str = ADMIN, engine=None):
    obj = {"login": login, **({"engine": engine} if engine is not None else {})}
    return CliRunner().invoke(cli, list(args), obj=obj)


@pytest.fixture
def shared_dir():
    """A folder other uids can enter (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="opsqa-hostile-"))
    folder.chmod(0o755)
    yield folder
    for path in (folder, *folder.rglob("*")):
        path.chmod(0o777 if path.is_dir() else 0o666)
    shutil.rmtree(folder)


def _as_root():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("runs opsqa as another uid, which needs root and setpriv")


def _settled(path: Path) -> Path:
    """The database with its write-ahead log folded in, so that copying the file copies everything."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


# -- addresses and schemas -------------------------------------------------------------------


def test_a_postgres_address_that_accepts_and_never_answers_fails_in_one_line():
    with socket.socket() as listener:  # the kernel accepts the connection; nobody ever answers it
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        result = opsqa("--db", f"postgresql+psycopg://u@127.0.0.1:{port}/x", "tasks",
                       env={"OPSQA_PG_CONNECT_TIMEOUT": "1"}, timeout=60)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith(f"opsqa: cannot open database postgresql+psycopg://u@127.0.0.1:{port}/x: ")
    assert "timeout" in line


@pytest.mark.parametrize("given", ["abc", "-5"])
def test_a_bad_timeout_setting_is_refused(given):
    result = CliRunner(env={"OPSQA_PG_CONNECT_TIMEOUT": given}).invoke(
        cli, ["--db", "postgresql+psycopg://u@127.0.0.1:1/x", "tasks"], obj={"login": ADMIN})
    assert result.exit_code == 1
    assert one_line(result) == f"opsqa: OPSQA_PG_CONNECT_TIMEOUT={given!r} is not a number of seconds"


def test_a_statement_that_runs_too_long_is_cut_off(pg_url, monkeypatch):
    from store import create_database

    create_database(pg_url).dispose()
    monkeypatch.setenv("OPSQA_PG_STATEMENT_TIMEOUT", "0.2")
    database = open_database(pg_url)
    try:
        with pytest.raises(DatabaseError, match="statement timeout"), database.reading() as session:
            session.execute(text("SELECT pg_sleep(5)"))
    finally:
        database.dispose()


def test_db_check_on_postgres_checks_the_history_read_only(pg_url):
    from store import create_database

    create_database(pg_url).dispose()
    result = cli_run("--db", pg_url, "db", "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{pg_url}: ok (integrity check passed; history intact: 1 events)")


@pytest.mark.parametrize("url", ["mysql://u@db.example.com/opsqa", "foo://x", "oracle+cx_oracle://u@h/x"])
def test_an_unknown_kind_of_database_is_refused(url):
    result = cli_run("--db", url, "tasks")
    assert result.exit_code == 1
    scheme = url.partition("://")[0]
    assert one_line(result) == (f"opsqa: cannot use a {scheme}:// database: opsqa works with a SQLite file's path or "
                                "postgresql+psycopg://USER@HOST/NAME")


def test_a_schema_made_by_a_newer_opsqa_says_upgrade_opsqa(engine, db_path):
    engine.database.dispose()
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")
    for args in (["tasks"], ["db", "upgrade"]):
        result = cli_run("--db", str(db_path), *args)
        assert result.exit_code == 1
        line = one_line(result)
        assert "schema revision 0999, made by a newer opsqa" in line and line.endswith("; upgrade opsqa")
    with sqlite3.connect(db_path) as connection:  # db upgrade left it alone
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == ("0999",)


# -- damaged, read-only and full files -------------------------------------------------------


def _damage(path: Path, page: int) -> None:
    """Garbage over one page of the file (pages count from 1)."""
    size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as file:
        file.seek((page - 1) * size)
        file.write(b"\xde\xad\xbe\xef" * (size // 4))


def _root_page(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]


def test_a_damaged_file_gives_one_line(engine, db_path, tmp_path):
    engine.database.dispose()
    copy = tmp_path / "copy.db"
    shutil.copy(_settled(db_path), copy)
    _damage(copy, 2)
    for args in (["tasks"], ["history", "verify"], ["users", "add", "x", "--role", "qmd"], ["db", "check"]):
        result = cli_run("--db", str(copy), *args)
        assert result.exit_code == 1, args
        assert one_line(result).startswith(f"opsqa: cannot open database {copy}: database disk image is malformed")


def test_db_check_reports_a_damaged_table(engine, db_path, tmp_path):
    engine.database.dispose()
    copy = tmp_path / "copy.db"
    shutil.copy(_settled(db_path), copy)
    _damage(copy, _root_page(copy, "event"))
    result = cli_run("--db", str(copy), "db", "check")
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith(f"opsqa: {copy}: ") for line in lines)
    assert any("history cannot be read" in line for line in lines)
    result = cli_run("--db", str(copy), "history", "verify")  # what reads the history says so, in one line
    assert result.exit_code == 1
    assert one_line(result).startswith(f"opsqa: database {copy} is damaged (")


def test_db_check_says_ok_and_writes_nothing(engine, db_path):
    engine.database.dispose()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    result = cli_run("--db", str(db_path), "db", "check", login="nobody-in-particular")  # reading is open
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{db_path}: ok (integrity check passed; history intact: ")
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_db_check_finds_an_altered_history(engine, db_path):
    engine.database.dispose()
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE event SET actor = 'mallory' WHERE id = 2")
    result = cli_run("--db", str(db_path), "db", "check")
    assert result.exit_code == 1
    assert one_line(result) == f"opsqa: {db_path}: history: event 2 was altered"


def test_a_read_only_database_gives_one_line_and_db_check_still_reads_it(engine, db_path, shared_dir):
    _as_root()
    engine.database.dispose()
    folder = shared_dir / "ro"
    folder.mkdir()
    copy = folder / "opsqa.db"
    shutil.copy(_settled(db_path), copy)
    copy.chmod(0o444)
    folder.chmod(0o555)
    result = opsqa("--db", str(copy), "users", "add", "x", "--role", "qmd", user=NOBODY, cwd=shared_dir)
    assert result.returncode == 1
    assert one_line(result) == f"opsqa: cannot open database {copy}: attempt to write a readonly database"
    result = opsqa("--db", str(copy), "db", "check", user=NOBODY, cwd=shared_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith(f"{copy}: ok")
    result = opsqa("--db", str(copy), "history", "verify", user=NOBODY, cwd=shared_dir)  # before: "readonly database"
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("history intact: ")


def _engine_with(db_path: Path, clock, pragma) -> Engine:
    """An engine whose connections are limited by `pragma(cursor)` (set as each one opens)."""
    database = open_database(str(db_path))

    @event.listens_for(database.engine, "connect")
    def limit(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        pragma(cursor)
        cursor.close()

    database.engine.dispose()  # the connection that opened it had none
    return Engine(database, clock=clock, handlers=registry)


def _users(db_path: Path) -> int:
    with sqlite3.connect(db_path) as connection:
        return connection.execute("SELECT count(*) FROM user_account").fetchone()[0]


def test_a_full_disk_gives_one_line_and_saves_nothing(engine, db_path, clock):
    engine.database.dispose()
    users = _users(db_path)
    # SQLITE_FULL as a full disk gives it: the file may not grow by a page
    full = _engine_with(db_path, clock, lambda cursor: cursor.execute(
        "PRAGMA max_page_count = " + str(cursor.execute("PRAGMA page_count").fetchone()[0])))
    try:
        result = cli_run("--db", str(db_path), "users", "add", "newcomer", "--role", "qmd", "--name", "x" * 5000,
                         "--department", "qmd", "--email", "n@example.com", engine=full)
        assert result.exit_code == 1
        assert one_line(result) == (f"opsqa: cannot write to database {db_path}: the disk is full (database or disk "
                                    "is full); nothing was saved, free some space and try again")
    finally:
        full.database.dispose()
    assert _users(db_path) == users


def test_a_database_that_turns_read_only_when_writing_gives_one_line(engine, db_path, clock):
    engine.database.dispose()
    users = _users(db_path)
    frozen = _engine_with(db_path, clock, lambda cursor: cursor.execute("PRAGMA query_only = ON"))
    try:
        result = cli_run("--db", str(db_path), "users", "add", "newcomer", "--role", "qmd", engine=frozen)
        assert result.exit_code == 1
        line = one_line(result)
        assert line.startswith(f"opsqa: cannot write to database {db_path}: it is read-only (")
        assert line.endswith("check the permissions of the file and its folder")
    finally:
        frozen.database.dispose()
    assert _users(db_path) == users


# -- who acts ----------------------------------------------------------------------------------


def test_an_account_without_a_name_is_refused(shared_dir):
    _as_root()
    import pwd

    with pytest.raises(KeyError):
        pwd.getpwuid(NAMELESS)
    shared_dir.chmod(0o777)
    target = shared_dir / "opsqa.db"
    result = opsqa("--db", str(target), "init", user=NAMELESS, cwd=shared_dir)
    assert result.returncode == 1
    assert one_line(result) == (f"opsqa: this account (uid {NAMELESS}) has no name in the system's user list; run "
                                "opsqa as a named user")
    assert not target.exists()


# -- values ------------------------------------------------------------------------------------


def test_bytes_that_are_not_utf8_are_refused_naming_the_option(engine, db_path):
    engine.database.dispose()
    for args, option in (([b"users", b"add", b"bob", b"--role", b"qmd", b"--name", b"\xff\xfe"], "--name"),
                         ([b"users", b"add", b"b\xffb", b"--role", b"qmd"], "NAME"),
                         ([b"--as", b"gm\xff", b"tasks"], "--as"),
                         ([b"history", b"--kind", b"\xc3"], "--kind")):
        result = opsqa(b"--db", bytes(db_path), *args, env={"LANG": "C.UTF-8"})
        assert result.returncode == 1, args
        assert one_line(result) == (f"opsqa: {option}: the value is not UTF-8 text; opsqa takes UTF-8 (check the "
                                    "terminal's encoding, LANG)")
    assert _users(db_path) == 3


def test_a_surrogate_in_a_form_value_is_refused(run, engine):
    result = run("start", "bad", "--set", "note=\udcff")
    assert result.exit_code == 1
    assert one_line(result).startswith("opsqa: --set: the value is not UTF-8 text")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        forms.coerce({"id": "note", "type": "string"}, "ab\udcff")


LONG = {"id": "n", "label": "n", "type": "long", "required": False, "readonly": False}
NUMBER = {"id": "x", "label": "x", "type": "decimal", "required": False, "readonly": False}
DAY = {"id": "d", "label": "d", "type": "date", "required": False, "readonly": False}
TEXT = {"id": "t", "label": "t", "type": "string", "required": False, "readonly": False}


@pytest.mark.parametrize("raw", ["١٢٣", "1_000", "１２", "0x10", "1e3", "12.0", "1 2", "²", "9" * 20, "--1", ""])
def test_whole_numbers_are_plain_ascii_digits(raw):
    with pytest.raises(ValueError, match="expected a whole number"):
        forms.coerce(LONG, raw or "+")


@pytest.mark.parametrize(("raw", "value"), [("123", 123), (" -7 ", -7), ("+3", 3), ("007", 7), (42, 42),
                                            (str(2**63 - 1), 2**63 - 1)])
def test_plain_whole_numbers_pass(raw, value):
    assert forms.coerce(LONG, raw) == value


def test_a_whole_number_the_database_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="expected a whole number"):
        forms.coerce(LONG, 2**63)


@pytest.mark.parametrize("raw", ["١.٥", "1_0.5", "1e5", "1E-3", "Infinity", "NaN", "1.", ".5", "1,5", "１.5",
                                 "1" * 31])
def test_numbers_are_plain_ascii_decimals(raw):
    with pytest.raises(ValueError, match="expected a number"):
        forms.coerce(NUMBER, raw)


@pytest.mark.parametrize(("raw", "value"), [("1.25", Decimal("1.25")), ("-0.5", Decimal("-0.5")), ("3", Decimal(3)),
                                            (1.5, Decimal("1.5"))])
def test_plain_decimals_pass(raw, value):
    assert forms.coerce(NUMBER, raw) == value


@pytest.mark.parametrize("raw", ["20270301", "2027-W09-1", "2027-060", "2027-03-01T00:00", "２０２７-03-01",
                                 "2027/3/1", "٢٠٢٧-٠٣-٠١", "2027-3-1", 20270301])
def test_dates_are_yyyy_mm_dd_only(raw):
    with pytest.raises(ValueError, match="expected a date as YYYY-MM-DD"):
        forms.coerce(DAY, raw)
    assert forms.coerce(DAY, "2027-03-01") == date(2027, 3, 1)


def test_text_is_bounded_by_the_setting(run, engine, tmp_path):
    assert forms.coerce(TEXT, "x" * forms.MAX_TEXT_LENGTH) == "x" * forms.MAX_TEXT_LENGTH
    with pytest.raises(ValueError, match="at most 10000 characters allowed, got 10001"):
        forms.coerce(TEXT, "x" * 10_001)
    assert forms.coerce({**TEXT, "maxlength": 20_000}, "x" * 10_001) == "x" * 10_001  # its own bound counts

    path = tmp_path / "note.bpmn"
    path.write_text(linear("notes", ("write", user_task("write", '<camunda:formField id="note" type="string" />'
                                                                '<camunda:formField id="count" type="long" />')),
                           lane="qmd"), encoding="utf-8")
    engine.deploy([str(path)], actor=engine.actor(ADMIN))
    instance = engine.start("notes", actor=engine.actor(ADMIN))
    task = next(task for task in engine.tasks() if task["instance"] == instance)["id"]

    result = run("task", "complete", task, "--set", "count=١٢٣", login="qmd1")
    assert result.exit_code == 1
    assert "count" in one_line(result) and "expected a whole number" in one_line(result)
    assert run("settings", "max_text_length", "50", "--reason", "short notes").exit_code == 0
    result = run("task", "complete", task, "--set", "note=" + "长" * 51, login="qmd1")
    assert result.exit_code == 1
    assert "note" in one_line(result) and "at most 50 characters allowed, got 51" in one_line(result)
    result = run("task", "complete", task, "--set", "note=" + "长" * 50, "--set", "count=123", login="qmd1")
    assert result.exit_code == 0, result.output


def test_form_refusals_name_the_field():
    with pytest.raises(InvalidFormValue, match="field n: expected a whole number"):
        forms.validate("t", [LONG], {"n": "١٢٣"})


# -- what reaches a terminal -------------------------------------------------------------------


def test_control_characters_never_reach_the_terminal_raw(run, engine):
    hostile = "甲\x1b[2J\x1b]0;owned\x07\r\u202eevil\x9b31m"
    result = run("users", "add", "bob", "--role", "qmd", "--name", hostile, "--department", "qmd")
    assert result.exit_code == 0, result.output
    for args in (["users", "list"], ["users", "show", "bob"], ["history"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        for raw in ("\x1b", "\x07", "\r", "\u202e", "\x9b"):
            assert raw not in result.output, (args, result.output)
        assert "\\x1b[2J" in result.output, args
    assert run("users", "list", "--json").exit_code == 0  # --json is data: JSON escapes them itself
