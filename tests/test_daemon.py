"""`opsqa scheduler run`: fires what is due, logs a line per fire, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import pwd
import queue
import re
import signal
import subprocess
import sys
import threading
import time

from helpers import flow, process


class Log:
    """The daemon's stderr, read line by line in a thread (select() would miss lines already buffered)."""

    def __init__(self, stream):
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for raw in stream:
            self.lines.put(raw.decode())

    def until(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if needle in line:
                return
        raise AssertionError(f"no {needle!r} in the daemon's log: {''.join(self.seen)}")


def _waiting(run, tmp_path, instances: int = 1) -> str:
    login = pwd.getpwuid(os.getuid()).pw_name
    body = ('<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="wait" name="等待">'
            '<bpmn:timerEventDefinition id="wait_def"><bpmn:timeDuration>PT1S</bpmn:timeDuration>'
            '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent><bpmn:endEvent id="end" />'
            + flow("f1", "start", "wait") + flow("f2", "wait", "end"))
    path = tmp_path / "waiting.bpmn"
    path.write_text(process("waiting", body, {"ops": ["start", "wait", "end"]}), encoding="utf-8")
    for args in (("init",), ("deploy", "--reason", "set-up", str(path)), *[("start", "waiting")] * instances):
        assert run(*args, login=login).exit_code == 0
    assert run.json("instances", login=login)[0]["status"] == "running"
    return login


def test_daemon_fires_due_timers_and_stops_on_sigterm(run, tmp_path):
    login = _waiting(run, tmp_path)

    daemon = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "--db", str(run.db_path),
                               "scheduler", "run", "--interval", "0.5"], stderr=subprocess.PIPE)
    log = Log(daemon.stderr)
    try:
        log.until("timer wait of instance 1 fired")
        daemon.send_signal(signal.SIGTERM)
        log.until("scheduler stopped")
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        daemon.stderr.close()
    assert any("started on" in line for line in log.seen)
    assert any("received SIGTERM" in line for line in log.seen)
    # stamped in the organisation's zone with its offset, as the due time of what fired
    stamped = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00 opsqa\.scheduler ")
    assert all(stamped.match(line) for line in log.seen if "opsqa.scheduler" in line), log.seen
    assert re.search(r"timer wait of instance 1 fired \(due \d{4}-\d\d-\d\d \d\d:\d\d \+08:00\)$",
                     "".join(log.seen), re.MULTILINE)
    assert run.json("instances", login=login)[0]["status"] == "completed"


def test_several_workers_share_the_timers_and_stop_together(run, tmp_path):
    login = _waiting(run, tmp_path, instances=12)
    daemon = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "--db", str(run.db_path),
                               "scheduler", "run", "--interval", "0.2", "--workers", "2"], stderr=subprocess.PIPE)
    log = Log(daemon.stderr)
    try:
        log.until("started on")  # the first worker is up
        log.until("started on")  # the second
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                i["status"] != "completed" for i in run.json("instances", login=login)):
            time.sleep(0.2)  # waiting for the workers, not for the logic: the timers are already due
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        daemon.stderr.close()
    assert {i["status"] for i in run.json("instances", login=login)} == {"completed"}
    fired = [e for e in run.json("history", login=login) if e["kind"] == "timer.fired"]
    assert sorted(e["instance"] for e in fired) == list(range(1, 13))  # each once
