"""The web face under load (issue 16): `opsqa serve` warm on loopback, SQLite at synchronous=FULL, 100,000
open tasks of which 10,000 are the user's roles'; 200 requests each of the inbox, a task page, a completion
POST and the year's overview, as p50 and p95; and `opsqa task complete` from the shell in the same run.

The bulk tasks are inserted as rows (see bench/suite.py); the tasks completed are real ones, each in its
own instance of the quality plan, so that every POST runs a whole step.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import insert

from store import Task

from .suite import LOGIN, PLAN, PLAN_VALUES, ROOT, START, _clone, _engine, _opsqa

USER = "bench-web"
PASSWORD = "bench web password"


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1)}


class _Browser:
    """One keep-alive connection with the session's cookie, as a browser tab would use."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, Any] | None = None) -> tuple[int, str, dict]:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text, dict(response.getheaders())

    def timed(self, method: str, path: str, form: dict[str, Any] | None = None, expect: int = 200) -> float:
        began = time.perf_counter()
        status, text, _ = self.request(method, path, form)
        elapsed = time.perf_counter() - began
        if status != expect:
            raise RuntimeError(f"{method} {path}: {status} {text[:300]}")
        return elapsed


def web_pages(folder: Path, requests: int = 200, instances: int = 10_000) -> dict[str, Any]:
    import usecases

    db = folder / "web.db"
    engine = _engine(db, PLAN)
    engine.add_user(USER, ["r3", "qmd"], actor=engine.actor(LOGIN))
    usecases.auth.set_password(engine, usecases.Caller(LOGIN), USER, PASSWORD)
    real = [engine.start("quality_plan", actor=engine.actor(LOGIN), business_key=f"real-{n}")
            for n in range(requests + 20)]
    template = real[0]
    _clone(engine, template, instances, 1_000_000)
    tasks = instances * 10
    with engine.database.transaction() as session:
        rows = [{"id": f"{i:08d}-0000-4000-8000-{i:012d}", "instance_id": 1_000_000 + i // 10,
                 "process_id": "quality_plan", "bpmn_id": "draft_plan", "name": f"第{i % 5 + 1}步",
                 "role": f"r{i % 10}", "state": "ready", "variables": "{}",
                 "due_at": START + timedelta(days=i % 60), "created_at": START + timedelta(seconds=i)}
                for i in range(tasks)]
        for at in range(0, len(rows), 10_000):
            session.execute(insert(Task), rows[at:at + 10_000])
    ready = {i: engine.tasks(instance_id=i)[0]["id"] for i in real}
    engine.close()

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "--db", str(db), "serve", "--port",
                               str(port), "--no-scheduler"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    tab = None
    try:
        _wait_for(port)
        tab = _Browser(port)
        status, page, _ = tab.request("GET", "/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        status, _, _ = tab.request("POST", "/login", {"csrf": token, "username": USER, "password": PASSWORD,
                                                      "next": "/"})
        if status != 303:
            raise RuntimeError(f"sign-in: {status}")
        _, home, _ = tab.request("GET", "/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', home).group(1)
        visible = int(re.search(r'<span class="count">(\d+)</span>', home).group(1))
        for _ in range(10):  # warm: templates compiled, connections pooled, pages cached by SQLite
            tab.timed("GET", "/")
            tab.timed("GET", f"/tasks/{ready[real[-1]]}")
            tab.timed("GET", "/year/2027")
        inbox = [tab.timed("GET", "/") for _ in range(requests)]
        task_page = [tab.timed("GET", f"/tasks/{ready[real[n % requests]]}") for n in range(requests)]
        form = {**PLAN_VALUES, "csrf": csrf}
        completion = [tab.timed("POST", f"/tasks/{ready[real[n]]}", form, expect=303) for n in range(requests)]
        overview = [tab.timed("GET", "/year/2027") for _ in range(requests)]
    finally:
        if tab is not None:
            tab.connection.close()
        server.terminate()
        server.wait(timeout=30)
    values = folder / "plan.json"
    values.write_text(json.dumps(PLAN_VALUES, ensure_ascii=False), encoding="utf-8")
    shell = [_opsqa(db, "task", "complete", ready[i], "--data", str(values)) for i in real[requests:]]
    figures = {"tasks": tasks + len(real), "visible": visible, "requests": requests,
               "inbox": _percentiles(inbox), "task_page": _percentiles(task_page),
               "completion_post": _percentiles(completion), "overview": _percentiles(overview),
               "cli_task_complete": _percentiles(shell)}
    figures.update(inbox_p95_ms=figures["inbox"]["p95_ms"], completion_p95_ms=figures["completion_post"]["p95_ms"],
                   overview_p95_ms=figures["overview"]["p95_ms"])
    return figures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"opsqa serve did not listen on port {port} within {seconds}s")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="opsqa-web-bench-") as directory:
        print(json.dumps(web_pages(Path(directory)), indent=2))
