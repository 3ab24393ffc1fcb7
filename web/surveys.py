"""Pages of the records: the customer satisfaction survey (6.2.4).

The surveys year by year; a year's survey with its statistics, its questions in words, every answer (those
that came after the collection closed held for the QMD, not counted) and its rectifications; uploading the
invitations and the responses (CSV or .xlsx, all rows or none, as `opsqa survey invite|import` takes them),
entering one response by hand, and starting a year's survey. The same use cases as `opsqa survey ...`."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import _

from .labels import question
from .pages import Web, page, rule_refusal

CHANNELS = ("phone", "form", "visit")  # as `opsqa survey respond --channel`
QUESTIONS = ("q_om_service", "q_service_desk")  # the usual questionnaire's; a survey's own answers add theirs
TABLE_LIMIT = 20 * 1024 * 1024  # read at most this (and one byte more, so that the use case refuses a larger file)
RESPONSE_FIELDS = ("customer", "project", "channel", "overall", "respondent", "comments", "issues")
DONE = ("invitations", "responses", "response", "started")


def _when(web: Web):
    zone = usecases.admin.zone(web.engine)
    return lambda value: usecases.local_time(value, zone) if value else ""


def _year(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) != 4 or not 2000 <= int(text) <= 2999:
        raise usecases.OpsqaError(_("year: {text!r} is not a year, e.g. 2027").format(text=text[:20]))
    return int(text)


def _path_year(web: Web) -> int:
    return _year(web.request.path_params["year"])


def _upload(web: Web) -> tuple[str, bytes]:
    upload = web.form.get("file") if web.form is not None else None
    if upload is None or isinstance(upload, str) or not upload.filename:
        raise usecases.OpsqaError(_("choose a .csv or .xlsx file to upload"))
    return upload.filename, upload.file.read(TABLE_LIMIT + 1)


def surveys(web: Web) -> Response:
    """The surveys, one a year; a POST starts a year's survey (policy survey.start) and opens its page."""
    if web.request.method == "GET":
        return _surveys(web)
    text = web.field("year")
    with rule_refusal() as refusal:
        year = _year(text)
        usecases.customers.start_survey(web.engine, web.caller, year)
    if refusal.message is not None:
        return _surveys(web, start_year=text.strip()[:20], refusal=refusal.message, status=400)
    return RedirectResponse(f"/surveys/{year}?" + urlencode({"done": "started"}), status_code=303)


def _surveys(web: Web, *, start_year: str | None = None, refusal: str | None = None, status: int = 200) -> Response:
    view = usecases.customers.surveys_page(web.engine, web.caller)
    return web.render("surveys.html", status=status, view=view, when=_when(web), refusal=refusal,
                      start_year=start_year if start_year is not None else str(view["year"]))


def survey(web: Web) -> Response:
    """A year's survey: statistics, questions, answers, rectifications, and its forms for who may use them."""
    return _survey(web, _path_year(web))


def _survey(web: Web, year: int, *, refusals: dict[str, str] | None = None, values: dict[str, str] | None = None,
            status: int = 200) -> Response:
    view = usecases.customers.survey_page(web.engine, web.caller, year)
    found = view["survey"]
    asked = list(QUESTIONS) + [q for q in (found["questions"] if found else []) if q not in QUESTIONS]
    done = web.arg("done") if web.request.method == "GET" and web.arg("done") in DONE else None
    counts = {key: int(web.arg(key)) for key in ("added", "unchanged", "late") if web.arg(key).isdigit()}
    if status == 200 and found is None:
        status = 404
    return web.render("survey.html", status=status, view=view, s=found, when=_when(web), question=question,
                      asked=asked, channels=CHANNELS, refusals=refusals or {},
                      values=values or {**{name: "" for name in RESPONSE_FIELDS}, "channel": "phone"}, done=done,
                      counts=counts, start_year=str(year), refusal=None)


def _done(year: int, what: str, counts: dict[str, int]) -> RedirectResponse:
    query = {"done": what, **{key: counts[key] for key in ("added", "unchanged", "late") if key in counts}}
    return RedirectResponse(f"/surveys/{year}?" + urlencode(query) + "#answers", status_code=303)


def invitations(web: Web) -> Response:
    """Register invitations from an uploaded file, all rows or none (policy survey.responses)."""
    year = _path_year(web)
    with rule_refusal() as refusal:
        name, content = _upload(web)
        counts = usecases.customers.invite_upload(web.engine, web.caller, year, name, content)
    if refusal.message is not None:
        return _survey(web, year, refusals={"invitations": refusal.message}, status=400)
    return _done(year, "invitations", counts)


def responses(web: Web) -> Response:
    """Import responses from an uploaded file, all rows or none (policy survey.responses)."""
    year = _path_year(web)
    with rule_refusal() as refusal:
        name, content = _upload(web)
        counts = usecases.customers.import_responses_upload(web.engine, web.caller, year, name, content)
    if refusal.message is not None:
        return _survey(web, year, refusals={"responses": refusal.message}, status=400)
    return _done(year, "responses", counts)


def respond(web: Web) -> Response:
    """Enter one response by hand, checked like an imported row (policy survey.responses)."""
    year = _path_year(web)
    values = {name: web.field(name).strip()[:2000 if name in ("comments", "issues") else 200]
              for name in RESPONSE_FIELDS}
    scores = {key: value.strip()[:10] for key, value in (web.form or {}).items()
              if key.startswith("q_") and isinstance(value, str) and len(key) <= 60}
    values.update(scores)
    with rule_refusal() as refusal:
        overall = values["overall"]
        if not overall.isdigit() or not 1 <= int(overall) <= 5:
            raise usecases.OpsqaError(_("overall {text!r} is not a score from 1 to 5").format(text=overall[:10]))
        counts = usecases.customers.respond(
            web.engine, web.caller, year, customer=values["customer"], project=values["project"],
            channel=values["channel"], overall=int(overall), scores=dict(list(scores.items())[:50]),
            respondent=values["respondent"] or None, comments=values["comments"] or None,
            issues=values["issues"] or None)
    if refusal.message is not None:
        return _survey(web, year, refusals={"response": refusal.message}, values=values, status=400)
    return _done(year, "response", counts)


def routes() -> list[Route]:
    return [
        Route("/surveys", page(surveys), methods=["GET", "POST"]),
        Route("/surveys/{year}", page(survey)),
        Route("/surveys/{year}/invitations", page(invitations), methods=["POST"]),
        Route("/surveys/{year}/responses", page(responses), methods=["POST"]),
        Route("/surveys/{year}/respond", page(respond), methods=["POST"]),
    ]
