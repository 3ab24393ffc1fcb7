"""A process owner changes the quality plan in the browser, by clicking, as the drafts pages mean it: a user task
dragged from the modeler's palette onto a sequence flow in the quality department's lane, made a User Task with a
name and a form field whose type the deploy checks refuse; saved, the problem is listed and marked on the task;
corrected in the properties panel and saved, the checks pass; the comparison names the task and colours it added;
a trial against the demo's simulated year shows both versions side by side; deployed with a reason, the process's
page runs the migration's dry run. Playwright drives Debian's chromium with test_browser.py's browser, server and
page (skipped without chromium, failing in CI); the page is Chinese, so it is read by ids and attributes. Every step
is a click, a drag or typing: no page.evaluate, nothing calls the modeler's JS API."""

from __future__ import annotations

import pytest
import test_browser
from test_browser import _served, sign_in_as

import usecases

# test_browser's fixtures under their own names (chromium; a zh-CN page that records script errors and failed
# requests), assigned rather than imported so that the helpers below may call their argument `page` too.
browser, page = test_browser.browser, test_browser.page

DESKTOP = {"width": 1400, "height": 900}  # the modeler and its properties panel side by side
TRIAL_TIMEOUT = 120_000  # ms: both sides' simulated year and scenario tests, two runs at a time
TASK_NAME = "复核质量计划"
FIELD = "review_note"

# Hands each refusal by the Content-Security-Policy, with its directive, to the test, on every page, before any script
# of the page runs (test_modeler_vendor.py records them the same way, one page long).
WATCH_CSP = """document.addEventListener('securitypolicyviolation', e => window.refused(e.violatedDirective));"""
# Chromium's console line for each inline style attribute bpmn-js sets, refused by style-src 'self': the known
# style-src-attr refusals, which WATCH_CSP counts by their directive.
INLINE_STYLE = "Applying inline style violates the following Content Security Policy directive 'style-src 'self''"


@pytest.fixture
def owner(demo_year):
    """A copy of the demo's year with a process owner, po1 (password demo-po1-2027)."""
    admin = usecases.Caller("sim-admin")
    usecases.admin.add_user(demo_year, admin, "po1", ["po"])
    usecases.auth.set_password(demo_year, admin, "po1", "demo-po1-2027")
    return demo_year


def test_a_process_owner_adds_a_user_task_checks_compares_tries_deploys_and_dry_runs_the_move(owner, page):
    refused: list[str] = []
    page.expose_function("refused", lambda directive: refused.append(directive))
    page.add_init_script(WATCH_CSP)
    page.set_viewport_size(DESKTOP)
    with _served(owner) as server:
        sign_in_as(page, server, "po1", "demo-po1-2027")
        page.goto(server + "/processes/quality_plan/edit")
        page.locator("#editor[data-ready=ok]").wait_for()

        task = add_user_task(page, between=("draft_plan", "approve_plan"), name=TASK_NAME)
        add_form_field(page, FIELD, "复核意见", custom_type="custom")
        draft = saved_with_its_problem(page, task)

        page.locator(f"#problems li.problem[data-element={task}] button.show-element").click()  # selects the task
        page.locator("#panel .bio-properties-panel-header-label", has_text=TASK_NAME).wait_for()
        form_field(page, FIELD).locator("select[name$=formFieldType]").select_option("string")
        page.click("#save")
        page.wait_for_url(f"**/processes/quality_plan/edit?draft={draft}")
        assert page.locator("#checked").is_visible() and page.locator("#problems li.problem").count() == 0

        compared(page, task)
        page.click(f"main a[href$='edit?draft={draft}#try']")  # back to the draft
        tried_on_the_demo_year(page, draft)
        deployed_and_dry_run(page, reason="计划批准前由质量管理部复核", version=2)
    assert [problem for problem in page.problems if not problem.startswith(INLINE_STYLE)] == []
    assert set(refused) <= {"style-src-attr"}  # bpmn-js's inline style attributes, nothing else
    assert usecases.drafts.draft(owner, int(draft))["deployed_version"] == 2
    [cycle] = [i for i in owner.instances(process_id="annual_cycle") if i["business_key"] == "2028"]
    assert cycle["version"] == 2  # the running year now calls the plan with the new task


def saved_with_its_problem(page, task: str) -> str:
    """Saved as a new draft: the deploy checks' one problem listed, and marked on the task with its note; returns
    the draft's id."""
    page.click("#save")
    page.wait_for_url("**/processes/quality_plan/edit?draft=*#problems")
    page.locator("#editor[data-ready=ok]").wait_for()
    problem = page.locator(f"#problems li.problem[data-element={task}]")
    assert problem.count() == 1 and page.locator("#problems li.problem").count() == 1
    assert FIELD in problem.inner_text() and "'custom'" in problem.inner_text()
    assert "mark-problem" in page.get_attribute(f"#canvas .djs-element[data-element-id={task}]", "class")
    note = page.locator(f"#canvas .problem-note[data-element={task}]")
    assert note.is_visible() and FIELD in note.inner_text()
    shape = page.locator(f"#canvas .djs-element[data-element-id={task}] .djs-visual").bounding_box()
    beside = note.bounding_box()  # just below the task, as wide as its text wants (at most 16rem)
    assert 0 <= beside["y"] - (shape["y"] + shape["height"]) <= 12 and beside["width"] > shape["width"] / 2
    assert TASK_NAME in problem.locator("button.show-element").inner_text()  # named as people call it
    return page.url.split("draft=")[1].split("#")[0]


def compared(page, task: str) -> None:
    """The comparison: the task added in the quality department's lane, in words and green on the draft's diagram,
    spliced into the flow from draft_plan (that flow changed, a new one leaves the task)."""
    page.click("#compare a")
    page.locator("#draft-diagram[data-ready=ok]").wait_for()
    page.locator("#deployed-diagram[data-ready=ok]").wait_for()
    added = page.locator("#changes li", has_text=task)
    assert TASK_NAME in added.inner_text() and "qmd" in added.inner_text()
    assert "mark-added" in page.get_attribute(f"#draft-diagram .djs-element[data-element-id={task}]", "class")
    assert "mark-changed" in page.get_attribute("#draft-diagram [data-element-id=flow_draft_to_approve]", "class")
    assert page.locator("#draft-diagram .djs-connection.mark-added").count() == 1
    assert page.locator(f"#deployed-diagram .djs-element[data-element-id={task}]").count() == 0


def tried_on_the_demo_year(page, draft: str) -> None:
    """A trial against the demo's year, waited for as its card polls itself; then the deployed version and the
    draft side by side. The scenario tests answer the tasks they know: on the draft the plan waits at the new
    task, so quality_plan's test fails there and passes on the deployed version."""
    page.locator("#editor[data-ready=ok]").wait_for()
    page.check("#try input[name=scenario][value=demo]")
    page.click("#try-button")
    page.wait_for_url(f"**/edit?draft={draft}#try")
    card = page.locator("#try .trial").first  # newest first; htmx swaps it in place until it is done
    card.and_(page.locator("[data-status=done]")).wait_for(timeout=TRIAL_TIMEOUT)
    assert card.locator("table.compare thead th").count() == 3  # the row's name, deployed, draft
    rows = card.locator("table.compare tbody tr")
    assert rows.count() > 1 and all(row.locator("td").count() == 2 for row in rows.all())
    deployed, drafted = rows.first.locator("td").all()
    assert deployed.locator(".ok").count() >= 1 and deployed.locator(".error").count() == 0
    assert drafted.locator(".error").count() >= 1 and "end_plan_issued" in drafted.inner_text()


def deployed_and_dry_run(page, *, reason: str, version: int) -> None:
    """Deployed with a reason; on the process's page the migration's dry run to the new version. The demo's plan
    runs inside annual_cycle, so no instance of quality_plan's own is there to move, and the page says so and
    leads to the cycle's page: its dry run, then the move of the running 2028 cycle with the reason."""
    page.fill("#deploy-reason", reason)
    page.click("#deploy-button")
    page.wait_for_url(f"**/admin/processes/quality_plan?deployed={version}#migrate")
    assert page.locator("#deployed").is_visible()
    assert page.input_value("#migrate-to") == str(version)
    page.click("form[action$='/migrate']:has(#migrate-to) button[type=submit]")
    page.wait_for_url("**/admin/processes/quality_plan/migrate")
    outcome = page.locator("#migrate ~ section.card")
    assert outcome.locator("h3").is_visible() and outcome.locator("p.empty").is_visible()
    assert outcome.locator("li.row").count() == 0
    # ... and the page says where the running plan is: inside the running annual cycle, which keeps its version;
    # the deploy gave the cycle a new version calling the new plan, and the 2028 cycle moves onto it
    page.click("#callers a[href='/admin/processes/annual_cycle#migrate']")
    assert page.input_value("#migrate-to") == "2"
    page.click("form[action$='/migrate']:has(#migrate-to) button[type=submit]")
    page.wait_for_url("**/admin/processes/annual_cycle/migrate")
    row = page.locator("#migrate ~ section.card li.row", has_text="2028")
    assert row.count() == 1 and "overdue" not in (row.get_attribute("class") or "")  # it could move
    page.fill("#migrate-reason", reason)
    page.click("form[action$='/migrate']:has(#migrate-reason) button.primary")
    page.wait_for_url("**/admin/processes/annual_cycle/migrate")
    assert page.locator("#migrate ~ section.card li.row", has_text="2028").count() == 1
    assert page.locator("#migrate-reason").count() == 0  # moved: nothing more to apply


def add_user_task(page, *, between: tuple[str, str], name: str) -> str:
    """A task dragged from the palette onto the sequence flow leaving `between[0]` (bpmn-js splices it into the
    flow), named while its label is edited, made a User Task with the context pad's wrench; returns its id."""
    source = page.locator(f"#canvas .djs-element[data-element-id={between[0]}] .djs-visual").bounding_box()
    target = page.locator(f"#canvas .djs-element[data-element-id={between[1]}] .djs-visual").bounding_box()
    # The flow leaves the source's right side level with its middle, then turns down to the target's middle.
    x = (source["x"] + source["width"] + target["x"] + target["width"] / 2) / 2
    y = source["y"] + source["height"] / 2
    page.hover(".djs-palette .entry.bpmn-icon-task")
    page.mouse.down()
    page.mouse.move(x - 60, y + 60, steps=5)
    page.mouse.move(x, y, steps=10)
    page.mouse.up()
    page.locator(".djs-direct-editing-parent").wait_for()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.click(".djs-context-pad .entry[data-action=replace]")
    page.click(".djs-popup .entry[data-id=replace-with-user-task]")
    page.locator("#panel [data-group-id='group-CamundaPlatform__Form']").wait_for()  # a user task's groups
    return page.get_attribute("#canvas .djs-shape.selected", "data-element-id")


def add_form_field(page, field_id: str, label: str, *, custom_type: str) -> None:
    """On the selected user task: generated task forms, and a field of a custom type (the panel's "<custom type>"
    and its Custom type entry). Tab leaves each entry: the panel commits a text on blur, not only after its
    debounce."""
    group = open_group(page, "group-CamundaPlatform__Form")
    group.locator("select[name=formType]").select_option("formData")
    fields = page.locator("#panel [data-group-id='group-CamundaPlatform__FormData']")
    fields.locator(".bio-properties-panel-add-entry").first.click()  # opens the group and the new field
    field = fields.locator(".bio-properties-panel-list-item").last
    for entry, text in (("formFieldID", field_id), ("formFieldLabel", label)):
        field.locator(f"input[name$={entry}]").fill(text)
        field.locator(f"input[name$={entry}]").press("Tab")
    field.locator("select[name$=formFieldType]").select_option(label="<custom type>")
    field.locator("input[name$=formFieldCustomType]").fill(custom_type)
    field.locator("input[name$=formFieldCustomType]").press("Tab")


def form_field(page, field_id: str):
    """A form field of the selected user task in the properties panel, its entries shown."""
    fields = open_group(page, "group-CamundaPlatform__FormData")
    field = fields.locator(".bio-properties-panel-list-item").filter(
        has=page.locator(".bio-properties-panel-collapsible-entry-header-title", has_text=field_id))
    if "open" not in field.locator(".bio-properties-panel-collapsible-entry").get_attribute("class"):
        field.locator(".bio-properties-panel-collapsible-entry-header").click()
    return field


def open_group(page, group: str):
    """A group of the properties panel, by its id, opened (a click on a closed group's header)."""
    locator = page.locator(f"#panel [data-group-id='{group}']")
    if "open" not in locator.locator(".bio-properties-panel-group-header").get_attribute("class"):
        locator.locator(".bio-properties-panel-group-header").click()
    locator.locator(".bio-properties-panel-group-header.open").wait_for()
    return locator
