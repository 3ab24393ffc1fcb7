"""A document as PDF: WeasyPrint's rendering of exactly the page `Document.html()` gives (A4, the controlled
fields at the head of each page, page x of y at its foot), its fonts subset and embedded.

The same document gives the same bytes, so a PDF regenerated from the same records can be compared with the
one filed: WeasyPrint writes no creation or modification date unless the page names one (ours names none),
its font subsets are tagged from the font's name (not a random tag), and the file identifier (/ID) is the
document number with an MD5 of the file's own objects, never a random one. The bytes depend on WeasyPrint's
version and on the font files installed (fonts-noto-cjk), so two machines agree only when both agree.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import threading

from engine import OpsqaError
from i18n import _

from .reports import Document

log = logging.getLogger("opsqa.pdf")

_DATA_URI = re.compile(r"data:[^\s'\"]{40,}")
INSTALL = "apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk"


def render_pdf(doc: Document) -> bytes:
    """The PDF of the document; OpsqaError, in one line, when WeasyPrint or the Pango it draws text with
    cannot load, or when a part of the page (a chart) could not be read and would be missing."""
    html_class = _weasyprint()
    with _RenderLog() as records:
        rendering = html_class(string=doc.html()).render()
        rendering.metadata.description = doc.doc_no  # written as the PDF's /Subject
        pdf = rendering.write_pdf(pdf_identifier=doc.doc_no.encode("utf-8"))
    failures = [_said(r) for r in records if r.levelno >= logging.ERROR]
    if failures:
        raise OpsqaError(_("the PDF of {doc_no} would lack a part of its page: {problem}").format(
            doc_no=doc.doc_no, problem=failures[0]))
    for record in records:
        log.debug("WeasyPrint: %s", _said(record))
    return pdf


def _said(record: logging.LogRecord) -> str:
    """WeasyPrint's message on one line, an inline image's data: URI (a chart, kilobytes long) cut short."""
    text = _DATA_URI.sub("data:…", record.getMessage())
    return " ".join(text.split())


def _weasyprint():
    """WeasyPrint's HTML class, imported on first use: the import takes about half a second and loads Pango
    through its C library, which a machine without it lacks."""
    # WeasyPrint's own messages stay out of the terminal and the server's log (it logs its progress from the
    # import on): each render collects those of its thread (_RenderLog) and render_pdf decides what they mean.
    logging.getLogger("weasyprint").propagate = False
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a troubleshooting block when Pango fails
            from weasyprint import HTML
    except (ImportError, OSError) as error:  # OSError: cffi could not open libpango / libgobject
        reason = str(error).strip().split("\n")[0].split(".  ")[0] or type(error).__name__
        raise OpsqaError(_("PDF needs WeasyPrint and Pango ({reason}); install them with `pip install "
                           "weasyprint` and `{install}`").format(reason=reason, install=INSTALL)) from None
    return HTML


class _RenderLog(logging.Handler):
    """WeasyPrint's warnings and errors logged by this thread while it renders. WeasyPrint logs an error
    for a resource it cannot fetch or read (an image: here a chart), a warning for CSS it ignores or a font
    it cannot load, and its progress (a line per step and page) at INFO, which is dropped."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.thread = threading.get_ident()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.records.append(record)

    def __enter__(self) -> list[logging.LogRecord]:
        logging.getLogger("weasyprint").addHandler(self)
        return self.records

    def __exit__(self, *exc_info) -> None:
        logging.getLogger("weasyprint").removeHandler(self)
