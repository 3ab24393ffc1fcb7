"""A document's files in each format: the HTML (standalone, for screen and print), Word (handlers/word.py),
PDF (handlers/pdf.py: the HTML printed by WeasyPrint, its fonts embedded) and Markdown (with its charts as
SVG files beside it). Each is a rendering of the same blocks and control, so the same records give the same
bytes."""

from __future__ import annotations

from .reports import Document

FORMATS = ("html", "docx", "pdf", "md")


def files(doc: Document, formats: tuple[str, ...]) -> list[tuple[str, bytes | str]]:
    """(file name, content) for each format asked, in FORMATS' order."""
    out: list[tuple[str, bytes | str]] = []
    for fmt in FORMATS:
        if fmt not in formats:
            continue
        if fmt == "html":
            out.append((f"{doc.name}.html", doc.html()))
        elif fmt == "docx":
            from .word import render_docx  # python-docx: imported when a Word file is asked for

            out.append((f"{doc.name}.docx", render_docx(doc)))
        elif fmt == "pdf":
            from .pdf import render_pdf  # WeasyPrint: slow to import, needed only here

            out.append((f"{doc.name}.pdf", render_pdf(doc)))
        elif fmt == "md":
            out.append((f"{doc.name}.md", doc.markdown()))
            out += [(block[1], block[3]) for block in doc.blocks if block[0] == "img"]
    return out
