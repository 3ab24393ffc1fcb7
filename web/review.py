"""Pages of the records: review and improvement (6.1.2 e, 6.2.5, 6.2.6).

The quality indicators with their targets and this year's attainment, defining one, an indicator's values
period by period, a period's values entered as one grid or uploaded as a file (all or none); the year's
improvement plan with each item's cause, measure, owner and due date, set while the plan is drawn up, and
the year's management review in brief. The same use cases as `opsqa indicators ...`, `opsqa improvement ...`
and `opsqa review show`."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import usecases
from i18n import _

from .labels import improvement_source
from .pages import Web, page, rule_refusal

DIRECTIONS = ("higher_better", "lower_better")  # as `opsqa indicators add`
CYCLES = ("monthly", "quarterly", "yearly")
RULES = ("mean", "latest")
DEFINE_FIELDS = ("code", "name", "target", "unit", "direction", "cycle", "yearly_rule", "from_survey")
TABLE_LIMIT = 20 * 1024 * 1024  # read at most this (and one byte more, so that the use case refuses a larger file)
ITEM_FIELDS = ("cause", "measure", "owner", "due", "expected")  # as `opsqa improvement set`
COUNTS = ("added", "updated", "unchanged")


def _when(web: Web):
    zone = usecases.admin.zone(web.engine)
    return lambda value: usecases.local_time(value, zone) if value else ""


def _year_arg(web: Web) -> int | None:
    text = web.arg("year").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) != 4 or not 2000 <= int(text) <= 2999:
        raise usecases.OpsqaError(_("year: {text!r} is not a year, e.g. 2027").format(text=text[:20]))
    return int(text)


def _counts(web: Web) -> dict[str, int] | None:
    counts = {key: int(web.arg(key)) for key in COUNTS if web.arg(key).isdigit()}
    return counts if len(counts) == len(COUNTS) else None


def _saved(path: str, counts: dict[str, int], **query: str) -> RedirectResponse:
    return RedirectResponse(path + "?" + urlencode({**query, **{key: counts.get(key, 0) for key in COUNTS}}),
                            status_code=303)


# -- indicators


def indicators(web: Web) -> Response:
    """The indicators with this year's attainment (filter year); a POST defines one (policy indicator.define)."""
    if web.request.method == "GET":
        return _indicators(web, _year_arg(web))
    values = {name: web.field(name).strip()[:200] for name in DEFINE_FIELDS}
    with rule_refusal() as refusal:
        try:
            target = float(values["target"])
        except ValueError:
            raise usecases.OpsqaError(_("target {target!r} is not a number").format(target=values["target"][:40])) \
                from None
        outcome = usecases.review.define_indicator(
            web.engine, web.caller, values["code"], name=values["name"], target=target, unit=values["unit"] or "%",
            direction=values["direction"], cycle=values["cycle"], yearly_rule=values["yearly_rule"] or "mean",
            from_survey=values["from_survey"] == "1")
    if refusal.message is not None:
        return _indicators(web, None, define=values, refusals={"define": refusal.message}, status=400)
    return RedirectResponse("/indicators?" + urlencode({"defined": values["code"], "outcome": outcome}),
                            status_code=303)


def _indicators(web: Web, year: int | None, *, define: dict[str, str] | None = None,
                refusals: dict[str, str] | None = None, status: int = 200) -> Response:
    view = usecases.review.indicators_page(web.engine, web.caller, year)
    blank = {"code": "", "name": "", "target": "", "unit": "%", "direction": "higher_better", "cycle": "monthly",
             "yearly_rule": "mean", "from_survey": ""}
    defined = web.arg("defined")[:20] if web.request.method == "GET" else ""
    outcome = web.arg("outcome") if web.arg("outcome") in ("added", "updated", "unchanged") else ""
    return web.render("indicators.html", status=status, view=view, define=define or blank, refusals=refusals or {},
                      directions=DIRECTIONS, cycles=CYCLES, rules=RULES, defined=defined, outcome=outcome,
                      imported=_counts(web) if web.request.method == "GET" else None, num=_num)


def _code(web: Web) -> str:
    code = web.request.path_params["code"]
    if not 1 <= len(code) <= 20 or not all(c.isalnum() or c in "-_" for c in code):
        raise usecases.OpsqaError(_("no indicator {code}; see the indicators").format(code=code[:40]))
    return code


def indicator(web: Web) -> Response:
    """One indicator: its definition and its values period by period, met or not."""
    view = usecases.review.indicator_page(web.engine, web.caller, _code(web))
    return web.render("indicator.html", view=view, when=_when(web), basis=usecases.review.basis_words, num=_num)


def _num(value: float | None) -> str:
    """A number as people write it: 95, 96.5, 4.25 (never 95.0, nor 1e+06)."""
    if value is None:
        return ""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def enter(web: Web) -> Response:
    """A period's values of every indicator as one grid (GET ?period=); a POST records them, all or none
    (policy indicator.record)."""
    if web.request.method == "GET":
        return _grid(web, web.arg("period").strip() or None, saved=_counts(web))
    period = web.field("period").strip()[:20]
    entries = {key[2:]: value.strip()[:40] for key, value in (web.form or {}).items()
               if key.startswith("v:") and isinstance(value, str)}
    entries = dict(list(entries.items())[:200])
    with rule_refusal() as refusal:
        counts = usecases.review.set_values(web.engine, web.caller, entries)
    if refusal.message is not None:
        return _grid(web, period or None, typed=entries, refusal=refusal.message, status=400)
    return _saved("/indicators/enter", counts, period=period)


def _grid(web: Web, period: str | None, *, typed: dict[str, str] | None = None, refusal: str | None = None,
          saved: dict[str, int] | None = None, status: int = 200) -> Response:
    view = usecases.review.period_values(web.engine, web.caller, period)
    shown = {row["key"]: _num(row["value"]) for row in view["rows"]}
    return web.render("_review_grid.html", status=status, view=view, shown={**shown, **(typed or {})},
                      refusal=refusal, saved=saved, num=_num)


def import_values(web: Web) -> Response:
    """Record values from an uploaded .csv or .xlsx file, all rows or none (policy indicator.record)."""
    upload = web.form.get("file") if web.form is not None else None
    with rule_refusal() as refusal:
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise usecases.OpsqaError(_("choose a .csv or .xlsx file to upload"))
        counts = usecases.review.import_values_upload(web.engine, web.caller, upload.filename,
                                                      upload.file.read(TABLE_LIMIT + 1))
    if refusal.message is not None:
        return _indicators(web, None, refusals={"import": refusal.message}, status=400)
    return _saved("/indicators", counts)


# -- the improvement plan


def improvement(web: Web) -> Response:
    """The year's improvement plan (filter year; the latest plan's year by default) and the year's review."""
    return _improvement(web, _year_arg(web))


def _improvement(web: Web, year: int | None, *, editing: str | None = None, typed: dict[str, str] | None = None,
                 refusal: str | None = None, status: int = 200) -> Response:
    view = usecases.review.improvement_page(web.engine, web.caller, year)
    saved = web.arg("saved")[:20] if web.request.method == "GET" else ""
    return web.render("improvement.html", status=status, view=view, when=_when(web), editing=editing,
                      typed=typed or {}, refusal=refusal, saved=saved, source=improvement_source)


def _item_code(web: Web) -> str:
    code = web.request.path_params["code"]
    if not 1 <= len(code) <= 40 or not all(c.isalnum() or c in "-_" for c in code):
        raise usecases.OpsqaError(_("no improvement item {code}; see `opsqa improvement list`").format(code=code[:40]))
    return code.upper()


def set_item(web: Web) -> Response:
    """Set an item's cause, measure, owner, due date and expected result (policy improvement.set); an empty field
    leaves what is there, as `opsqa improvement set` does."""
    code = _item_code(web)
    typed = {name: web.field(name).strip()[:2000] for name in ITEM_FIELDS}
    year = _year_text(web.field("year"))
    with rule_refusal() as refusal:
        due = None
        if typed["due"]:
            try:
                due = date.fromisoformat(typed["due"])
            except ValueError:
                raise usecases.OpsqaError(_("due date {text!r} is not a date like 2028-03-31").format(
                                              text=typed["due"][:20])) from None
        item = usecases.review.set_improvement(
            web.engine, web.caller, code, cause=typed["cause"] or None, measure=typed["measure"] or None,
            owner=typed["owner"] or None, due=due, expected=typed["expected"] or None)
    if refusal.message is not None:
        return _improvement(web, year, editing=code, typed=typed, refusal=refusal.message, status=400)
    query = {**({"year": year} if year else {}), "saved": item["code"]}
    return RedirectResponse("/improvement?" + urlencode(query) + f"#{item['code']}", status_code=303)


def _year_text(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) == 4 else None


def routes() -> list[Route]:
    return [
        Route("/indicators", page(indicators), methods=["GET", "POST"]),
        Route("/indicators/enter", page(enter), methods=["GET", "POST"]),
        Route("/indicators/import", page(import_values), methods=["POST"]),
        Route("/indicators/{code}", page(indicator)),  # GET only: POST /indicators/values is the task's grid
        Route("/improvement", page(improvement)),
        Route("/improvement/{code}", page(set_item), methods=["POST"]),
    ]
