"""年度总览 — the year at a glance, and the year's documents, viewable and downloadable."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import N_, _

from .labels import label
from .pages import Web, page

STAGES = {"plan": N_("Quality plan"), "audit": N_("Internal audit"), "inspections": N_("Service inspections"),
          "survey": N_("Satisfaction survey"), "review": N_("Management review"),
          "improvement": N_("Improvement plan")}
STATES = {"done": N_("done"), "active": N_("under way"), "pending": N_("not yet")}


def _year(web: Web) -> int:
    text = web.request.path_params.get("year", "")
    if not (text.isdigit() and len(text) == 4):
        raise usecases.OpsqaError(_("{year} is not a year of the quality system").format(year=text[:10]))
    return int(text)


def this_year(web: Web) -> Response:
    return RedirectResponse(f"/year/{usecases.overview.current_year(web.engine)}", status_code=303)


def overview(web: Web) -> Response:
    year = _year(web)
    view = usecases.overview.year(web.engine, year)
    zone = usecases.admin.zone(web.engine)
    return web.render("overview.html", view=view, stages=STAGES, states=STATES, year=year,
                      documents=usecases.overview.documents(web.engine, year),
                      when=lambda value: usecases.local_time(value, zone) if value else "")


def document(web: Web) -> Response:
    """A document of the year in the page (its charts as images), with its HTML, Word, PDF and Markdown to
    download, as drafts."""
    year, name = _year(web), web.request.path_params["name"]
    if len(name) > 100 or not all(c.isalnum() or c in "-_" for c in name):
        raise usecases.OpsqaError(_("no document {name} for {year}").format(name=name[:100], year=year))
    fmt = web.arg("format")
    if fmt in ("md", "html", "docx", "pdf"):
        file_name, content = usecases.overview.document_file(web.engine, year, name, fmt)
        return Response(content, media_type="application/octet-stream", headers={
            "content-disposition": f'attachment; filename="{file_name}"'})
    found = usecases.overview.document(web.engine, year, name)
    zone = usecases.admin.zone(web.engine)
    for row in found["issued"]:
        row["shown"] = f"{row['version']} {label(row['status'])} ({usecases.local_time(row['issued_at'], zone)}, " \
                       f"{row['issued_by']})"
    return web.render("document.html", document=found, year=year)


def routes() -> list[Route]:
    return [
        Route("/year", page(this_year)),
        Route("/year/{year}", page(overview)),
        Route("/year/{year}/documents/{name}", page(document)),
    ]
