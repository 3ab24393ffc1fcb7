"""Quality indicators (6.1.2 e, 4.4): definitions with targets, values per period, attainment.

A value is for a period — a month (2027-03), a quarter (2027-Q1) or a year (2027) — and for the
whole organisation (scope '*') or one project. The year's attainment of an indicator is its
yearly value if one was recorded, else the mean (or the latest) of the year's organisation-wide
values; an indicator taken from the satisfaction survey uses the survey's overall mean. With no
value at all it is `not_measured`, never met.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Actor, HandlerContext, OpsqaError, settings
from i18n import _
from store import Indicator, IndicatorValue, Project, append_event

from . import handler, registry
from .tabular import Table

DIRECTIONS = ("higher_better", "lower_better")
SIGN = {"higher_better": "≥", "lower_better": "≤"}  # how a target reads: ≥95%, ≤4.0h
CYCLES = ("monthly", "quarterly", "yearly")
RULES = ("mean", "latest")
ORG = "*"
_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{2})|Q(?P<quarter>[1-4])))?$")
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,19}$")


# How the documents read a unit, a target and the basis of a year's value (handlers/reports.py): the definition
# keeps the unit as typed (h, %, 分) and `yearly` its basis in English; a unit not listed reads as typed.
UNIT_ZH = {"h": "小时", "hr": "小时", "hrs": "小时", "hour": "小时", "hours": "小时", "min": "分钟",
           "mins": "分钟", "minute": "分钟", "minutes": "分钟", "s": "秒", "sec": "秒", "d": "天", "day": "天",
           "days": "天", "times": "次", "pts": "分", "points": "分", "score": "分"}
SYMBOLS = ("%", "‰", "℃", "°")  # units written close to the number
BASIS_ZH = {"yearly value": "年度值", "satisfaction survey": "满意度调查总体平均分", "no value": "无数据"}
RULE_ZH = {"mean": "{n} 个值的平均值", "latest": "{n} 个值中的最新值"}
_RULE_BASIS = re.compile(r"^(?P<rule>\w+) of (?P<n>\d+) values$")


def quantity_zh(value: float | None, unit: str) -> str | None:
    """A number with its unit as a document reads it: 95.0%, 4.0 小时; no number, nothing."""
    if value is None:
        return None
    shown = UNIT_ZH.get(unit.strip().lower(), unit.strip())
    if not shown or shown.startswith(SYMBOLS):
        return f"{value}{shown}"
    return f"{value} {shown}"


def target_zh(direction: str, target: float, unit: str) -> str:
    """A target with its direction: ≥95.0%, ≤4.0 小时."""
    return f"{SIGN.get(direction, '')}{quantity_zh(target, unit)}"


def basis_zh(basis: str) -> str:
    """What a year's value was taken from (`yearly`'s basis, also as frozen in a review's inputs), in words."""
    match = _RULE_BASIS.match(basis)
    if match and match["rule"] in RULE_ZH:
        return RULE_ZH[match["rule"]].format(n=match["n"])
    return BASIS_ZH.get(basis, basis)


def attainment(indicator: Indicator, value: float) -> str:
    met = value >= indicator.target if indicator.direction == "higher_better" else value <= indicator.target
    return "met" if met else "unmet"


def check_period(text: str) -> str:
    """A period as stored. A month's first day (2027-03-01) is that month: a spreadsheet turns a typed
    2027-03 into the date of its first day."""
    text = text.strip()
    if len(text) == 10 and text.endswith("-01") and _PERIOD.match(text[:7]):
        text = text[:7]
    match = _PERIOD.match(text)
    if not match or (match["month"] and not 1 <= int(match["month"]) <= 12):
        raise OpsqaError(_("period {text!r} is not a month (2027-03), a quarter (2027-Q1) or a year (2027)").format(
                             text=text))
    return text.strip()


def define(session: Session, *, code: str, name: str, unit: str, direction: str, target: float, cycle: str,
           yearly_rule: str = "mean", source: str | None = None, now: datetime, actor: Actor) -> str:
    """Add or change an indicator definition; returns 'added', 'updated' or 'unchanged'. Who may:
    engine/policy.py, indicator.define."""
    if not _CODE.match(code):
        raise OpsqaError(_("code {code!r}: a letter, then letters, digits, _ or -, at most 20").format(code=code))
    for label, value, allowed in (("direction", direction, DIRECTIONS), ("cycle", cycle, CYCLES),
                                  ("yearly_rule", yearly_rule, RULES)):
        if value not in allowed:
            raise OpsqaError(_("{label} {value!r} is not one of {allowed}").format(
                                 label=label, value=value, allowed=', '.join(allowed)))
    if source not in (None, "survey"):
        raise OpsqaError(_("source {source!r}: only 'survey' (the satisfaction survey's overall mean) is known").format(
                             source=source))
    if not name.strip():
        raise OpsqaError(_("name: a value is required"))
    if not math.isfinite(float(target)):
        raise OpsqaError(_("target {target!r} is not a number").format(target=str(target)))
    fields = {"name": name.strip(), "unit": unit, "direction": direction, "target": float(target), "cycle": cycle,
              "yearly_rule": yearly_rule, "source": source}
    row = session.get(Indicator, code)
    if row is not None and all(getattr(row, k) == v for k, v in fields.items()) and row.active:
        return "unchanged"
    outcome = "added" if row is None else "updated"
    if row is None:
        row = Indicator(code=code, active=True, created_at=now, updated_at=now, updated_by=actor.name, **fields)
        session.add(row)
    else:
        for key, value in fields.items():
            setattr(row, key, value)
        row.active, row.updated_at, row.updated_by = True, now, actor.name
    append_event(session, at=now, kind=f"indicator.{outcome}", actor=actor.name, real_actor=actor.real,
                 payload={"indicator": code, **fields})
    return outcome


def list_indicators(session: Session) -> list[dict[str, Any]]:
    return [{"code": i.code, "name": i.name, "unit": i.unit, "direction": i.direction, "target": i.target,
             "cycle": i.cycle, "yearly_rule": i.yearly_rule, "source": i.source}
            for i in session.scalars(select(Indicator).where(Indicator.active.is_(True)).order_by(Indicator.code))]


@dataclass(frozen=True)
class ValueRow:
    indicator: str
    period: str
    value: float
    scope: str
    where: str


def parse_values(table: Table) -> list[ValueRow]:
    """A table with columns indicator, period, value[, project]; a bad row is named by its line or row."""
    table.require(["indicator", "period", "value"], " (indicator,period,value[,project])")
    rows = []
    for where, record in table.rows:
        try:
            value = float(record["value"])
        except ValueError:
            raise OpsqaError(_("{where}value {value!r} is not a number").format(
                                 where=where, value=record['value'])) from None
        try:
            period = check_period(record["period"])
        except OpsqaError as exc:
            raise OpsqaError(f"{where}{exc}") from None
        rows.append(ValueRow(record["indicator"], period, value, record.get("project") or ORG, where))
    return rows


def record_values(session: Session, rows: list[ValueRow], *, now: datetime, actor: Actor,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """Record values, all or none; the same value again changes nothing, a new one corrects it (kept in
    the history with the value before). `progress(done, total)` as each row is taken. Who may:
    engine/policy.py, indicator.record."""
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for done, row in enumerate(rows, start=1):
        if progress:
            progress(done, len(rows))
        if not math.isfinite(row.value):  # float() takes "nan" and "inf"; no attainment can be judged on them
            raise OpsqaError(_("{where}value {value!r} is not a number").format(where=row.where, value=str(row.value)))
        indicator = session.get(Indicator, row.indicator)
        if indicator is None or not indicator.active:
            raise OpsqaError(_("{where}unknown indicator {indicator!r}; see `opsqa indicators list`").format(
                                 where=row.where, indicator=row.indicator))
        if row.scope != ORG and session.get(Project, row.scope) is None:
            raise OpsqaError(_("{where}unknown project code {scope!r}").format(where=row.where, scope=row.scope))
        existing = session.scalar(select(IndicatorValue).where(
            IndicatorValue.indicator == row.indicator, IndicatorValue.period == row.period,
            IndicatorValue.scope == row.scope))
        if existing is not None and existing.value == row.value:
            counts["unchanged"] += 1
            continue
        before = None if existing is None else existing.value
        if existing is None:
            existing = IndicatorValue(indicator=row.indicator, period=row.period, scope=row.scope, value=row.value,
                                      attainment="", collected_by=actor.name, collected_at=now)
            session.add(existing)
            counts["added"] += 1
        else:
            counts["updated"] += 1
        existing.value, existing.attainment = row.value, attainment(indicator, row.value)
        existing.source = row.where.rstrip(": ")
        existing.collected_by, existing.collected_at = actor.name, now
        append_event(session, at=now, kind="indicator.value_recorded", actor=actor.name, real_actor=actor.real,
                     payload={"indicator": row.indicator, "period": row.period, "scope": row.scope,
                              "value": row.value, "before": before, "attainment": existing.attainment})
    session.flush()
    return counts


def list_values(session: Session, *, year: int | None = None, indicator: str | None = None) -> list[dict[str, Any]]:
    query = select(IndicatorValue).order_by(IndicatorValue.indicator, IndicatorValue.period, IndicatorValue.scope)
    if year is not None:
        query = query.where(IndicatorValue.period.like(f"{year}%"))
    if indicator:
        query = query.where(IndicatorValue.indicator == indicator)
    return [{"indicator": v.indicator, "period": v.period, "scope": v.scope, "value": v.value,
             "attainment": v.attainment, "collected_by": v.collected_by, "collected_at": v.collected_at}
            for v in session.scalars(query)]


def yearly(session: Session, year: int, *, survey_mean: float | None = None) -> list[dict[str, Any]]:
    """Each indicator's attainment for the year: target, actual, met | unmet | not_measured."""
    results = []
    for indicator in session.scalars(select(Indicator).where(Indicator.active.is_(True)).order_by(Indicator.code)):
        values = session.scalars(select(IndicatorValue).where(
            IndicatorValue.indicator == indicator.code, IndicatorValue.scope == ORG,
            IndicatorValue.period.like(f"{year}%")).order_by(IndicatorValue.period)).all()
        whole_year = [v for v in values if v.period == str(year)]
        if whole_year:
            actual, basis = whole_year[0].value, "yearly value"
        elif indicator.source == "survey" and survey_mean is not None:
            actual, basis = survey_mean, "satisfaction survey"
        elif values:
            numbers = [v.value for v in values]
            actual = numbers[-1] if indicator.yearly_rule == "latest" else round(sum(numbers) / len(numbers), 4)
            basis = f"{indicator.yearly_rule} of {len(numbers)} values"
        else:
            actual, basis = None, "no value"
        status = "not_measured" if actual is None else attainment(indicator, actual)
        results.append({"code": indicator.code, "name": indicator.name, "unit": indicator.unit,
                        "direction": indicator.direction, "target": indicator.target, "actual": actual,
                        "attainment": status, "basis": basis})
    return results


# -- the kpi_collection process's steps -------------------------------------------------------


def due_periods(fired_period: str) -> list[tuple[str, str, date]]:
    """The (cycle, period, period start) triples that end with the month before `fired_period` (2028-01)."""
    year, month = int(fired_period[:4]), int(fired_period[5:7])
    year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    due = [("monthly", f"{year}-{month:02d}", date(year, month, 1))]
    if month % 3 == 0:
        due.append(("quarterly", f"{year}-Q{month // 3}", date(year, month - 2, 1)))
    if month == 12:
        due.append(("yearly", str(year), date(year, 1, 1)))
    return due


def _due(context: HandlerContext) -> list[tuple[str, str]]:
    """The (indicator, period) values this collection asks for: periods that end now, and that began
    after the indicator was defined (nobody measured what was not yet an indicator)."""
    fired = str(context.variables.get("period") or context.business_key or "")
    if not re.match(r"^\d{4}-\d{2}$", fired):
        raise OpsqaError(_("the collection names no month (variable period, e.g. 2028-01): {fired!r}").format(
                             fired=fired))
    periods = {cycle: (period, start) for cycle, period, start in due_periods(fired)}
    zone = settings.zone(context.session)
    due = []
    for indicator in context.session.scalars(select(Indicator).where(
            Indicator.active.is_(True), Indicator.source.is_(None)).order_by(Indicator.code)):
        if indicator.cycle in periods:
            period, start = periods[indicator.cycle]
            if start >= indicator.created_at.astimezone(zone).date():
                due.append((indicator.code, period))
    return due


@handler("kpi.open")
def open_collection(context: HandlerContext) -> dict:
    due = _due(context)
    append_event(context.session, at=context.now, kind="kpi.collection_opened", actor=context.actor,
                 instance_id=context.instance_id, payload={"due": [f"{code}@{period}" for code, period in due]})
    return {"indicators_due": len(due), "due": [f"{code}@{period}" for code, period in due]}


@registry.check("kpi.values_complete")
def values_complete(context: HandlerContext) -> None:
    missing = [f"{code}@{period}" for code, period in _due(context) if context.session.scalar(
        select(IndicatorValue.id).where(IndicatorValue.indicator == code, IndicatorValue.period == period,
                                        IndicatorValue.scope == ORG)) is None]
    if missing:
        raise ValueError(_("no organisation-wide value yet for {missing}; `opsqa indicators import`").format(
                             missing=', '.join(missing)))


@handler("kpi.evaluate")
def evaluate(context: HandlerContext) -> dict:
    missed = []
    for code, period in _due(context):
        value = context.session.scalar(select(IndicatorValue).where(
            IndicatorValue.indicator == code, IndicatorValue.period == period, IndicatorValue.scope == ORG))
        if value is not None and value.attainment == "unmet":
            missed.append({"indicator": code, "period": period, "value": value.value})
    for miss in missed:
        append_event(context.session, at=context.now, kind="kpi.missed", actor=context.actor,
                     instance_id=context.instance_id, payload=miss)
    return {"missed": len(missed)}
