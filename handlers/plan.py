"""6.1.2 — the organisational quality plan: recording the plan once the general manager approved it."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

from sqlalchemy import func, select

from engine import HandlerContext, OpsqaError, settings
from engine.errors import DuplicateBusinessKey
from i18n import _
from store import Event, Instance, QualityPlan, Task, append_event

from . import handler, registry

PLAN_FIELDS = ("objectives", "verification", "resources", "audit_schedule", "indicator_cycle", "spot_check_plan")
# what the plan says about the year's dates (6.1.2 d, f): the annual cycle's timers follow them
SCHEDULE_FIELDS = ("audit_start", "survey_start", "spot_check_frequency", "spot_check_sample")
REVISION_KEY = re.compile(r"^(\d{4})-R(\d+)(?:\.\d+)?$")  # a revision's instance: 2027-R2 (2027-R2.2 if tried again)


@handler("plan.issue")
def issue_plan(context: HandlerContext) -> dict:
    """Record the approved plan as issued to the departments (下发各相关部门执行)."""
    variables = context.variables
    missing = [name for name in PLAN_FIELDS if not variables.get(name)]
    if missing:
        raise ValueError(_("the plan lacks {missing}").format(missing=', '.join(missing)))
    if variables.get("decision") != "approved":
        raise ValueError(_("the plan has not been approved by the general manager"))
    issued = context.session.scalars(
        select(QualityPlan).where(QualityPlan.instance_id == context.instance_id)
    ).first()
    if issued is not None:  # a retried step must not issue the plan twice
        return {"plan_id": issued.id, "issued_at": issued.issued_at.isoformat()}
    period = str(variables.get("year") or context.business_key)
    if variables.get("revises") is None:
        other = _issued(context.session, period)
        if other is not None:  # another instance issued the year's plan: a year has one (the database says so too)
            raise OpsqaError(_issued_line(context.session, other))
    approvals = context.session.scalars(
        select(Task).where(Task.instance_id == context.instance_id, Task.bpmn_id == "approve_plan",
                           Task.state == "completed").order_by(Task.completed_at.desc())
    ).all()
    drafts = context.session.scalar(
        select(func.count()).select_from(Task)
        .where(Task.instance_id == context.instance_id, Task.bpmn_id == "draft_plan", Task.state == "completed")
    )
    fields = dict(
        instance_id=context.instance_id,
        period=period,
        **{name: str(variables[name]) for name in PLAN_FIELDS},
        audit_start=variables.get("audit_start"),
        spot_check_frequency=variables.get("spot_check_frequency"),
        spot_check_sample=variables.get("spot_check_sample"),
        revisions=drafts or 1,
        approved_by=approvals[0].completed_by if approvals else None,
        approval_comment=variables.get("comment") or None,
        issued_at=context.now,
        issued_by=context.actor,
    )
    if variables.get("revises") is not None:
        return _issue_revision(context, period, int(variables["revises"]), fields)
    plan = QualityPlan(**fields)
    context.session.add(plan)
    context.session.flush()
    return {"plan_id": plan.id, "issued_at": context.now.isoformat()}


def list_plans(session) -> list[dict]:
    """Every issued plan, every edition of it, as plain data: `status` current (in force) or superseded, and
    `superseded_by_edition` names the edition that replaced it."""
    plans = session.scalars(select(QualityPlan).order_by(QualityPlan.id)).all()
    editions = {plan.id: plan.edition for plan in plans}
    return [{**{column.key: getattr(plan, column.key) for column in QualityPlan.__table__.columns},
             "status": "current" if plan.superseded_at is None else "superseded",
             "superseded_by_edition": editions.get(plan.superseded_by)} for plan in plans]


def plan_history(session, year: int) -> dict:
    """The year's plan as it was drafted and decided, edition by edition (the plan first issued, then each
    revision): every version (draft) with its values, every approval decision with its comment, and which
    version was issued. Versions are never edited: they are the history's record of each submitted draft.

    `editions` lists them oldest first (status current, superseded, or drafting for a revision, or a first
    plan, not issued yet); the other keys describe the edition in force, else the one being drafted."""
    plans = session.scalars(select(QualityPlan).where(QualityPlan.period == str(year))
                            .order_by(QualityPlan.edition)).all()
    numbers = {plan.id: plan.edition for plan in plans}
    editions = []
    for plan in plans:
        instance = session.get(Instance, plan.instance_id)
        versions, approvals = _drafts(session, plan.instance_id)
        editions.append({
            "edition": plan.edition, "status": "current" if plan.superseded_at is None else "superseded",
            "plan": plan.id, "instance": plan.instance_id, "business_key": instance.business_key if instance else None,
            "versions": versions, "approvals": approvals, "issued_version": plan.revisions, "issued_at": plan.issued_at,
            "superseded_at": plan.superseded_at, "superseded_by_edition": numbers.get(plan.superseded_by),
            "reason": plan.revision_reason})
    if not plans:  # the first plan, drafted and not issued yet: by the annual cycle, or on its own
        instances = session.scalars(select(Instance).where(Instance.business_key == str(year),
                                                           Instance.status != "cancelled").order_by(Instance.id.desc()))
        for instance in instances:
            versions, approvals = _drafts(session, instance.id)
            if versions:
                editions.append(_drafting_edition(1, instance, versions, approvals, None))
                break
    for instance in _revisions(session, str(year), ("running", "error")):
        started = session.scalar(select(Event.payload).where(Event.instance_id == instance.id,
                                                             Event.kind == "plan.revision_started"))
        editions.append(_drafting_edition(int(REVISION_KEY.match(instance.business_key).group(2)), instance,
                                  *_drafts(session, instance.id), json.loads(started or "{}").get("reason")))
    if not editions:
        raise OpsqaError(_("no quality plan has been drafted for {year}").format(year=year))
    shown = next((e for e in editions if e["status"] == "current"), editions[0])
    return {"year": year, "instance": shown["instance"], "versions": shown["versions"], "approvals": shown["approvals"],
            "issued_version": shown["issued_version"], "edition": shown["edition"], "editions": editions}


def _drafting_edition(edition: int, instance: Instance, versions: list, approvals: list, reason: str | None) -> dict:
    return {"edition": edition, "status": "drafting", "plan": None, "instance": instance.id,
            "business_key": instance.business_key, "versions": versions, "approvals": approvals,
            "issued_version": None, "issued_at": None, "superseded_at": None, "superseded_by_edition": None,
            "reason": reason}


def _drafts(session, instance_id: int) -> tuple[list[dict], list[dict]]:
    """An instance's drafts of the plan (its versions, with their values) and the approval decisions on them."""
    events = session.scalars(select(Event).where(Event.instance_id == instance_id, Event.kind == "task.completed")
                             .order_by(Event.id)).all()
    versions, approvals = [], []
    for event in events:
        payload = json.loads(event.payload)
        if payload.get("task") == "draft_plan":
            versions.append({"version": len(versions) + 1, "by": event.actor, "at": event.at,
                             "values": payload.get("values", {})})
        elif payload.get("task") == "approve_plan":
            values = payload.get("values", {})
            approvals.append({"version": len(versions), "by": event.actor, "at": event.at,
                              "decision": values.get("decision"), "comment": values.get("comment")})
    return versions, approvals


# -- one plan a year: whichever way an instance was started (the annual cycle's call activity, a start by
# hand, a scenario's start, a second cycle), the year's plan is made once; a new draft after the general
# manager sent one back is a new version of the same plan, in the same instance.


def _issued(session, period: str) -> QualityPlan | None:
    """The year's plan in force: its latest edition (the ones before are superseded)."""
    return session.scalar(select(QualityPlan).where(QualityPlan.period == period, QualityPlan.superseded_at.is_(None)))


def _issued_line(session, plan: QualityPlan) -> str:
    instance = session.get(Instance, plan.instance_id)
    issued = plan.issued_at.astimezone(settings.zone(session)).date()
    version = (_("edition {edition}, version {version}") if plan.edition > 1 else _("version {version}")).format(
        edition=plan.edition, version=plan.revisions)
    return _("the {year} quality plan is already issued: {version}, approved by {approved_by}, issued "
             "{issued} by {issued_by} in instance {instance} ({process}); its versions and approvals: "
             "`opsqa plan show {year}`; to revise it: `opsqa plan revise {year} --reason ...`").format(
                 year=plan.period, version=version, approved_by=plan.approved_by or "-", issued=issued,
                 issued_by=plan.issued_by, instance=plan.instance_id,
                 process=instance.process_id if instance is not None else "-")


def _drafting(session, year: str, processes: tuple[str, ...]) -> Instance | None:
    """The instance that drafts the year's plan and has not issued it yet: the year's annual cycle or a
    plan started on its own (business key: the year), unless cancelled."""
    return session.scalars(select(Instance).where(Instance.process_id.in_(processes), Instance.business_key == year,
                                                  Instance.status != "cancelled").order_by(Instance.id)).first()


def existing_plan(session, year: int | str, processes: tuple[str, ...] = ("annual_cycle", "quality_plan")
                  ) -> str | None:
    """One line naming the year's plan when it exists — issued, or being drafted by an instance of
    `processes` — and where its versions are; None when the year has none yet."""
    plan = _issued(session, str(year))
    if plan is not None:
        return _issued_line(session, plan)
    drafting = _drafting(session, str(year), processes)
    if drafting is None:
        return None
    return _("the {year} quality plan is being drafted in instance {instance} ({process}, {status}); a new draft "
             "is a new version of that plan, made when the general manager sends it back (`opsqa instance show "
             "{instance}`)").format(year=year, instance=drafting.id, process=drafting.process_id,
                                    status=drafting.status)


def _year(business_key: str | None, variables: dict) -> int | None:
    """The year an instance works for: its `year` variable, else its business key when that is a year."""
    for value in (variables.get("year"), business_key):
        if value is not None and str(value).isdigit() and len(str(value)) == 4:
            return int(value)
    return None


@registry.before_start("quality_plan")
def plan_once(session, *, business_key: str | None, variables: dict) -> None:
    """A plan of its own is refused for a year whose plan is issued or drafted already (by the annual cycle);
    a revision (variables `revises`: the plan in force) starts when no other revision of the year is drafted."""
    year = _year(business_key, variables)
    if year is None:
        return
    if variables.get("revises") is not None:
        refusal = _revision_refusal(session, year, int(variables["revises"]))
        if refusal is not None:
            raise OpsqaError(refusal)
        return
    existing = existing_plan(session, year)
    if existing is not None:
        raise DuplicateBusinessKey(existing)


@registry.before_start("annual_cycle")
def cycle_once(session, *, business_key: str | None, variables: dict) -> None:
    """An annual cycle's business key is its year (so that a year has one cycle), and it does not start for
    a year whose plan was made without it: it would draft a second one."""
    year = _year(business_key, variables)
    if year is None:
        return
    if business_key != str(year):
        raise OpsqaError(_("an annual cycle's business key is its year: {year}, not {key!r}").format(
                             year=year, key=business_key))
    existing = existing_plan(session, year, ("quality_plan",))
    if existing is not None:
        raise DuplicateBusinessKey(_("{existing}; the {year} annual cycle would draft a second one").format(
                                       existing=existing, year=year))


# -- revisions: an issued plan is revised as a new edition of the same plan, drafted by qmd from the edition in
# force and approved again by the general manager (its own `quality_plan` instance, business key YEAR-R<edition>).
# Its issue supersedes the edition before, which stays as it was issued, and the year's annual cycle follows the
# revised dates for what has not happened yet.


def start_revision(session, year: int, *, reason: str, now: datetime, actor, start_instance) -> dict:
    """Start drafting a revision of the year's plan in force; the draft starts from the issued version's values
    (survey_start included), so that qmd changes only what changes. Refused when no plan is in force or a
    revision of the year is being drafted already."""
    refusal = _revision_refusal(session, year, None)
    if refusal is not None:
        raise OpsqaError(refusal)
    current = _issued(session, str(year))
    edition = current.edition + 1
    key = _revision_key(session, year, edition)
    variables = {**_typed(issued_values(session, current)), "year": int(year), "revises": current.id,
                 "revision_reason": reason}
    instance_id = start_instance("quality_plan", key, variables)
    append_event(session, at=now, kind="plan.revision_started", actor=actor.name, instance_id=instance_id,
                 payload={"year": int(year), "plan": current.id, "edition": edition, "reason": reason})
    return {"year": int(year), "plan": current.id, "edition": edition, "instance_id": instance_id,
            "business_key": key}


def issued_values(session, plan: QualityPlan) -> dict:
    """The values of an edition as issued: its issued version's draft (survey_start too, which the table does
    not keep), the recorded columns winning. Dates as YYYY-MM-DD."""
    versions = _drafts(session, plan.instance_id)[0]
    values = dict(versions[min(plan.revisions, len(versions)) - 1]["values"]) if versions else {}
    for name in (*PLAN_FIELDS, "audit_start", "spot_check_frequency", "spot_check_sample"):
        if getattr(plan, name) is not None:
            values[name] = _plain(getattr(plan, name))
    return values


def _revision_refusal(session, year: int, revises: int | None) -> str | None:
    """Why a revision of the year's plan cannot start (None: it can): no plan in force, another one named, or
    a revision of the year being drafted already."""
    current = _issued(session, str(year))
    if current is None:
        drafting = existing_plan(session, year)
        if drafting is not None:
            return _("no issued {year} quality plan to revise yet: {drafting}").format(year=year, drafting=drafting)
        return _("no issued {year} quality plan to revise; a year's plan is drafted by its annual cycle (started by "
                 "its yearly timer, or `opsqa cycle start --year {year}`) and issued once the general manager "
                 "approves it").format(year=year)
    if revises is not None and revises != current.id:
        return _("the {year} quality plan in force is edition {edition} (plan {plan}), not plan {revises}: a "
                 "revision revises the edition in force").format(year=year, edition=current.edition,
                                                                  plan=current.id, revises=revises)
    drafting = _revisions(session, str(year), ("running", "error"))
    if drafting:
        return _("a revision of the {year} quality plan is already being drafted in instance {instance} ({key}, "
                 "{status}): finish it (`opsqa instance show {instance}`) or cancel it (`opsqa instance cancel "
                 "{instance} --reason ...`) before starting another").format(
                     year=year, instance=drafting[0].id, key=drafting[0].business_key, status=drafting[0].status)
    return None


def _revisions(session, year: str, statuses: tuple[str, ...] | None = None) -> list[Instance]:
    """The instances drafting revisions of the year's plan (business keys YEAR-R<edition>), oldest first."""
    found = session.scalars(select(Instance).where(Instance.process_id == "quality_plan",
                                                   Instance.business_key.like(f"{year}-R%")).order_by(Instance.id))
    return [instance for instance in found if REVISION_KEY.match(instance.business_key)
            and (statuses is None or instance.status in statuses)]


def _revision_key(session, year: int, edition: int) -> str:
    """YEAR-R<edition>; a key is never reused, so a revision tried again after one was cancelled is
    YEAR-R<edition>.2, .3..."""
    key, attempt = f"{year}-R{edition}", 1
    taken = set(session.scalars(select(Instance.business_key).where(Instance.process_id == "quality_plan",
                                                                    Instance.business_key.like(f"{key}%"))))
    while key in taken:
        attempt += 1
        key = f"{year}-R{edition}.{attempt}"
    return key


def _plain(value):
    return value.isoformat() if isinstance(value, date) else value


def _typed(values: dict) -> dict:
    """Recorded draft values as the form types them (its dates are dates)."""
    typed = dict(values)
    for name in ("audit_start", "survey_start"):
        if isinstance(typed.get(name), str):
            try:
                typed[name] = date.fromisoformat(typed[name])
            except ValueError:
                pass  # left as recorded: the draft's form says what is wrong with it
    return typed


def _issue_revision(context: HandlerContext, period: str, revises: int, fields: dict) -> dict:
    """Issue a revision: the edition it revises must still be in force; it is superseded, the new edition is
    recorded with what changed, and the year's running annual cycle follows the revised dates."""
    session, variables = context.session, context.variables
    old = session.get(QualityPlan, revises)
    if old is None or old.period != period:
        raise OpsqaError(_("this revision revises plan {plan}, which is not a {year} quality plan").format(
                             plan=revises, year=period))
    if old.superseded_at is not None:
        newer = session.get(QualityPlan, old.superseded_by) if old.superseded_by is not None else None
        raise OpsqaError(_("edition {edition} of the {year} quality plan, which this revision revises, was "
                           "superseded meanwhile by edition {newer} (instance {instance}); cancel this instance and "
                           "revise the plan in force: `opsqa plan revise {year} --reason ...`").format(
                               edition=old.edition, year=period, newer=newer.edition if newer else "-",
                               instance=newer.instance_id if newer else "-"))
    year = int(period)
    audit_at, survey_at = _revised_dates(context, year)
    before = issued_values(session, old)
    changed = {name: {"old": before.get(name), "new": _plain(variables.get(name))}
               for name in (*PLAN_FIELDS, *SCHEDULE_FIELDS) if before.get(name) != _plain(variables.get(name))}
    old.superseded_at = context.now
    session.flush()  # out of the way of the year's one plan in force before the new edition comes in
    plan = QualityPlan(**fields, edition=old.edition + 1, revision_reason=variables.get("revision_reason"))
    session.add(plan)
    session.flush()
    old.superseded_by = plan.id
    session.flush()
    followed = _follow_revision(context, year, plan, before, changed, audit_at, survey_at)
    append_event(session, at=context.now, kind="plan.revised", actor=context.actor, instance_id=context.instance_id,
                 payload={"year": year, "plan": plan.id, "edition": plan.edition, "supersedes": old.id,
                          "reason": plan.revision_reason, "changed": changed, **followed})
    return {"plan_id": plan.id, "issued_at": context.now.isoformat(), "edition": plan.edition}


def _revised_dates(context: HandlerContext, year: int) -> tuple[datetime, datetime]:
    """The revised plan's audit and survey moments, checked as the annual cycle checks a plan's (cycle.schedule)."""
    from .cycle import _at, spot_check_slots

    for name in ("audit_start", "survey_start"):
        value = context.variables.get(name)
        if not isinstance(value, date) or value.year != year:
            raise OpsqaError(_("the revised plan's {field} is not a date in {year}: {value!r}").format(
                                 field=name, year=year, value=value))
    spot_check_slots(year, str(context.variables.get("spot_check_frequency")))  # refuses an unknown frequency
    return _at(context, context.variables["audit_start"]), _at(context, context.variables["survey_start"])


def _follow_revision(context: HandlerContext, year: int, plan: QualityPlan, before: dict, changed: dict,
                     audit_at: datetime, survey_at: datetime) -> dict:
    """The year's running annual cycle takes the revised plan's values, and its timers the revised dates, for
    what has not happened yet: an audit or survey whose day came already is left (`not_rearmed`); the spot check
    already scheduled stays, and the ones after it follow the new frequency."""
    from .cycle import _at, spot_check_slots

    session = context.session
    cycle = session.scalars(select(Instance).where(Instance.process_id == "annual_cycle",
                                                   Instance.business_key == str(year))).first()
    if cycle is None:  # the plan was made without a cycle: the plan is the record
        return {"cycle": None}
    timers = {"audit_start": "audit_at", "survey_start": "survey_at", "spot_check_frequency": "spot_check_slot"}
    if cycle.status != "running" or context.rearm_instance is None:
        return {"cycle": cycle.id, "cycle_status": cycle.status,
                "not_rearmed": [timers[name] for name in timers if name in changed]}
    variables, left = {name: context.variables[name] for name in (*PLAN_FIELDS, "spot_check_sample")
                       if name in changed}, []
    for name, when in (("audit_start", audit_at), ("survey_start", survey_at)):
        if name not in changed:
            continue
        was = before.get(name)
        if was is not None and _at(context, date.fromisoformat(str(was))) <= context.now:
            left.append(timers[name])  # its day came already: the cycle went on from it
            continue
        variables[name], variables[timers[name]] = context.variables[name], when.isoformat()
    if "spot_check_frequency" in changed:
        frequency = str(context.variables["spot_check_frequency"])
        variables["spot_check_frequency"] = frequency
        scheduled = _spot_check_state(session, cycle.id)
        if scheduled.get("more_spot_checks") and scheduled.get("spot_check_at"):
            # the check scheduled (or under way) stays; the next one is the new frequency's after its period
            day = datetime.fromisoformat(scheduled["spot_check_at"]).astimezone(settings.zone(session)).date()
            slots = spot_check_slots(year, frequency)
            variables["spot_check_slot"] = next(i for i, (start, end) in enumerate(slots) if start <= day < end)
        else:
            left.append("spot_check_slot")  # the year's spot checks are over
    if variables:
        context.rearm_instance(cycle.id, variables,
                               f"the {year} quality plan revised: edition {plan.edition} (plan {plan.id})")
    return {"cycle": cycle.id, "rearmed": {name: _plain(value) for name, value in variables.items()},
            "not_rearmed": left}


def _spot_check_state(session, cycle_id: int) -> dict:
    """The cycle's spot check as last scheduled (cycle.next_spot_check): its slot, when it is due, and whether
    more come."""
    for payload in session.scalars(select(Event.payload).where(Event.instance_id == cycle_id,
                                                               Event.kind == "service.completed")
                                   .order_by(Event.id.desc())):
        data = json.loads(payload)
        if data.get("task") == "next_spot_check":
            return data.get("result") or {}
    return {}
