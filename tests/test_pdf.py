"""A document as PDF (handlers/pdf.py), read back with poppler-utils: the same bytes from every render, its fonts
embedded (a CJK one among them), the controlled fields at the head of each page and page x of y at its foot, a
long table's header repeated on the next page.

These need WeasyPrint with Pango, fonts-noto-cjk and poppler-utils (pdffonts, pdftotext, pdfinfo). Without one
they skip, saying which; under CI=true they fail instead, so CI cannot go green without checking the PDF.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
from helpers import ROOT
from test_audits import register  # noqa: F401  (a fixture: users, two projects, two auditors)

from engine import OpsqaError
from handlers.pdf import render_pdf
from handlers.reports import Control, Document, audit_documents

POPPLER = ("pdffonts", "pdftotext", "pdfinfo")
ROWS = 80  # a table that runs over a page


def _unavailable(reason: str):
    """Skip, or fail under CI=true: CI must not go green without rendering a PDF."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the PDF checks are required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def tools() -> None:
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        _unavailable(f"no {', '.join(missing)}: apt-get install poppler-utils")
    match = subprocess.run(["fc-match", "--format=%{family}", "Noto Sans CJK SC"], capture_output=True, text=True,
                           check=False) if shutil.which("fc-match") else None
    if match is None or "Noto Sans CJK" not in match.stdout:
        _unavailable("no Noto Sans CJK font: apt-get install fonts-noto-cjk")
    try:
        render_pdf(Document("probe", "探测", "QR-0"))
    except OpsqaError as error:
        _unavailable(str(error))


def long_document() -> Document:
    doc = Document("audit-test", "运维过程内审报告（测试）", "QR-6.2.1-2027")
    doc.heading("一、不符合项")
    doc.table(["编号", "受审单位", "描述", "状态"],
              [[f"NC-2027-{i:03}", "平安城市一期", f"第{i}项：巡检记录未归档", "整改中"] for i in range(1, ROWS + 1)])
    doc.paragraph("以上不符合项由内审组确认。")
    return doc


@pytest.fixture(scope="module")
def draft(tools) -> bytes:
    return render_pdf(long_document())


def text(pdf: bytes, tmp_path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return _poppler(["pdftotext", "-layout", *pages], pdf, tmp_path, "-")


def info(pdf: bytes, tmp_path) -> dict[str, str]:
    out = _poppler(["pdfinfo"], pdf, tmp_path)
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def _poppler(command: list[str], pdf: bytes, tmp_path, *after: str) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run([*command, str(path), *after], capture_output=True, text=True, check=True).stdout


def squeezed(value: str) -> str:
    """pdftotext -layout drops the narrow spaces between Chinese words; compare without any."""
    return re.sub(r"\s+", "", value)


def test_the_same_document_gives_the_same_bytes_in_this_and_other_processes(draft):
    assert render_pdf(long_document()) == draft
    script = ("import pickle, sys; from handlers.pdf import render_pdf; "
              "sys.stdout.buffer.write(render_pdf(pickle.load(sys.stdin.buffer)))")
    runs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    outputs = [run.communicate(pickle.dumps(long_document()), timeout=60)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs == [draft, draft]


def test_every_font_is_embedded_and_a_cjk_one_draws_the_chinese(draft, tmp_path):
    fonts = _poppler(["pdffonts"], draft, tmp_path).splitlines()[2:]
    embedded = [re.search(r"\s(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$", line).group(1) for line in fonts]
    assert fonts and embedded == ["yes"] * len(fonts), "\n".join(fonts)
    assert any(re.search(r"Noto-S(ans|erif)-CJK", line) for line in fonts), "\n".join(fonts)


def test_the_pages_carry_the_title_the_controlled_fields_and_page_x_of_y(draft, tmp_path):
    pages = int(info(draft, tmp_path)["Pages"])
    assert pages >= 3
    whole = text(draft, tmp_path)
    for wanted in ("运维过程内审报告（测试）", "文件编号", "QR-6.2.1-2027", "受控状态", "草稿/非受控", "编制", "批准"):
        assert wanted in whole
    for page in range(1, pages + 1):
        on_page = text(draft, tmp_path, page)
        assert f"第{page}页共{pages}页" in squeezed(on_page)  # @bottom-center
        assert "QR-6.2.1-2027" in on_page and "草稿/非受控" in on_page  # @top-left, @top-right
    second = squeezed(text(draft, tmp_path, 2))
    assert "编号受审单位描述状态" in second  # the table's header again
    assert "NC-2027-001" not in second and f"NC-2027-{ROWS:03}" in squeezed(whole)


def test_the_metadata_names_the_document(draft, tmp_path):
    fields = {key: value.strip() for key, value in info(draft, tmp_path).items()}
    assert fields["Title"] == "运维过程内审报告（测试） QR-6.2.1-2027"
    assert fields["Subject"] == "QR-6.2.1-2027"
    assert fields["Page size"].endswith("(A4)")


def test_an_effective_copy_shows_its_version_and_no_draft_stamp(tools, tmp_path):
    doc = replace(long_document(), control=Control(status="effective", version="A1", effective="2027-03-05"))
    on_page = text(render_pdf(doc), tmp_path, 1)
    assert "受控" in on_page and "A1" in on_page and "2027-03-05" in on_page
    assert "草稿" not in on_page and "非受控" not in on_page


def test_the_year_internal_audit_report_renders(register, tools, tmp_path):  # noqa: F811  (the fixture)
    with register.database.reading() as session:
        documents, warnings = audit_documents(session, 2027)
    report = documents[0]
    pdf = render_pdf(report)
    assert int(info(pdf, tmp_path)["Pages"]) == 1
    on_page = text(pdf, tmp_path, 1)
    assert "2027年度运维过程内审报告" in on_page and "QR-6.2.1-2027" in on_page
    assert "2027年度没有完整的运维过程内审" in squeezed(on_page)
    assert warnings


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def terminal():
    """What reaches the root logger's handlers (the terminal, the server's log), the root at INFO as in serve."""
    root, collected = logging.getLogger(), Collected()
    level = root.level
    root.addHandler(collected)
    root.setLevel(logging.INFO)
    yield collected.records
    root.removeHandler(collected)
    root.setLevel(level)


def test_a_chart_that_cannot_be_read_is_refused_not_left_out(tools, terminal):
    doc = Document("broken", "图表损坏", "QR-X-1")
    doc.image("chart", "坏图", "<svg xmlns='http://www.w3.org/2000/svg'><rect")
    with pytest.raises(OpsqaError, match=r"^the PDF of QR-X-1 would lack a part of its page: Failed to load image "
                                         r"at 'data:…'") as refused:
        render_pdf(doc)
    assert "\n" not in str(refused.value)
    assert terminal == []


def test_rendering_logs_nothing_to_the_terminal_and_weasyprint_warns_of_nothing(draft, terminal, caplog):
    caplog.set_level(logging.DEBUG, logger="opsqa.pdf")
    render_pdf(long_document())
    assert [(r.name, r.getMessage()) for r in terminal] == []  # no progress lines
    ignored = [r.getMessage() for r in caplog.records if r.name == "opsqa.pdf"]
    assert ignored == []  # no CSS WeasyPrint ignores (render_pdf keeps such warnings at DEBUG)


def test_without_weasyprint_the_error_says_what_to_install():
    script = ("import sys; sys.modules['weasyprint'] = None\n"
              "from engine import OpsqaError; from handlers.pdf import render_pdf\n"
              "from handlers.reports import Document\n"
              "try: render_pdf(Document('x', 'x', 'QR-0'))\n"
              "except OpsqaError as error: print(error)")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "LANGUAGE": "en"})
    assert out.stderr == ""
    assert out.stdout.startswith("PDF needs WeasyPrint and Pango (import of weasyprint halted; None in sys.modules)")
    assert out.stdout.endswith("`apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk`\n")
