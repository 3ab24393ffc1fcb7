"""The organisation's settings that the seed leaves open, with defaults; changes go to the history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from i18n import N_, _
from store import Setting, append_event

from . import policy
from .clock import DEFAULT_ZONE
from .errors import OpsqaError
from .users import Actor


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(_("{value!r} is not a time zone name such as Asia/Shanghai").format(value=value)) from None
    return value


def _policy(value: str) -> str:
    if value not in ("all", "latest"):
        raise ValueError(_("catch-up policy is all (every missed period) or latest (only the newest)"))
    return value


def _whole(unit: str, most: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value.isdigit() or not 0 <= int(value) <= most:
            raise ValueError(_("{value!r} is not a whole number of {unit} (0 to {most})").format(
                                 value=value, unit=_(unit), most=most))
        return str(int(value))

    return check


def _runs(value: str) -> list[tuple[date, date]]:
    """Days and runs of days, comma-separated (2027-10-01..2027-10-07, 2027-01-01): (first, last) each."""
    runs = []
    for item in (part.strip() for part in value.replace("，", ",").split(",")):
        if not item:
            continue
        first, dots, last = (half.strip() for half in item.partition(".."))
        try:
            start = date.fromisoformat(first)
            end = date.fromisoformat(last) if dots else start
        except ValueError:
            raise ValueError(_("{item!r} is not a day (2027-10-01) or a run of days (2027-10-01..2027-10-07)").format(
                                 item=item)) from None
        if not start <= end <= start + timedelta(days=366):
            raise ValueError(_("{item!r}: a run of days goes forward, at most a year").format(item=item))
        runs.append((start, end))
    return runs


def _dates(value: str) -> str:
    """A days setting as stored: its runs sorted, without repeats."""
    return ", ".join(f"{start}..{end}" if end != start else f"{start}" for start, end in sorted(set(_runs(value))))


def _switch(value: str) -> str:
    if value not in ("on", "off"):
        raise ValueError(_("{value!r} is not on or off").format(value=value))
    return value


def _base_url(value: str) -> str:
    from urllib.parse import urlsplit

    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if value and (parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment
                  or any(c.isspace() or ord(c) < 32 for c in value)):
        raise ValueError(_("{value!r} is not the address of the web face, e.g. https://qa.example.com").format(
                             value=value[:200]))
    return value


def _time_of_day(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    try:
        return datetime.strptime(value, "%H:%M").strftime("%H:%M")
    except ValueError:
        raise ValueError(_("{value!r} is not a time of day such as 08:30").format(value=value[:40])) from None


# Settings an older opsqa had, and where they went.
MOVED = {key: N_("{key} is now part of the e-mail channel: opsqa channels add email --kind email --host HOST "
                 "--port PORT --from ADDRESS") for key in ("smtp_host", "smtp_port", "smtp_from")}


_days = _whole(N_("days"), 3650)
_hours = _whole(N_("hours"), 8760)


# key -> (default, description, check)
SETTINGS: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "timezone": (DEFAULT_ZONE, N_("the organisation's time zone: periods and deadlines are local to it"), _zone),
    "catch_up_policy": ("all", N_("what the scheduler fires for periods missed while it was down: all | latest"),
                        _policy),
    "finding_due_days": ("30", N_("a finding is due this many days after it is raised"), _days),
    "finding_remind_days": ("3", N_("the owner is reminded this many days before a finding's due date"), _days),
    "finding_escalate_days": ("7", N_("an overdue finding goes to the management representative this many days "
                                 "after its due date"), _days),
    "complaint_ack_hours": ("24", N_("a complaint is to be acknowledged (assessed) within this many hours"), _hours),
    "complaint_resolve_working_days": ("3", N_("a general complaint is resolved within this many working days, "
                                          "else escalated to the operations general manager"), _days),
    "survey_decision_days": ("3", N_("a survey that closes without answers is to be extended or closed without data "
                                    "(qmd) within this many days"), _days),
    "holidays": ("", N_("public holidays, not working days: days and runs of days (2027-10-01..2027-10-07)"),
                 _dates),
    "workdays": ("", N_("weekend days that are working days (调休), e.g. 2027-09-26"), _dates),
    "base_url": ("", N_("the web face's address, for the link to a task in messages (https://qa.example.com; empty: "
                        "no link)"), _base_url),
    "scheduler_alert_minutes": ("30", N_("admin and qmd are told when the scheduler has not passed for this many "
                                         "minutes (0: never)"), _whole(N_("minutes"), 10080)),
    "digest_time": ("08:30", N_("when each person's morning digest of open tasks is sent, local time (empty: none)"),
                    _time_of_day),
    "report_remind_days": ("2", N_("a project manager is reminded this many days before an O&M report is due"), _days),
    "web_idle_minutes": ("30", N_("a web session that does nothing for this many minutes is signed out"),
                         _whole(N_("minutes"), 1440)),
    "max_text_length": ("10000", N_("a text field of a form holds at most this many characters, unless the form sets "
                                    "its own maximum"), _whole(N_("characters"), 1_000_000)),
    "web_admin_totp": ("off", N_("on: administrators sign in to the web with a one-time code too (opsqa users totp)"),
                       _switch),
    "checkpoint_minutes": ("60", N_("the service signs a checkpoint of the history at most this many minutes after "
                                    "a change (at once after a milestone)"), _whole(N_("minutes"), 10080)),
}


def get(session: Session, key: str) -> str:
    row = session.get(Setting, key)
    return row.value if row is not None else SETTINGS[key][0]


def zone(session: Session) -> ZoneInfo:
    return ZoneInfo(get(session, "timezone"))


# Not a setting people change: the stamp of a database made by `opsqa simulate`, holding where its simulated
# clock stands. Such a database never delivers a message, and every command opened on it runs on that
# clock (DESIGN.md, "Real time and simulated time never mix").
SIMULATED_CLOCK = "simulated_clock"


def simulated_time(session: Session) -> datetime | None:
    """Where a simulated database's clock stands; None for a real database."""
    row = session.get(Setting, SIMULATED_CLOCK)
    return datetime.fromisoformat(row.value) if row is not None else None


def stamp_simulated(session: Session, when: datetime, *, by: str) -> None:
    """Mark the database simulated, its clock at `when` (a simulated clock never goes back)."""
    row = session.get(Setting, SIMULATED_CLOCK)
    if row is None:
        session.add(Setting(key=SIMULATED_CLOCK, value=when.isoformat(), updated_at=when, updated_by=by))
    elif when > datetime.fromisoformat(row.value):
        row.value, row.updated_at, row.updated_by = when.isoformat(), when, by


def days(session: Session, key: str) -> frozenset[date]:
    """Every day a days setting (holidays, workdays) names."""
    return frozenset(start + timedelta(days=n) for start, end in _runs(get(session, key))
                     for n in range((end - start).days + 1))


def all_settings(session: Session) -> list[dict]:
    stored = {row.key: row for row in session.scalars(select(Setting))}
    return [
        {"key": key, "value": stored[key].value if key in stored else default, "default": default,
         "description": description, "updated_by": stored[key].updated_by if key in stored else None}
        for key, (default, description, _check) in SETTINGS.items()
    ]


def change(session: Session, key: str, value: str, *, now: datetime, actor: Actor, reason: str | None = None) -> None:
    if key in MOVED:
        raise OpsqaError(_(MOVED[key]).format(key=key))
    if key not in SETTINGS:
        raise OpsqaError(_("no setting {key!r}; the settings are {settings}").format(
                             key=key, settings=', '.join(SETTINGS)))
    policy.require(actor, "settings")
    try:
        value = SETTINGS[key][2](value)
    except ValueError as exc:
        raise OpsqaError(_("setting {key}: {exc}").format(key=key, exc=exc)) from None
    row = session.get(Setting, key)
    old = row.value if row is not None else SETTINGS[key][0]
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=now, updated_by=actor.name))
    else:
        row.value, row.updated_at, row.updated_by = value, now, actor.name
    append_event(session, at=now, kind="setting.changed", actor=actor.name, real_actor=actor.real,
                 payload={"key": key, "old": old, "new": value, "reason": reason})
