"""The register of controlled documents (ISO 9001 §7.5, GB/T 19001): what `opsqa documents issue` issued.

A document's version follows the SHA-256 of its canonical HTML (the draft's rendering: everything the
records give, nothing the register adds). Issuing a document whose canonical HTML is that of its effective
version changes nothing and gives the same bytes; issuing one whose records changed registers the next
version (A0, A1 …), effective from that day, and marks the one before it obsolete (作废). Every rendering
that is not issued — `opsqa report`, the web's view — is a draft (草稿/非受控) and is not registered.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import settings
from store import ControlledDocument, append_event

from .reports import Control, Document

KINDS = ("plan", "project-plan", "audit", "inspection", "survey", "review", "improvement")


def version_label(version: int) -> str:
    return f"A{version}"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def issue(session: Session, doc: Document, *, kind: str, year: int, now: datetime, actor) -> tuple[Document, bool]:
    """The document as its controlled copy: its effective version when the records did not change since, else
    a new version registered (the earlier one obsolete). Returns (the copy, whether a version was added)."""
    content = sha256(doc.canonical())
    current = session.scalar(select(ControlledDocument).where(
        ControlledDocument.doc_no == doc.doc_no, ControlledDocument.status == "effective"))
    if current is not None and current.content_sha256 == content:
        return _as_issued(session, doc, current), False
    last = session.scalar(select(ControlledDocument.version).where(ControlledDocument.doc_no == doc.doc_no)
                          .order_by(ControlledDocument.version.desc()).limit(1))
    version = 0 if last is None else last + 1
    row = ControlledDocument(doc_no=doc.doc_no, version=version, kind=kind, name=doc.name, title=doc.title,
                             year=year, status="effective", content_sha256=content, sha256="", html="",
                             issued_at=now, issued_by=actor.name)
    issued = _as_issued(session, doc, row)
    row.html = issued.html()
    row.sha256 = sha256(row.html)
    if current is not None:
        current.status, current.obsoleted_at = "obsolete", now
    session.add(row)
    append_event(session, at=now, kind="document.issued", actor=actor.name, real_actor=actor.real,
                 payload={"doc_no": doc.doc_no, "version": version_label(version), "kind": kind, "year": year,
                          "title": doc.title, "sha256": row.sha256, "content_sha256": content,
                          "obsoleted": version_label(current.version) if current is not None else None})
    return issued, True


def _as_issued(session: Session, doc: Document, row: ControlledDocument) -> Document:
    effective = row.issued_at.astimezone(settings.zone(session)).date().isoformat()
    return replace(doc, control=Control(status="effective", version=version_label(row.version), effective=effective))


def listing(session: Session, year: int | None = None) -> list[dict]:
    """Every registered version (of a year), by number and version: the register as `opsqa documents` shows it."""
    query = select(ControlledDocument).order_by(ControlledDocument.year, ControlledDocument.doc_no,
                                                ControlledDocument.version)
    if year is not None:
        query = query.where(ControlledDocument.year == year)
    return [{"doc_no": row.doc_no, "version": version_label(row.version), "title": row.title, "kind": row.kind,
             "year": row.year, "status": row.status, "issued_at": row.issued_at, "issued_by": row.issued_by,
             "obsoleted_at": row.obsoleted_at, "sha256": row.sha256, "name": row.name}
            for row in session.scalars(query)]
