"""Pages of the records: the customer (6.2.3, 6.2.4).

Complaints: the register with its filters, registering one, a complaint with its handling, escalation and
history, and the customer's callback that closes it (a major one by the operations general manager only).
The same use cases as `opsqa complaints ...`."""

from __future__ import annotations

from datetime import datetime

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import _

from .pages import Web, page, rule_refusal

# -- complaints

CHANNELS = ("phone", "email", "letter", "service_desk", "on_site", "platform")  # as `opsqa complaints add`
FEEDBACK = ("satisfied", "not_satisfied")
COMPLAINT_FIELDS = ("project", "description", "channel", "customer", "contact", "remedy", "received")


def _complaint_code(web: Web) -> str:
    code = web.request.path_params["code"]
    if not 1 <= len(code) <= 40 or not all(c.isalnum() or c in "-_" for c in code):
        raise usecases.OpsqaError(_("no complaint {code}; see `opsqa complaints list`").format(code=code[:40]))
    return code.upper()


def _complaint_year(web: Web) -> int | None:
    text = web.arg("year").strip()
    if not text:
        return None
    if not text.isdigit() or not 1900 <= int(text) <= 9999:
        raise usecases.OpsqaError(_("year: {text!r} is not a year, e.g. 2027").format(text=text[:20]))
    return int(text)


def _complaint_when(web: Web):
    zone = usecases.admin.zone(web.engine)
    return lambda value: usecases.local_time(value, zone) if value else ""


def complaints(web: Web) -> Response:
    """The register of complaints, filtered by the query string (open=1, year=YYYY)."""
    open_only, year = web.arg("open") == "1", _complaint_year(web)
    rows = usecases.customers.complaints(web.engine, year=year, open_only=open_only)
    this = usecases.overview.current_year(web.engine)
    years = sorted({*range(this - 9, this + 2), *([year] if year else [])}, reverse=True)
    return web.render("complaints.html", rows=rows, open_only=open_only, year=year, years=years,
                      when=_complaint_when(web), may_add=usecases.may(web.engine, web.caller, "complaint.add"))


def complaint(web: Web) -> Response:
    """A complaint: what the customer said, its handling and escalation, its tasks and history, and the
    callback form when it waits for the customer's answer and the caller may record it."""
    item = usecases.customers.complaint_page(web.engine, web.caller, _complaint_code(web))
    return web.render("complaint.html", item=item, when=_complaint_when(web), feedback=FEEDBACK)


def close_complaint(web: Web) -> Response:
    """The customer's callback: satisfied closes the complaint, not satisfied reopens it."""
    code = _complaint_code(web)
    feedback = web.field("feedback")
    if feedback not in FEEDBACK:
        raise usecases.OpsqaError(_("feedback: choose satisfied or not satisfied"))
    usecases.customers.close_complaint(web.engine, web.caller, code, feedback=feedback,
                                       note=web.field("note").strip()[:2000] or None)
    return RedirectResponse(f"/complaints/{code}", status_code=303)


def new_complaint(web: Web) -> Response:
    """Register a complaint (policy complaint.add): the project's manager is asked to accept and assess it."""
    if web.request.method == "GET":
        return _complaint_form(web, {name: "" for name in COMPLAINT_FIELDS} | {"channel": "phone"})
    values = {name: web.field(name).strip()[:4000 if name in ("description", "remedy") else 500]
              for name in COMPLAINT_FIELDS}
    with rule_refusal() as refusal:
        if not values["project"]:
            raise usecases.OpsqaError(_("project: a value is required"))
        if values["channel"] not in CHANNELS:
            raise usecases.OpsqaError(_("channel {channel!r} is not one of {channels}").format(
                                          channel=values["channel"][:40], channels=", ".join(CHANNELS)))
        added = usecases.customers.add_complaint(
            web.engine, web.caller, project=values["project"], description=values["description"],
            channel=values["channel"], received_at=_received(web, values["received"]),
            customer=values["customer"] or None, contact=values["contact"] or None, remedy=values["remedy"] or None)
    if refusal.message is not None:
        return _complaint_form(web, values, refusal=refusal.message, status=400)
    return RedirectResponse(f"/complaints/{added['code']}", status_code=303)


def _received(web: Web, text: str) -> datetime | None:
    """When the complaint was received: a local time of the organisation's zone (a datetime-local field), or
    now when empty."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise usecases.OpsqaError(_("received: {text!r} is not a time, e.g. 2028-05-10 09:00").format(
                                      text=text[:40])) from None
    return when if when.tzinfo else when.replace(tzinfo=usecases.admin.zone(web.engine))


def _complaint_form(web: Web, values: dict[str, str], *, refusal: str | None = None,
                    status: int = 200) -> Response:
    return web.render("_complaints_new.html", status=status, values=values, refusal=refusal,
                      projects=usecases.plans.projects(web.engine), channels=CHANNELS,
                      may_add=usecases.may(web.engine, web.caller, "complaint.add"))


def _complaint_routes() -> list[Route]:
    return [
        Route("/complaints", page(complaints)),
        Route("/complaints/new", page(new_complaint), methods=["GET", "POST"]),
        Route("/complaints/{code}", page(complaint)),
        Route("/complaints/{code}/close", page(close_complaint), methods=["POST"]),
    ]


def routes() -> list[Route]:
    return [*_complaint_routes()]
