"""The documents the audit and the inspection produce, as Markdown and HTML, made from the records alone.

A document is a title, its controlled number and a list of blocks (headings, paragraphs, tables,
warnings); it renders to Markdown and to a standalone HTML page. Nothing in it depends on when it
is generated, so the same records always give the same bytes, and a regenerated report can be
compared with the one filed.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import OpsqaError, settings
from i18n import _
from store import Audit, ChecklistResult, Finding, Inspection, InspectionResult, Project, User

from . import signoff
from .audits import row_evidence
from .charts import bar_chart, stacked_chart, target_chart
from .checklist import AUDIT_AREAS, AUDIT_ITEMS, INSPECTION_ITEMS, TEMPLATE_VERSION, area_status
from .indicators import UNIT_ZH, basis_zh, quantity_zh, target_zh

RESULT_ZH = {"conform": "符合", "nonconform": "不符合", "observation": "观察项", "not_applicable": "不适用"}
AREA_STATUS_ZH = {"conform": "符合", "nonconform": "不符合", "incomplete": "未完成",
                  "no items configured": "未配置检查项（不视为符合）"}
FINDING_STATUS_ZH = {"open": "待制定措施", "plan_submitted": "措施待审核", "in_progress": "整改中",
                     "pending_verification": "待验证", "closed": "已关闭", "cancelled": "已取消"}
AUDIT_STATUS_ZH = {"planned": "已计划", "in_progress": "实施中", "reported": "已报告", "closed": "已关闭",
                   "cancelled": "已取消"}
# a finding's status in a chart: red while nothing is done, through to green when closed
STATUS_COLOURS = {"待制定措施": "#c0392b", "措施待审核": "#e67e22", "整改中": "#e0a800", "待验证": "#8e7cc3",
                  "已关闭": "#3d8b4f", "已取消": "#aaaaaa"}
ITEM_STATUS_ZH = {"proposed": "待制定措施（计划未完成）", "planned": "措施已制定（计划待批准）", "tracking": "跟踪中"}
FINDING_SOURCE_ZH = {"audit": "内审", "inspection": "服务质量检查", "complaint": "客户投诉", "survey": "满意度调查",
                     "mr": "管理评审", "improvement": "改进计划", "manual": "手工登记"}


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>!|&~])")
_MD_LINE_START = re.compile(r"^(\s*(?:\d+(?=[.)]))?)([#>+=.)-])", re.MULTILINE)


def _md(text: str, *, inline: bool = False) -> str:
    """Text from the records as Markdown shows it literally: HTML, images, links, emphasis and table bars
    escaped with a backslash, and a line starting with a heading, quote or list marker kept a plain line."""
    text = _MD_SPECIAL.sub(r"\\\1", str(text))
    if inline:  # a table cell: no block starts there
        return text
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def _standing_zh(status: str) -> str:
    """An improvement measure as it stands: its follow-up's status, or the item's own before approval."""
    return FINDING_STATUS_ZH.get(status) or ITEM_STATUS_ZH.get(status, status)


STATUS_ZH = {"draft": "草稿/非受控", "effective": "受控", "obsolete": "作废"}
SIGN_STEPS = ("编制", "审核", "批准")


@dataclass(frozen=True)
class Control:
    """What the register says of a copy: a draft (every rendering that is not issued) has no version and no
    effective date; an issued copy has its version (A0, A1 …), its status and the date it took effect."""

    status: str = "draft"  # draft | effective | obsolete
    version: str = ""
    effective: str = ""


DRAFT = Control()


@dataclass
class Document:
    """One controlled document: rendered the same way every time from the same blocks and control.

    The canonical HTML is the draft's (`canonical()`): it holds everything that comes from the records —
    the blocks, the charts, the sign-off block — and nothing the register adds, so its SHA-256 says whether
    the records changed since a version was issued. Markdown, DOCX and PDF are renderings of the same."""

    name: str  # the file name without suffix
    title: str
    doc_no: str
    blocks: list[tuple[Any, ...]] = field(default_factory=list)
    signatures: list[Any] = field(default_factory=list)  # handlers.signoff.Signature: 编制, 审核, 批准
    control: Control = DRAFT

    def heading(self, text: str) -> None:
        self.blocks.append(("h", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("p", text))

    def warning(self, text: str) -> None:
        self.blocks.append(("warn", text))

    def image(self, name: str, alt: str, svg: str, *, data: tuple[list[str], list[list[Any]]] | None = None) -> None:
        """A chart written beside the report as `<document>-<name>.svg`; the HTML carries it inline. `data`: the
        chart's numbers as (headers, rows), for a rendering that cannot draw it (Word shows them as a table)."""
        table = (data[0], [[_cell(value) for value in row] for row in data[1]]) if data else None
        self.blocks.append(("img", f"{self.name}-{name}.svg", alt, svg, table))

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", headers, [[_cell(value) for value in row] for row in rows]))

    def head(self) -> list[tuple[str, str]]:
        """The controlled fields, as the head of every page shows them."""
        return [("文件编号", self.doc_no), ("版本", self.control.version or "—"),
                ("受控状态", STATUS_ZH[self.control.status]), ("生效日期", self.control.effective or "—"),
                ("依据", TEMPLATE_VERSION)]

    def sign_off(self) -> list[tuple[str, str, str]]:
        """(step, who, date) for 编制, 审核 and 批准; a step with nobody yet shows a dash."""
        given = {s.step: s for s in self.signatures}
        return [(step, getattr(given.get(step), "name", "") or "—", getattr(given.get(step), "date", "") or "—")
                for step in SIGN_STEPS]

    def canonical(self) -> str:
        """The HTML whose SHA-256 versions the document: the draft's rendering."""
        return replace(self, control=DRAFT).html()

    def markdown(self) -> str:
        """Text from the records is escaped (_md): no raw HTML, no image or link of its own, no block markup."""
        lines = [f"# {_md(self.title)}", "",
                 "　　".join(f"{label}：{_md(value)}" for label, value in self.head()), ""]
        for block in self.blocks:
            if block[0] == "h":
                lines += [f"## {_md(block[1])}", ""]
            elif block[0] == "p":
                lines += [_md(block[1]), ""]
            elif block[0] == "warn":
                lines += [f"> **注意：** {_md(block[1])}", ""]
            elif block[0] == "img":
                lines += [f"![{_md(block[2])}]({block[1]})", ""]
            else:
                _, headers, rows = block
                lines += _md_table(headers, rows)
        lines += _md_table(["", "签名", "日期"], [list(row) for row in self.sign_off()])
        return "\n".join(lines)

    def html(self) -> str:
        """A standalone page for the screen and for print (A4, the controlled fields at the head of every
        page, page x of y at its foot, tables' headers repeated across pages, no browser furniture)."""
        e = html.escape
        state = self.control.status
        head = "".join(f"<th>{e(label)}</th><td>{e(value)}</td>" for label, value in self.head())
        parts = ["<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
                 f"<title>{e(self.title)} {e(self.doc_no)}</title>",
                 f'<style>{_CSS}{_page_css(self)}</style></head><body class="{state}">',
                 f'<table class="control"><tr>{head}</tr></table>',
                 f"<h1>{e(self.title)}</h1>"]
        if state != "effective":
            parts.append(f'<p class="stamp">{e(STATUS_ZH[state])}</p>')
        for block in self.blocks:
            if block[0] == "h":
                parts.append(f"<h2>{e(block[1])}</h2>")
            elif block[0] == "p":
                parts.append(f"<p>{e(block[1])}</p>")
            elif block[0] == "warn":
                parts.append(f'<p class="warn"><strong>注意：</strong>{e(block[1])}</p>')
            elif block[0] == "img":
                data = base64.b64encode(block[3].encode("utf-8")).decode("ascii")
                parts.append(f'<figure><img src="data:image/svg+xml;base64,{data}" alt="{e(block[2])}">'
                             f"<figcaption>{e(block[2])}</figcaption></figure>")
            else:
                _, headers, rows = block
                parts.append(_html_table(headers, rows))
        parts.append('<table class="signoff"><thead><tr><th></th><th>签名</th><th>日期</th></tr></thead><tbody>'
                     + "".join(f"<tr><th>{e(step)}</th><td>{e(who)}</td><td>{e(date)}</td></tr>"
                               for step, who, date in self.sign_off()) + "</tbody></table>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def write(self, folder: Path, formats: tuple[str, ...] = ("md", "html")) -> list[Path]:
        """The renderings asked for (handlers/render.py), regenerated in place: the same records and control,
        the same bytes; never through a link."""
        from engine.files import write_output

        from .render import files

        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, content in files(self, formats):
            path = folder / name
            write_output(path, content, force=True)
            written.append(path)
        return written


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h, inline=True) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md(c, inline=True).replace("\n", " ") for c in row) + " |"
              for row in rows] or ["| " + " | ".join(["—"] * len(headers)) + " |"]
    return [*lines, ""]


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not rows:
        body = "<tr>" + "<td>—</td>" * len(headers) + "</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = ("html{font-family:'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei',sans-serif}"
        "body{max-width:60em;margin:2em auto;color:#222;line-height:1.5}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "th,td{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#eee}"
        "thead{display:table-header-group}tr{break-inside:avoid}h1{text-align:center}h2{break-after:avoid}"
        "table.control{width:100%;font-size:.85em}table.control th{white-space:nowrap}"
        "table.signoff{width:100%;margin-top:2em}table.signoff th:first-child{width:5em}"
        ".stamp{text-align:center;color:#b00;font-weight:bold;letter-spacing:.3em}"
        "figure{margin:1em 0;break-inside:avoid}figure img{max-width:100%}figcaption{color:#555;font-size:.9em}"
        ".warn{background:#fff3cd;border-left:4px solid #e0a800;padding:.5em}"
        "@media print{body{max-width:none;margin:0;font-size:10.5pt}table{font-size:9pt}th,td{padding:.15em .3em}}")


def _page_css(doc: Document) -> str:
    """A4 pages with the number, version and status at the head and page x of y at the foot of each one
    (CSS paged media: the browser's print and WeasyPrint read the same), instead of the browser's own date,
    title and file path."""
    def text(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    left = text(f"{doc.doc_no}　{doc.control.version or '—'}")
    right = text(STATUS_ZH[doc.control.status])
    return ('@page{size:A4;margin:20mm 18mm 20mm 18mm;'
            f'@top-left{{content:"{left}";font-size:9pt;color:#555}}'
            f'@top-right{{content:"{right}";font-size:9pt;color:#555}}'
            '@bottom-center{content:"第 " counter(page) " 页 共 " counter(pages) " 页";font-size:9pt}}')


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
    warnings = []  # (the document's words, the console's English)
    if not any(a.full for a in audits):
        warnings.append((f"{year} 年度没有完整的运维过程内审（6.2.1 要求每年至少一次）",
                         f"no full internal audit in {year}; 6.2.1 asks for at least one a year"))
    report = Document(f"internal-audit-report-{year}", f"{year}年度运维过程内审报告", f"QR-6.2.1-{year}",
                      signatures=signoff.audit_report(session, year))
    for chinese, _english in warnings:
        report.warning(chinese)
    if not audits:
        report.paragraph(f"{year} 年度未实施运维过程内审。")
    date, names = _Dates(session), _names(session)
    documents = []
    for audit in audits:
        rows = session.scalars(select(ChecklistResult).where(ChecklistResult.audit_id == audit.id)).all()
        _audit_section(session, report, audit, rows, date, names)
        documents.append(_checklist(session, audit, rows, date, names))
    return [report, *documents], [f"{chinese} / {english}" for chinese, english in warnings]


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
    if findings:
        by_area = {a.code: Counter(f.status for f in findings if (f.item_code or "").split("-")[0] == a.code)
                   for a in AUDIT_AREAS}
        order = [status for status in FINDING_STATUS_ZH if any(c[status] for c in by_area.values())]
        rows = [(a.name_zh, [(FINDING_STATUS_ZH[status], by_area[a.code][status]) for status in order])
                for a in AUDIT_AREAS if by_area[a.code]]
        report.image(f"{audit.code}-findings", "不符合项按检查范围与状态（每项只计一次）",
                     stacked_chart(f"{audit.code} 不符合项按检查范围与状态", rows, colours=STATUS_COLOURS),
                     data=(["检查范围", *(FINDING_STATUS_ZH[status] for status in order), "合计"],
                           [[area, *(count for _, count in parts), sum(count for _, count in parts)]
                            for area, parts in rows]))
    report.heading(f"{audit.code} 审核综述与结论")
    report.table(["项目", "内容"], [["审核综述", audit.report_summary], ["审核结论", audit.report_conclusion],
                                  ["管理者代表意见", audit.mr_comment]])


def _checklist(session, audit: Audit, rows, date, names) -> Document:
    doc = Document(f"internal-audit-checklist-{audit.code}", "运维过程内审检查表", f"QR-6.2.1-{audit.code}",
                   signatures=signoff.audit_checklist(session, audit.code))
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
                attached = "；".join(f"#{e.id} {e.file_name}（SHA-256：{e.sha256[:12]}）"
                                     for e in files.get((item.code, unit), []))
                if r is None:
                    table.append([item.code, item.text_zh, unit, "未检查", None, attached, None, None])
                    continue
                said = r.na_reason if r.result == "not_applicable" else r.evidence_text
                table.append([item.code, item.text_zh, unit, RESULT_ZH.get(r.result, r.result), said, attached,
                              names.get(r.auditor, r.auditor), date(r.checked_at)])
        doc.table(["条款", "检查内容", "受审单位", "结果", "证据/不适用理由", "附件", "审核员", "检查日期"], table)
        if area.code == "CAP":
            _improvement_for_audit(session, doc, audit, names)
    return doc


def _improvement_for_audit(session, doc: Document, audit: Audit, names) -> None:
    """CAP-g: last year's improvement measures (and older ones still open) as they stand, for the auditor."""
    from .improvement import for_audit

    shown = for_audit(session, audit.year)
    if not shown["items"]:
        doc.paragraph(f"CAP-g 核查依据：{shown['year']} 年度无改进措施。")
        return
    doc.paragraph(f"CAP-g 核查依据：上年度（{shown['year']}）改进措施及以前年度未完成的改进措施落实情况"
                  f"（{len(shown['items'])} 项，未完成 {shown['unfinished']} 项）")
    doc.table(["编号", "来源", "改进措施", "责任人", "完成期限", "跟踪", "状态"], [
        [i["code"], _source_zh(i["source"]), i["measure"], names.get(i["owner"], i["owner"]), i["due"], i["action"],
         _standing_zh(i["status"])] for i in shown["items"]])


# -- the service inspection (6.2.2) ------------------------------------------------------------

TRIGGER_ZH = {"random_oms": "运维管理主管随机抽查", "qmd_as_needed": "质量管理部必要时检查", "planned": "按计划抽查"}


def inspection_documents(session: Session, code: str) -> list[Document]:
    """An inspection's 运维服务质量检查记录 and 运维服务质量检查报告."""
    inspection = session.scalar(select(Inspection).where(Inspection.code == code.upper()))
    if inspection is None:
        raise OpsqaError(_("no inspection {code}; see `opsqa inspections`").format(code=code))
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
    record = Document(f"inspection-record-{inspection.code}", "运维服务质量检查记录", f"QR-6.2.2-{inspection.code}-R",
                      signatures=signoff.inspection_record(session, inspection.code))
    record.table(["项目", "内容"], head)
    for project in projects:
        p = session.get(Project, project)
        record.heading(f"{project} {p.name if p else ''}".strip())
        table = []
        for item in INSPECTION_ITEMS:
            r = rows.get((project, item.code))
            table.append([item.code, item.text_zh, ("合格" if r.passed else "不合格") if r else "未检查",
                          r.evidence if r else None, _samples_zh(r.samples) if r and r.samples else None])
        record.table(["检查点", "检查内容", "结果", "情况说明", "抽查记录"], table)
    report = Document(f"inspection-report-{inspection.code}", "运维服务质量检查报告", f"QR-6.2.2-{inspection.code}",
                      signatures=signoff.inspection_report(session, inspection.code))
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


def _samples_zh(stored: str) -> str:
    """The records a check point sampled (stored as JSON: record_type, size, defects), in words; the record
    type as the inspector typed it."""
    samples = json.loads(stored)
    return (f"记录类型 {samples.get('record_type') or '—'}，抽查 {samples.get('size')} 条，"
            f"缺陷 {samples.get('defects')} 条")


def inspection_codes(session: Session, year: int) -> list[str]:
    return list(session.scalars(select(Inspection.code).where(Inspection.code.like(f"INS-{year}-%"))
                                .order_by(Inspection.code)))


# -- the satisfaction survey (6.2.4) ----------------------------------------------------------

CHANNEL_ZH = {"phone": "电话", "form": "发放调查表", "visit": "拜访"}
CAMPAIGN_STATUS_ZH = {"planned": "已计划", "collecting": "收集中", "extended": "延期收集中",
                      "awaiting_decision": "无答卷，待质量管理部决定", "analysing": "分析中", "reported": "已发布"}
ATTAINMENT_ZH = {"met": "达标", "unmet": "未达标", "not_measured": "未测量"}


def survey_documents(session: Session, year: int) -> list[Document]:
    """The 《满意度调查总结报告》: the frozen statistics, by channel, project and question, against last
    year, and the rectifications of the problems customers raised."""
    from .surveys import get_campaign, question_text, rectifications, statistics

    campaign = get_campaign(session, year)
    stats = json.loads(campaign.stats) if campaign.stats else statistics(session, campaign)
    doc = Document(f"satisfaction-survey-report-{year}", f"{year}年度客户满意度调查总结报告", f"QR-6.2.4-{year}",
                   signatures=signoff.survey_report(session, year))
    if campaign.status not in ("reported", "closed"):
        doc.warning(f"{campaign.code} 尚未发布（{CAMPAIGN_STATUS_ZH.get(campaign.status, campaign.status)}），"
                    "以下为当前数据")
    overall = stats["overall_mean"]
    doc.table(["项目", "内容"], [
        ["调查编号", campaign.code], ["问卷版本", campaign.questionnaire], ["收集截止", campaign.collect_until],
        ["邀请客户数", stats["invited"]], ["回收答卷数", stats["responded"]],
        ["回收率", f"{stats['response_rate']:.2%}" if stats["response_rate"] is not None else None],
        ["总体满意度", overall if overall is not None else "无答卷，不计分"],
        ["上年度总体满意度", stats["previous_year_mean"]], ["同比变化", stats["delta"]],
    ])
    if overall is None and campaign.no_data_reason:
        doc.paragraph(f"无数据结束的原因：{campaign.no_data_reason}")
    if stats.get("late"):
        doc.paragraph(f"收集截止后收到 {stats['late']} 份答卷：已登记，未计入统计"
                      + ("（调查以无数据结束，不计分）" if campaign.no_data_reason else "") + "。")
    doc.heading("按调查方式")
    doc.table(["调查方式", "平均分"], [[CHANNEL_ZH.get(k, k), v] for k, v in stats["mean_by_channel"].items()])
    bars = [(CHANNEL_ZH.get(k, k), v) for k, v in stats["mean_by_channel"].items()]
    if stats["previous_year_mean"] is not None:
        bars.append((f"{year - 1}年总体", stats["previous_year_mean"]))
    bars.append((f"{year}年总体", overall))
    chart = bar_chart("满意度：按调查方式与年度（满分5分）", bars, maximum=5, unit="分")
    doc.image("by-channel", "满意度：按调查方式与年度", chart,
              data=(["调查方式或年度", "平均分"], [[label, value] for label, value in bars]))
    doc.heading("按项目")
    doc.table(["项目", "平均分"], [[k, v] for k, v in stats["mean_by_project"].items()])
    doc.heading("按客户")
    doc.table(["客户", "平均分"], [[k, v] for k, v in stats["mean_by_customer"].items()])
    doc.heading("按问题")
    doc.table(["问题", "平均分"], [[question_text(k), v] for k, v in stats["mean_by_question"].items()])
    doc.heading("评分分布")
    doc.table(["分数", "答卷数"], [[k, v] for k, v in stats["distribution"].items()])
    doc.heading("调查总结")
    doc.paragraph(campaign.report_summary or "—")
    fixes, names = rectifications(session, campaign), _names(session)
    doc.heading(f"整改措施（{len(fixes)} 项）")
    doc.table(["编号", "项目", "问题", "责任人", "完成期限", "状态"], [
        [f["code"], f["unit"], f["description"], names.get(f["owner"], f["owner"]), f["due"],
         FINDING_STATUS_ZH.get(f["status"], f["status"])] for f in fixes])
    return [doc]


# -- the management review (6.2.5) ------------------------------------------------------------


REVIEW_STATUS_ZH = {"ready": "待发起", "initiated": "已发起", "held": "已召开", "reported": "已发布"}


def review_documents(session: Session, year: int) -> list[Document]:
    """The 《管理评审报告》 from the review's frozen inputs: every unmet indicator, every open finding
    (as it stood when the report was issued), the decisions."""
    from .reviews import get_review, review_view

    review = review_view(get_review(session, year))
    inputs = review["inputs"] or {}
    names = _names(session)
    doc = Document(f"management-review-report-{year}", f"{year}年度管理评审报告", f"QR-6.2.5-{year}",
                   signatures=signoff.review_report(session, year))
    if review["status"] != "reported":
        doc.warning(f"{year} 年度管理评审尚未发布（{REVIEW_STATUS_ZH.get(review['status'], review['status'])}）")
    snapshot = review["precondition_snapshot"]
    doc.table(["项目", "内容"], [
        ["会议日期", review["review_date"]], ["发起人", names.get(review["initiated_by"], review["initiated_by"])],
        ["参加人员", review["attendees"]],
        ["评审前提", f"内审报告 {snapshot.get('audit_report') or '—'}（{snapshot.get('audit') or '—'}）；"
                     f"满意度调查报告 {snapshot.get('survey_report') or '—'}（{snapshot.get('survey') or '—'}）"]])
    doc.heading("一、运维过程内审")
    doc.table(["审核编号", "类型", "状态", "报告", "结论"], [
        [a["code"], "完整内审" if a["full"] else "部分内审", AUDIT_STATUS_ZH.get(a["status"], a["status"]),
         a["report"], a["conclusion"]] for a in inputs.get("audits", [])])
    kpis = inputs.get("indicators", [])
    doc.heading("二、质量目标与指标达成情况")
    doc.table(["指标", "名称", "目标", "实际", "结论", "依据"], [
        [k["code"], k["name"], target_zh(k["direction"], k["target"], k["unit"]), quantity_zh(k["actual"], k["unit"]),
         ATTAINMENT_ZH.get(k["attainment"], k["attainment"]), basis_zh(k["basis"])] for k in kpis])
    if kpis:
        doc.image("indicators", "各指标实际值与目标（绿色达标，红色未达标，竖线为目标）",
                  target_chart("质量指标：实际值与目标", [
                      (f"{k['code']} {k['name']}", k["actual"], k["target"], k["direction"],
                       UNIT_ZH.get(k["unit"].strip().lower(), k["unit"].strip())) for k in kpis]))
    unmet = [k for k in kpis if k["attainment"] != "met"]
    doc.heading(f"未达标指标（{len(unmet)} 项）")
    doc.table(["指标", "名称", "目标", "实际", "结论"], [
        [k["code"], k["name"], target_zh(k["direction"], k["target"], k["unit"]), quantity_zh(k["actual"], k["unit"]),
         ATTAINMENT_ZH.get(k["attainment"], k["attainment"])] for k in unmet])
    survey = inputs.get("survey") or {}
    doc.heading("三、客户满意度调查")
    if survey:
        mean = survey.get("overall_mean")
        doc.paragraph(f"{survey['code']}：邀请 {survey.get('invited', 0)}，回收 {survey.get('responded', 0)}，"
                      + (f"总体满意度 {mean}" if mean is not None else "无答卷，不计分") + "。")
    fixes = inputs.get("rectifications", {})
    doc.paragraph(f"整改措施完成情况：共 {fixes.get('total', 0)} 项，已关闭 {fixes.get('closed', 0)} 项，"
                  f"未关闭 {len(fixes.get('open', []))} 项" + (f"（{'、'.join(fixes['open'])}）" if fixes.get("open")
                                                          else "") + "。")
    open_findings = inputs.get("open_findings", [])
    doc.heading(f"未关闭的不符合项（{len(open_findings)} 项）")
    doc.table(["编号", "来源", "受审单位", "责任人", "完成期限", "状态", "超期"], [
        [f["code"], FINDING_SOURCE_ZH.get(f["source"], f["source"]), f["unit"], names.get(f["owner"], f["owner"]),
         f["due"], FINDING_STATUS_ZH.get(f["status"], f["status"]),
         f"超期 {f['days_overdue']} 天" if f["overdue"] else "—"]
        for f in open_findings])
    by_status = inputs.get("findings_by_status", {})
    if by_status:
        bars = [(FINDING_STATUS_ZH.get(k, k), float(v)) for k, v in by_status.items()]
        doc.image("findings", "本年度不符合项按状态", bar_chart("本年度不符合项按状态", bars, unit="项", counts=True),
                  data=(["状态", "项数"], [[label, int(value)] for label, value in bars]))
    closure = inputs.get("on_time_closure")
    if closure is not None:  # reviews gathered before the rate was an input have none
        _on_time_closure(doc, closure, names)
    complaints = inputs.get("complaints", {})
    doc.heading("四、客户投诉")
    doc.paragraph(f"共 {complaints.get('total', 0)} 起，其中重大投诉 {complaints.get('major', 0)} 起，"
                  f"已关闭 {complaints.get('closed', 0)} 起，按时解决 {complaints.get('resolved_on_time') or '—'}。")
    inspections = inputs.get("inspections", {})
    doc.heading("五、运维服务质量检查")
    doc.paragraph(f"共 {inspections.get('total', 0)} 次，已报告 {inspections.get('reported', 0)} 次。")
    previous = inputs.get("previous_actions", [])
    unfinished = [p for p in previous if p["status"] not in ("closed", "cancelled")]
    doc.heading(f"六、上年度改进措施落实情况（{len(previous)} 项，未完成 {len(unfinished)} 项）")
    doc.table(["编号", "来源", "措施", "状态", "已完成"], [
        [p["code"], _source_zh(p["source"]), p["measure"], _standing_zh(p["status"]), p not in unfinished]
        for p in previous])
    doc.heading("七、会议纪要")
    doc.paragraph(review["minutes"] or "—")
    doc.heading(f"八、评审决议（{len(review['decisions'])} 项）")
    doc.table(["序号", "决议", "需制定改进措施"], [[d["no"], d["text"], d["requires_action"]]
                                            for d in review["decisions"]])
    if review["status"] == "reported":
        _review_checkpoint(session, doc, review)
    return [doc]


def _review_checkpoint(session: Session, doc: Document, review: dict) -> None:
    """The history's signed checkpoint taken at the review's report (the first one covering its event):
    with it, anyone holding the service's public key can show that the records behind this report were not
    changed since. Regenerating the report gives the same text."""
    from sqlalchemy import select

    from store import Event, HistoryCheckpoint

    reported = session.scalar(select(Event.seq).where(Event.kind == "review.reported",
                                                      Event.instance_id == review["instance"])
                              .order_by(Event.seq.desc()).limit(1))
    doc.heading("九、历史记录检查点")
    checkpoint = None if reported is None else session.scalar(
        select(HistoryCheckpoint).where(HistoryCheckpoint.seq >= reported)
        .order_by(HistoryCheckpoint.seq, HistoryCheckpoint.id).limit(1))
    if checkpoint is None:
        doc.paragraph("评审发布后尚未签署历史记录检查点（由服务定时签署；签署后重新生成本报告即可显示）。")
        return
    doc.table(["项目", "内容"], [
        ["覆盖事件", f"第 1–{checkpoint.seq} 条（评审发布为第 {reported} 条）"],
        ["签署时间", checkpoint.at.astimezone(settings.zone(session)).strftime("%Y-%m-%d %H:%M")],
        ["签名密钥", checkpoint.key_id], ["链头哈希", checkpoint.head_hash],
        ["核验方法", "opsqa history verify --public-key 公钥文件"]])


def _on_time_closure(doc: Document, closure: dict, names: dict) -> None:
    """按期整改率: the year's findings closed by their due date of those closed, and the ones closed late."""
    rate = closure["on_time_rate"]
    doc.paragraph(f"本年度不符合项按期整改率：{closure['closed_on_time']}/{closure['closed']}"
                  + (f"（{rate:.1%}）" if rate is not None else "（尚无已关闭的不符合项）")
                  + f"，逾期关闭 {closure['closed_late']} 项。")
    doc.heading(f"逾期关闭的不符合项（{closure['closed_late']} 项）")
    doc.table(["编号", "来源", "受审单位", "责任人", "完成期限", "关闭日期", "逾期天数"], [
        [f["code"], FINDING_SOURCE_ZH.get(f["source"], f["source"]), f["unit"], names.get(f["owner"], f["owner"]),
         f["due"], f["closed_on"], f"{f['days_late']} 天"] for f in closure["late_findings"]])


# -- the improvement plan (6.2.6) -------------------------------------------------------------

SOURCE_ZH = {"unmet_kpi": "未达标指标", "not_measured_kpi": "未测量指标", "open_nc": "未关闭不符合项",
             "complaint": "重大投诉", "mr": "管理评审决议"}


def _source_zh(source: str) -> str:
    kind, _colon, ref = source.partition(":")
    return f"{SOURCE_ZH.get(kind, kind)} {ref}"


def improvement_documents(session: Session, year: int) -> list[Document]:
    """The 《服务能力改进计划》: one line per source item, with its measure and how its follow-up stands; then
    last year's measures still open at the review, carried once each as they stand."""
    from .improvement import carried_items, list_items, standing

    items, carried = list_items(session, year), carried_items(session, year)
    if not items and not carried:
        raise OpsqaError(_("there is no {year} improvement plan yet; it follows the management review").format(
                             year=year))
    names = _names(session)
    doc = Document(f"improvement-plan-{year}", f"{year}年度服务能力改进计划", f"QR-6.2.6-{year}",
                   signatures=signoff.improvement_plan(session, year))
    doc.table(["编号", "来源", "问题", "原因分析", "改进措施", "责任人", "完成期限", "预期效果", "跟踪", "状态"], [
        [i["code"], _source_zh(i["source"]),
         i["description"], i["cause"], i["measure"], names.get(i["owner"], i["owner"]), i["due"], i["expected"],
         i["action"], _standing_zh(standing(i))] for i in items])
    doc.heading(f"上年度改进措施（管理评审时未完成，结转 {len(carried)} 项）")
    if not carried:
        doc.paragraph("无。")
        return [doc]
    doc.table(["编号", "来源", "改进措施", "责任人", "完成期限", "跟踪", "状态"], [
        [i["code"], _source_zh(i["source"]), i["measure"], names.get(i["owner"], i["owner"]), i["due"], i["action"],
         _standing_zh(standing(i))] for i in carried])
    return [doc]
