"""The web face in a real browser: Playwright drives Debian's chromium (`executable_path`: the bundled
browser cannot be downloaded here) against `opsqa serve`'s application on a loopback port, over the test's
own SQLite file. CI installs chromium (.ci/run); elsewhere these tests are skipped without it."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from helpers import PASSWORD, start_chore
from test_web_audits import org  # noqa: F401  (the audit's fixture)

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


@contextmanager
def _served(engine):
    """The application on uvicorn, on a free loopback port, in a thread of this process."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(web.create_app(engine), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # a real server starting, not a clock: wait for it, bounded
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@pytest.fixture
def server(site):
    with _served(site) as address:
        yield address


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
    def failed(request) -> None:  # a request the next navigation cut short is not a problem of the page
        if request.failure != "net::ERR_ABORTED":
            page.problems.append(f"failed {request.url}: {request.failure}")

    page.on("requestfailed", failed)
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


def sign_in_as(page, server: str, name: str, password: str = PASSWORD) -> None:
    page.context.clear_cookies()
    page.goto(server + "/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")


def test_the_quality_plan_drafted_returned_redrafted_and_approved_in_the_browser(engine, page, tmp_path):
    """qmd drafts the plan on a phone, the GM returns it, qmd finds the draft prefilled and changes one
    value, the GM approves; the instance's diagram then shows what was done, with no console error."""
    from helpers import ADMIN, PROCESSES, start_instance

    import usecases

    for name in ("qmd1", "gm1"):
        usecases.auth.set_password(engine, usecases.Caller(ADMIN), name, PASSWORD)
    engine.deploy([str(PROCESSES / "quality_plan.bpmn")], actor=engine.actor(ADMIN))
    instance = start_instance(str(engine.database.url).removeprefix("sqlite:///"), "quality_plan", key="2027",
                              year=2027)
    with _served(engine) as server:
        sign_in_as(page, server, "qmd1")
        page.click("li.row a.title")
        assert page.locator("h1").inner_text() == "编制组织级质量管理计划"
        assert fits(page)
        page.fill("#f-objectives", "全年客户满意度不低于 90 分")
        page.fill("#f-verification", "内审与抽查")
        page.fill("#f-resources", "质量管理部 2 人")
        page.fill("#f-audit_schedule", "每年 6 月内审，12 月管理评审")
        page.fill("#f-audit_start", "2027-06-01")
        page.fill("#f-survey_start", "2027-10-08")
        page.select_option("#f-indicator_cycle", "monthly")
        page.fill("#f-spot_check_plan", "每季度抽查 1 个项目")
        page.select_option("#f-spot_check_frequency", "spot_quarterly")
        page.screenshot(path=str(tmp_path / "draft-375.png"), full_page=True)
        page.click("button.primary")
        page.wait_for_url(server + "/?completed=*")
        assert "已完成：编制组织级质量管理计划" in page.locator("p.done").inner_text()

        sign_in_as(page, server, "gm1")
        page.click("li.row a.title")
        page.select_option("#f-decision", "rejected")
        page.click("button.primary")  # no comment: the validator's refusal beside the field
        assert page.locator("#e-comment").is_visible()
        page.fill("#f-comment", "目标需量化")
        page.click("button.primary")
        page.wait_for_url(server + "/?completed=*")

        sign_in_as(page, server, "qmd1")
        page.click("li.row a.title")
        assert page.input_value("#f-objectives") == "全年客户满意度不低于 90 分"  # the draft, prefilled
        assert page.input_value("#f-audit_start") == "2027-06-01"
        page.fill("#f-objectives", "全年客户满意度不低于 92 分")
        page.click("button.primary")
        page.wait_for_url(server + "/?completed=*")

        sign_in_as(page, server, "gm1")
        page.click("li.row a.title")
        assert page.input_value("#f-decision") == ""  # never the earlier decision
        page.select_option("#f-decision", "approved")
        page.click("button.primary")
        page.wait_for_url(server + "/?completed=*")

        page.goto(f"{server}/instances/{instance}")
        page.wait_for_selector(".diagram[data-ready]")
        assert page.get_attribute(".diagram", "data-ready") == "ok"
        assert page.locator(".djs-element.mark-completed").count() >= 3
        assert fits(page)
        page.screenshot(path=str(tmp_path / "instance-375.png"), full_page=True)
    assert engine.instance(instance)["status"] == "completed"
    assert page.problems == []


def test_the_demo_years_remaining_work_done_from_a_phone(demo_year, page, tmp_path):
    """After `make demo`, the year's open work is done in a 375 px browser, without the CLI: a project manager
    rectifies a finding with a photo as evidence, the quality department enters January's indicator values
    and drafts the 2028 plan, which the general manager approves."""
    evidence = tmp_path / "整改照片.jpg"
    evidence.write_bytes(b"\xff\xd8\xff\xe0 a photo of the corrected record")
    with _served(demo_year) as server:
        page.goto(server + "/login")
        page.fill("#username", "pm2")
        page.fill("#password", "demo-pm2-2027")
        page.click("button[type=submit]")
        page.wait_for_url(server + "/")
        page.click("li.row:has-text('NC-2027-007') a.title")
        assert page.locator("h1").inner_text() == "实施纠正措施并提交证据"
        page.set_input_files("#evidence-file", str(evidence))
        page.click("#evidence button[type=submit]")
        page.wait_for_url("**#evidence")
        assert page.locator("#evidence a[download]").inner_text() == "整改照片.jpg"
        page.fill("#f-implementation", "已补录巡检记录并完成培训")
        page.click("form.task-form button.primary")
        page.wait_for_url(server + "/?completed=*")
        assert fits(page)

        sign_in_as(page, server, "qmd1", "demo-qmd1-2027")
        page.click("li.row:has-text('2028-01') a.title")
        inputs = page.locator("input[name^='v:']")
        assert inputs.count() >= 1
        for n in range(inputs.count()):
            inputs.nth(n).fill("99")
        page.click("#indicators button[type=submit]")
        page.wait_for_url("**#indicators")
        page.click("form.task-form button.primary")
        page.wait_for_url(server + "/?completed=*")

        page.click("li.row:has-text('2028') a.title:has-text('编制组织级质量管理计划')")
        page.fill("#f-objectives", "客户满意度不低于4.5分；事件按时解决率不低于95%")
        page.fill("#f-verification", "内部审核、现场抽查、指标统计分析")
        page.fill("#f-resources", "质量专员2名；内审员2名")
        page.fill("#f-audit_schedule", "6月完整内审；9月满意度调查；11月管理评审")
        page.fill("#f-audit_start", "2028-06-01")
        page.fill("#f-survey_start", "2028-09-01")
        page.select_option("#f-indicator_cycle", "monthly")
        page.fill("#f-spot_check_plan", "每季度随机抽查一个项目")
        page.select_option("#f-spot_check_frequency", "spot_quarterly")
        page.click("form.task-form button.primary")
        page.wait_for_url(server + "/?completed=*")

        sign_in_as(page, server, "gm", "demo-gm-2027")
        page.click("li.row a.title:has-text('总经理审批质量计划')")
        page.select_option("#f-decision", "approved")
        page.click("form.task-form button.primary")
        page.wait_for_url(server + "/?completed=*")
        page.screenshot(path=str(tmp_path / "gm-after-approval.png"), full_page=True)
    assert [p["period"] for p in usecases_plans(demo_year) if not p.get("superseded_at")][-1] == "2028"
    assert page.problems == []


def usecases_plans(engine):
    import usecases

    return usecases.plans.plans(engine)


def test_an_auditor_records_a_checklist_row_with_evidence_on_a_phone(org, page, tmp_path):  # noqa: F811
    """The unit's auditor opens the audit's checklist, records a nonconformity with a file, and finds it
    there with its download link."""
    from test_web_audits import planned

    code = planned(org)
    sheet = tmp_path / "事件抽查.csv"
    sheet.write_text("工单编号,超时\n1001,是\n", encoding="utf-8")
    with _served(org) as server:
        sign_in_as(page, server, "aud1")
        page.goto(f"{server}/audits/{code}")
        assert fits(page)
        row = page.locator("#row-PRC-c-P-02")
        row.locator("summary").click()
        row.locator("select[name=result]").select_option("nonconform")
        row.locator("textarea[name=note]").fill("3起事件超时未解决")
        row.locator("input[name=file]").set_input_files(str(sheet))
        row.locator("button[type=submit]").click()
        page.wait_for_url(f"**/audits/{code}#row-PRC-c-P-02")
        row = page.locator("#row-PRC-c-P-02")
        assert "3起事件超时未解决" in row.inner_text()
        assert row.locator("a", has_text="事件抽查.csv").count() == 1
        assert fits(page)
    assert page.problems == []
