"""`opsqa scheduler run`: fires what is due, logs a line per fire, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import pwd
import selectors
import signal
import subprocess
import sys
import time

from helpers import flow, process


def _lines_until(proc, needle: str, timeout: float = 30.0) -> list[str]:
    """Read the daemon's log until a line holds `needle` (or fail after `timeout`)."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stderr.readline().decode()
            if not line:
                break
            lines.append(line)
            if needle in line:
                return lines
    raise AssertionError(f"no {needle!r} in the daemon's log: {''.join(lines)}")


def test_daemon_fires_due_timers_and_stops_on_sigterm(run, tmp_path):
    login = pwd.getpwuid(os.getuid()).pw_name
    body = ('<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="wait" name="等待">'
            '<bpmn:timerEventDefinition id="wait_def"><bpmn:timeDuration>PT1S</bpmn:timeDuration>'
            '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent><bpmn:endEvent id="end" />'
            + flow("f1", "start", "wait") + flow("f2", "wait", "end"))  # fmt: skip
    path = tmp_path / "waiting.bpmn"
    path.write_text(process("waiting", body, {"ops": ["start", "wait", "end"]}), encoding="utf-8")
    for args in (("init",), ("deploy", str(path)), ("start", "waiting")):
        assert run(*args, login=login).exit_code == 0
    assert run.json("instances", login=login)[0]["status"] == "running"

    daemon = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "--db", str(run.db_path),
                               "scheduler", "run", "--interval", "0.5"], stderr=subprocess.PIPE)  # fmt: skip
    try:
        log = _lines_until(daemon, "timer wait of instance 1 fired")
        daemon.send_signal(signal.SIGTERM)
        log += _lines_until(daemon, "scheduler stopped")
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert any("scheduler started" in line for line in log)
    assert any("received SIGTERM" in line for line in log)
    assert run.json("instances", login=login)[0]["status"] == "completed"
