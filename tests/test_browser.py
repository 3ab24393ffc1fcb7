"""The web face in a real browser: Playwright drives Debian's chromium (`executable_path`: the bundled
browser cannot be downloaded here) against `opsqa serve`'s application on a loopback port, over the test's
own SQLite file. CI installs chromium (.ci/run); elsewhere these tests are skipped without it."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest
from helpers import PASSWORD, start_chore

import web

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser tests (.ci/run installs it)")
    pytest.skip("no chromium on this machine", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402  (only where a browser can run)

PHONE = {"width": 375, "height": 740}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def server(site):
    """The application on uvicorn, on a free loopback port, in a thread of this process."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(web.create_app(site), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # a real server starting, not a clock: wait for it, bounded
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.problems = []  # script errors, refusals by the Content-Security-Policy, assets that did not load

    def console(message) -> None:  # a page's own status (a refused sign-in's 401) is the HTTP tests' business
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page.problems.append(message.text)

    def response(answer) -> None:
        if answer.request.resource_type != "document" and answer.status >= 400:
            page.problems.append(f"{answer.status} {answer.url}")

    page.on("console", console)
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("response", response)
    page.on("requestfailed", lambda request: page.problems.append(f"failed {request.url}"))
    yield page
    context.close()


def fits(page) -> bool:
    """Nothing wider than the window: no horizontal scrolling on a phone."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_person_signs_in_on_a_phone_and_sees_their_tasks(site, server, page, tmp_path):
    start_chore(site, "2026-12-31T18:00:00+08:00", "K-2027-001")  # overdue at the simulated 2027-01-01 09:00
    start_chore(site, "2027-01-05T18:00:00+08:00", "K-2027-002")
    page.goto(server + "/")
    assert page.url.endswith("/login?next=%2F")
    page.fill("#username", "qmd1")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    assert page.locator("#login-error").inner_text() == "用户名或密码错误"
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    assert page.locator("h1").inner_text().startswith("我的待办")
    rows = page.locator("li.row")
    assert rows.count() == 2
    assert "已逾期" in rows.nth(0).inner_text() and "K-2027-001" in rows.nth(0).inner_text()
    assert fits(page)
    page.screenshot(path=str(tmp_path / "inbox-375.png"), full_page=True)

    page.click("text=English")
    assert page.locator("h1").inner_text().startswith("My tasks")
    page.click("text=Sign out")
    page.wait_for_url(server + "/login")
    assert page.problems == []  # no script error, no refusal by the Content-Security-Policy
