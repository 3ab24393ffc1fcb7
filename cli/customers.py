"""The customer (6.2.3, 6.2.4): complaints and the satisfaction survey."""

from __future__ import annotations

import click

import usecases
from i18n import N_, _

from .base import YEAR, FilePath, Progress, State, cli, json_option, pass_state, xlsx_option
from .terminal import _cell, _parse_local, _print_json, _render, _write_xlsx


@cli.group()
def survey():
    """The customer satisfaction survey (6.2.4): invitations, responses, statistics."""


@survey.command("start")
@click.option("--year", type=YEAR, required=True)
@pass_state
def survey_start(state: State, year: int):
    """Open a year's survey outside the annual cycle (qmd).

    Example: opsqa survey start --year 2027
    """
    campaign = usecases.customers.start_survey(state.engine, state.caller, year)
    click.echo(_("{code} opened; register its invitations with `opsqa survey invite --year {year} FILE.csv`").format(
                   code=campaign["code"], year=year))


@survey.command("invite")
@click.option("--year", type=YEAR, required=True)
@click.argument("file", type=FilePath(dir_okay=False))
@pass_state
def survey_invite(state: State, year: int, file: str):
    """Register invitations from a .csv or .xlsx file (customer,project,channel[,contact]; channel
    phone|form|visit; in a workbook, the first worksheet). All rows or none; the same file again adds nothing.

    Example: opsqa survey invite --year 2027 invitations.xlsx
    """
    with Progress(_("importing")) as progress:
        counts = usecases.customers.invite(state.engine, state.caller, year, file, progress=progress)
    click.echo(_("{file}: {added} invited, {unchanged} already invited").format(
                   file=file, added=counts['added'], unchanged=counts['unchanged']))


@survey.command("import")
@click.option("--year", type=YEAR, required=True)
@click.argument("file", type=FilePath(dir_okay=False))
@pass_state
def survey_import(state: State, year: int, file: str):
    """Import responses from a .csv or .xlsx file (customer,project,channel,overall,q_*[,respondent,comments,
    issues]; in a workbook, the first worksheet); scores 1-5. All rows or none, a bad row named by its line (or
    row); importing the same file twice adds nothing.

    Example: opsqa survey import --year 2027 responses.xlsx
    """
    with Progress(_("importing")) as progress:
        counts = usecases.customers.import_responses(state.engine, state.caller, year, file, progress=progress)
    click.echo(_("{file}: {added} added, {unchanged} already imported").format(
                   file=file, added=counts['added'], unchanged=counts['unchanged']))
    if counts.get("late"):
        click.echo(_("{late} of them came after the collection closed: held for the QMD's decision, not counted "
                     "unless the collection is extended").format(late=counts["late"]), err=True)


@survey.command("respond")
@click.option("--year", type=YEAR, required=True)
@click.option("--customer", required=True)
@click.option("--project", required=True)
@click.option("--channel", type=click.Choice(["phone", "form", "visit"]), required=True)
@click.option("--overall", type=click.IntRange(1, 5), required=True, help=N_("The overall score, 1-5."))
@click.option("--score", "scores", multiple=True, metavar="QUESTION=1..5", help=N_("A question's score; repeatable."))
@click.option("--respondent")
@click.option("--comments")
@click.option("--issues", help=N_("The problems the customer raised (each becomes a rectification)."))
@pass_state
def survey_respond(state: State, year: int, customer: str, project: str, channel: str, overall: int,
                   scores: tuple[str, ...], respondent: str | None, comments: str | None, issues: str | None):
    """Enter one response by hand (a phone call, a visit), checked like an imported row.

    Example: opsqa survey respond --year 2027 --customer 市公安局 --project P-01 --channel phone --overall 4
    """
    answers = {}
    for item in scores:
        question, sep, value = item.partition("=")
        if not sep or not question.strip():
            raise click.BadParameter(_("{item!r} is not QUESTION=SCORE").format(item=item), param_hint="--score")
        answers[question.strip()] = value.strip()
    counts = usecases.customers.respond(state.engine, state.caller, year, customer=customer, project=project,
                                        channel=channel, overall=overall, scores=answers, respondent=respondent,
                                        comments=comments, issues=issues)
    click.echo(_("recorded") if counts["added"] else _("already recorded"))
    if counts.get("late"):
        click.echo(_("it came after the collection closed: held for the QMD's decision, not counted unless the "
                     "collection is extended"), err=True)


@survey.command("show")
@click.option("--year", type=YEAR, required=True)
@json_option
@pass_state
def survey_show(state: State, year: int, as_json: bool):
    """A survey's statistics (live while collecting, frozen once analysed) and its rectifications.

    Example: opsqa survey show --year 2027
    """
    item = usecases.customers.survey(state.engine, year)
    if as_json:
        _print_json(item)
        return
    if item["overall_mean"] is None:
        mean = _("no responses: no score")
    else:
        mean = _("overall mean {mean}").format(mean=item["overall_mean"])
    click.echo(_("{code}  {status}  invited {invited}, responded {responded} ({response_rate}), {mean}").format(
                   code=item['code'], status=item['status'], invited=item['invited'], responded=item['responded'],
                   response_rate=item['response_rate'], mean=mean))
    if item.get("late"):  # a survey analysed before held answers were told apart has no count
        click.echo(_("  {late} answers came after the collection closed: held, not counted").format(late=item["late"]))
    labels = {"mean_by_channel": _("mean_by_channel"), "mean_by_project": _("mean_by_project"),
              "mean_by_question": _("mean_by_question")}
    for key, label in labels.items():
        if item[key]:
            click.echo(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in item[key].items()))
    if item["rectifications"]:
        click.echo("")
        _render(item["rectifications"], [("code", _("RECTIFICATION")), ("unit", _("PROJECT")), ("owner", _("OWNER")),
                                         ("status", _("STATUS")), ("description", _("DESCRIPTION"))], False)


@cli.command()
@json_option
@pass_state
def surveys(state: State, as_json: bool):
    """The satisfaction surveys, one a year.

    Example: opsqa surveys
    """
    columns = [("code", _("SURVEY")), ("status", _("STATUS")), ("collect_until", _("UNTIL")), ("invited", _("INVITED")),
               ("responded", _("RESPONDED")), ("overall_mean", _("MEAN")), ("reported_at", _("REPORTED"))]
    _render(usecases.customers.surveys(state.engine), columns, as_json)


@cli.group()
def complaints():
    """Customer complaints (6.2.3): register, list, show, close after the customer's callback."""


@complaints.command("add")
@click.option("--project", required=True, help=N_("The project complained about (its manager handles it)."))
@click.option("--description", required=True, help=N_("What the customer complains about."))
@click.option("--channel", type=click.Choice(["phone", "email", "letter", "service_desk", "on_site", "platform"]),
              default="phone", show_default=True)
@click.option("--customer", help=N_("Who complains (default: the project's customer)."))
@click.option("--contact", help=N_("How to reach them."))
@click.option("--remedy", help=N_("What the customer asks for."))
@click.option("--received", "received_text", metavar="TIME",
              help=N_("When it was received (ISO 8601; local time if no offset). Default: now."))
@pass_state
def complaints_add(state: State, project: str, description: str, channel: str, customer: str | None,
                   contact: str | None, remedy: str | None, received_text: str | None):
    """Register a complaint; the project manager is asked to accept and assess it.

    Example: opsqa complaints add --project P-01 --description "城市视频平台中断6小时" --received "2028-05-10 09:00"
    """
    received = _parse_local(received_text, "--received") if received_text else None
    complaint = usecases.customers.add_complaint(state.engine, state.caller, project=project,
                                                 description=description, channel=channel, received_at=received,
                                                 customer=customer, contact=contact, remedy=remedy)
    click.echo(_("{code} registered; {handler} assesses it (general complaints resolved by {due})").format(
                   code=complaint["code"], handler=complaint["handler"], due=_cell(complaint["resolve_due_at"])))


@complaints.command("list")
@click.option("--year", type=YEAR, help=N_("Only complaints received in this year."))
@click.option("--open", "open_only", is_flag=True, help=N_("Only complaints not yet closed."))
@json_option
@xlsx_option
@pass_state
def complaints_list(state: State, year: int | None, open_only: bool, as_json: bool, xlsx_file: str | None):
    """List complaints.

    Example: opsqa complaints list --year 2028 --open --xlsx complaints-2028.xlsx
    """
    rows = usecases.customers.complaints(state.engine, year=year, open_only=open_only)
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, "complaints", as_json)
    columns = [("code", _("COMPLAINT")), ("received_at", _("RECEIVED")), ("project", _("PROJECT")),
               ("severity", _("SEVERITY")),
               ("status", _("STATUS")), ("handler", _("PM")), ("escalated_to", _("ESCALATED TO")),
               ("description", _("DESCRIPTION"))]
    _render(rows, columns, as_json)


@complaints.command("show")
@click.argument("code")
@json_option
@pass_state
def complaints_show(state: State, code: str, as_json: bool):
    """Show one complaint.

    Example: opsqa complaints show C-2028-001
    """
    item = usecases.customers.complaint(state.engine, code)
    if as_json:
        _print_json(item)
        return
    for key, value in item.items():
        if value not in (None, "", 0, False) or key in ("escalated", "reopen_count"):
            click.echo(f"{key:18} {_cell(value)}")


@complaints.command("close")
@click.argument("code")
@click.option("--feedback", type=click.Choice(["satisfied", "not_satisfied"]), required=True,
              help=N_("The customer's answer at the callback."))
@click.option("--note", help=N_("What the customer said."))
@pass_state
def complaints_close(state: State, code: str, feedback: str, note: str | None):
    """Record the customer's callback: satisfied closes the complaint, not satisfied reopens it.
    A major complaint is closed by the operations general manager only.

    Example: opsqa complaints close C-2028-002 --feedback satisfied
    """
    complaint = usecases.customers.close_complaint(state.engine, state.caller, code, feedback=feedback, note=note)
    click.echo(_("{code} is {status}").format(code=complaint["code"], status=complaint["status"]))
