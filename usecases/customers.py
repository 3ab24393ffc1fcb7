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
