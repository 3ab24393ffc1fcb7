"""The cycle's controlled documents are Chinese: no English word, raw id, JSON or Python repr in their text.

The records keep their English ids (`in_progress`, `q_om_service`, `mean of 3 values`); only the documents'
words are Chinese. Text a person typed stays as typed, and so do the few codes the quality system numbers
things with (ALLOWED)."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from handlers import findings, indicators, inspections, reports, surveys
from handlers.checklist import RESULTS
from handlers.plan_documents import quality_plan_documents
from store import Evidence, InspectionResult, User

YEAR = 2027

# ASCII words of three letters or more that a Chinese document may hold, each with why.
ALLOWED = {
    "GSB": "the standard the templates follow, GSB/T 300.01 (依据 at every document's head)",
    "SHA": "SHA-256, the digest an evidence file is kept with",
    "INS": "an inspection's number, INS-2027-01",
    "IMP": "an improvement item's number, IMP-2027-01",
    "CAP": "a checklist area's code in GSB/T 300.01 (CAP-a …), as are the five below",
    "PPL": "checklist area 人员检查",
    "RES": "checklist area 资源检查",
    "TEC": "checklist area 技术检查",
    "PRC": "checklist area 过程检查",
    "SVC": "the inspection's check points (SVC-a … SVC-e)",
}

# ASCII edges, not \b: a Chinese character is a word character, and an id may stand right next to one
WORD = re.compile(r"[A-Za-z]{3,}")
RAW_ID = re.compile(r"(?<![A-Za-z0-9_])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![A-Za-z0-9_])")  # q_om_service, in_progress
REPR = re.compile(r"(?<![A-Za-z0-9_])(?:None|True|False)(?![A-Za-z0-9_])")
JSON = re.compile(r"[{\[]\s*\"")
DIGEST = re.compile(r"(?<![A-Za-z0-9_])[0-9a-f]{12,64}(?![A-Za-z0-9_])")  # an evidence file's SHA-256, a hash
IMAGE_TARGET = re.compile(r"\]\([^)\s]+\.svg\)")  # the chart file a Markdown image points at
SVG_TEXT = re.compile(r"<text[^>]*>([^<]*)</text>")


def texts(doc: reports.Document) -> list[str]:
    """Everything a reader sees: the Markdown (its escapes undone), each block's own text, each table cell
    and the words of each chart."""
    seen = [IMAGE_TARGET.sub("]()", doc.markdown()).replace("\\", "")]
    for block in doc.blocks:
        if block[0] == "table":
            seen += [*block[1], *(cell for row in block[2] for cell in row)]
        elif block[0] == "img":
            seen += [block[2], *(html.unescape(text) for text in SVG_TEXT.findall(block[3]))]
        else:
            seen.append(block[1])
    return seen


def leaks(text: str, typed: list[str]) -> list[str]:
    """What in `text` is not Chinese for a reader: typed text (logins beside people's names, evidence file
    names) and digests taken out first."""
    for value in typed:
        text = re.sub(rf"(?<![A-Za-z0-9_.-]){re.escape(value)}(?![A-Za-z0-9_-])", " ", text)
    text = DIGEST.sub(" ", text)
    found = [w for w in WORD.findall(text) if w not in ALLOWED]
    found += RAW_ID.findall(text) + REPR.findall(text) + JSON.findall(text)
    return found


def year_documents(session) -> list[reports.Document]:
    documents = reports.audit_documents(session, YEAR)[0]
    for code in reports.inspection_codes(session, YEAR):
        documents += reports.inspection_documents(session, code)
    documents += reports.survey_documents(session, YEAR) + reports.review_documents(session, YEAR)
    documents += reports.improvement_documents(session, YEAR) + quality_plan_documents(session, YEAR)
    return documents


def test_every_document_of_the_year_speaks_chinese(demo_year):
    """The demo year's documents, with one inspection point that sampled records (as `opsqa inspection record
    --sample` stores them), scanned word by word."""
    with demo_year.database.transaction() as session:
        point = session.scalar(select(InspectionResult).order_by(InspectionResult.id).limit(1))
        point.samples = json.dumps({"record_type": "事件记录", "size": 10, "defects": 2}, ensure_ascii=False)
    with demo_year.database.reading() as session:
        typed = [*session.scalars(select(User.name)), *session.scalars(select(Evidence.file_name))]
        documents = year_documents(session)
    assert len(documents) == 14  # report, checklist, 4 × (record, report), survey, review, improvement, plan
    found = {doc.name: sorted({w for text in texts(doc) for w in leaks(text, typed)}) for doc in documents}
    bad = {name: words for name, words in found.items() if words}
    assert not bad, "\n".join(f"{name}: {', '.join(words)}" for name, words in bad.items())


def test_a_year_without_a_full_audit_is_warned_of_in_chinese(demo_year):
    """The document says it in Chinese; the console (`opsqa report audit`) in both languages."""
    with demo_year.database.reading() as session:
        [report], warnings = reports.audit_documents(session, 2026)
    assert [block[1] for block in report.blocks if block[0] == "warn"] == [
        "2026 年度没有完整的运维过程内审（6.2.1 要求每年至少一次）"]
    assert warnings == ["2026 年度没有完整的运维过程内审（6.2.1 要求每年至少一次） / no full internal audit in 2026; "
                        "6.2.1 asks for at least one a year"]


def test_the_review_report_reads_targets_and_bases_in_chinese(demo_year):
    with demo_year.database.reading() as session:
        [review] = reports.review_documents(session, YEAR)
    text = review.markdown()
    assert "| K2 | 平均修复时间 | ≤4.0 小时 | 3.6 小时 | 达标 | 年度值 |" in text
    assert "| K1 | 事件按时解决率 | ≥95.0% | 94.2% | 未达标 | 3 个值的平均值 |" in text
    assert "| K4 | 客户满意度 | ≥4.5 分 | 4.25 分 | 未达标 | 满意度调查总体平均分 |" in text


def test_the_survey_report_names_its_questions(demo_year):
    with demo_year.database.reading() as session:
        [survey] = reports.survey_documents(session, YEAR)
    text = survey.markdown()
    assert "| 对运维服务的满意度 | 4.25 |" in text and "| 对服务台的满意度 | 4.917 |" in text


def test_an_inspection_record_reads_its_sample(demo_year):
    with demo_year.database.transaction() as session:
        point = session.scalar(select(InspectionResult).where(InspectionResult.item_code == "SVC-e")
                               .order_by(InspectionResult.id).limit(1))
        point.samples = json.dumps({"record_type": "incident", "size": 10, "defects": 2})
        code = session.get(reports.Inspection, point.inspection_id).code
    with demo_year.database.reading() as session:
        record, _report = reports.inspection_documents(session, code)
    assert "| 记录类型 incident，抽查 10 条，缺陷 2 条 |" in record.markdown()  # the type as the inspector typed it


# -- every value of the domain has its word -----------------------------------------------------------


def unlabelled(labels: dict[str, str], values) -> list[str]:
    return [v for v in values if v not in labels or WORD.search(labels[v])]


def test_every_finding_status_and_source_has_a_word():
    assert unlabelled(reports.FINDING_STATUS_ZH, (*findings.OPEN_STATES, "closed", "cancelled")) == []
    assert unlabelled(reports.FINDING_SOURCE_ZH, findings.SOURCES) == []


def test_every_audit_and_inspection_value_has_a_word():
    assert unlabelled(reports.RESULT_ZH, RESULTS) == []
    assert unlabelled(reports.AREA_STATUS_ZH, ("conform", "nonconform", "incomplete", "no items configured")) == []
    assert unlabelled(reports.AUDIT_STATUS_ZH, ("planned", "in_progress", "reported", "closed", "cancelled")) == []
    assert unlabelled(reports.TRIGGER_ZH, inspections.TRIGGERS.values()) == []


def test_every_survey_value_has_a_word():
    statuses = ("planned", *surveys.COLLECTING, surveys.AWAITING, "analysing", "reported")
    assert unlabelled(reports.CAMPAIGN_STATUS_ZH, statuses) == []
    assert unlabelled(reports.CHANNEL_ZH, surveys.CHANNELS) == []
    assert unlabelled(surveys.QUESTIONS, ("q_om_service", "q_service_desk")) == []
    assert surveys.question_text("q_om_service") == "对运维服务的满意度"
    assert surveys.question_text("q_response_time") == "response time"  # a question of its own: as typed


def test_every_indicator_value_has_a_word():
    assert unlabelled(reports.ATTAINMENT_ZH, ("met", "unmet", "not_measured")) == []
    assert unlabelled(indicators.SIGN, indicators.DIRECTIONS) == []
    assert unlabelled(indicators.RULE_ZH, indicators.RULES) == []
    bases = ["yearly value", "satisfaction survey", "no value", *(f"{r} of 3 values" for r in indicators.RULES)]
    assert [b for b in bases if WORD.search(indicators.basis_zh(b))] == []
    assert indicators.basis_zh("latest of 1 values") == "1 个值中的最新值"


@pytest.mark.parametrize(("unit", "shown"), [("h", "≤4.0 小时"), ("%", "≤4.0%"), ("分", "≤4.0 分"),
                                             ("min", "≤4.0 分钟"), ("台次", "≤4.0 台次")])
def test_a_target_reads_with_its_direction_and_unit(unit, shown):
    assert indicators.target_zh("lower_better", 4.0, unit) == shown


def test_every_review_and_improvement_value_has_a_word():
    assert unlabelled(reports.REVIEW_STATUS_ZH, ("ready", "initiated", "held", "reported")) == []
    assert unlabelled(reports.ITEM_STATUS_ZH, ("proposed", "planned", "tracking")) == []
    # an improvement item's source types, as handlers/improvement.py `propose` gives them
    assert unlabelled(reports.SOURCE_ZH, ("unmet_kpi", "not_measured_kpi", "open_nc", "complaint", "mr")) == []
