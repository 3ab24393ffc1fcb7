"""The vendored Camunda 7 modeler (npm camunda-bpmn-js, copied by tools/vendor-web.sh) in a real browser: a test
page served over HTTP with the web face's own Content-Security-Policy loads the prebuilt bundle and its CSS,
opens the quality plan, shows the user task's form fields in the properties panel and saves the XML unchanged
in what matters to the engine. Playwright drives Debian's chromium as in test_browser.py; without chromium
these tests are skipped (in CI they fail)."""

from __future__ import annotations

import functools
import os
import shutil
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from web.app import CSP

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser tests (.ci/run installs it)")
    pytest.skip("no chromium on this machine", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402  (only where a browser can run)

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "web" / "static"
MODELER = "/static/vendor/camunda-bpmn-js-5.35.0"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
FORM_FIELDS = ["objectives", "verification", "resources", "audit_schedule", "audit_start", "survey_start",
               "indicator_cycle", "spot_check_plan", "spot_check_frequency", "spot_check_sample"]

# The stylesheets one by one rather than the package's camunda-platform-modeler.css: that one imports the icon
# font embedded as a data: URL, which the application's font-src 'self' refuses; bpmn.css loads the same font
# from its files.
PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>modeler</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{MODELER}/assets/bpmn-font/css/bpmn.css">
<link rel="stylesheet" href="{MODELER}/assets/diagram-js.css">
<link rel="stylesheet" href="{MODELER}/assets/bpmn-js.css">
<link rel="stylesheet" href="{MODELER}/assets/properties-panel.css">
<link rel="stylesheet" href="{MODELER}/assets/element-templates.css">
<link rel="stylesheet" href="{MODELER}/assets/popup-menu.css">
<link rel="stylesheet" href="/page.css">
<script src="{MODELER}/camunda-platform-modeler.production.min.js"></script>
</head><body><div id="canvas"></div><div id="panel"></div></body></html>
"""
PAGE_CSS = "body { margin: 0; display: flex; height: 100vh; } #canvas { flex: 1; } #panel { width: 380px; }\n"

# Records what the Content-Security-Policy refused, with the directive, before any script of the page runs.
WATCH_CSP = """document.addEventListener('securitypolicyviolation', e => {
  (window.violations = window.violations || []).push({directive: e.violatedDirective, blocked: e.blockedURI});
});"""

OPEN = """async xml => {
  const modeler = new BpmnModeler({container: '#canvas', propertiesPanel: {parent: '#panel'}});
  window.modeler = modeler;
  const {warnings} = await modeler.importXML(xml);
  return warnings.map(warning => warning.message);
}"""
SELECT = "id => modeler.get('selection').select(modeler.get('elementRegistry').get(id))"
SAVE = "async () => (await modeler.saveXML({format: true})).xml"


class _StaticHandler(SimpleHTTPRequestHandler):
    """Files under the test's folder, with the application's Content-Security-Policy, so that what the bundle
    would be refused on opsqa's pages is refused here too."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        super().end_headers()

    def log_message(self, format, *args) -> None:  # noqa: A002  (the name the base class calls it by)
        pass


@contextmanager
def _served(folder: Path):
    """An HTTP server for `folder` on a free loopback port, in a thread of this process."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_StaticHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=20)


@pytest.fixture
def site(tmp_path):
    """The test page and its stylesheet in tmp_path, with web/static reachable under /static."""
    (tmp_path / "modeler.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "page.css").write_text(PAGE_CSS, encoding="utf-8")
    (tmp_path / "static").symlink_to(STATIC, target_is_directory=True)
    with _served(tmp_path) as address:
        yield address


@pytest.fixture
def page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.problems = []  # script errors, assets that did not load

        def console(message) -> None:  # the Content-Security-Policy's refusals are counted by WATCH_CSP instead
            if message.type == "error" and "Content Security Policy" not in message.text:
                page.problems.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.on("response", lambda answer: answer.ok or page.problems.append(f"{answer.status} {answer.url}"))
        page.on("requestfailed", lambda request: page.problems.append(f"failed {request.url}: {request.failure}"))
        page.add_init_script(WATCH_CSP)
        yield page
        browser.close()


def open_group(page, group: str):
    """A group of the properties panel, by its id (group-CamundaPlatform__Form…), opened."""
    locator = page.locator(f"#panel [data-group-id='{group}']")
    locator.locator(".bio-properties-panel-group-header").click()
    locator.locator(".bio-properties-panel-group-header.open").wait_for()
    return locator


def test_the_vendored_modeler_edits_the_quality_plan_with_the_camunda_properties_panel(site, page, tmp_path):
    xml = (ROOT / "processes" / "quality_plan.bpmn").read_text(encoding="utf-8")
    page.goto(site + "/modeler.html")
    assert page.evaluate("typeof BpmnModeler") == "function"  # the bundle's global (UMD name: BpmnModeler)
    assert page.evaluate(OPEN, xml) == []  # no import warnings: the Camunda 7 moddle knows every extension
    assert page.locator("#canvas .djs-element[data-element-id='draft_plan']").count() == 1

    # The panel subscribes to the selection once it has rendered the imported root, so select after that.
    page.locator("#panel .bio-properties-panel-header").wait_for()
    page.evaluate(SELECT, "draft_plan")
    page.locator("#panel .bio-properties-panel-header-label", has_text="编制组织级质量管理计划").wait_for()

    assignment = open_group(page, "group-CamundaPlatform__UserAssignment").inner_text()
    for label in ("Assignee", "Candidate groups", "Due date", "Follow up date", "Priority"):
        assert label in assignment
    open_group(page, "group-CamundaPlatform__Form")
    form_type = page.locator("#panel select[name=formType]")
    assert form_type.input_value() == "formData"
    assert form_type.locator("option:checked").inner_text() == "Generated Task Forms"
    fields = open_group(page, "group-CamundaPlatform__FormData")  # "Form fields", one entry per camunda:formField
    assert fields.locator(".bio-properties-panel-group-header .bio-properties-panel-list-badge").inner_text() == "10"
    titles = fields.locator(":scope > .bio-properties-panel-list > .bio-properties-panel-list-item"  # not a
                            " > .bio-properties-panel-collapsible-entry"  # field's own constraints and properties
                            " > .bio-properties-panel-collapsible-entry-header"
                            " > .bio-properties-panel-collapsible-entry-header-title")
    assert titles.all_inner_texts() == FORM_FIELDS
    page.screenshot(path=str(tmp_path / "modeler-draft_plan.png"))

    saved = page.evaluate(SAVE)
    assert 'camunda:formField id="objectives"' in saved
    assert saved.count("<camunda:formField ") == xml.count("<camunda:formField ")
    assert page.problems == []
    # Only inline style attributes in the bundle's HTML templates (the panel's container says height: 100%)
    # are refused: scripts, styles, fonts and images all come from 'self'.
    assert {v["directive"] for v in page.evaluate("window.violations || []")} <= {"style-src-attr"}
