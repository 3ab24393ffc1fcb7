"""The annual cycle (DOMAIN.md 2.1): the issued plan's dates become the year's timers.

The plan (6.1.2 d, f) names the day the year's internal audit starts and how often the O&M
services are spot-checked; these steps turn them into the moments the cycle's timers wait for.
Work starts at 09:00 local time on the day it is due.
"""

from __future__ import annotations

from datetime import date, datetime, time

from engine import HandlerContext, OpsqaError, settings
from i18n import _
from store import append_event

from . import handler, year_of

WORKDAY_START = time(9)
SPOT_CHECK_MONTHS = {"spot_monthly": 1, "spot_quarterly": 3, "spot_half_yearly": 6}


def _at(context: HandlerContext, day: date) -> datetime:
    return datetime.combine(day, WORKDAY_START, tzinfo=settings.zone(context.session))


def spot_check_slots(year: int, frequency: str) -> list[tuple[date, date]]:
    """The year's spot-check periods as [start, end) dates: every month, quarter or half year."""
    step = SPOT_CHECK_MONTHS.get(frequency)
    if step is None:
        raise OpsqaError(_("spot_check_frequency {frequency!r} is not one of {spot_check_months}").format(
                             frequency=frequency, spot_check_months=', '.join(SPOT_CHECK_MONTHS)))
    starts = [date(year, month, 1) for month in range(1, 13, step)] + [date(year + 1, 1, 1)]
    return list(zip(starts, starts[1:], strict=False))


@handler("cycle.schedule")
def schedule_year(context: HandlerContext) -> dict:
    """Once the plan is issued: when the audit waits until, and where the spot checks start counting."""
    year = year_of(context)
    audit_start = context.variables.get("audit_start")
    if not isinstance(audit_start, date):
        raise OpsqaError(_("the issued plan has no audit start date (audit_start): {audit_start!r}").format(
                             audit_start=audit_start))
    if audit_start.year != year:
        raise OpsqaError(_("the plan's audit start {audit_start} is not in {year}").format(
                             audit_start=audit_start, year=year))
    audit_at = _at(context, audit_start)
    survey_start = context.variables.get("survey_start")
    if not isinstance(survey_start, date) or survey_start.year != year:
        raise OpsqaError(_("the issued plan's survey start (survey_start) is not a date in {year}: "
                           "{survey_start!r}").format(year=year, survey_start=survey_start))
    survey_at = _at(context, survey_start)
    slots = spot_check_slots(year, str(context.variables.get("spot_check_frequency")))
    append_event(context.session, at=context.now, kind="cycle.scheduled", actor=context.actor,
                 instance_id=context.instance_id,
                 payload={"year": year, "audit_at": audit_at.isoformat(), "survey_at": survey_at.isoformat(),
                          "spot_checks": len(slots),
                          "spot_check_frequency": context.variables.get("spot_check_frequency")})
    return {"year": year, "audit_at": audit_at.isoformat(), "survey_at": survey_at.isoformat(), "spot_check_slot": -1}


@handler("cycle.next_spot_check")
def next_spot_check(context: HandlerContext) -> dict:
    """The next spot-check period not yet over: due at its start, or now when the plan came mid-period."""
    year = year_of(context)
    slots = spot_check_slots(year, str(context.variables.get("spot_check_frequency")))
    now_local = context.now.astimezone(settings.zone(context.session))
    last = int(context.variables.get("spot_check_slot", -1))
    for index in range(last + 1, len(slots)):
        start, end = slots[index]
        if _at(context, end) > now_local:
            when = max(_at(context, start), now_local)
            return {"more_spot_checks": True, "spot_check_slot": index, "spot_check_at": when.isoformat()}
    return {"more_spot_checks": False, "spot_check_slot": len(slots)}


@handler("cycle.close")
def close_cycle(context: HandlerContext) -> dict:
    """The improvement plan is approved: the year's cycle is closed; its open items carry over."""
    append_event(context.session, at=context.now, kind="cycle.closed", actor=context.actor,
                 instance_id=context.instance_id, payload={"year": year_of(context)})
    return {}
