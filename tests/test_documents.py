"""The register of controlled documents: a version per change of the records (the SHA-256 of the canonical
HTML), the same bytes when nothing changed, the earlier version obsolete and kept; drafts everywhere else,
never registered; only qmd issues."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from test_audits import register  # noqa: F401  (the fixture: projects and auditors)

import usecases
from engine import OpsqaError
from engine.errors import Denied


def plan_audit(engine) -> str:
    from handlers.audits import create_audit

    with engine.database.transaction() as session:
        return create_audit(session, year=2027, full=True, team={"qmd2": ["P-01"], "ops_aud": ["P-02"]},
                            lead_auditor="qmd2", planned_start=date(2027, 6, 1), planned_end=date(2027, 6, 10),
                            now=engine.clock.now(), actor=engine.actor("qmd1")).code


def issued_events(engine) -> list[dict]:
    from store import Event

    with engine.database.reading() as session:
        return [json.loads(e.payload) for e in session.query(Event).filter(Event.kind == "document.issued")
                .order_by(Event.id)]


def test_a_version_per_change_of_the_records_and_the_same_bytes_when_nothing_changed(register, tmp_path):  # noqa: F811  (the fixture)
    engine, qmd = register, usecases.Caller("qmd1")
    first = usecases.documents.issue(engine, qmd, "audit", 2027, formats="html,md", out_folder=str(tmp_path / "a"))
    assert [(d["doc_no"], d["version"], d["new"]) for d in first["documents"]] == [("QR-6.2.1-2027", "A0", True)]
    html = (tmp_path / "a" / "2027" / "internal-audit-report-2027.html").read_text(encoding="utf-8")
    assert "<th>版本</th><td>A0</td>" in html and "<th>受控状态</th><td>受控</td>" in html
    assert "草稿" not in html and 'lang="zh-CN"' in html
    assert "counter(page)" in html and "counter(pages)" in html and "size:A4" in html

    engine.clock.advance(timedelta(days=3))
    again = usecases.documents.issue(engine, qmd, "audit", 2027, formats="html,md", out_folder=str(tmp_path / "b"))
    assert [(d["version"], d["new"]) for d in again["documents"]] == [("A0", False)]
    for name in ("internal-audit-report-2027.html", "internal-audit-report-2027.md"):
        assert (tmp_path / "a" / "2027" / name).read_bytes() == (tmp_path / "b" / "2027" / name).read_bytes()
    assert len(issued_events(engine)) == 1

    code = plan_audit(engine)
    engine.clock.advance(timedelta(days=1))
    changed = usecases.documents.issue(engine, qmd, "audit", 2027, out_folder=str(tmp_path / "c"))
    assert [(d["doc_no"], d["version"], d["new"]) for d in changed["documents"]] == [
        ("QR-6.2.1-2027", "A1", True), (f"QR-6.2.1-{code}", "A0", True)]
    rows = usecases.documents.register(engine, 2027)
    assert [(r["doc_no"], r["version"], r["status"]) for r in rows] == [
        ("QR-6.2.1-2027", "A0", "obsolete"), ("QR-6.2.1-2027", "A1", "effective"),
        (f"QR-6.2.1-{code}", "A0", "effective")]
    assert rows[0]["obsoleted_at"] == rows[1]["issued_at"] and rows[0]["issued_by"] == "qmd1"
    assert [e["obsoleted"] for e in issued_events(engine)] == [None, "A0", None]
    assert usecases.documents.register(engine, 2026) == []


def test_the_issued_copy_is_kept_and_its_sha256_is_that_of_the_file(register, tmp_path):  # noqa: F811  (the fixture)
    import hashlib

    from handlers.register import listing
    from store import ControlledDocument

    engine = register
    usecases.documents.issue(engine, usecases.Caller("qmd1"), "audit", 2027, formats="html", out_folder=str(tmp_path))
    [row] = usecases.documents.register(engine)
    data = (tmp_path / "2027" / "internal-audit-report-2027.html").read_bytes()
    assert row["sha256"] == hashlib.sha256(data).hexdigest()
    with engine.database.reading() as session:
        assert session.query(ControlledDocument).one().html.encode("utf-8") == data
        assert listing(session, 2027)[0]["version"] == "A0"
    assert not (tmp_path / "2027" / "internal-audit-report-2027.md").exists()  # only the formats asked


def test_every_other_rendering_is_a_draft_and_not_registered(register, tmp_path):  # noqa: F811  (the fixture)
    engine = register
    usecases.audits.report_audit(engine, 2027, str(tmp_path))
    html = (tmp_path / "2027" / "internal-audit-report-2027.html").read_text(encoding="utf-8")
    md = (tmp_path / "2027" / "internal-audit-report-2027.md").read_text(encoding="utf-8")
    assert "<th>受控状态</th><td>草稿/非受控</td>" in html and '<p class="stamp">草稿/非受控</p>' in html
    assert "受控状态：草稿/非受控" in md and "版本：—" in md
    assert "| 编制 |" in md and "<th>批准</th>" in html
    assert usecases.documents.register(engine) == [] and issued_events(engine) == []


def test_only_qmd_issues_and_bad_input_is_refused_in_one_line(register, tmp_path):  # noqa: F811  (the fixture)
    engine = register
    with pytest.raises(Denied):
        usecases.documents.issue(engine, usecases.Caller("pm1"), "audit", 2027, out_folder=str(tmp_path))
    for kind, formats, words in (("audit", "html,doc", "unknown format 'doc'"), ("audit", "", "unknown format"),
                                 ("plans", "html", "no document kind 'plans'")):
        with pytest.raises(OpsqaError, match=words) as refused:
            usecases.documents.issue(engine, usecases.Caller("qmd1"), kind, 2027, formats=formats,
                                     out_folder=str(tmp_path))
        assert "\n" not in str(refused.value)
    assert usecases.documents.register(engine) == [] and not (tmp_path / "2027").exists()


def test_the_register_from_the_command_line(register, run, tmp_path):  # noqa: F811  (the fixture)
    result = run("documents", "issue", "audit", "--year", "2027", "--out", str(tmp_path), login="qmd1")
    assert result.exit_code == 0, result.output
    assert "QR-6.2.1-2027 A0 issued" in result.stderr
    assert str(tmp_path / "2027" / "internal-audit-report-2027.html") in result.stdout.splitlines()
    again = run("documents", "issue", "audit", "--year", "2027", "--out", str(tmp_path), login="qmd1")
    assert "QR-6.2.1-2027 A0 unchanged" in again.stderr
    listed = run.json("documents", "--year", "2027")
    assert [(r["doc_no"], r["version"], r["status"], r["issued_by"]) for r in listed] == [
        ("QR-6.2.1-2027", "A0", "effective", "qmd1")]
    table = run("documents")
    assert "QR-6.2.1-2027" in table.stdout and "effective" in table.stdout
    refused = run("documents", "issue", "audit", "--year", "2027", "--format", "html,rtf", login="qmd1")
    assert refused.exit_code == 1 and "unknown format 'rtf'" in refused.stderr
    denied = run("documents", "issue", "audit", "--year", "2027", "--out", str(tmp_path), login="pm1")
    assert denied.exit_code == 1 and len(run.json("documents")) == 1


def test_issued_in_every_format_the_same_bytes_again_when_nothing_changed(register, tmp_path):  # noqa: F811
    from test_pdf import tools  # noqa: F401  (skips, or fails under CI, without WeasyPrint and Poppler)

    engine, qmd = register, usecases.Caller("qmd1")
    plan_audit(engine)
    first = usecases.documents.issue(engine, qmd, "audit", 2027, formats="pdf,md,docx,html",
                                     out_folder=str(tmp_path / "a"))
    names = sorted(p.rsplit("/", 1)[1] for p in first["files"])
    assert {name.rsplit(".", 1)[1] for name in names} == {"docx", "html", "md", "pdf"}
    assert len(names) == 2 * 4  # the report and the checklist in four formats (no findings yet: no chart)
    again = usecases.documents.issue(engine, qmd, "audit", 2027, formats="html,docx,pdf,md",
                                     out_folder=str(tmp_path / "b"))
    assert [d["new"] for d in again["documents"]] == [False, False]
    for name in names:
        assert (tmp_path / "a" / "2027" / name).read_bytes() == (tmp_path / "b" / "2027" / name).read_bytes(), name
