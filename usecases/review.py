"""Review and improvement (6.2.5, 6.2.6): the management review, the improvement plan, the quality
indicators and their values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from engine import Engine, OpsqaError
from i18n import _

from .base import Caller, acting, guarded, reading, who

Progress = Callable[[int, int], None] | None


# -- the management review


def basis_words(text: str) -> str:
    """How a year's value was reached (handlers/indicators.py keeps it in English: `mean of 3 values`), in the
    language in use, the same for the CLI and the web."""
    import re

    fixed = {"yearly value": _("yearly value"), "satisfaction survey": _("satisfaction survey"),
             "no value": _("no value")}
    counted = re.fullmatch(r"(\w+) of (\d+) values", text)
    rules = {"mean": _("the mean of {count} values"), "latest": _("the latest of {count} values")}
    if counted and counted[1] in rules:
        return rules[counted[1]].format(count=counted[2])
    if counted:
        return _("{rule} of {count} values").format(rule=counted[1], count=counted[2])
    return fixed.get(text, text)


def start(engine: Engine, caller: Caller, year: int, review_date: date, attendees: str) -> dict[str, Any]:
    """Initiate the year's review (mr, admin): refused, naming what is missing, until the year's full
    internal audit and its satisfaction survey are reported; then its initiation task is completed with
    the meeting day and who attends."""
    from handlers.reviews import initiate

    with acting(engine, caller, "review.start") as act:
        task_id = initiate(act.session, year, start_instance=act.starter())
    with guarded(engine, caller, "task.complete"):
        engine.complete(task_id, {"review_date": review_date.isoformat(), "attendees": attendees}, actor=act.actor)
    return {"year": year, "review_date": review_date, "task": task_id}


def show(engine: Engine, year: int) -> dict[str, Any]:
    """A review: its preconditions, gathered inputs and decisions."""
    from handlers.reviews import get_review, review_view

    with reading(engine) as session:
        return review_view(get_review(session, year))


# -- the improvement plan


def improvements(engine: Engine, year: int | None = None) -> list[dict[str, Any]]:
    """The improvement items, their measures and how their follow-up stands."""
    from handlers.improvement import list_items

    with reading(engine) as session:
        return list_items(session, year)


def set_improvement(engine: Engine, caller: Caller, code: str, *, cause: str | None = None,
                    measure: str | None = None, owner: str | None = None, due: date | None = None,
                    expected: str | None = None) -> dict[str, Any]:
    """Set an item's analysis and measure while the plan is drawn up (ops, qmd, admin): its code and status."""
    from handlers.improvement import set_item

    with acting(engine, caller, "improvement.set") as act:
        item = set_item(act.session, code, cause=cause, measure=measure, owner=owner, due=due, expected=expected,
                        now=act.now, actor=act.actor)
        return {"code": item.code, "status": item.status}


# -- indicators


def define_indicator(engine: Engine, caller: Caller, code: str, *, name: str, target: float, unit: str = "%",
                     direction: str = "higher_better", cycle: str = "monthly", yearly_rule: str = "mean",
                     from_survey: bool = False) -> str:
    """Define an indicator, or change its definition (qmd, admin): 'added', 'updated' or 'unchanged'."""
    from handlers.indicators import define

    with acting(engine, caller, "indicator.define") as act:
        return define(act.session, code=code, name=name, unit=unit, direction=direction, target=target, cycle=cycle,
                      yearly_rule=yearly_rule, source="survey" if from_survey else None, now=act.now,
                      actor=act.actor)


def indicators(engine: Engine) -> list[dict[str, Any]]:
    """The indicators and their targets."""
    from handlers.indicators import list_indicators

    with reading(engine) as session:
        return list_indicators(session)


def import_values(engine: Engine, caller: Caller, file: str, *, progress: Progress = None) -> dict[str, int]:
    """Record values from a .csv or .xlsx file, all or none (qmd, ops, pm, admin): how many were added,
    updated and unchanged. The file is read before the transaction opens, so that it stays short."""
    from handlers.indicators import parse_values, record_values
    from handlers.tabular import read_table

    rows = parse_values(read_table(file))
    with acting(engine, caller, "indicator.record") as act:
        return record_values(act.session, rows, now=act.now, actor=act.actor, progress=progress)


def set_value(engine: Engine, caller: Caller, code: str, period: str, value: float,
              project: str | None = None) -> str:
    """Enter one value (qmd, ops, pm, admin), the organisation's unless a project is named; a later value
    for the same period corrects it: 'added', 'updated' or 'unchanged'."""
    from handlers.indicators import ORG, ValueRow, check_period, record_values

    row = ValueRow(code, check_period(period), value, project or ORG, f"{code} {period}: ")
    with acting(engine, caller, "indicator.record") as act:
        counts = record_values(act.session, [row], now=act.now, actor=act.actor)
    return next(outcome for outcome, count in counts.items() if count)


def set_values(engine: Engine, caller: Caller, entries: dict[str, str]) -> dict[str, int]:
    """Enter the organisation's values of several indicators at once, all or none (qmd, ops, pm, admin):
    `entries` maps `CODE@PERIOD` to the value as typed; an empty one is left out. The counts of added,
    updated and unchanged values."""
    from handlers.indicators import ORG, ValueRow, check_period, record_values

    rows = []
    for key, text in entries.items():
        code, _at, period = key.partition("@")
        if not text.strip():
            continue
        try:
            value = float(text.strip())
        except ValueError:
            raise OpsqaError(_("{code} {period}: {value!r} is not a number").format(
                                 code=code, period=period, value=text.strip()[:40])) from None
        rows.append(ValueRow(code, check_period(period), value, ORG, f"{code} {period}: "))
    if not rows:
        raise OpsqaError(_("no value was entered"))
    with acting(engine, caller, "indicator.record") as act:
        return record_values(act.session, rows, now=act.now, actor=act.actor)


def due_values(engine: Engine, caller: Caller, due: list[str]) -> dict[str, Any]:
    """The indicator values a collection asks for (`CODE@PERIOD`), each with its indicator's name, unit and
    target and the value recorded so far, and whether the caller may enter them."""
    from engine import policy
    from handlers.indicators import ORG
    from store import Indicator, IndicatorValue

    rows = []
    with reading(engine) as session:
        for key in due:
            code, _at, period = str(key).partition("@")
            indicator = session.get(Indicator, code)
            if indicator is None:
                continue
            recorded = session.query(IndicatorValue).filter_by(indicator=code, period=period, scope=ORG).first()
            rows.append({"key": f"{code}@{period}", "code": code, "name": indicator.name, "unit": indicator.unit,
                         "target": indicator.target, "direction": indicator.direction, "period": period,
                         "value": recorded.value if recorded else None,
                         "attainment": recorded.attainment if recorded else None})
    return {"rows": rows, "may_record": policy.allows(who(engine, caller), "indicator.record")}


def values(engine: Engine, *, year: int | None = None, indicator: str | None = None) -> list[dict[str, Any]]:
    """Recorded values and whether each met its target."""
    from handlers.indicators import list_values

    with reading(engine) as session:
        return list_values(session, year=year, indicator=indicator)


def attainment(engine: Engine, year: int) -> list[dict[str, Any]]:
    """Each indicator's attainment for a year: met, unmet or not measured, and how its value was reached."""
    from handlers.reviews import attainment_of_year

    with reading(engine) as session:
        return attainment_of_year(session, year)


# -- the pages of the web face: indicators, a period's values, the improvement plan


def import_values_upload(engine: Engine, caller: Caller, name: str, content: bytes) -> dict[str, int]:
    """`import_values` from an uploaded .csv or .xlsx file, all or none (qmd, ops, pm, admin)."""
    from handlers.indicators import parse_values, record_values

    from .customers import upload_table

    rows = parse_values(upload_table(name, content))
    with acting(engine, caller, "indicator.record") as act:
        return record_values(act.session, rows, now=act.now, actor=act.actor)


def indicators_page(engine: Engine, caller: Caller, year: int | None = None) -> dict[str, Any]:
    """The indicators as their page lists them: each definition with its attainment in `year` (this year unless
    said), and whether the caller may define indicators and record values."""
    from handlers.indicators import list_indicators
    from handlers.reviews import attainment_of_year

    from .base import may
    from .customers import this_year

    year = year or this_year(engine)
    with reading(engine) as session:
        definitions = list_indicators(session)
        attained = {row["code"]: row for row in attainment_of_year(session, year)}
    rows = [{**d, **{key: attained.get(d["code"], {}).get(key) for key in ("actual", "attainment", "basis")}}
            for d in definitions]
    return {"year": year, "rows": rows, "may_define": may(engine, caller, "indicator.define"),
            "may_record": may(engine, caller, "indicator.record")}


def indicator_page(engine: Engine, caller: Caller, code: str) -> dict[str, Any]:
    """One indicator: its definition, every value recorded (by period and scope) and whether it met its target,
    its attainment year by year, and whether the caller may record values."""
    from handlers.indicators import list_indicators, list_values
    from handlers.reviews import attainment_of_year

    from .base import may

    with reading(engine) as session:
        found = next((row for row in list_indicators(session) if row["code"] == code), None)
        if found is None:
            raise OpsqaError(_("no indicator {code}; see the indicators").format(code=code[:40]))
        recorded = list_values(session, indicator=code)
        years = sorted({int(v["period"][:4]) for v in recorded}, reverse=True)
        yearly = [{"year": year, **next(row for row in attainment_of_year(session, year) if row["code"] == code)}
                  for year in years]
    return {**found, "values": recorded, "years": yearly, "may_record": may(engine, caller, "indicator.record")}


def period_values(engine: Engine, caller: Caller, period: str | None = None) -> dict[str, Any]:
    """Every indicator's organisation-wide value for one period (2027-03, 2027-Q1, 2027; the month before this
    one unless said), as the grid that enters them shows them: definition, the value recorded so far and its
    attainment; and whether the caller may record values (`set_values` enters them, all or none)."""
    from engine.settings import zone
    from handlers.indicators import ORG, check_period
    from store import Indicator, IndicatorValue

    from .base import may

    with reading(engine) as session:
        if not period:
            today = engine.clock.now().astimezone(zone(session)).date()
            period = f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"
        period = check_period(period)
        rows = []
        for indicator in session.query(Indicator).filter(Indicator.active.is_(True)).order_by(Indicator.code):
            recorded = session.query(IndicatorValue).filter_by(indicator=indicator.code, period=period,
                                                               scope=ORG).first()
            rows.append({"key": f"{indicator.code}@{period}", "code": indicator.code, "name": indicator.name,
                         "unit": indicator.unit, "target": indicator.target, "direction": indicator.direction,
                         "cycle": indicator.cycle, "source": indicator.source,
                         "value": recorded.value if recorded else None,
                         "attainment": recorded.attainment if recorded else None})
    return {"period": period, "rows": rows, "may_record": may(engine, caller, "indicator.record")}


def improvement_page(engine: Engine, caller: Caller, year: int | None = None) -> dict[str, Any]:
    """A year's improvement plan as its page shows it (the latest year with items unless said, else this year):
    its items, the years that have items, the year's management review in brief (None when there is none), and
    whether the caller may set items."""
    from sqlalchemy import select

    from handlers.improvement import list_items
    from handlers.reviews import get_review, review_view
    from store import ImprovementItem

    from .base import may
    from .customers import this_year

    with reading(engine) as session:
        years = sorted(session.scalars(select(ImprovementItem.year).distinct()), reverse=True)
    year = year or (years[0] if years else this_year(engine))
    with reading(engine) as session:
        items = list_items(session, year)
        try:
            held = review_view(get_review(session, year))
        except OpsqaError:  # no review of that year yet
            held = None
    summary = held and {key: held[key] for key in ("year", "status", "review_date", "attendees", "decisions",
                                                    "reported_at")}
    return {"year": year, "years": years, "items": items, "review": summary,
            "may_set": may(engine, caller, "improvement.set")}
