"""Pages of the records: findings (不符合项 / 整改项) — the list with its filters and each year's on-time closure
rate (按期整改率), a finding with its due-date history and evidence, evidence uploaded from it, its due date
extended, and a finding raised by hand. The same use cases as `opsqa findings` and `opsqa finding ...`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import _

from .pages import MAX_UPLOAD, Web, page, rule_refusal

SEVERITIES = ("minor", "major")


def _code(web: Web) -> str:
    code = web.request.path_params["code"]
    if not 1 <= len(code) <= 40 or not all(c.isalnum() or c in "-_" for c in code):
        raise usecases.OpsqaError(_("no finding {code}; see `opsqa findings`").format(code=code[:40]))
    return code.upper()


def _year(web: Web) -> int | None:
    text = web.arg("year").strip()
    if not text:
        return None
    if not text.isdigit() or not 1900 <= int(text) <= 9999:
        raise usecases.OpsqaError(_("year: {text!r} is not a year, e.g. 2027").format(text=text[:20]))
    return int(text)


def years(web: Web, chosen: int | None) -> list[int]:
    """The years a filter offers: this one and the nine before it (and next year), and the one chosen."""
    this = usecases.overview.current_year(web.engine)
    return sorted({*range(this - 9, this + 2), *([chosen] if chosen else [])}, reverse=True)


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


def _when(web: Web):
    zone = usecases.admin.zone(web.engine)

    def when(value: datetime | str | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):  # a due-date history entry keeps its time as ISO 8601 text
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        return usecases.local_time(value, zone)

    return when


# -- the list


def findings(web: Web) -> Response:
    """The findings, filtered by the query string (open=1, overdue=1, year=YYYY), with the on-time closure
    rate of their years."""
    open_only, overdue, year = web.arg("open") == "1", web.arg("overdue") == "1", _year(web)
    listing = usecases.audits.findings_with_rates(web.engine, open_only=open_only, overdue=overdue, year=year)
    return web.render("findings.html", rows=listing["findings"], rates=listing["on_time"], open_only=open_only,
                      overdue=overdue, year=year, years=years(web, year),
                      may_raise=usecases.may(web.engine, web.caller, "finding.raise"))


# -- one finding


def finding(web: Web) -> Response:
    """A finding: where it came from, who owns it, its due date and its history, its evidence, and the forms
    the caller may use (upload evidence, extend the due date)."""
    item = usecases.audits.finding_page(web.engine, web.caller, _code(web))
    return _finding_page(web, item)


def _finding_page(web: Web, item: dict[str, Any], *, status: int = 200, extend: dict[str, str] | None = None,
                  extend_error: str | None = None) -> Response:
    earliest = (item["due"] + timedelta(days=1)).isoformat()
    return web.render("finding.html", status=status, item=item, when=_when(web), earliest=earliest,
                      extend=extend or {"to": "", "reason": ""}, extend_error=extend_error)


def attach(web: Web) -> Response:
    """Evidence uploaded from the finding's page, then back to it."""
    code = _code(web)
    upload = web.form.get("file") if web.form is not None else None
    if upload is None or isinstance(upload, str):
        raise usecases.OpsqaError(_("choose an evidence file to upload"))
    content = upload.file.read(MAX_UPLOAD + 1)
    usecases.audits.upload_evidence(web.engine, web.caller, code, upload.filename or "", content,
                                    note=web.field("note").strip()[:500] or None)
    return RedirectResponse(f"/findings/{code}#evidence", status_code=303)


def extend(web: Web) -> Response:
    """A later due date with its reason (qmd, admin); refused in one line beside the form, nothing changed."""
    code = _code(web)
    values = {"to": web.field("to").strip()[:40], "reason": web.field("reason").strip()[:500]}
    with rule_refusal() as refusal:
        to = _date(values["to"], _("new due date"))
        if to is None:
            raise usecases.OpsqaError(_("new due date: a value is required"))
        usecases.audits.extend_finding(web.engine, web.caller, code, to=to, reason=values["reason"])
    if refusal.message is not None:
        item = usecases.audits.finding_page(web.engine, web.caller, code)
        return _finding_page(web, item, status=400, extend=values, extend_error=refusal.message)
    return RedirectResponse(f"/findings/{code}", status_code=303)


# -- raising one by hand


FIELDS = ("owner", "description", "unit", "item", "severity", "due")


def new(web: Web) -> Response:
    """Raise a finding by hand (qmd, admin): its owner, description, unit and checklist item, severity and due
    date (default: the finding_due_days setting); its follow-up starts at once."""
    if web.request.method == "GET":
        return _new_form(web, {name: "" for name in FIELDS} | {"severity": "minor"})
    values = {name: web.field(name).strip()[:4000 if name == "description" else 200] for name in FIELDS}
    with rule_refusal() as refusal:
        if values["severity"] not in SEVERITIES:
            raise usecases.OpsqaError(_("severity {severity!r} is not minor or major").format(
                                          severity=values["severity"][:20]))
        if not values["owner"]:
            raise usecases.OpsqaError(_("owner: a value is required"))
        raised = usecases.audits.add_finding(
            web.engine, web.caller, owner=values["owner"], description=values["description"],
            unit=values["unit"] or None, item_code=values["item"] or None, severity=values["severity"],
            due=_date(values["due"], _("due date")))
    if refusal.message is not None:
        return _new_form(web, values, refusal=refusal.message, status=400)
    return RedirectResponse(f"/findings/{raised['code']}", status_code=303)


def _new_form(web: Web, values: dict[str, str], *, refusal: str | None = None, status: int = 200) -> Response:
    users = [u for u in usecases.admin.users(web.engine) if u["status"] == "active"]
    return web.render("_findings_new.html", status=status, values=values, refusal=refusal, users=users,
                      severities=SEVERITIES, may_raise=usecases.may(web.engine, web.caller, "finding.raise"))


def routes() -> list[Route]:
    return [
        Route("/findings", page(findings)),
        Route("/findings/new", page(new), methods=["GET", "POST"]),
        Route("/findings/{code}", page(finding)),
        Route("/findings/{code}/attach", page(attach), methods=["POST"]),
        Route("/findings/{code}/extend", page(extend), methods=["POST"]),
    ]
