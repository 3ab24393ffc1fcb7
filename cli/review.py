"""Review and improvement (6.2.5, 6.2.6): the management review, the improvement plan, quality indicators."""

from __future__ import annotations

import click

import usecases
from i18n import N_, _

from .base import YEAR, FilePath, Progress, State, cli, json_option, pass_state, xlsx_option
from .tasks import _outcome
from .terminal import _cell, _print_json, _render, _write_xlsx


@cli.group()
def review():
    """The yearly management review (6.2.5)."""


@review.command("start")
@click.option("--year", type=YEAR, required=True)
@click.option("--date", "review_date", type=click.DateTime(["%Y-%m-%d"]), required=True, help=N_("The meeting day."))
@click.option("--attendees", required=True, help=N_("Who attends (the heads of the departments concerned)."))
@pass_state
def review_start(state: State, year: int, review_date, attendees: str):
    """Initiate the year's review (mr): refused, naming what is missing, until the year's full internal
    audit and its satisfaction survey are reported.

    Example: opsqa review start --year 2027 --date 2027-11-20 --attendees "各部门负责人"
    """
    started = usecases.review.start(state.engine, state.caller, year, review_date.date(), attendees)
    click.echo(_("the {year} management review is initiated for {review_date}; its inputs are gathered").format(
                   year=started["year"], review_date=started["review_date"]))


@review.command("show")
@click.option("--year", type=YEAR, required=True)
@json_option
@pass_state
def review_show(state: State, year: int, as_json: bool):
    """A review: its preconditions, gathered inputs and decisions.

    Example: opsqa review show --year 2027 --json
    """
    item = usecases.review.show(state.engine, year)
    if as_json:
        _print_json(item)
        return
    click.echo(_("{year} management review  {status}  date {review_date}  initiated by {initiated_by}").format(
                   year=year, status=item['status'], review_date=_cell(item['review_date']),
                   initiated_by=item['initiated_by']))
    for decision in item["decisions"]:
        click.echo(_("  decision {no}: {text}").format(no=decision["no"], text=decision["text"])
                   + (_("  [needs action]") if decision["requires_action"] else ""))


@cli.group()
def improvement():
    """The service-capability improvement plan (6.2.6)."""


@improvement.command("list")
@click.option("--year", type=YEAR)
@json_option
@xlsx_option
@pass_state
def improvement_list(state: State, year: int | None, as_json: bool, xlsx_file: str | None):
    """The improvement items, their measures and how their follow-up stands.

    Example: opsqa improvement list --year 2027 --xlsx improvement-2027.xlsx
    """
    rows = usecases.review.improvements(state.engine, year)
    if xlsx_file:
        return _write_xlsx(rows, xlsx_file, "improvement", as_json)
    _render(rows, [("code", _("ITEM")), ("source", _("SOURCE")), ("owner", _("OWNER")), ("due", _("DUE")),
                   ("status", _("STATUS")),
                   ("action", _("ACTION")), ("action_status", _("ACTION STATUS")), ("measure", _("MEASURE"))], as_json)


@improvement.command("set")
@click.argument("code")
@click.option("--cause", help=N_("The cause found by the analysis."))
@click.option("--measure", help=N_("What will be done."))
@click.option("--owner", help=N_("Who does it (a user)."))
@click.option("--due", type=click.DateTime(["%Y-%m-%d"]), help=N_("By when."))
@click.option("--expected", help=N_("The expected result, e.g. an indicator target."))
@pass_state
def improvement_set(state: State, code: str, cause: str | None, measure: str | None, owner: str | None, due,
                    expected: str | None):
    """Set an item's analysis and measure while the plan is drawn up (ops, qmd).

    Example: opsqa improvement set IMP-2027-01 --cause "夜间值守不足" --measure "增设夜班" --owner pm1 --due 2028-03-31
    """
    item = usecases.review.set_improvement(state.engine, state.caller, code, cause=cause, measure=measure, owner=owner,
                                           due=due.date() if due else None, expected=expected)
    click.echo(f"{item['code']}: {item['status']}")


@cli.group()
def indicators():
    """Quality indicators (6.1.2 e): definitions and targets, values per period, the year's attainment."""


@indicators.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--target", type=float, required=True)
@click.option("--unit", default="%", show_default=True, help=N_("%, h, score, count..."))
@click.option("--direction", type=click.Choice(["higher_better", "lower_better"]), default="higher_better",
              show_default=True)
@click.option("--cycle", type=click.Choice(["monthly", "quarterly", "yearly"]), default="monthly", show_default=True,
              help=N_("How often values are collected."))
@click.option("--yearly-rule", type=click.Choice(["mean", "latest"]), default="mean", show_default=True,
              help=N_("The year's value when no yearly value is recorded."))
@click.option("--from-survey", is_flag=True, help=N_("The value is the satisfaction survey's overall mean."))
@pass_state
def indicators_add(state: State, code: str, name: str, target: float, unit: str, direction: str, cycle: str,
                   yearly_rule: str, from_survey: bool):
    """Define an indicator, or change its definition (qmd).

    Example: opsqa indicators add K1 --name 事件按时解决率 --target 95 --cycle monthly
    """
    outcome = usecases.review.define_indicator(state.engine, state.caller, code, name=name, target=target, unit=unit,
                                               direction=direction, cycle=cycle, yearly_rule=yearly_rule,
                                               from_survey=from_survey)
    click.echo(f"{code}: {_outcome(outcome)}")


@indicators.command("list")
@json_option
@pass_state
def indicators_list(state: State, as_json: bool):
    """The indicators and their targets.

    Example: opsqa indicators list
    """
    rows = usecases.review.indicators(state.engine)
    _render(rows, [("code", _("CODE")), ("name", _("NAME")), ("target", _("TARGET")), ("unit", _("UNIT")),
                   ("direction", _("DIRECTION")), ("cycle", _("CYCLE")), ("source", _("SOURCE"))], as_json)


@indicators.command("import")
@click.argument("file", type=FilePath(dir_okay=False))
@pass_state
def indicators_import(state: State, file: str):
    """Record values from a .csv or .xlsx file (indicator,period,value[,project]; in a workbook, the first
    worksheet); all rows or none, a bad row named by its line (or row). The same file again changes nothing; a
    changed value corrects the one before.

    Example: opsqa indicators import kpi-2027-03.xlsx
    """
    with Progress(_("importing")) as progress:
        counts = usecases.review.import_values(state.engine, state.caller, file, progress=progress)
    click.echo(_("{file}: {added} added, {updated} updated, {unchanged} unchanged").format(
                   file=file, added=counts['added'], updated=counts['updated'], unchanged=counts['unchanged']))


@indicators.command("set")
@click.argument("code")
@click.option("--period", required=True, help=N_("2027-03 (a month), 2027-Q1 (a quarter) or 2027 (the year)."))
@click.option("--value", type=float, required=True)
@click.option("--project", help=N_("A project's value (default: the organisation's)."))
@pass_state
def indicators_set(state: State, code: str, period: str, value: float, project: str | None):
    """Enter one value (a later value for the same period corrects it; the history keeps both).

    Example: opsqa indicators set K1 --period 2027-03 --value 96.4
    """
    outcome = usecases.review.set_value(state.engine, state.caller, code, period, value, project)
    click.echo(f"{code} {period}: " + _outcome(outcome))


@indicators.command("values")
@click.option("--year", type=YEAR)
@click.option("--indicator")
@json_option
@pass_state
def indicators_values(state: State, year: int | None, indicator: str | None, as_json: bool):
    """Recorded values and whether each met its target.

    Example: opsqa indicators values --year 2027 --indicator K1
    """
    rows = usecases.review.values(state.engine, year=year, indicator=indicator)
    _render(rows, [("indicator", _("INDICATOR")), ("period", _("PERIOD")), ("scope", _("SCOPE")), ("value", _("VALUE")),
                   ("attainment", _("ATTAINMENT")), ("collected_by", _("BY"))], as_json)


@indicators.command("year")
@click.argument("year", type=YEAR)
@json_option
@pass_state
def indicators_year(state: State, year: int, as_json: bool):
    """Each indicator's attainment for a year: met, unmet or not measured.

    Example: opsqa indicators year 2027
    """
    rows = usecases.review.attainment(state.engine, year)
    if not as_json:
        for row in rows:
            row["basis"] = usecases.review.basis_words(row["basis"])
    _render(rows, [("code", _("INDICATOR")), ("name", _("NAME")), ("target", _("TARGET")), ("actual", _("ACTUAL")),
                   ("attainment", _("ATTAINMENT")), ("basis", _("BASIS"))], as_json)
