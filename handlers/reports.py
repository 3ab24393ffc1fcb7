"""The documents the audit and the inspection produce, as Markdown and HTML, made from the records alone.

A document is a title, its controlled number and a list of blocks (headings, paragraphs, tables,
warnings); it renders to Markdown and to a standalone HTML page. Nothing in it depends on when it
is generated, so the same records always give the same bytes, and a regenerated report can be
compared with the one filed.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import OpsqaError, settings
from store import Audit, ChecklistResult, Finding, Inspection, InspectionResult, Project, User

from .audits import row_evidence
from .checklist import AUDIT_AREAS, AUDIT_ITEMS, INSPECTION_ITEMS, TEMPLATE_VERSION, area_status

RESULT_ZH = {"conform": "符合", "nonconform": "不符合", "observation": "观察项", "not_applicable": "不适用"}
AREA_STATUS_ZH = {"conform": "符合", "nonconform": "不符合", "incomplete": "未完成",
                  "no items configured": "未配置检查项（不视为符合）"}
FINDING_STATUS_ZH = {"open": "待制定措施", "plan_submitted": "措施待审核", "in_progress": "整改中",
                     "pending_verification": "待验证", "closed": "已关闭", "cancelled": "已取消"}
AUDIT_STATUS_ZH = {"planned": "已计划", "in_progress": "实施中", "reported": "已报告", "closed": "已关闭",
                   "cancelled": "已取消"}


@dataclass
class Document:
    """One controlled document: rendered the same way every time from the same blocks."""

    name: str  # the file name without suffix
    title: str
    doc_no: str
    blocks: list[tuple[Any, ...]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("p", text))

    def warning(self, text: str) -> None:
        self.blocks.append(("warn", text))

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", headers, [[_cell(value) for value in row] for row in rows]))

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", f"文件编号：{self.doc_no}　　依据：{TEMPLATE_VERSION}", ""]
        for block in self.blocks:
            if block[0] == "h":
                lines += [f"## {block[1]}", ""]
            elif block[0] == "p":
                lines += [block[1], ""]
            elif block[0] == "warn":
                lines += [f"> **注意：** {block[1]}", ""]
            else:
                _, headers, rows = block
                lines.append("| " + " | ".join(headers) + " |")
                lines.append("|" + "---|" * len(headers))
                lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |"
                          for row in rows] or ["| " + " | ".join(["—"] * len(headers)) + " |"]
                lines.append("")
        return "\n".join(lines)

    def html(self) -> str:
        e = html.escape
        parts = ["<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
                 f"<title>{e(self.title)} {e(self.doc_no)}</title>", f"<style>{_CSS}</style></head><body>",
                 f"<h1>{e(self.title)}</h1>",
                 f'<p class="meta">文件编号：{e(self.doc_no)}　　依据：{e(TEMPLATE_VERSION)}</p>']
        for block in self.blocks:
            if block[0] == "h":
                parts.append(f"<h2>{e(block[1])}</h2>")
            elif block[0] == "p":
                parts.append(f"<p>{e(block[1])}</p>")
            elif block[0] == "warn":
                parts.append(f'<p class="warn"><strong>注意：</strong>{e(block[1])}</p>')
            else:
                _, headers, rows = block
                head = "".join(f"<th>{e(h)}</th>" for h in headers)
                body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for suffix, text in ((".md", self.markdown()), (".html", self.html())):
            path = folder / f"{self.name}{suffix}"
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written


_CSS = ("body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:60em;margin:2em auto;"
        "color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #999;"
        "padding:.25em .5em;text-align:left;vertical-align:top}th{background:#eee}.meta{color:#555}"
        ".warn{background:#fff3cd;border-left:4px solid #e0a800;padding:.5em}")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


class _Dates:
    """Datetimes as local calendar dates: reports speak the organisation's time zone."""

    def __init__(self, session: Session):
        self.zone = settings.zone(session)

    def __call__(self, value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(self.zone).date().isoformat()


def _names(session: Session) -> dict[str, str]:
    return {u.name: (f"{u.display_name}（{u.name}）" if u.display_name else u.name)
            for u in session.scalars(select(User))}


# -- the internal audit (6.2.1) ----------------------------------------------------------------


def audit_documents(session: Session, year: int) -> tuple[list[Document], list[str]]:
    """The year's 《运维过程内审报告》 and each audit's 《运维过程内审检查表》, with the warnings to print."""
    audits = session.scalars(select(Audit).where(Audit.year == year, Audit.status != "cancelled")
                             .order_by(Audit.code)).all()
    warnings = []
    if not any(a.full for a in audits):
        warnings.append(f"{year} 年度没有完整的运维过程内审（6.2.1 要求每年至少一次）"
                        f" / no full internal audit in {year}; 6.2.1 asks for at least one a year")
    report = Document(f"internal-audit-report-{year}", f"{year}年度运维过程内审报告", f"QR-6.2.1-{year}")
    for text in warnings:
        report.warning(text)
    if not audits:
        report.paragraph(f"{year} 年度未实施运维过程内审。")
    date, names = _Dates(session), _names(session)
    documents = []
    for audit in audits:
        rows = session.scalars(select(ChecklistResult).where(ChecklistResult.audit_id == audit.id)).all()
        _audit_section(session, report, audit, rows, date, names)
        documents.append(_checklist(session, audit, rows, date, names))
    return [report, *documents], warnings


def _audit_section(session, report: Document, audit: Audit, rows, date, names) -> None:
    units, team = json.loads(audit.scope), json.loads(audit.team)
    report.heading(f"{audit.code}（{'完整内审' if audit.full else '部分内审'}）")
    report.table(["项目", "内容"], [
        ["审核范围", "、".join(units)],
        ["内审组长", names.get(audit.lead_auditor, audit.lead_auditor)],
        ["内审小组及分工", "；".join(f"{names.get(a, a)}：{'、'.join(u)}" for a, u in team.items())],
        ["计划日期", f"{audit.planned_start} 至 {audit.planned_end}"],
        ["状态", AUDIT_STATUS_ZH.get(audit.status, audit.status)],
        ["报告日期", date(audit.reported_at)],
    ])
    report.heading(f"{audit.code} 检查结果汇总")
    by_area: dict[str, Counter] = {}
    results_of: dict[str, list[str]] = {}
    for row in rows:
        area = row.item_code.split("-")[0]
        by_area.setdefault(area, Counter())[row.result] += 1
        results_of.setdefault(area, []).append(row.result)
    table = []
    for area in AUDIT_AREAS:
        items = sum(1 for i in AUDIT_ITEMS if i.area == area.code)
        counts = by_area.get(area.code, Counter())
        status = area_status(area.code, items * len(units), results_of.get(area.code, []))
        table.append([f"{area.name_zh}（{area.code}）", items, *(counts[r] for r in RESULT_ZH),
                      AREA_STATUS_ZH.get(status, status)])
    report.table(["检查范围", "检查项", *RESULT_ZH.values(), "结论"], table)
    findings = session.scalars(select(Finding).where(Finding.source == "audit", Finding.source_ref == audit.code)
                               .order_by(Finding.code)).all()
    report.heading(f"{audit.code} 不符合项（{len(findings)} 项）")
    report.table(["编号", "检查项", "受审单位", "描述", "责任人", "完成期限", "状态"], [
        [f.code, f.item_code, f.unit, f.description, names.get(f.owner, f.owner), f.due_date,
         FINDING_STATUS_ZH.get(f.status, f.status)] for f in findings])
    report.heading(f"{audit.code} 审核综述与结论")
    report.table(["项目", "内容"], [["审核综述", audit.report_summary], ["审核结论", audit.report_conclusion],
                                  ["管理者代表意见", audit.mr_comment]])


def _checklist(session, audit: Audit, rows, date, names) -> Document:
    doc = Document(f"internal-audit-checklist-{audit.code}", "运维过程内审检查表", f"QR-6.2.1-{audit.code}")
    doc.paragraph(f"审核编号：{audit.code}　　审核范围：{'、'.join(json.loads(audit.scope))}")
    results = {(r.item_code, r.unit): r for r in rows}
    files = row_evidence(session, audit.code)
    for area in AUDIT_AREAS:
        items = [i for i in AUDIT_ITEMS if i.area == area.code]
        doc.heading(f"{area.name_zh}（{area.code}）")
        if not items:
            doc.paragraph("本检查范围未配置检查项，不视为符合。")
            continue
        table = []
        for item in items:
            for unit in json.loads(audit.scope):
                r = results.get((item.code, unit))
                attached = "；".join(f"#{e.id} {e.file_name} sha256:{e.sha256[:12]}"
                                     for e in files.get((item.code, unit), []))
                if r is None:
                    table.append([item.code, item.text_zh, unit, "未检查", None, attached, None, None])
                    continue
                said = r.na_reason if r.result == "not_applicable" else r.evidence_text
                table.append([item.code, item.text_zh, unit, RESULT_ZH.get(r.result, r.result), said, attached,
                              names.get(r.auditor, r.auditor), date(r.checked_at)])
        doc.table(["条款", "检查内容", "受审单位", "结果", "证据/不适用理由", "附件", "审核员", "检查日期"], table)
    return doc


# -- the service inspection (6.2.2) ------------------------------------------------------------

TRIGGER_ZH = {"random_oms": "运维管理主管随机抽查", "qmd_as_needed": "质量管理部必要时检查", "planned": "按计划抽查"}


def inspection_documents(session: Session, code: str) -> list[Document]:
    """An inspection's 运维服务质量检查记录 and 运维服务质量检查报告."""
    inspection = session.scalar(select(Inspection).where(Inspection.code == code.upper()))
    if inspection is None:
        raise OpsqaError(f"no inspection {code}; see `opsqa inspections`")
    date, names = _Dates(session), _names(session)
    projects = json.loads(inspection.projects)
    rows = {(r.project, r.item_code): r for r in session.scalars(
        select(InspectionResult).where(InspectionResult.inspection_id == inspection.id))}
    trigger = TRIGGER_ZH.get(inspection.trigger_type, inspection.trigger_type)
    head = [["检查编号", inspection.code], ["触发方式", trigger],
            ["检查人", names.get(inspection.inspector, inspection.inspector)],
            ["受检项目", "、".join(projects)],
            ["随机抽样", f"种子 {inspection.seed}，样本量 {inspection.sample_size}" if inspection.seed is not None
             else "指定项目"],
            ["开始日期", date(inspection.started_at)], ["报告日期", date(inspection.reported_at)]]
    record = Document(f"inspection-record-{inspection.code}", "运维服务质量检查记录", f"QR-6.2.2-{inspection.code}-R")
    record.table(["项目", "内容"], head)
    for project in projects:
        p = session.get(Project, project)
        record.heading(f"{project} {p.name if p else ''}".strip())
        table = []
        for item in INSPECTION_ITEMS:
            r = rows.get((project, item.code))
            samples = json.loads(r.samples) if r and r.samples else None
            table.append([item.code, item.text_zh, ("合格" if r.passed else "不合格") if r else "未检查",
                          r.evidence if r else None,
                          json.dumps(samples, ensure_ascii=False, sort_keys=True) if samples else None])
        record.table(["检查点", "检查内容", "结果", "情况说明", "抽查记录"], table)
    report = Document(f"inspection-report-{inspection.code}", "运维服务质量检查报告", f"QR-6.2.2-{inspection.code}")
    report.table(["项目", "内容"], head)
    failed = [r for r in rows.values() if not r.passed]
    report.heading("检查结论")
    report.paragraph(f"共检查 {len(projects)} 个项目、{len(rows)} 个检查点，不合格 {len(failed)} 个。")
    findings = session.scalars(select(Finding).where(Finding.source == "inspection",
                                                     Finding.source_ref == inspection.code)
                               .order_by(Finding.code)).all()
    report.heading(f"整改项（{len(findings)} 项）")
    report.table(["编号", "检查点", "项目", "描述", "责任人", "完成期限", "状态"], [
        [f.code, f.item_code, f.unit, f.description, names.get(f.owner, f.owner), f.due_date,
         FINDING_STATUS_ZH.get(f.status, f.status)] for f in findings])
    return [record, report]


def inspection_codes(session: Session, year: int) -> list[str]:
    return list(session.scalars(select(Inspection.code).where(Inspection.code.like(f"INS-{year}-%"))
                                .order_by(Inspection.code)))
