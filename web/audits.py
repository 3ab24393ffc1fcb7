"""Pages of the records: checking (6.2.1, 6.2.2) and the project register (6.1.3).

Internal audits — the year's list, planning one with its team (the independence check refusing beside the
form), an audit's plan and checklist item by item, each unit's row recorded by its auditor with an evidence
file, and that file downloaded checked against its SHA-256; service inspections — the list, starting one (a
random draw, or named projects), an inspection's five check points recorded by its inspector; the auditor
register — adding an auditor, renewing a qualification with a reason; the project register — adding a project,
correcting one with a reason, starting its quality control for a year, and the O&M reports it owes. The same
use cases as `opsqa audit ...`, `opsqa inspection ...`, `opsqa auditors ...` and `opsqa projects ...`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import N_, _

from .labels import checking_state
from .pages import MAX_UPLOAD, Web, page, rule_refusal

TEAM_ROWS = 6  # the audit planning form's rows of auditor -> units
KINDS = ("safe_city", "smart_city", "other")  # as `opsqa projects add --kind`
PROJECT_STATUSES = ("active", "closed")
INSPECTION_STATUSES = ("in_progress", "reported")
PLAN_ITEMS = {  # a project's quality-control items (6.1.3 a-f), as the project_qa form names them
    "org_structure": N_("a) organisation and responsibilities"), "kpi_control": N_("b) indicators watched"),
    "spot_checks": N_("c) spot checks on site"), "resource_plan": N_("e) resources"),
    "service_desk_plan": N_("f) service desk"), "spare_parts_plan": N_("f) spare parts"),
    "emergency_plan": N_("f) emergency response"),
}
PROJECT_FIELDS = ("code", "name", "customer", "pm", "oms", "kind", "members", "contract", "om_start", "om_end")
FIX_FIELDS = ("name", "customer", "pm", "oms", "kind", "status", "contract", "om_start", "om_end", "reason")


# -- reading the request


def _path_code(web: Web, kind: str) -> str:
    """An audit's or inspection's code from the path (IA-2027-01, INS-2028-01), upper case."""
    code = web.request.path_params["code"]
    if not 1 <= len(code) <= 40 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in code):
        unknown = _("no audit {code}") if kind == "audit" else _("no inspection {code}")
        raise usecases.OpsqaError(unknown.format(code=code[:40]))
    return code.upper()


def _project_code(web: Web) -> str:
    code = web.request.path_params["code"]
    if not 1 <= len(code) <= 50 or not all(c.isascii() and (c.isalnum() or c in "._-") for c in code):
        raise usecases.OpsqaError(_("unknown project code {code!r}; see `opsqa projects list`").format(code=code[:50]))
    return code


def _this_year(web: Web) -> int:
    return usecases.overview.current_year(web.engine)


def _years(web: Web, chosen: int | None) -> list[int]:
    """The years a filter offers: this one, the nine before it, next year, and the one chosen."""
    this = _this_year(web)
    return sorted({*range(this - 9, this + 2), *([chosen] if chosen else [])}, reverse=True)


def _year(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1900 <= int(text) <= 9999:
        raise usecases.OpsqaError(_("{field}: {text!r} is not a year, e.g. 2027").format(field=what, text=text[:20]))
    return int(text)


def _date(text: str, what: str) -> date | None:
    """A date from a form's date field (YYYY-MM-DD), None when empty; a clear refusal naming the field."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise usecases.OpsqaError(_("{field}: {text!r} is not a date, e.g. 2027-09-15").format(
                                      field=what, text=text[:40])) from None


def _number(text: str, what: str, low: int, high: int) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        raise usecases.OpsqaError(_("{field}: {text!r} is not a whole number from {low} to {high}").format(
                                      field=what, text=text[:20], low=low, high=high))
    return int(text)


def _names(text: str) -> list[str]:
    """Codes or user names written in one field, separated by commas, semicolons or spaces (full-width too)."""
    for mark in "，；、;":
        text = text.replace(mark, ",")
    return [part for chunk in text.split(",") for part in chunk.split() if part]


def _upload(web: Web) -> tuple[str, bytes] | None:
    """The file of a form's `file` field as (name, content), or None when no file was chosen."""
    upload = web.form.get("file") if web.form is not None else None
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None
    return upload.filename, upload.file.read(MAX_UPLOAD + 1)


def _when(web: Web):
    zone = usecases.admin.zone(web.engine)

    def when(value: datetime | str | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        return usecases.local_time(value, zone)

    return when


def _download(name: str, content: bytes) -> Response:
    """A file always as a download, never shown as a page (as web/pages.py serves a finding's evidence)."""
    fallback = "".join(c if c.isascii() and c.isalnum() or c in "._-" else "_" for c in name) or "evidence"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return Response(content, media_type="application/octet-stream", headers={"content-disposition": disposition})


# -- internal audits


def audits(web: Web) -> Response:
    """The audits of a year (year=YYYY; default this year; year=all for every year)."""
    text = web.arg("year").strip()
    year = None if text == "all" else _year(text, _("year")) if text else _this_year(web)
    rows = usecases.audits.audits(web.engine, year)
    return web.render("audits.html", state=checking_state, rows=rows, year=year, years=_years(web, year),
                      may_plan=usecases.may(web.engine, web.caller, "audit.plan"))


PLAN_FIELDS = ("year", "kind", "lead", "start", "end")


def audit_new(web: Web) -> Response:
    """Plan an internal audit (qmd, admin): its team (each auditor's units), lead, window and kind; the team's
    independence is checked first, a refusal shown beside the form with the values kept."""
    if web.request.method == "GET":
        values = {"year": str(_this_year(web)), "kind": "full", "lead": "", "start": "", "end": "",
                  "team": [("", "")] * TEAM_ROWS}
        return _plan_form(web, values)
    values: dict[str, Any] = {name: web.field(name).strip()[:200] for name in PLAN_FIELDS}
    values["team"] = [(web.field(f"auditor_{n}").strip()[:200], web.field(f"units_{n}").strip()[:1000])
                      for n in range(1, TEAM_ROWS + 1)]
    with rule_refusal() as refusal:
        year = _year(values["year"], _("year"))
        if year is None:
            raise usecases.OpsqaError(_("year: a value is required"))
        if values["kind"] not in ("full", "partial"):
            raise usecases.OpsqaError(_("kind: choose a full or a partial audit"))
        start, end = _date(values["start"], _("planned start")), _date(values["end"], _("planned end"))
        if start is None or end is None:
            raise usecases.OpsqaError(_("planned start and end: both dates are required"))
        team: dict[str, list[str]] = {}
        for auditor, units in values["team"]:
            if auditor and not _names(units):
                raise usecases.OpsqaError(_("team: give the units {auditor} audits").format(auditor=auditor))
            if units and not auditor:
                raise usecases.OpsqaError(_("team: choose who audits {units}").format(units=units))
            if auditor:
                team.setdefault(auditor, []).extend(_names(units))
        if not team:
            raise usecases.OpsqaError(_("team: give at least one auditor and the units they audit"))
        if not values["lead"]:
            raise usecases.OpsqaError(_("lead auditor: a value is required"))
        planned = usecases.audits.plan_audit(web.engine, web.caller, year=year, team=team, lead_auditor=values["lead"],
                                             start=start, end=end, full=values["kind"] == "full")
    if refusal.message is not None:
        return _plan_form(web, values, refusal=refusal.message, status=400)
    return RedirectResponse(f"/audits/{planned['code']}", status_code=303)


def _plan_form(web: Web, values: dict[str, Any], *, refusal: str | None = None, status: int = 200) -> Response:
    return web.render("audit_plan.html", status=status, values=values, refusal=refusal,
                      auditors=usecases.audits.auditors(web.engine), projects=usecases.plans.projects(web.engine),
                      may_plan=usecases.may(web.engine, web.caller, "audit.plan"))


def audit(web: Web) -> Response:
    """An audit: its plan and its checklist item by item, each unit's row with the form for its auditor."""
    view = usecases.audits.audit_page(web.engine, web.caller, _path_code(web, "audit"))
    return _audit_page(web, view)


def _audit_page(web: Web, view: dict[str, Any], *, problem: dict[str, Any] | None = None,
                status: int = 200) -> Response:
    return web.render("audit.html", status=status, state=checking_state, audit=view, when=_when(web), problem=problem)


def audit_record(web: Web) -> Response:
    """One checklist row recorded by the unit's auditor: result, note (what was seen; for not applicable, why)
    and an evidence file; a later record corrects the row, both kept. Refused beside the row, values kept."""
    code = _path_code(web, "audit")
    item, unit = web.field("item").strip()[:20], web.field("unit").strip()[:100]
    values = {"result": web.field("result").strip()[:40], "note": web.field("note").strip()[:4000]}
    note = values["note"] or None
    not_applicable = values["result"] == "not_applicable"
    with rule_refusal() as refusal:
        if not item or not unit:
            raise usecases.OpsqaError(_("choose the checklist row (item and unit) to record"))
        if not values["result"]:
            raise usecases.OpsqaError(_("result: choose one"))
        usecases.audits.record_audit_upload(web.engine, web.caller, code, unit=unit, item=item,
                                            result=values["result"], evidence=None if not_applicable else note,
                                            na_reason=note if not_applicable else None, upload=_upload(web))
    if refusal.message is not None:
        view = usecases.audits.audit_page(web.engine, web.caller, code)
        problem = {"item": item, "unit": unit, "message": refusal.message, "values": values,  # beside the row's form
                   "placed": any(row["may"] for row in _unit_rows(view, item, unit))}  # else above the checklist
        return _audit_page(web, view, problem=problem, status=400)
    return RedirectResponse(f"/audits/{code}#row-{quote(item)}-{quote(unit)}", status_code=303)


def _unit_rows(view: dict[str, Any], item: str, unit: str) -> list[dict[str, Any]]:
    return [row for area in view["areas"] for i in area["items"] if i["code"] == item for row in i["units"]
            if row["unit"] == unit]


def audit_evidence(web: Web) -> Response:
    """A checklist row's evidence file, checked against its SHA-256, always as a download."""
    code = _path_code(web, "audit")
    text = web.request.path_params["evidence_id"]
    if not text.isdigit() or len(text) > 12:
        raise usecases.OpsqaError(_("{code} has no evidence {evidence_id}").format(code=code, evidence_id=text[:20]))
    return _download(*usecases.audits.audit_evidence(web.engine, code, int(text)))


# -- service inspections


def inspections(web: Web) -> Response:
    """The inspections, filtered by the query string (year=YYYY, status=in_progress|reported)."""
    year = _year(web.arg("year"), _("year"))
    status = web.arg("status") if web.arg("status") in INSPECTION_STATUSES else None
    rows = usecases.audits.inspections_of(web.engine, year=year, status=status)
    return web.render("inspections.html", state=checking_state, rows=rows, year=year, years=_years(web, year),
                      chosen=status, statuses=INSPECTION_STATUSES, when=_when(web),
                      may_start=usecases.may(web.engine, web.caller, "inspection.start")
                      or usecases.may(web.engine, web.caller, "inspection.name"))


def inspection_new(web: Web) -> Response:
    """Start an inspection: a random draw of active projects (oms, qmd, admin; the seed is drawn when not given,
    recorded and shown), or named projects (qmd, admin)."""
    if web.request.method == "GET":
        return _inspection_form(web, {"mode": "draw", "seed": "", "size": "1", "planned": "", "projects": []})
    values: dict[str, Any] = {"mode": web.field("mode"), "seed": web.field("seed").strip()[:20],
                              "size": web.field("size").strip()[:20], "planned": web.field("planned")[:1],
                              "projects": [p for p in (web.form.getlist("project") if web.form else [])
                                           if isinstance(p, str)][:200]}
    with rule_refusal() as refusal:
        if values["mode"] == "named":
            if not values["projects"]:
                raise usecases.OpsqaError(_("projects: choose the projects to inspect"))
            started = usecases.audits.start_inspection(web.engine, web.caller, projects=values["projects"],
                                                       planned=values["planned"] == "1")
        elif values["mode"] == "draw":
            seed = _number(values["seed"], _("seed"), 0, 2**31 - 1)
            size = _number(values["size"], _("how many projects"), 1, 1000) or 1
            started = usecases.audits.start_inspection(web.engine, web.caller, seed=seed, size=size,
                                                       planned=values["planned"] == "1")
        else:
            raise usecases.OpsqaError(_("choose a random draw or named projects"))
    if refusal.message is not None:
        return _inspection_form(web, values, refusal=refusal.message, status=400)
    return RedirectResponse(f"/inspections/{started['code']}", status_code=303)


def _inspection_form(web: Web, values: dict[str, Any], *, refusal: str | None = None,
                     status: int = 200) -> Response:
    return web.render("_audits_inspection_new.html", status=status, values=values, refusal=refusal,
                      projects=usecases.plans.projects(web.engine),
                      may={"draw": usecases.may(web.engine, web.caller, "inspection.start"),
                           "name": usecases.may(web.engine, web.caller, "inspection.name")})


def inspection(web: Web) -> Response:
    """An inspection: its sample (and the seed of a draw) and each project's five check points."""
    view = usecases.audits.inspection_page(web.engine, web.caller, _path_code(web, "inspection"))
    return web.render("inspection.html", state=checking_state, inspection=view, when=_when(web), problem=None)


def inspection_record(web: Web) -> Response:
    """A check point recorded by the inspector: pass or fail, what was seen, and for SVC-e the records sampled.
    Refused beside the point, values kept."""
    code = _path_code(web, "inspection")
    project, item = web.field("project").strip()[:50], web.field("item").strip()[:20]
    values = {name: web.field(name).strip()[:4000 if name == "evidence" else 100]
              for name in ("outcome", "evidence", "sample_type", "sample_size", "sample_defects")}
    with rule_refusal() as refusal:
        if not project or not item:
            raise usecases.OpsqaError(_("choose the check point (project and item) to record"))
        if values["outcome"] not in ("pass", "fail"):
            raise usecases.OpsqaError(_("result: choose pass or fail"))
        samples = None
        if values["sample_type"] or values["sample_size"] or values["sample_defects"]:
            size = _number(values["sample_size"], _("records sampled"), 0, 1_000_000)
            defects = _number(values["sample_defects"], _("defects found"), 0, 1_000_000)
            if not values["sample_type"] or size is None or defects is None:
                raise usecases.OpsqaError(_("samples: give the record type, how many records were sampled and how "
                                            "many defects were found"))
            samples = {"record_type": values["sample_type"], "size": size, "defects": defects}
        usecases.audits.record_inspection(web.engine, web.caller, code, passed=values["outcome"] == "pass",
                                          project=project, item=item, evidence=values["evidence"] or None,
                                          samples=samples)
    if refusal.message is not None:
        view = usecases.audits.inspection_page(web.engine, web.caller, code)
        placed = view["may_record"] and any(p["code"] == project and any(point["item"] == item for point in p["points"])
                                            for p in view["projects"])
        problem = {"project": project, "item": item, "message": refusal.message, "values": values, "placed": placed}
        return web.render("inspection.html", status=400, state=checking_state, inspection=view, when=_when(web),
                          problem=problem)
    return RedirectResponse(f"/inspections/{code}#point-{quote(project)}-{quote(item)}", status_code=303)


# -- the auditor register


def auditors(web: Web) -> Response:
    """The register of qualified internal auditors: qualification and validity, adding and renewing."""
    return _auditors_page(web)


def _auditors_page(web: Web, *, add: dict[str, str] | None = None, add_error: str | None = None,
                   renew: dict[str, Any] | None = None, status: int = 200) -> Response:
    register = usecases.audits.auditor_register(web.engine, web.caller)
    return web.render("auditors.html", status=status, register=register, when=_when(web),
                      add=add or {"user": "", "certificate": "", "valid_until": ""}, add_error=add_error,
                      renew=renew)


def auditor_add(web: Web) -> Response:
    """Register a user as a qualified internal auditor (qmd, admin); refused beside the form, values kept."""
    values = {name: web.field(name).strip()[:200] for name in ("user", "certificate", "valid_until")}
    with rule_refusal() as refusal:
        if not values["user"]:
            raise usecases.OpsqaError(_("user: a value is required"))
        usecases.audits.add_auditor(web.engine, web.caller, values["user"],
                                    certificate_no=values["certificate"] or None,
                                    valid_until=_date(values["valid_until"], _("valid until")))
    if refusal.message is not None:
        return _auditors_page(web, add=values, add_error=refusal.message, status=400)
    return RedirectResponse(f"/auditors#auditor-{quote(values['user'])}", status_code=303)


def auditor_renew(web: Web) -> Response:
    """Renew or correct an auditor's qualification (qmd, admin; with a reason): an empty certificate clears it."""
    user = web.request.path_params["user"][:200]
    values = {name: web.field(name).strip()[:500] for name in ("certificate", "valid_until", "reason")}
    with rule_refusal() as refusal:
        usecases.audits.renew_auditor(web.engine, web.caller, user, certificate_no=values["certificate"],
                                      valid_until=_date(values["valid_until"], _("valid until")),
                                      reason=values["reason"])
    if refusal.message is not None:
        return _auditors_page(web, renew={"user": user, "values": values, "message": refusal.message}, status=400)
    return RedirectResponse(f"/auditors#auditor-{quote(user)}", status_code=303)


# -- the project register


def projects(web: Web) -> Response:
    """The register of projects, filtered by the query string (all=1 for closed ones too, kind=...)."""
    all_projects = web.arg("all") == "1"
    kind = web.arg("kind") if web.arg("kind") in KINDS else None
    rows = [row for row in usecases.plans.projects(web.engine, all_projects=all_projects)
            if kind is None or row["kind"] == kind]
    return web.render("projects.html", rows=rows, all_projects=all_projects, kind=kind, kinds=KINDS,
                      may_add=usecases.may(web.engine, web.caller, "project.edit"))


def project_new(web: Web) -> Response:
    """Add a project to the register (ops, qmd, admin); refused beside the form, values kept."""
    if web.request.method == "GET":
        return _project_form(web, {name: "" for name in PROJECT_FIELDS} | {"kind": "other"})
    values = {name: web.field(name).strip()[:500] for name in PROJECT_FIELDS}
    with rule_refusal() as refusal:
        for name, what in (("code", _("code")), ("pm", _("project manager")), ("oms", _("O&M supervisor"))):
            if not values[name]:
                raise usecases.OpsqaError(_("{field}: a value is required").format(field=what))
        usecases.plans.add_project(
            web.engine, web.caller, values["code"], name=values["name"], customer=values["customer"], pm=values["pm"],
            oms=values["oms"], kind=values["kind"], members=_names(values["members"]),
            contract_ref=values["contract"] or None, om_start=_date(values["om_start"], _("O&M from")),
            om_end=_date(values["om_end"], _("O&M until")))
    if refusal.message is not None:
        return _project_form(web, values, refusal=refusal.message, status=400)
    return RedirectResponse(f"/projects/{quote(values['code'])}", status_code=303)


def _project_form(web: Web, values: dict[str, str], *, refusal: str | None = None, status: int = 200) -> Response:
    return web.render("_audits_project_new.html", status=status, values=values, refusal=refusal, kinds=KINDS,
                      users=[u for u in usecases.admin.users(web.engine) if u["status"] == "active"],
                      may_add=usecases.may(web.engine, web.caller, "project.edit"))


def project(web: Web) -> Response:
    """A project: its register entry and team, its quality control year by year, the O&M reports it owes, and
    the forms to correct it and to start its quality control for a year."""
    view = usecases.plans.project_page(web.engine, web.caller, _project_code(web))
    return _project_page(web, view)


def _project_page(web: Web, view: dict[str, Any], *, fix: dict[str, str] | None = None, fix_error: str | None = None,
                  plan: dict[str, str] | None = None, plan_error: str | None = None, status: int = 200) -> Response:
    if fix is None:
        fix = {name: "" if view.get(name) is None else str(view[name])
               for name in ("name", "customer", "pm", "oms", "kind", "status", "om_start", "om_end")}
        fix |= {"contract": view["contract_ref"] or "", "reason": ""}
    users = [u for u in usecases.admin.users(web.engine) if u["status"] == "active"] if view["may"]["fix"] else []
    return web.render("project.html", status=status, project=view, when=_when(web), fix=fix, fix_error=fix_error,
                      plan=plan or {"year": str(view["this_year"])}, plan_error=plan_error, kinds=KINDS,
                      statuses=PROJECT_STATUSES, users=users,
                      plan_items=[(name, _(words)) for name, words in PLAN_ITEMS.items()])


def project_fix(web: Web) -> Response:
    """Correct a project of the register (ops, qmd, admin; with a reason): the values as given; an empty contract
    clears it. Refused beside the form, values kept."""
    code = _project_code(web)
    values = {name: web.field(name).strip()[:500] for name in FIX_FIELDS}
    with rule_refusal() as refusal:
        changes = {name: values[name] or None for name in ("name", "customer", "pm", "oms", "kind", "status")}
        usecases.plans.fix_project(web.engine, web.caller, code, reason=values["reason"], **changes,
                                   contract_ref=values["contract"],
                                   om_start=_date(values["om_start"], _("O&M from")),
                                   om_end=_date(values["om_end"], _("O&M until")))
    if refusal.message is not None:
        view = usecases.plans.project_page(web.engine, web.caller, code)
        return _project_page(web, view, fix=values, fix_error=refusal.message, status=400)
    return RedirectResponse(f"/projects/{quote(code)}", status_code=303)


def project_plan(web: Web) -> Response:
    """Start the project's quality control for a year (ops, admin)."""
    code = _project_code(web)
    values = {"year": web.field("year").strip()[:20]}
    with rule_refusal() as refusal:
        usecases.plans.plan_project(web.engine, web.caller, code, year=_year(values["year"], _("year")))
    if refusal.message is not None:
        view = usecases.plans.project_page(web.engine, web.caller, code)
        return _project_page(web, view, plan=values, plan_error=refusal.message, status=400)
    return RedirectResponse(f"/projects/{quote(code)}#quality-control", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/audits", page(audits)),
        Route("/audits/new", page(audit_new), methods=["GET", "POST"]),
        Route("/audits/{code}", page(audit)),
        Route("/audits/{code}/record", page(audit_record), methods=["POST"]),
        Route("/audits/{code}/evidence/{evidence_id}", page(audit_evidence)),
        Route("/inspections", page(inspections)),
        Route("/inspections/new", page(inspection_new), methods=["GET", "POST"]),
        Route("/inspections/{code}", page(inspection)),
        Route("/inspections/{code}/record", page(inspection_record), methods=["POST"]),
        Route("/auditors", page(auditors)),
        Route("/auditors/add", page(auditor_add), methods=["POST"]),
        Route("/auditors/{user}/renew", page(auditor_renew), methods=["POST"]),
        Route("/projects", page(projects)),
        Route("/projects/new", page(project_new), methods=["GET", "POST"]),
        Route("/projects/{code}", page(project)),
        Route("/projects/{code}/fix", page(project_fix), methods=["POST"]),
        Route("/projects/{code}/plan", page(project_plan), methods=["POST"]),
    ]
