"""Time in BPMN: SpiffWorkflow's timers on our clock, due times, and calendar schedules.

SpiffWorkflow reads `datetime.now` inside its timer module; `use_clock` points that module at
an opsqa `Clock`, so tests and `opsqa simulate` move time without sleeping. The clock is held in a
context variable: threads (the web face's requests, the scheduler's workers) each see their own
engine's clock, never another's. Calendar cycles
(the yearly cycle, monthly deadlines) are not left to SpiffWorkflow's cycle timers, which
turn `P1Y` into a fixed number of seconds and drift: fire n is `start + n * step`, computed
with `relativedelta` from the original start in the organisation's time zone.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from dateutil.relativedelta import relativedelta

from i18n import _

from .clock import Clock, SystemClock

_SYSTEM = SystemClock()
_clock: ContextVar[Clock] = ContextVar("opsqa_timer_clock", default=_SYSTEM)
_ahead: ContextVar[timedelta] = ContextVar("opsqa_timer_ahead", default=timedelta(0))


class _ClockDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None):
        value = _clock.get().now() + _ahead.get()
        return value.astimezone(tz) if tz is not None else value.astimezone().replace(tzinfo=None)

    @classmethod
    def utcnow(cls):
        return (_clock.get().now() + _ahead.get()).replace(tzinfo=None)


def use_clock(clock: Clock) -> None:
    """Make SpiffWorkflow's timers read `clock` in this context (the runtime calls this before every step)."""
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    _clock.set(clock)
    timer.datetime = _ClockDatetime


def refresh_due(workflow) -> None:
    """Fire the workflow's timers due by now, a timer due at T included.

    SpiffWorkflow fires a timer only once `due < now`; for this refresh the clock it reads is a
    microsecond ahead. Only the refresh sees that: timers armed by the steps that follow start
    from the exact time.
    """
    token = _ahead.set(timedelta(microseconds=1))
    try:
        workflow.refresh_timers()
    finally:
        _ahead.reset(token)


# -- timers of running instances -------------------------------------------------------------


def parse_when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else None
    return None


def waiting_timers(workflow) -> list[tuple[Any, datetime]]:
    """(task, due time) of every armed timer of the workflow."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    timers = []
    workflow = workflow.top_workflow  # the top workflow's event manager holds its subprocesses' timers too
    for task in list(workflow.event_manager.tasks.values()):
        if not isinstance(task.task_spec.event_definition, TimerEventDefinition):
            continue
        details = task.task_spec.event_definition.details(task)
        when = parse_when(details.value)
        if when is not None:
            timers.append((task, when))
    return timers


def next_due(workflow) -> datetime | None:
    times = [when for _, when in waiting_timers(workflow)]
    return min(times) if times else None


# -- checking timer values at deploy ---------------------------------------------------------

# Bounds a timer must keep so that one diagram cannot stall the scheduler for everyone: dates in a sane
# calendar window, steps longer than zero, cycles no faster than hourly, durations that fit, few repeats.
YEAR_MIN, YEAR_MAX = 2000, 2100
MAX_DURATION_YEARS = 100
MIN_CYCLE_SECONDS = 3600
MAX_REPEATS = 1000
MAX_FIRES_AT_ONCE = 10_000  # fires of one schedule due in one tick (after years down, an hourly cycle)
_UNIT_SECONDS = {"years": 365.25 * 86400, "months": 30.44 * 86400, "weeks": 7 * 86400, "days": 86400,
                 "hours": 3600, "minutes": 60, "seconds": 1}


def _duration(value: str, bounded: bool = True) -> float:
    """A duration's length in seconds (months and years approximately), checked to be positive and to fit."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as T

    parts = T.parse_iso_duration(value)
    seconds = sum(_UNIT_SECONDS.get(unit, 0) * amount for unit, amount in parts.items())
    if seconds <= 0:
        raise ValueError(_("duration {value!r} must be longer than zero").format(value=value))
    if bounded and seconds > MAX_DURATION_YEARS * _UNIT_SECONDS["years"]:
        raise ValueError(_("duration {value!r} is longer than {years} years").format(
                             value=value, years=MAX_DURATION_YEARS))
    return seconds


def check_literal(kind: str, text: str, *, start_event: bool = False, bounded: bool = True) -> None:
    """Raise ValueError (with a message for people) if a literal timer value is unusable. `bounded`: also
    outside the deploy-time bounds (calendar window, durations, repetitions, cycle period)."""
    value = text.strip()
    try:
        if kind == "timeDuration":
            if not value.upper().startswith("P"):
                raise ValueError(_("timeDuration {value!r} is not an ISO 8601 duration such as P14D or PT4H").format(
                                     value=value))
            _duration(value, bounded)
        elif kind == "timeDate":
            _check_datetime(value, bounded)
        else:  # timeCycle
            parts = value.upper().split("/")
            if len(parts) not in (2, 3) or not parts[0].startswith("R"):
                raise ValueError(_("timeCycle {value!r} is not R[n]/[start/]duration, e.g. R3/P7D").format(value=value))
            if not parts[0][1:].isdigit() and parts[0] != "R":
                raise ValueError(_("timeCycle {value!r}: the repetitions R[n] must be a number").format(value=value))
            if bounded and parts[0][1:] and not 0 < int(parts[0][1:]) <= MAX_REPEATS:
                raise ValueError(_("timeCycle {value!r}: repetitions must be between 1 and {max_repeats}").format(
                                     value=value, max_repeats=MAX_REPEATS))
            if len(parts) == 3:
                _check_datetime(value.split("/")[1], bounded)
                if not parts[2].startswith("P"):
                    raise ValueError(_("timeCycle {value!r}: give R[n]/start/duration; an end date is not "
                                       "supported").format(value=value))
            elif start_event:
                raise ValueError(_("timeCycle {value!r} of a start event needs a start date, e.g. "
                                   "R/2027-01-01T09:00:00+08:00/P1Y").format(value=value))
            if _duration(parts[-1], bounded) < MIN_CYCLE_SECONDS and bounded:
                raise ValueError(_("timeCycle {value!r}: the step must be at least one hour").format(value=value))
    except ValueError:
        raise
    except Exception:
        raise ValueError(_("{kind} {value!r} does not parse as ISO 8601").format(kind=kind, value=value)) from None


def _check_datetime(value: str, bounded: bool = True) -> None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(_("{value!r} is not an ISO 8601 date and time, e.g. 2027-03-31T18:00:00+08:00").format(
                             value=value)) from None
    if parsed.tzinfo is None:
        raise ValueError(_("{value!r} has no time-zone offset; write it as e.g. {value}+08:00").format(value=value))
    if bounded and not YEAR_MIN <= parsed.year <= YEAR_MAX:
        raise ValueError(_("{value!r} is outside the years {year_min} to {year_max}").format(
                             value=value, year_min=YEAR_MIN, year_max=YEAR_MAX))


# -- schedules: calendar cycles computed by us -----------------------------------------------


@dataclass(frozen=True)
class Cycle:
    """A timer start event's rule: the first fire, the step between fires, how many fires."""

    first: datetime  # aware, in the organisation's zone
    step: dict[str, int] | None  # relativedelta arguments; None for a single timeDate
    repeats: int | None  # None: for ever

    def fire(self, n: int) -> datetime:
        if self.step is None:
            return self.first
        return self.first + relativedelta(**{k: v * n for k, v in self.step.items()})

    def _near(self, after: datetime | None) -> int:
        """A fire number at or before the first fire after `after`, found without walking from the first
        (an hourly cycle from 2000 would take a quarter of a million steps every tick)."""
        if self.step is None or after is None or after <= self.first:
            return 0
        seconds = sum(_UNIT_SECONDS.get(unit, 0) * amount for unit, amount in self.step.items())
        if seconds <= 0:
            raise ValueError(_("the step must be longer than zero"))
        n = max(0, int((after - self.first).total_seconds() / seconds) - 2)
        while n > 0 and self.fire(n) > after:
            n = max(0, n - max(1, n // 100))
        return n

    def fires_between(self, after: datetime | None, until: datetime) -> list[datetime]:
        """Fire times t with after < t <= until (after None: from the first)."""
        times, n = [], self._near(after)
        limit = 1 if self.step is None else self.repeats
        while limit is None or n < limit:
            when = self.fire(n)
            if when > until:
                break
            if after is None or when > after:
                times.append(when)
                if len(times) > MAX_FIRES_AT_ONCE:
                    raise ValueError(_("more than {max_fires} fires are due at once").format(
                                         max_fires=MAX_FIRES_AT_ONCE))
            n += 1
        return times

    def next_fires(self, after: datetime, count: int) -> list[datetime]:
        times, n = [], self._near(after)
        limit = 1 if self.step is None else self.repeats
        stop = n + 100_000
        while (limit is None or n < limit) and len(times) < count and n < stop:
            when = self.fire(n)
            if when > after:
                times.append(when)
            n += 1
        return times

    def period(self, when: datetime, zone: tzinfo) -> str:
        """The period a fire stands for, from its local time: 2027, 2027-03, 2027-Q1, 2027-W05, 2027-03-01."""
        local = when.astimezone(zone)
        step = self.step or {}
        if step == {"years": 1}:
            return f"{local:%Y}"
        if step == {"months": 3}:
            return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
        if step == {"months": 1}:
            return f"{local:%Y-%m}"
        if step == {"days": 7}:
            year, week, _weekday = local.isocalendar()
            return f"{year}-W{week:02d}"
        if step == {"days": 1}:
            return f"{local:%Y-%m-%d}"
        return local.strftime("%Y-%m-%dT%H:%M")


def parse_cycle(kind: str, text: str, zone: tzinfo) -> Cycle:
    """A timer start event's value -> Cycle. Raises ValueError for people."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as T

    # Bounds are deploy-time: a schedule stored before them keeps its meaning (it is not refused on every tick).
    check_literal(kind, text, start_event=True, bounded=False)
    value = text.strip()
    if kind == "timeDate":
        return Cycle(datetime.fromisoformat(value).astimezone(zone), None, 1)
    if kind == "timeDuration":
        raise ValueError(_("a start event needs a timeCycle (R/start/step) or a timeDate, not a timeDuration"))
    count, start, duration = value.split("/")
    duration_parts = T.parse_iso_duration(duration)
    step: dict[str, int] = {}
    for unit, amount in duration_parts.items():
        if isinstance(amount, float) and not amount.is_integer():
            raise ValueError(_("timeCycle {value!r}: fractional {unit} are not supported").format(
                                 value=value, unit=unit))
        if unit == "weeks":
            step["days"] = step.get("days", 0) + 7 * int(amount)
        else:
            step[unit] = step.get(unit, 0) + int(amount)
    if not any(step.values()):
        raise ValueError(_("timeCycle {value!r}: the step must be longer than zero").format(value=value))
    repeats = int(count[1:]) if count[1:] else None
    return Cycle(datetime.fromisoformat(start).astimezone(zone), step, repeats)
