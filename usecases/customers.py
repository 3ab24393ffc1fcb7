"""The customer (6.2.3, 6.2.4): the satisfaction survey (opening it, invitations, responses, its
statistics) and complaints (registering, listing, the customer's callback that closes one)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine import Engine
from i18n import _

from .base import Caller, acting, authorized, guarded, reading, who

Progress = Callable[[int, int], None] | None


# -- the satisfaction survey


def start_survey(engine: Engine, caller: Caller, year: int) -> dict[str, Any]:
    """Open a year's survey outside the annual cycle (qmd): its campaign and its process."""
    from handlers.surveys import start_survey as start

    with acting(engine, caller, "survey.start") as act:
        campaign = start(act.session, year, now=act.now, actor=act.actor, start_instance=act.starter())
        return {"code": campaign.code, "year": year, "instance_id": campaign.instance_id}


def invite(engine: Engine, caller: Caller, year: int, path: str, *, progress: Progress = None) -> dict[str, int]:
    """Register invitations from a .csv or .xlsx file (qmd, ops): all rows or none; counts added and unchanged."""
    from handlers.surveys import invite as register
    from handlers.tabular import read_table

    table = read_table(path)  # before the transaction: reading a large workbook holds no lock
    with acting(engine, caller, "survey.responses") as act:
        return register(act.session, year, table, now=act.now, actor=act.actor, progress=progress)


def import_responses(engine: Engine, caller: Caller, year: int, path: str, *,
                     progress: Progress = None) -> dict[str, int]:
    """Import responses from a .csv or .xlsx file (qmd, ops): all rows or none; counts added, unchanged and
    late (recorded after the collection closed: held for the QMD's decision, not counted)."""
    from handlers.surveys import import_responses as take
    from handlers.tabular import read_table

    table = read_table(path)
    with acting(engine, caller, "survey.responses") as act:
        return take(act.session, year, table, now=act.now, actor=act.actor, progress=progress,
                    rearm=engine.rearmer(act.session, act.actor))


def respond(engine: Engine, caller: Caller, year: int, *, customer: str, project: str, channel: str, overall: int,
            scores: dict[str, str], respondent: str | None = None, comments: str | None = None,
            issues: str | None = None) -> dict[str, int]:
    """Enter one response by hand (qmd, ops), checked like an imported row; `scores` by question. Counts as
    `import_responses`: added 0 when the same response was already recorded, late 1 when it is held."""
    from handlers.surveys import import_responses as take
    from handlers.tabular import Table

    answers = {"q_" + question.strip().removeprefix("q_"): value for question, value in scores.items()}
    row = {"customer": customer, "project": project, "channel": channel, "overall": str(overall), **answers,
           "respondent": respondent or "", "comments": comments or "", "issues": issues or ""}
    table = Table("response", tuple(row), [(_("response: "), {key: value.strip() for key, value in row.items()})])
    with acting(engine, caller, "survey.responses") as act:
        return take(act.session, year, table, now=act.now, actor=act.actor,
                    rearm=engine.rearmer(act.session, act.actor))


def survey(engine: Engine, year: int) -> dict[str, Any]:
    """A survey's statistics (live while collecting, frozen once analysed) and its rectifications."""
    from handlers.surveys import get_campaign, rectifications, statistics

    with reading(engine) as session:
        campaign = get_campaign(session, year)
        stats = json.loads(campaign.stats) if campaign.stats else statistics(session, campaign)
        return {"code": campaign.code, "status": campaign.status, "collect_until": campaign.collect_until,
                **stats, "rectifications": rectifications(session, campaign)}


def surveys(engine: Engine) -> list[dict[str, Any]]:
    from handlers.surveys import list_surveys

    with reading(engine) as session:
        return list_surveys(session)


# -- complaints


def add_complaint(engine: Engine, caller: Caller, *, project: str, description: str, channel: str = "phone",
                  received_at: datetime | None = None, customer: str | None = None, contact: str | None = None,
                  remedy: str | None = None) -> dict[str, Any]:
    """Register a complaint (received now unless said); the project manager is asked to accept and assess it."""
    from handlers.complaints import register, view

    with acting(engine, caller, "complaint.add") as act:
        complaint = register(act.session, project=project, description=description, channel=channel,
                             received_at=received_at or act.now, now=act.now, actor=act.actor, customer=customer,
                             contact=contact, remedy=remedy, start_instance=act.starter())
        return view(complaint)


def complaints(engine: Engine, *, year: int | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    from handlers.complaints import list_complaints

    with reading(engine) as session:
        return list_complaints(session, year=year, open_only=open_only)


def complaint(engine: Engine, code: str) -> dict[str, Any]:
    from handlers.complaints import get_complaint, view
    from store import Finding

    with reading(engine) as session:
        found = get_complaint(session, code)
        finding = session.get(Finding, found.finding_id) if found.finding_id is not None else None
        return view(found, finding.code if finding else None)


def close_complaint(engine: Engine, caller: Caller, code: str, *, feedback: str,
                    note: str | None = None) -> dict[str, Any]:
    """Record the customer's callback (`satisfied` or `not_satisfied`) by completing the complaint's waiting
    callback task: satisfied closes it, not satisfied reopens it. A major complaint is closed only by whom
    `complaint.close_major` names; the task's own rule is asked by the engine as it completes it."""
    from handlers.complaints import closing_task, feedback_value, get_complaint

    with reading(engine) as session:
        task = closing_task(session, code)
        task_id, bpmn_id = task.id, task.bpmn_id
    major = bpmn_id == "confirm_major"
    with guarded(engine, caller, "task.complete"):
        actor = authorized(engine, caller, "complaint.close_major") if major else who(engine, caller)
        engine.complete(task_id, {"customer_feedback": feedback_value(bpmn_id, feedback), "feedback_note": note},
                        actor=actor)
    with reading(engine) as session:
        closed = get_complaint(session, code)
        return {"code": closed.code, "status": closed.status}


def complaint_page(engine: Engine, caller: Caller, code: str) -> dict[str, Any]:
    """A complaint as its page shows it: `complaint`, its handling's tasks and history (from its instance),
    and the customer's callback it waits for, if any: the task, whether the complaint is major (closed only by
    whom `complaint.close_major` names) and whether the caller may record it."""
    from engine import OpsqaError
    from handlers.complaints import closing_task, get_complaint, view
    from store import Finding

    from .base import may

    with reading(engine) as session:
        found = get_complaint(session, code)
        finding = session.get(Finding, found.finding_id) if found.finding_id is not None else None
        item = view(found, finding.code if finding else None)
        try:
            task = closing_task(session, code)
        except OpsqaError:  # not waiting for the customer's callback
            task = None
    callback = None
    if task is not None:  # the row's attributes stay loaded (expire_on_commit=False)
        major = task.bpmn_id == "confirm_major"
        allowed = (may(engine, caller, "complaint.close_major") if major
                   else may(engine, caller, "task.complete", task=task))
        callback = {"task": task.id, "major": major, "may": allowed}
    item["callback"] = callback
    instance = engine.instance(found.instance_id) if found.instance_id is not None else None
    item["tasks"] = instance["tasks"] if instance else []
    item["history"] = engine.history(found.instance_id) if instance else []
    return item


# -- the satisfaction survey's pages (the web face): files uploaded, a survey with its answers

TABLE_MAX_BYTES = 20 * 1024 * 1024  # an uploaded table: invitations, responses, indicator values


def upload_table(name: str, content: bytes):
    """An uploaded .csv or .xlsx file — its name as the browser sent it, its bytes — read as `read_table` reads
    a file named on the command line: the same formats and refusals, each row named by the file's name and its
    line (or row), so that the same checks refuse a bad row in one line naming it."""
    from pathlib import PurePosixPath, PureWindowsPath

    from engine import OpsqaError
    from handlers.tabular import FORMATS, from_csv, from_xlsx

    base = PurePosixPath(PureWindowsPath(name or "").name).name  # C:\Users\...\a.csv or a/b.csv: the name alone
    source = "".join(c for c in base if c.isprintable()).strip()[:120]
    if not source:
        raise OpsqaError(_("choose a .csv or .xlsx file to upload"))
    suffix = PurePosixPath(source).suffix.lower()
    if suffix not in FORMATS:
        raise OpsqaError(_("{path}: only .csv and .xlsx files can be imported").format(path=source))
    if len(content) > TABLE_MAX_BYTES:
        raise OpsqaError(_("{path}: a file of more than {limit} MB is not imported").format(
                             path=source, limit=TABLE_MAX_BYTES // (1024 * 1024)))
    if suffix == ".xlsx":
        return from_xlsx(content, source)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise OpsqaError(_("cannot read {path}: it is not UTF-8 text").format(path=source)) from None
    return from_csv(text, source)


def invite_upload(engine: Engine, caller: Caller, year: int, name: str, content: bytes) -> dict[str, int]:
    """`invite` from an uploaded file (qmd, ops): all rows or none; counts added and unchanged."""
    from handlers.surveys import invite as register

    table = upload_table(name, content)
    with acting(engine, caller, "survey.responses") as act:
        return register(act.session, year, table, now=act.now, actor=act.actor)


def import_responses_upload(engine: Engine, caller: Caller, year: int, name: str, content: bytes) -> dict[str, int]:
    """`import_responses` from an uploaded file (qmd, ops): all rows or none; counts added, unchanged and late."""
    from handlers.surveys import import_responses as take

    table = upload_table(name, content)
    with acting(engine, caller, "survey.responses") as act:
        return take(act.session, year, table, now=act.now, actor=act.actor,
                    rearm=engine.rearmer(act.session, act.actor))


def this_year(engine: Engine) -> int:
    """The year it is now, by the engine's clock in the organisation's time zone."""
    from engine.settings import zone

    with reading(engine) as session:
        return engine.clock.now().astimezone(zone(session)).year


def surveys_page(engine: Engine, caller: Caller) -> dict[str, Any]:
    """The surveys as their page lists them, this year, and whether the caller may start a year's survey."""
    from .base import may

    return {"surveys": surveys(engine), "year": this_year(engine),
            "may_start": may(engine, caller, "survey.start")}


def survey_page(engine: Engine, caller: Caller, year: int) -> dict[str, Any]:
    """A year's survey as its page shows it (`survey` is None when there is none): its statistics (frozen once
    analysed), its invitations, every answer (`held` when it came after the collection closed: recorded, not
    counted), the questions answered, its rectifications, whether it takes invitations and answers now; and
    what the caller may do."""
    from sqlalchemy import select

    from handlers.surveys import COLLECTING, TAKING, answers, rectifications, statistics
    from store import SurveyCampaign, SurveyInvitation

    from .base import may

    with reading(engine) as session:
        campaign = session.scalar(select(SurveyCampaign).where(SurveyCampaign.year == year))
        found = None
        if campaign is not None:
            stats = json.loads(campaign.stats) if campaign.stats else statistics(session, campaign)
            invitations = session.scalars(select(SurveyInvitation).where(
                SurveyInvitation.campaign_id == campaign.id).order_by(SurveyInvitation.id)).all()
            by_id = {i.id: i for i in invitations}
            counted, held = answers(session, campaign)
            rows = sorted([(r, False) for r in counted] + [(r, True) for r in held], key=lambda pair: pair[0].id)
            listed = [{"customer": by_id[r.invitation_id].customer, "project": by_id[r.invitation_id].project,
                       "channel": r.channel, "overall": r.overall, "scores": json.loads(r.scores),
                       "respondent": r.respondent, "comments": r.comments, "issues": r.issues,
                       "collected_by": r.collected_by, "collected_at": r.collected_at, "held": late}
                      for r, late in rows]
            questions = sorted({q for row in listed for q in row["scores"]} | set(stats["mean_by_question"]))
            found = {"code": campaign.code, "year": campaign.year, "status": campaign.status,
                     "collect_until": campaign.collect_until, "questionnaire": campaign.questionnaire,
                     "no_data_reason": campaign.no_data_reason, "report_summary": campaign.report_summary,
                     "reported_at": campaign.reported_at, **stats, "questions": questions,
                     "invitations": [{"customer": i.customer, "project": i.project, "channel": i.channel,
                                      "contact": i.contact, "status": i.status} for i in invitations],
                     "answers": listed, "rectifications": rectifications(session, campaign),
                     "takes_invitations": campaign.status in ("planned", *COLLECTING),
                     "takes_responses": campaign.status in TAKING}
    return {"year": year, "survey": found, "may_start": may(engine, caller, "survey.start"),
            "may_respond": may(engine, caller, "survey.responses")}
