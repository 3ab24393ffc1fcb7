"""What records become for people: the register of controlled documents and their issue, and workbooks of
any listing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import Engine

from .base import acting, reading
from .caller import Caller


def register(engine: Engine, year: int | None = None) -> list[dict[str, Any]]:
    """Every issued version (of a year): number, version, status, issue date, issuer, SHA-256."""
    from handlers.register import listing

    with reading(engine) as session:
        return listing(session, year)


def issue(engine: Engine, caller: Caller, kind: str, year: int, *, formats: tuple[str, ...] | str = ("html", "md"),
          out_folder: str | None = None) -> dict[str, Any]:
    """Issue the controlled copies of a kind of document for a year (qmd): each registered as a new version
    when its records changed since the last, else its effective version again, the same bytes; written in
    the formats asked under OUT/YEAR. Returns {"documents": [...], "files": [...]}."""
    from handlers.register import issue as issue_one

    formats = parse_formats(formats)
    with acting(engine, caller, "documents.issue") as act:
        documents = build(act.session, kind, year)
        issued = [issue_one(act.session, doc, kind=kind, year=year, now=act.now, actor=act.actor)
                  for doc in documents]
        rows = [{"doc_no": doc.doc_no, "title": doc.title, "version": doc.control.version, "new": new}
                for doc, new in issued]
    folder = Path(out_folder or "reports") / str(year)
    files = [str(path) for doc, _ in issued for path in doc.write(folder, formats)]
    return {"documents": rows, "files": files}


def word(key: str, value: Any) -> Any:
    """A stored id of a listing's column in Chinese (`status` in_progress: 整改中); anything else as it is."""
    from handlers.labels_zh import value as label

    return label(key, value)


def shown(doc) -> dict[str, Any]:
    """A document (as a draft) for a page: title, number, controlled fields, blocks with each chart as a data:
    URI, sign-off."""
    import base64

    blocks = [("img", "data:image/svg+xml;base64," + base64.b64encode(b[3].encode("utf-8")).decode("ascii"), b[2])
              if b[0] == "img" else b for b in doc.blocks]
    return {"name": doc.name, "title": doc.title, "doc_no": doc.doc_no, "head": doc.head(), "blocks": blocks,
            "sign_off": doc.sign_off()}


def parse_formats(formats) -> tuple[str, ...]:
    """`html,docx,pdf,md` (or a tuple of them) as a tuple in that order, each known; refused in one line."""
    from handlers.render import FORMATS as KNOWN

    if isinstance(formats, str):
        formats = tuple(part.strip().lower() for part in formats.replace("，", ",").split(",") if part.strip())
    unknown = [f for f in formats if f not in KNOWN]
    if unknown or not formats:
        from engine import OpsqaError
        from i18n import _

        raise OpsqaError(_("unknown format {given!r}: give one or more of {known}, separated by commas").format(
                             given=",".join(unknown)[:40] or "", known=",".join(KNOWN)))
    return tuple(f for f in KNOWN if f in formats)


def build(session, kind: str, year: int) -> list:
    """The documents of one kind for a year, as drafts, from the records alone."""
    from engine import OpsqaError
    from handlers import reports
    from handlers.plan_documents import project_plan_documents, quality_plan_documents
    from handlers.register import KINDS
    from i18n import _

    if kind == "audit":
        return reports.audit_documents(session, year)[0]
    if kind == "inspection":
        return [doc for code in reports.inspection_codes(session, year)
                for doc in reports.inspection_documents(session, code)]
    builders = {"plan": quality_plan_documents, "project-plan": project_plan_documents,
                "survey": reports.survey_documents, "review": reports.review_documents,
                "improvement": reports.improvement_documents}
    if kind not in builders:
        raise OpsqaError(_("no document kind {kind!r}: give one of {kinds}").format(kind=kind[:40],
                                                                                  kinds=", ".join(KINDS)))
    return builders[kind](session, year)


def write_workbook(file: str, rows: list[dict[str, Any]], *, sheet: str, zone, force: bool = False) -> None:
    """Every row a listing gives (its --json rows) as an .xlsx file; the same rows give the same bytes. An
    existing file is replaced only with `force`, a symbolic link never."""
    from handlers.workbook import write_workbook as write

    write(file, rows, sheet=sheet, zone=zone, force=force)


def completions(db: str | None, kind: str) -> list[str]:
    """Process ids or open task ids of a SQLite database, read without SQLAlchemy (a shell's completion
    must answer at once); nothing when the database is not such a file."""
    from store import quickread

    path = quickread.sqlite_file(db)
    if path is None:
        return []
    if kind == "processes":
        return quickread.process_ids(path)
    return [task["id"] for task in quickread.tasks(path) or []]
