"""The customer satisfaction survey (6.2.4): invitations, responses, statistics, rectifications.

Each customer is asked about a project by one channel (phone, questionnaire form, visit). Responses
are imported from CSV or .xlsx; a row is identified by its content, so importing a file twice adds nothing.
Scores are 1 to 5. A survey with no responses has no mean (None, never 0): it is reported as
having no data. Each problem a customer raised becomes a rectification item (a finding with
source `survey`) owned by the project's manager.

Answers that come after the collection closed (its deadline passed, or it was closed early without any) are
recorded but held: they count only if the QMD extends the collection; a survey closed without data stays
without a score. Whether an answer is held is read from the record (`held`), never stored apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from statistics import mean
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import Actor, HandlerContext, OpsqaError, settings
from i18n import _
from store import Finding, Project, SurveyCampaign, SurveyInvitation, SurveyResponse, append_event

from . import handler, registry, year_of
from .findings import raise_finding
from .tabular import Table

CHANNELS = {"phone": "电话", "form": "发放调查表", "visit": "拜访"}
CHANNEL_ALIASES = {"电话": "phone", "调查表": "form", "问卷": "form", "拜访": "visit", "questionnaire": "form"}
# The usual questionnaire's questions (a response's q_* columns), as the survey report names them; a survey's
# own question reads as its column was typed, without the prefix.
QUESTIONS = {"q_om_service": "对运维服务的满意度", "q_service_desk": "对服务台的满意度"}
COLLECTING = ("collecting", "extended")
AWAITING = "awaiting_decision"  # closed without answers: the QMD extends it or closes it without data
TAKING = (*COLLECTING, AWAITING)  # answers are recorded (held, once the collection closed)


def _channel(text: str, where: str) -> str:
    value = CHANNEL_ALIASES.get(text.strip(), text.strip().lower())
    if value not in CHANNELS:
        raise OpsqaError(_("{where}channel {text!r} is not one of {channels}").format(
                             where=where, text=text, channels=', '.join(CHANNELS)))
    return value


def question_text(qid: str) -> str:
    """A question (a column q_*) in words: its text, else its column name without the prefix."""
    if qid in QUESTIONS:
        return QUESTIONS[qid]
    return qid.removeprefix("q_").replace("_", " ").strip() or qid


def create_campaign(session: Session, year: int, *, now: datetime, by: str) -> SurveyCampaign:
    if session.scalar(select(SurveyCampaign.id).where(SurveyCampaign.year == year)) is not None:
        raise OpsqaError(_("the {year} satisfaction survey already exists").format(year=year))
    campaign = SurveyCampaign(code=f"CS-{year}", year=year, status="planned", created_at=now, created_by=by)
    session.add(campaign)
    session.flush()
    append_event(session, at=now, kind="survey.planned", actor=by, payload={"survey": campaign.code})
    return campaign


def start_survey(session: Session, year: int, *, now: datetime, actor: Actor, start_instance) -> SurveyCampaign:
    """A survey outside the annual cycle: its campaign and its process. Who may: engine/policy.py,
    survey.start."""
    campaign = create_campaign(session, year, now=now, by=actor.name)
    campaign.instance_id = start_instance("satisfaction_survey", campaign.code,
                                          {"survey": campaign.code, "year": year})
    return campaign


def get_campaign(session: Session, year: int) -> SurveyCampaign:
    campaign = session.scalar(select(SurveyCampaign).where(SurveyCampaign.year == year))
    if campaign is None:
        raise OpsqaError(_("there is no {year} satisfaction survey; the annual cycle opens it at the plan's "
                           "survey window, or `opsqa survey start --year {year}`").format(year=year))
    return campaign


def invite(session: Session, year: int, table: Table, *, now: datetime, actor: Actor,
           progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Invitations from a table (customer, project, channel[, contact]); all or none, the same row twice adds
    nothing. Invitations are set up before collection starts. `progress(done, total)` as each row is taken.
    Who may: engine/policy.py, survey.responses."""
    campaign = get_campaign(session, year)
    if campaign.status not in ("planned", *COLLECTING):
        raise OpsqaError(_("{code} is {status}; its invitations are closed").format(
                             code=campaign.code, status=campaign.status))
    counts = {"added": 0, "unchanged": 0}
    table.require(["channel", "customer", "project"])
    for done, (where, row) in enumerate(table.rows, start=1):
        if progress:
            progress(done, len(table.rows))
        if not row["customer"]:
            raise OpsqaError(_("{where}customer: a value is required").format(where=where))
        if session.get(Project, row["project"]) is None:
            raise OpsqaError(_("{where}unknown project code {project!r}").format(where=where, project=row['project']))
        channel = _channel(row["channel"], where)
        existing = session.scalar(select(SurveyInvitation).where(
            SurveyInvitation.campaign_id == campaign.id, SurveyInvitation.customer == row["customer"],
            SurveyInvitation.project == row["project"]))
        if existing is not None:
            if existing.channel != channel:
                raise OpsqaError(_("{where}{customer} is already invited about {project} by {channel}").format(
                                     where=where, customer=row["customer"], project=row["project"],
                                     channel=existing.channel))
            counts["unchanged"] += 1
            continue
        session.add(SurveyInvitation(campaign_id=campaign.id, customer=row["customer"], project=row["project"],
                                     channel=channel, contact=row.get("contact") or None, status="pending"))
        session.flush()
        counts["added"] += 1
    append_event(session, at=now, kind="survey.invited", actor=actor.name, real_actor=actor.real,
                 payload={"survey": campaign.code, "source": table.source, **counts})
    return counts


def import_responses(session: Session, year: int, table: Table, *, now: datetime, actor: Actor,
                     progress: Callable[[int, int], None] | None = None, rearm=None) -> dict[str, int]:
    """Responses from a table: customer, project, channel, overall, q_* (one column per question, 1-5),
    and optionally respondent, comments, issues. All or none; a row already imported is skipped.
    `progress(done, total)` as each row is taken. After the collection closed the rows are recorded but
    held (`late` counts them, when there are any); while the QMD decides, `rearm` gives the decision task
    the new count of held answers. Who may: engine/policy.py, survey.responses."""
    campaign = get_campaign(session, year)
    if campaign.status not in TAKING:
        raise OpsqaError(_("{code} is {status}; responses are taken while it is collecting").format(
                             code=campaign.code, status=campaign.status))
    counts = {"added": 0, "unchanged": 0}
    late = 0
    end = collection_end(session, campaign)
    seen: set[str] = set()
    table.require(["channel", "customer", "overall", "project"])
    for done, (where, row) in enumerate(table.rows, start=1):
        if progress:
            progress(done, len(table.rows))
        invitation = session.scalar(select(SurveyInvitation).where(
            SurveyInvitation.campaign_id == campaign.id, SurveyInvitation.customer == row["customer"],
            SurveyInvitation.project == row["project"]))
        if invitation is None:
            raise OpsqaError(_("{where}{customer!r} was not invited about {project!r}; `opsqa survey invite` "
                               "first").format(where=where, customer=row['customer'], project=row['project']))
        channel = _channel(row["channel"], where)
        scores = {key: _score(value, f"{where}{key}") for key, value in sorted(row.items())
                  if key.startswith("q_") and value}
        overall = _score(row["overall"], f"{where}overall")
        content = {"customer": row["customer"], "project": row["project"], "channel": channel, "overall": overall,
                   "scores": scores, "respondent": row.get("respondent") or None,
                   "comments": row.get("comments") or None, "issues": row.get("issues") or None}
        fingerprint = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        if fingerprint in seen or session.scalar(select(SurveyResponse.id).where(
                SurveyResponse.campaign_id == campaign.id, SurveyResponse.fingerprint == fingerprint)) is not None:
            counts["unchanged"] += 1
            continue
        seen.add(fingerprint)
        session.add(SurveyResponse(
            campaign_id=campaign.id, invitation_id=invitation.id, channel=channel, respondent=content["respondent"],
            scores=json.dumps(scores, ensure_ascii=False), overall=overall, comments=content["comments"],
            issues=content["issues"], fingerprint=fingerprint, source=where.rstrip(": "), collected_by=actor.name,
            collected_at=now))
        invitation.status = "responded"
        counts["added"] += 1
        late += campaign.status == AWAITING or (end is not None and now >= end)
    if late:
        counts["late"] = late
    session.flush()
    append_event(session, at=now, kind="survey.responses_imported", actor=actor.name, real_actor=actor.real,
                 payload={"survey": campaign.code, "source": table.source, **counts})
    if counts["added"] and campaign.status == AWAITING and campaign.instance_id is not None and rearm is not None:
        held_now = len(answers(session, campaign)[1])
        rearm(campaign.instance_id, {"late_responses": held_now},
              f"{campaign.code}: {held_now} answers came after the collection closed, held for the decision")
    return counts


def _score(text: str, where: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise OpsqaError(_("{where} {text!r} is not a score from 1 to 5").format(where=where, text=text))
    return int(text)


def collection_end(session: Session, campaign: SurveyCampaign) -> datetime | None:
    """When the collection closes: the end of its last day, in the organisation's time zone."""
    if campaign.collect_until is None:
        return None
    return datetime.combine(campaign.collect_until + timedelta(days=1), time(0), tzinfo=settings.zone(session))


def held(campaign: SurveyCampaign, response: SurveyResponse, end: datetime | None) -> bool:
    """An answer that came after the collection closed, not counted: every answer while the QMD decides
    (none had come when it closed) and of a survey closed without data; else one recorded after the
    deadline (`end`) in force — an extension moves it, so the answers held for it then count."""
    if campaign.status == AWAITING or campaign.no_data_reason is not None:
        return True
    return end is not None and response.collected_at >= end


def answers(session: Session, campaign: SurveyCampaign) -> tuple[list[SurveyResponse], list[SurveyResponse]]:
    """The campaign's answers as (counted, held), oldest first."""
    end = collection_end(session, campaign)
    responses = session.scalars(select(SurveyResponse).where(SurveyResponse.campaign_id == campaign.id)
                                .order_by(SurveyResponse.id)).all()
    counted: list[SurveyResponse] = []
    late: list[SurveyResponse] = []
    for response in responses:
        (late if held(campaign, response, end) else counted).append(response)
    return counted, late


def statistics(session: Session, campaign: SurveyCampaign) -> dict[str, Any]:
    """Invited, responded, the rate, and means overall, per question, channel, project and customer,
    with last year's overall mean beside this year's; answers held (`late`) are counted apart, never
    scored."""
    invitations = session.scalars(select(SurveyInvitation).where(SurveyInvitation.campaign_id == campaign.id)).all()
    by_id = {i.id: i for i in invitations}
    responses, late = answers(session, campaign)

    def means(key) -> dict[str, float]:
        groups: dict[str, list[int]] = {}
        for r in responses:
            groups.setdefault(key(r), []).append(r.overall)
        return {k: round(float(mean(v)), 3) for k, v in sorted(groups.items())}

    questions: dict[str, list[int]] = {}
    for r in responses:
        for question, score in json.loads(r.scores).items():
            questions.setdefault(question, []).append(score)
    previous = session.scalar(select(SurveyCampaign).where(SurveyCampaign.year == campaign.year - 1))
    previous_mean = json.loads(previous.stats).get("overall_mean") if previous and previous.stats else None
    overall = round(float(mean(r.overall for r in responses)), 3) if responses else None
    return {
        "invited": len(invitations), "responded": len(responses), "late": len(late),
        "response_rate": round(len(responses) / len(invitations), 4) if invitations else None,
        "overall_mean": overall,
        "mean_by_question": {q: round(float(mean(v)), 3) for q, v in sorted(questions.items())},
        "mean_by_channel": means(lambda r: r.channel),
        "mean_by_project": means(lambda r: by_id[r.invitation_id].project),
        "mean_by_customer": means(lambda r: by_id[r.invitation_id].customer),
        "distribution": {str(s): sum(1 for r in responses if r.overall == s) for s in range(1, 6)},
        "previous_year_mean": previous_mean,
        "delta": round(overall - previous_mean, 3) if overall is not None and previous_mean is not None else None,
    }


def rectifications(session: Session, campaign: SurveyCampaign) -> list[dict[str, Any]]:
    rows = session.scalars(select(Finding).where(Finding.source == "survey", Finding.source_ref == campaign.code)
                           .order_by(Finding.code))
    return [{"code": f.code, "unit": f.unit, "owner": f.owner, "due": f.due_date, "status": f.status,
             "description": f.description} for f in rows]


def list_surveys(session: Session) -> list[dict[str, Any]]:
    out = []
    for c in session.scalars(select(SurveyCampaign).order_by(SurveyCampaign.year)):
        invited = session.scalar(select(func.count()).select_from(SurveyInvitation)
                                 .where(SurveyInvitation.campaign_id == c.id))
        counted, late = answers(session, c)
        stats = json.loads(c.stats) if c.stats else {}
        out.append({"code": c.code, "year": c.year, "status": c.status, "collect_until": c.collect_until,
                    "invited": invited, "responded": len(counted), "late": len(late),
                    "overall_mean": stats.get("overall_mean"), "reported_at": c.reported_at})
    return out


# -- the satisfaction_survey process's steps --------------------------------------------------


def _campaign(context: HandlerContext) -> SurveyCampaign:
    code = context.variables.get("survey")
    campaign = context.session.scalar(select(SurveyCampaign).where(SurveyCampaign.code == code))
    if campaign is None:
        raise OpsqaError(_("no survey {code!r}").format(code=code))
    return campaign


def _event(context: HandlerContext, campaign: SurveyCampaign, kind: str, **payload: Any) -> None:
    append_event(context.session, at=context.now, kind=f"survey.{kind}", actor=context.actor,
                 instance_id=context.instance_id, payload={"survey": campaign.code, **payload})


def _end_of(context: HandlerContext, day) -> str:
    zone = settings.zone(context.session)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).isoformat()


@handler("survey.create")
def create_for_cycle(context: HandlerContext) -> dict:
    """The annual cycle opens its year's survey at the plan's survey window."""
    campaign = create_campaign(context.session, year_of(context), now=context.now, by=context.actor)
    campaign.instance_id = context.instance_id
    return {"survey": campaign.code}


@registry.check("survey.has_invitations")
def has_invitations(context: HandlerContext) -> None:
    campaign = _campaign(context)
    if not context.session.scalar(select(func.count()).select_from(SurveyInvitation)
                                  .where(SurveyInvitation.campaign_id == campaign.id)):
        raise ValueError(_("{code} invites nobody yet; `opsqa survey invite --year {year} FILE.csv`").format(
                             code=campaign.code, year=campaign.year))


@handler("survey.open")
def open_survey(context: HandlerContext) -> dict:
    campaign = _campaign(context)
    campaign.status, campaign.collect_until = "collecting", context.variables["collect_until"]
    campaign.questionnaire = context.variables.get("questionnaire")
    _event(context, campaign, "collecting", until=campaign.collect_until.isoformat())
    return {"collect_until_at": _end_of(context, campaign.collect_until)}


@handler("survey.close_collection")
def close_collection(context: HandlerContext) -> dict:
    """The answers recorded before the deadline go to the analysis; none, and the QMD decides (by the
    survey_decision_days setting) whether to extend the collection or close it without data, told how
    many answers came after the deadline (held, not counted)."""
    campaign = _campaign(context)
    counted, late = answers(context.session, campaign)
    campaign.status = "analysing" if counted else AWAITING
    _event(context, campaign, "collection_closed", responses=len(counted), late=len(late))
    today = context.now.astimezone(settings.zone(context.session)).date()
    days = int(settings.get(context.session, "survey_decision_days"))
    return {"responses": len(counted), "late_responses": len(late),
            "decision_due_at": _end_of(context, today + timedelta(days=days))}


@registry.check("survey.extension_ahead")
def extension_ahead(context: HandlerContext) -> None:
    """An extended collection must end on a later day than today: a date gone by would close it at once."""
    until = context.variables.get("new_collect_until")
    if context.variables.get("no_data_decision") != "nd_extend" or not isinstance(until, date):
        return
    today = context.now.astimezone(settings.zone(context.session)).date()
    if until <= today:
        raise ValueError(_("new_collect_until {until} does not lie ahead of today ({today}); an extension "
                           "ends on a later day").format(until=until, today=today))


@handler("survey.extend")
def extend(context: HandlerContext) -> dict:
    campaign = _campaign(context)
    until = context.variables["new_collect_until"]
    campaign.status, campaign.collect_until = "extended", until
    _event(context, campaign, "extended", until=until.isoformat())
    return {"collect_until_at": _end_of(context, until)}


@handler("survey.analyse")
def analyse(context: HandlerContext) -> dict:
    campaign = _campaign(context)
    without_data = context.variables.get("no_data_decision") == "nd_close" and campaign.status == AWAITING
    campaign.no_data_reason = (context.variables.get("no_data_reason") or "—") if without_data else None
    campaign.status = "analysing"
    stats = statistics(context.session, campaign)  # closed without data: every answer is held, none scored
    campaign.stats = json.dumps(stats, ensure_ascii=False, sort_keys=True)
    _event(context, campaign, "analysed", responded=stats["responded"], overall_mean=stats["overall_mean"])
    return {"overall_mean": stats["overall_mean"]}


@handler("survey.reported")
def reported(context: HandlerContext) -> dict:
    """The report is issued; each problem a customer raised becomes a rectification (once)."""
    campaign, session = _campaign(context), context.session
    campaign.report_summary, campaign.reported_at = context.variables.get("report_summary"), context.now
    campaign.status = "reported"
    raised = 0
    counted, _late = answers(session, campaign)  # held answers are not the survey's: they raise nothing
    for response in counted:
        if response.issues is None or response.finding_id is not None:
            continue
        invitation = session.get(SurveyInvitation, response.invitation_id)
        project = session.get(Project, invitation.project)
        response.finding_id = raise_finding(
            session, source="survey", source_ref=campaign.code, unit=project.code, owner=project.pm,
            description=f"{invitation.customer}：{response.issues}", now=context.now, actor=context.actor,
            start_instance=context.start_instance).id
        raised += 1
    _event(context, campaign, "reported", rectifications=raised)
    return {"rectifications": raised}
