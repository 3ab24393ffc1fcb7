"""A document as Word: what it holds, its page furniture, and the same bytes for the same document."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from io import BytesIO

import docx
import pytest
from docx.oxml.ns import qn
from test_audits import register  # noqa: F401  (a fixture)

from handlers.reports import Control, Document, audit_documents
from handlers.signoff import Signature
from handlers.word import FIXED_TIME, render_docx

EFFECTIVE = Control(status="effective", version="A1", effective="2027-03-05")


@pytest.fixture
def document() -> Document:
    doc = Document("internal-audit-report-2027", "2027年度运维过程内审报告", "QR-6.2.1-2027")
    doc.heading("IA-2027-01（完整内审）")
    doc.paragraph("受审单位：平安城市一期（P-01）")
    doc.warning("2027 年度没有完整的运维过程内审")
    doc.table(["编号", "描述", "状态"], [[f"NC-2027-{n:03d}", f"第 {n} 项不符合", "整改中"] for n in range(60)])
    doc.image("findings", "不符合项按检查范围与状态", "<svg xmlns='http://www.w3.org/2000/svg'/>",
              data=(["检查范围", "已关闭", "合计"], [["过程检查", 2, 2]]))
    doc.table(["编号", "描述"], [])
    doc.signatures = [Signature("编制", "张三（qmd1）", "2027-02-01"), Signature("审核", "李四（gm1）", "2027-02-03")]
    return doc


def opened(data: bytes):
    return docx.Document(BytesIO(data))


def rows(table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def header_text(word) -> str:
    return "\n".join(p.text for p in word.sections[0].header.paragraphs)


def test_the_same_document_gives_the_same_bytes_with_fixed_entry_times(document):
    data = render_docx(document)
    assert render_docx(document) == data
    entries = zipfile.ZipFile(BytesIO(data)).infolist()
    assert entries[0].filename == "[Content_Types].xml"
    assert {entry.date_time for entry in entries} == {FIXED_TIME}
    assert "docProps/thumbnail.jpeg" not in [entry.filename for entry in entries]
    properties = opened(data).core_properties
    assert (properties.title, properties.identifier, properties.subject) == (
        "2027年度运维过程内审报告", "QR-6.2.1-2027", "QR-6.2.1-2027")
    assert properties.created == properties.modified == datetime(2000, 1, 1, tzinfo=UTC)
    assert properties.last_modified_by == "opsqa"


def test_a_draft_holds_its_title_fields_blocks_and_sign_off(document):
    word = opened(render_docx(document))
    paragraphs = [(p.style.name, p.text) for p in word.paragraphs if p.text]
    assert paragraphs == [
        ("Title", "2027年度运维过程内审报告"), ("Normal", "草稿/非受控"), ("Heading 2", "IA-2027-01（完整内审）"),
        ("Normal", "受审单位：平安城市一期（P-01）"), ("Normal", "注意：2027 年度没有完整的运维过程内审"),
        ("Caption", "图：不符合项按检查范围与状态")]
    title, stamp = (p for p in word.paragraphs if p.text in ("2027年度运维过程内审报告", "草稿/非受控"))
    assert title.alignment == stamp.alignment == 1  # centered
    assert str(stamp.runs[0].font.color.rgb) == "BB0000"
    head, findings, chart, empty, sign_off = word.tables
    assert rows(chart) == [["检查范围", "已关闭", "合计"], ["过程检查", "2", "2"]]  # the chart's numbers
    assert rows(head) == [["文件编号", "版本", "受控状态", "生效日期", "依据"],
                          ["QR-6.2.1-2027", "—", "草稿/非受控", "—", head.rows[1].cells[4].text]]
    assert len(findings.rows) == 61 and rows(findings)[60] == ["NC-2027-059", "第 59 项不符合", "整改中"]
    assert rows(empty) == [["编号", "描述"], ["—", "—"]]
    assert rows(sign_off) == [["", "签名", "日期"], ["编制", "张三（qmd1）", "2027-02-01"],
                              ["审核", "李四（gm1）", "2027-02-03"], ["批准", "—", "—"]]
    for table in (findings, empty, sign_off):
        first, second = (row._tr.trPr for row in table.rows[:2])
        assert first.find(qn("w:tblHeader")) is not None
        assert second.find(qn("w:tblHeader")) is None


def test_every_page_has_the_controlled_fields_and_page_x_of_y(document):
    word = opened(render_docx(document))
    section = word.sections[0]
    assert (section.page_width.twips, section.page_height.twips) == (11906, 16838)  # A4
    assert [round(length.mm) for length in (section.top_margin, section.bottom_margin, section.left_margin,
                                            section.right_margin)] == [20, 20, 18, 18]
    assert header_text(word) == "文件编号：QR-6.2.1-2027　　版本：—\t受控状态：草稿/非受控"
    footer = section.footer._element
    assert [f.get(qn("w:instr")) for f in footer.iter(qn("w:fldSimple"))] == [" PAGE ", " NUMPAGES "]
    assert "".join(t.text for t in footer.iter(qn("w:t"))) == "第 1 页 共 1 页"


def test_an_effective_copy_shows_its_version_and_no_stamp(document):
    data = render_docx(replace(document, control=EFFECTIVE))
    assert data != render_docx(document)
    word = opened(data)
    assert header_text(word) == "文件编号：QR-6.2.1-2027　　版本：A1\t受控状态：受控"
    assert rows(word.tables[0])[1][:4] == ["QR-6.2.1-2027", "A1", "受控", "2027-03-05"]
    assert "草稿/非受控" not in [p.text for p in word.paragraphs]
    assert word.core_properties.created == datetime(2027, 3, 5, tzinfo=UTC)
    assert word.core_properties.version == "A1"
    obsolete = opened(render_docx(replace(document, control=replace(EFFECTIVE, status="obsolete"))))
    assert "作废" in [p.text for p in obsolete.paragraphs]


def test_chinese_is_stored_as_utf8_in_a_chinese_font(document):
    archive = zipfile.ZipFile(BytesIO(render_docx(document)))
    assert "受审单位：平安城市一期（P-01）".encode() in archive.read("word/document.xml")
    styles = docx.Document(BytesIO(render_docx(document))).styles.element
    defaults = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    assert defaults.find(qn("w:rFonts")).get(qn("w:eastAsia")) == "SimSun"
    assert defaults.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-CN"
    assert not [f for f in styles.iter(qn("w:rFonts")) if f.get(qn("w:eastAsiaTheme"))]


def test_text_xml_cannot_hold_becomes_a_replacement_character():
    doc = Document("odd", "标题\x01", "QR-0")
    doc.paragraph("第一行\x00\x0b第二行\n第三行")
    word = opened(render_docx(doc))
    assert [p.text for p in word.paragraphs if p.text][:3] == [
        "标题\ufffd", "草稿/非受控", "第一行\ufffd\ufffd第二行\n第三行"]


def test_the_system_s_audit_documents_render(register):  # noqa: F811  (the fixture)
    with register.database.reading() as session:
        documents, _warnings = audit_documents(session, 2027)
    for doc in documents:
        word = opened(render_docx(doc))
        assert word.paragraphs[0].text == doc.title
        assert doc.doc_no in header_text(word)
