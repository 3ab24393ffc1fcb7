"""Fixtures: a real SQLite file per test, a simulated clock, the engine, and the CLI."""

from __future__ import annotations

import email
import email.policy
import json
import socket
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from chatserver import chat_server  # noqa: F401  (the fake group robots, a fixture)
from click.testing import CliRunner
from helpers import ADMIN, PASSWORD, linear, make_engine, start_instance, user_task

import i18n
import usecases
from cli import cli
from engine import Engine, SimulatedClock
from store import create_database

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch):
    """argon2id at its lowest cost in the tests' own process: the same code, a hash in a millisecond rather than
    0.18 s (the web tests set and check some 500 passwords). A hash keeps its cost in it, so the demo year's,
    made once at full cost, is checked at full cost; an `opsqa` the tests start hashes at full cost."""
    from argon2 import PasswordHasher

    from engine import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """Messages in English whatever the machine's LANG (the tests assert English text), for the CLI run
    in-process and for any `opsqa` a test starts."""
    monkeypatch.setenv("LANGUAGE", "en")
    i18n.set_language(None)


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "opsqa.db"


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2027, 1, 1, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
def database(db_path):
    database = create_database(str(db_path))
    yield database
    database.dispose()


@pytest.fixture
def engine(database, db_path, clock) -> Engine:
    """An engine with the domain handlers, an admin, and one user per role of the quality plan."""
    engine = make_engine(db_path, clock)
    engine.add_user(ADMIN, ["admin"])
    admin = engine.actor(ADMIN)
    engine.add_user("qmd1", ["qmd"], display_name="张三", actor=admin)
    engine.add_user("gm1", ["gm"], display_name="李四", actor=admin)
    yield engine
    engine.database.dispose()


@pytest.fixture
def admin(engine):
    return engine.actor(ADMIN)


class Cli:
    """Runs `opsqa` in-process on the test's database, as a given OS login."""

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.runner = CliRunner()

    def __call__(self, *args: str, login: str = ADMIN, input: str | None = None):
        return self.runner.invoke(cli, ["--db", str(self.db_path), *args], obj={"login": login}, input=input)

    def start(self, process_id: str, *, key: str | None = None, login: str = ADMIN, **variables) -> int:
        """Start an instance as the engine does for handlers and scenarios (`opsqa start` refuses the
        processes a domain record owns, such as the quality plan these tests drive step by step)."""
        return start_instance(str(self.db_path), process_id, key=key, login=login, **variables)

    def json(self, *args: str, login: str = ADMIN):
        result = self(*args, "--json", login=login)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def run(db_path) -> Cli:
    return Cli(db_path)


@pytest.fixture
def site(engine, tmp_path):
    """The web face over the test's engine (its simulated clock): users with passwords, a process of two
    user tasks in the lane `qmd` whose first task is due by `${due}`."""
    admin = usecases.Caller(ADMIN)
    for name, roles in (("pm1", ["pm"]), ("qmd2", ["qmd"])):
        usecases.admin.add_user(engine, admin, name, roles)
    for name in ("qmd1", "qmd2", "pm1", ADMIN):
        usecases.auth.set_password(engine, admin, name, PASSWORD)
    path = tmp_path / "chore.bpmn"
    first = user_task("handle").replace('name="handle"', 'name="处理 &lt;b&gt;事项&lt;/b&gt;" camunda:dueDate="${due}"')
    path.write_text(linear("chore", ("handle", first), ("check", user_task("check")), lane="qmd"), encoding="utf-8")
    engine.deploy([str(path)], actor=engine.actor(ADMIN))
    return engine


@pytest.fixture(scope="session")
def demo_year_db(tmp_path_factory) -> Path:
    """The demo's simulated year (demo/year.yaml, as `make demo` runs it, its documents issued in HTML only: the
    same register, without the PDFs and Word files that take most of the year's time), made once per run: copy
    it."""
    import shutil

    from helpers import ROOT

    folder = tmp_path_factory.mktemp("demo")
    scenario = folder / "scenario"
    shutil.copytree(ROOT / "demo", scenario)
    year = (scenario / "year.yaml").read_text(encoding="utf-8")
    assert year.count("--format html,docx,pdf,md") >= 10
    (scenario / "year.yaml").write_text(year.replace("--format html,docx,pdf,md", "--format html"), encoding="utf-8")
    db = folder / "year.db"
    result = Cli(db)("simulate", "--from", "2026-12-20", "--to", "2028-01-02", "--scenario",
                     str(scenario / "year.yaml"), "--out", str(db), login="sim-admin")
    assert result.exit_code == 0, result.output
    engine = usecases.open_engine(str(db))  # the passwords once (argon2: ~0.18 s each), not in every copy
    for user in usecases.admin.users(engine):
        usecases.auth.set_password(engine, usecases.Caller("sim-admin"), user["name"], f"demo-{user['name']}-2027")
    engine.close()
    return db


@pytest.fixture
def demo_year(demo_year_db, tmp_path):
    """A copy of the demo's year, its engine (on the simulated clock where the year stopped), and a password
    for every user: `demo-NAME-2027`, as `make serve` gives them (set once, in the year copied)."""
    import shutil

    db = tmp_path / "year.db"
    shutil.copyfile(demo_year_db, db)
    engine = usecases.open_engine(str(db))
    yield engine
    engine.close()


class Inbox:
    """What a real SMTP server on loopback (aiosmtpd) received, each message parsed."""

    def __init__(self):
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    """An SMTP server on a free loopback port: `.port`, and `.messages` as they arrive."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()
