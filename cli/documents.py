"""The register of controlled documents: what was issued, and issuing the year's documents."""

from __future__ import annotations

import click

import usecases
from i18n import N_, _

from .audits import format_option
from .base import YEAR, FilePath, State, cli, json_option, pass_state
from .terminal import _render

STATUS = {"effective": N_("effective (受控)"), "obsolete": N_("obsolete (作废)")}


@cli.group(invoke_without_command=True)
@click.option("--year", type=YEAR, help=N_("Only this year's documents."))
@json_option
@click.pass_context
def documents(ctx: click.Context, year: int | None, as_json: bool):
    """The register of controlled documents: every issued version with its status, issuer and SHA-256.

    Example: opsqa documents --year 2027
    """
    if ctx.invoked_subcommand is not None:
        return
    state: State = ctx.find_object(State)
    rows = usecases.documents.register(state.engine, year)
    if not as_json:
        for row in rows:
            row["status"] = _(STATUS.get(row["status"], row["status"]))
            row["sha256"] = row["sha256"][:12]
    _render(rows, [("doc_no", _("NUMBER")), ("version", _("VERSION")), ("status", _("STATUS")),
                   ("title", _("TITLE")), ("issued_at", _("ISSUED")), ("issued_by", _("BY")),
                   ("sha256", _("SHA-256"))], as_json)


@documents.command("issue")
@click.argument("kind", type=click.Choice(["plan", "project-plan", "audit", "inspection", "survey", "review",
                                          "improvement"]))
@click.option("--year", type=YEAR, required=True)
@format_option
@click.option("--out", type=FilePath(file_okay=False), help=N_("The reports folder (default: ./reports)."))
@json_option
@pass_state
def documents_issue(state: State, kind: str, year: int, formats: str, out: str | None, as_json: bool):
    """Issue the controlled copies of a year's documents (qmd): a new version, effective today, when the
    records changed since the last one (which becomes obsolete); else the effective version again, the
    same bytes. Every other rendering (opsqa report, the web) is a draft.

    Example: opsqa documents issue review --year 2027 --format html,docx,pdf
    """
    issued = usecases.documents.issue(state.engine, state.caller, kind, year, formats=formats, out_folder=out)
    if as_json:
        from .terminal import _print_json

        _print_json(issued)
        return
    for row in issued["documents"]:
        if row["new"]:
            click.echo(_("{doc_no} {version} issued: {title}").format(**row), err=True)
        else:
            click.echo(_("{doc_no} {version} unchanged: {title}").format(**row), err=True)
    for path in issued["files"]:
        click.echo(path)
