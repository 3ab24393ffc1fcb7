"""Process owners in the browser: a process opened in the modeler (its latest version, an earlier one, or a
draft), saved as a draft and checked (each problem marked on its element), compared with the deployed version
(in words and colours), tried against a simulated year beside the deployed version, deployed with a reason,
then its running instances moved (the process's page: the migration's dry run, then the move). Each step is
one use case (usecases/drafts.py, usecases/trials.py); a refusal is shown beside its form."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import _

from .admin import _when
from .pages import Web, page, rule_refusal


def _process_id(web: Web) -> str:
    return web.request.path_params["process_id"][:200]


def _id(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 12:
        raise usecases.OpsqaError(_("no {what} {id}").format(what=what, id=text[:20]))
    return int(text)


def _draft_id(web: Web) -> int:
    return _id(web.request.path_params["draft_id"], _("draft"))


def _here(process_id: str, draft_id: int, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/processes/{process_id}/edit?draft={draft_id}{anchor}", status_code=303)


def edit(web: Web) -> Response:
    """The modeler on a draft (?draft=), or on a deployed version to start one (?version=, else the latest)."""
    process_id = _process_id(web)
    if web.arg("draft"):
        return _editor(web, process_id, _id(web.arg("draft"), _("draft")))
    version = web.arg("version")
    opened = usecases.drafts.open_version(web.engine, web.caller, process_id,
                                          _id(version, _("version")) if version else None)
    return _editor(web, process_id, None, opened=opened)


def _editor(web: Web, process_id: str, draft_id: int | None, *, opened: dict | None = None, error: str | None = None,
            deploy_error: str | None = None, try_error: str | None = None, status: int = 200) -> Response:
    draft = None
    if draft_id is not None:
        draft = usecases.drafts.draft(web.engine, draft_id)
        if draft["process"] != process_id:
            raise usecases.drafts.DraftNotFound(_("no draft {draft} of {process}").format(
                                                    draft=draft_id, process=process_id))
        opened = usecases.drafts.open_version(web.engine, web.caller, process_id)
    trials = usecases.trials.trials(web.engine, draft_id) if draft_id is not None else []
    return web.render("draft_edit.html", status=status, process_id=process_id, opened=opened, draft=draft,
                      source=(f"/processes/{process_id}/drafts/{draft_id}.bpmn" if draft is not None
                              else f"/processes/{process_id}/versions/{opened['version']}.bpmn"),
                      drafts=usecases.drafts.drafts(web.engine, process_id), trials=trials,
                      marks={p["element"]: "problem" for p in (draft or {}).get("problems", []) if p["element"]},
                      demo=usecases.trials.demo_available(), error=error, deploy_error=deploy_error,
                      try_error=try_error, reason=web.field("reason")[:500],
                      may={"deploy": usecases.may(web.engine, web.caller, "deploy")}, when=_when(web),
                      label=_label)


def _label(status: str) -> str:
    words = usecases.drafts.STATUS | usecases.trials.STATUS
    return _(words[status]) if status in words else status


def version_xml(web: Web) -> Response:
    """A deployed version's BPMN, for the modeler to open."""
    process_id = _process_id(web)
    opened = usecases.drafts.open_version(web.engine, web.caller, process_id,
                                          _id(web.request.path_params["version"], _("version")))
    return _bpmn(opened["xml"], f"version-{opened['version']}.bpmn")


def draft_xml(web: Web) -> Response:
    """A draft's BPMN, for the modeler and the comparison's diagram."""
    draft = usecases.drafts.draft(web.engine, _draft_id(web))
    if draft["process"] != _process_id(web):
        raise usecases.drafts.DraftNotFound(_("no draft {draft} of {process}").format(draft=draft["id"],
                                                                                       process=_process_id(web)))
    return _bpmn(draft["xml"], f"draft-{draft['id']}.bpmn")


def _bpmn(xml: str, name: str) -> Response:
    """A diagram for the modeler's fetch; opened by itself it is a download, never a page of this site (a
    draft is anyone's text). The name in ASCII: a process id may be Chinese, a header may not."""
    return Response(xml, media_type="application/xml",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


def save(web: Web) -> Response:
    """The modeler's XML saved: a new draft, or the draft named by the form saved again; checked as it is saved,
    its problems shown on their elements. Refused (not a diagram, too large), the page says why beside the
    button and nothing is stored."""
    process_id = _process_id(web)
    draft_text = web.field("draft")
    draft_id = _id(draft_text, _("draft")) if draft_text else None
    based_on = web.field("based_on")
    with rule_refusal() as refusal:
        saved = usecases.drafts.save(web.engine, web.caller, process_id, web.field("xml"), draft_id=draft_id,
                                     based_on=_id(based_on, _("version")) if based_on else None)
    if refusal.message is not None:
        opened = None if draft_id else usecases.drafts.open_version(web.engine, web.caller, process_id)
        return _editor(web, process_id, draft_id, opened=opened, error=refusal.message, status=400)
    return _here(process_id, saved["id"], "#problems" if saved["problems"] else "")


def check(web: Web) -> Response:
    process_id, draft_id = _process_id(web), _draft_id(web)
    checked = usecases.drafts.check(web.engine, web.caller, draft_id)
    return _here(process_id, draft_id, "#problems" if checked["problems"] else "#checked")


def compare(web: Web) -> Response:
    """The draft beside the deployed version: the changes in words, and each diagram coloured (added, changed on
    the draft's; removed, changed on the deployed one's)."""
    process_id, draft_id = _process_id(web), _draft_id(web)
    view = usecases.drafts.compare(web.engine, draft_id)
    if view["draft"]["process"] != process_id:
        raise usecases.drafts.DraftNotFound(_("no draft {draft} of {process}").format(draft=draft_id,
                                                                                       process=process_id))
    return web.render("draft_compare.html", process_id=process_id, view=view,
                      changes=[change.translated() for change in view["changes"]])


def try_draft(web: Web) -> Response:
    """A trial started: the demo's year, or the scenario file chosen; refused, the reason beside the form."""
    process_id, draft_id = _process_id(web), _draft_id(web)
    limit = usecases.trials.SCENARIO_LIMIT
    part = web.form.get("scenario_file") if web.form is not None else None
    scenario = None
    if web.field("scenario") == "file":
        scenario = ((part.filename or "", part.file.read(limit + 1)) if part is not None and not isinstance(part, str)
                    else ("", b""))
    with rule_refusal() as refusal:
        usecases.trials.start(web.engine, web.caller, draft_id, scenario=scenario)
    if refusal.message is not None:
        return _editor(web, process_id, draft_id, try_error=refusal.message, status=400)
    return _here(process_id, draft_id, "#try")


def trial(web: Web) -> Response:
    """A trial's outcome, side by side (the page polls it while it runs)."""
    found = usecases.trials.trial(web.engine, _id(web.request.path_params["trial_id"], _("trial")))
    return web.render("_trial.html", trial=found, process_id=_process_id(web), label=_label, when=_when(web))


def deploy(web: Web) -> Response:
    """The draft deployed with a reason; then the process's page, for the migration's dry run."""
    process_id, draft_id = _process_id(web), _draft_id(web)
    with rule_refusal() as refusal:
        result = usecases.drafts.deploy(web.engine, web.caller, draft_id, reason=web.field("reason")[:500] or None)
    if refusal.message is not None:
        return _editor(web, process_id, draft_id, deploy_error=refusal.message, status=400)
    return RedirectResponse(f"/admin/processes/{process_id}?deployed={result['version']}#migrate", status_code=303)


def discard(web: Web) -> Response:
    process_id = _process_id(web)
    usecases.drafts.discard(web.engine, web.caller, _draft_id(web))
    return RedirectResponse(f"/processes/{process_id}/edit", status_code=303)


def routes() -> list[Route]:
    drafting = usecases.drafts.DRAFT_LIMIT + 1024  # a draft's XML is one field; `page` reads parts of 1 MB
    return [
        Route("/processes/{process_id}/edit", page(edit)),
        Route("/processes/{process_id}/versions/{version}.bpmn", page(version_xml)),
        Route("/processes/{process_id}/drafts", page(save, part_size=drafting), methods=["POST"]),
        Route("/processes/{process_id}/drafts/{draft_id}.bpmn", page(draft_xml)),
        Route("/processes/{process_id}/drafts/{draft_id}/check", page(check), methods=["POST"]),
        Route("/processes/{process_id}/drafts/{draft_id}/compare", page(compare)),
        Route("/processes/{process_id}/drafts/{draft_id}/try", page(try_draft, part_size=drafting), methods=["POST"]),
        Route("/processes/{process_id}/drafts/{draft_id}/deploy", page(deploy), methods=["POST"]),
        Route("/processes/{process_id}/drafts/{draft_id}/discard", page(discard), methods=["POST"]),
        Route("/processes/{process_id}/trials/{trial_id}", page(trial)),
    ]
