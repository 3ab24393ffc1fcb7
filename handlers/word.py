"""A document as Word (.docx): the same blocks, controlled fields and sign-off the HTML shows, for the people
who file and edit reports in Word.

A4 portrait with the HTML's print margins; the number, version and status at the head of every page and
"第 X 页 共 Y 页" at its foot as real PAGE and NUMPAGES fields. The same document always gives the same
bytes: the core properties come from the document (its effective date, or a fixed one) and the archive
is re-packed with fixed entry times, so a regenerated file can be compared with the one filed.

Charts stay out: Word cannot take an SVG without a raster fallback, and drawing one would need a renderer
this project does not carry. Each chart leaves its caption where it stood; its numbers are in the tables.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from typing import Any

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor, Twips

from .reports import STATUS_ZH, Document

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # every zip entry's time: the earliest a zip entry can carry
UNDATED = datetime(2000, 1, 1)  # the core properties' times of a copy with no effective date
# 宋体 ships with every Windows and with Office for Mac, is the Chinese face of Word's own theme, and
# fontconfig maps it to an installed CJK serif under LibreOffice; a Noto name would fall back silently.
EAST_ASIAN_FONT = "SimSun"
TEXT_WIDTH = Mm(210 - 18 - 18)
STAMP_RED = RGBColor(0xBB, 0x00, 0x00)
HEAD_FILL, WARN_FILL, WARN_BAR = "EEEEEE", "FFF3CD", "E0A800"
SMALL = Pt(9)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render_docx(doc: Document) -> bytes:
    """The document as a .docx file's bytes, the same bytes for the same document."""
    word = docx.Document()
    _fonts(word)
    _page(word, doc)
    _title(word, doc)
    for block in doc.blocks:
        _block(word, block)
    _sign_off(word, doc)
    _properties(word, doc)
    _drop_thumbnail(word)
    saved = io.BytesIO()
    word.save(saved)
    return _repack(saved.getvalue())


def _text(value: Any) -> str:
    """Text from the records as XML can hold it: a control character becomes U+FFFD rather than failing the
    whole document (the HTML escapes what it can, XML 1.0 cannot carry these at all)."""
    return _NOT_XML.sub("\ufffd", str(value))


def _fonts(word) -> None:
    """Chinese in 宋体 and a 10.5 pt (五号) body, as the HTML prints; the language says zh-CN so Word
    lays out and checks the text as Chinese. Every style's East Asian theme font is replaced by the named
    one, so the title and headings do not depend on how a reader resolves the theme."""
    styles = word.styles.element
    for fonts in styles.iter(qn("w:rFonts")):
        fonts.attrib.pop(qn("w:eastAsiaTheme"), None)
        fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)
    defaults = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    defaults.find(qn("w:rFonts")).set(qn("w:hint"), "eastAsia")  # full-width punctuation in the Chinese font
    defaults.find(qn("w:lang")).set(qn("w:eastAsia"), "zh-CN")
    word.styles["Normal"].font.size = Pt(10.5)
    for name in ("Header", "Footer"):
        word.styles[name].font.size = SMALL


def _page(word, doc: Document) -> None:
    """A4 portrait, 20 mm top and bottom, 18 mm left and right (the HTML's @page)."""
    section = word.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(20)
    section.left_margin = section.right_margin = Mm(18)
    section.header_distance = section.footer_distance = Mm(10)
    _header(section, doc)
    _footer(section)


def _header(section, doc: Document) -> None:
    """Number and version at the left, the controlled status at the right of every page."""
    section.header.is_linked_to_previous = False
    paragraph = section.header.paragraphs[0]
    stops = paragraph.paragraph_format.tab_stops
    for inherited in (4680, 9360):  # the Header style's stops are for a Letter page
        stops.add_tab_stop(Twips(inherited), WD_TAB_ALIGNMENT.CLEAR)
    stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
    field = dict(doc.head())
    paragraph.add_run(_text(f"文件编号：{field['文件编号']}　　版本：{field['版本']}\t受控状态：{field['受控状态']}"))


def _footer(section) -> None:
    """第 X 页 共 Y 页, with fields Word fills in when it lays the pages out."""
    section.footer.is_linked_to_previous = False
    paragraph = section.footer.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.add_run("第 ")
    _field(paragraph, "PAGE")
    paragraph.add_run(" 页 共 ")
    _field(paragraph, "NUMPAGES")
    paragraph.add_run(" 页")


def _field(paragraph, instruction: str) -> None:
    """A simple field; its result "1" is what a reader shows until it updates the field."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), f" {instruction} ")
    run, text = OxmlElement("w:r"), OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _title(word, doc: Document) -> None:
    """The title, the controlled fields under it, and the red stamp of a copy that is not in force."""
    word.add_heading(_text(doc.title), 0).alignment = WD_ALIGN_PARAGRAPH.CENTER
    labels, values = zip(*doc.head(), strict=True)
    table = word.add_table(rows=2, cols=len(labels))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, label in zip(table.rows[0].cells, labels, strict=True):
        _fill(cell, label, bold=True, size=SMALL)
        _shade(cell, HEAD_FILL)
    for cell, value in zip(table.rows[1].cells, values, strict=True):
        _fill(cell, value, size=SMALL)
    word.add_paragraph()
    if doc.control.status != "effective":
        stamp = word.add_paragraph()
        stamp.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = stamp.add_run(STATUS_ZH[doc.control.status])
        run.bold = True
        run.font.color.rgb = STAMP_RED


def _block(word, block: tuple[Any, ...]) -> None:
    kind = block[0]
    if kind == "h":
        word.add_heading(_text(block[1]), 2)
    elif kind == "p":
        word.add_paragraph(_text(block[1]))
    elif kind == "warn":
        _warning(word, block[1])
    elif kind == "img":  # Word cannot show an SVG: the chart's caption, and its numbers when it carries them
        word.add_paragraph(_text(f"图：{block[2]}"), style="Caption")
        if len(block) > 4 and block[4] is not None:
            _table(word, *block[4])
    else:
        _, headers, rows = block
        _table(word, headers, rows)


def _warning(word, text: str) -> None:
    """注意： in bold on a pale yellow ground with a bar at the left, as the HTML's .warn."""
    paragraph = word.add_paragraph()
    paragraph.add_run("注意：").bold = True
    paragraph.add_run(_text(text))
    properties = paragraph._p.get_or_add_pPr()
    borders, bar = OxmlElement("w:pBdr"), OxmlElement("w:left")
    for name, value in (("w:val", "single"), ("w:sz", "24"), ("w:space", "4"), ("w:color", WARN_BAR)):
        bar.set(qn(name), value)
    borders.append(bar)
    properties.append(borders)  # pBdr then shd: the order the schema asks
    properties.append(_shading(WARN_FILL))


def _table(word, headers: list[str], rows: list[list[str]], *, first_column_bold: bool = False) -> None:
    """A grid table whose header row repeats on each page and whose rows do not break across pages; an
    empty table shows one row of dashes. A paragraph follows, or Word would join it to the next table."""
    table = word.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    header = table.rows[0]
    for cell, text in zip(header.cells, headers, strict=True):
        _fill(cell, text, bold=True)
        _shade(cell, HEAD_FILL)
    _keep_row(header, repeat=True)
    for values in rows or [["—"] * len(headers)]:
        row = table.add_row()
        for index, (cell, text) in enumerate(zip(row.cells, values, strict=True)):
            _fill(cell, text, bold=first_column_bold and index == 0)
        _keep_row(row)
    word.add_paragraph()


def _sign_off(word, doc: Document) -> None:
    """编制, 审核 and 批准 with who and when, at the end."""
    _table(word, ["", "签名", "日期"], [list(row) for row in doc.sign_off()], first_column_bold=True)


def _fill(cell, text: Any, *, bold: bool = False, size: Pt | None = None) -> None:
    run = cell.paragraphs[0].add_run(_text(text))
    if bold:
        run.bold = True
    if size is not None:
        run.font.size = size


def _shade(cell, fill: str) -> None:
    cell._tc.get_or_add_tcPr().append(_shading(fill))


def _shading(fill: str):
    shading = OxmlElement("w:shd")
    for name, value in (("w:val", "clear"), ("w:color", "auto"), ("w:fill", fill)):
        shading.set(qn(name), value)
    return shading


def _keep_row(row, *, repeat: bool = False) -> None:
    """w:cantSplit, and w:tblHeader on a header row (in that order, as the schema asks)."""
    properties = row._tr.get_or_add_trPr()
    properties.append(OxmlElement("w:cantSplit"))
    if repeat:
        properties.append(OxmlElement("w:tblHeader"))


def _properties(word, doc: Document) -> None:
    """Core properties from the document alone: python-docx's template would say who made it and when."""
    properties = word.core_properties
    properties.title = _text(doc.title)[:255]
    properties.subject = properties.identifier = _text(doc.doc_no)[:255]
    properties.author = properties.last_modified_by = "opsqa"
    properties.comments = ""
    properties.version = doc.control.version
    properties.content_status = STATUS_ZH[doc.control.status]
    properties.revision = 1
    properties.created = properties.modified = _issued(doc)


def _issued(doc: Document) -> datetime:
    """The effective date, at midnight, of an issued copy; a fixed date for a draft (or a date unreadable)."""
    try:
        return datetime.fromisoformat(doc.control.effective) if doc.control.effective else UNDATED
    except ValueError:
        return UNDATED


def _drop_thumbnail(word) -> None:
    """python-docx's template carries a preview picture of its own sample page; no preview is better."""
    relationships = word.part.package.rels
    for key in [key for key, rel in relationships.items() if rel.reltype == RT.THUMBNAIL]:
        del relationships[key]


def _repack(saved: bytes) -> bytes:
    """The archive python-docx wrote, entry by entry in its order ([Content_Types].xml first), each with
    FIXED_TIME, the same attributes and the same compression: python-docx stamps entries with the time."""
    packed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved)) as source, zipfile.ZipFile(packed, "w") as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # what a zip written on Linux says, wherever this runs
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(entry), compresslevel=6)
    return packed.getvalue()
