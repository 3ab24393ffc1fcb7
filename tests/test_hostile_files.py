"""Hostile files (issue 17, "Files"): inputs that are not regular files or too large are refused before
being read; workbooks are bounded before parsing; CSV that is not UTF-8 gets advice; outputs never
follow a symbolic link nor replace a file without --force; Markdown shows user text literally; new
database files are the opsqa group's only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import ROOT

MEMORY = 1024 ** 3  # RLIMIT_AS for the subprocesses: a gigabyte


@pytest.fixture
def ops(run, tmp_path):
    """A database with a user pm1, the shipped processes and one finding, NC-<year>-001."""
    assert run("init").exit_code == 0
    assert run("users", "add", "pm1", "--role", "pm").exit_code == 0
    assert run("users", "add", "qmd1", "--role", "qmd").exit_code == 0
    assert run("deploy", "--reason", "set-up", str(ROOT / "processes")).exit_code == 0
    raised = run("finding", "add", "--owner", "pm1", "--description", "事件未按约解决", login="qmd1")
    assert raised.exit_code == 0, raised.output
    run.finding = raised.stdout.split()[0]
    return run


def _refused(result, message: str) -> None:
    assert (result.exit_code, result.stderr) == (1, f"opsqa: {message}\n"), result.output


def _hostile(tmp_path: Path, name: str, kind: str) -> Path:
    """/dev/zero, a FIFO (no writer: reading it would wait for ever) or a sparse 10 GB file."""
    if kind == "zero":
        return Path("/dev/zero")
    path = tmp_path / name
    if kind == "fifo":
        os.mkfifo(path)
    else:
        with open(path, "wb") as file:
            os.truncate(file.fileno(), 10 * 1024 ** 3)
    return path


def _why(path: Path, kind: str, what: str, limit: int) -> str:
    if kind == "sparse":
        return f"{path} is {10 * 1024 ** 3} bytes; {what} at most {limit}"
    return f"cannot read {path}: it is not a regular file"


@pytest.mark.parametrize("kind", ["zero", "fifo", "sparse"])
def test_evidence_must_be_a_small_regular_file(ops, tmp_path, kind):
    path = _hostile(tmp_path, "evidence.pdf", kind)
    _refused(ops("finding", "attach", ops.finding, str(path), login="pm1"),
             _why(path, kind, "evidence files are", 50 * 1024 * 1024))
    assert ops.json("finding", "show", ops.finding)["evidence"] == []


@pytest.mark.parametrize("kind", ["zero", "fifo", "sparse"])
@pytest.mark.parametrize("command", [["projects", "import"], ["indicators", "import"],
                                     ["survey", "import", "--year", "2027"]])
def test_imports_must_be_small_regular_files(ops, tmp_path, kind, command):
    path = _hostile(tmp_path, "table.csv", kind) if kind != "zero" else Path("/dev/zero")
    if kind == "zero":  # /dev/zero has no .csv name: a link to it has
        path = tmp_path / "zero.csv"
        path.symlink_to("/dev/zero")
    _refused(ops(*command, str(path), login="qmd1"), _why(path, kind, "tables imported are", 20 * 1024 * 1024))
    assert ops.json("projects", "list") == []


@pytest.mark.parametrize("kind", ["zero", "fifo", "sparse"])
def test_diagrams_task_data_and_scenarios_must_be_small_regular_files(ops, tmp_path, kind):
    bpmn = _hostile(tmp_path, "hostile.bpmn", kind)
    before = ops.json("processes")
    _refused(ops("deploy", "--reason", "x", str(bpmn)), _why(bpmn, kind, "files read are", 20 * 1024 * 1024))
    _refused(ops("validate", str(bpmn)), _why(bpmn, kind, "files read are", 20 * 1024 * 1024))
    assert ops.json("processes") == before
    data = _hostile(tmp_path, "data.json", kind)
    [task] = [t for t in ops.json("tasks") if t["task"] == "plan_action"]
    _refused(ops("task", "complete", str(task["id"]), "--data", str(data), login="pm1"),
             _why(data, kind, "files read are", 20 * 1024 * 1024))
    assert [t["id"] for t in ops.json("tasks")] == [task["id"]]
    scenario = _hostile(tmp_path, "year.scenario.yaml", kind)
    _refused(ops("simulate", "--scenario", str(scenario), "--from", "2027-01-01", "--to", "2027-01-02"),
             _why(scenario, kind, "files read are", 20 * 1024 * 1024))


def test_a_fifo_is_refused_within_bounds_in_a_subprocess(tmp_path):
    """Refused before opening it for a blocking read: the subprocess ends by itself, under a CPU limit."""
    fifo = tmp_path / "evidence.pdf"
    os.mkfifo(fifo)
    done = _refusal_in_subprocess(f"from engine.files import read_bounded; read_bounded({str(fifo)!r}, 1024)", 10)
    assert (done.returncode, done.stdout) == (0, f"cannot read {fifo}: it is not a regular file\n"), done.stderr


def _refusal_in_subprocess(call: str, cpu_seconds: int) -> subprocess.CompletedProcess:
    """Run `call` in a Python limited to a gigabyte of address space and `cpu_seconds`; print its refusal's
    first part (before any parenthesis)."""
    code = "\n".join([f"import sys; sys.path.insert(0, {str(ROOT)!r})", "from engine import OpsqaError", "try:",
                      f"    {call}", "except OpsqaError as exc:", "    print(str(exc).split(' (')[0])"])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=_limits(cpu_seconds),
                          timeout=300)


def _limits(cpu_seconds: int):
    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    return apply


def _zip_bomb(path: Path) -> None:
    """An .xlsx whose sheet XML is ~200 MB of zeros, packed in well under a megabyte."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                                                'package/2006/content-types"/>')
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b"0" * (1024 * 1024)
            for _ in range(200):
                sheet.write(block)
    assert path.stat().st_size < 1024 * 1024


def test_a_zip_bomb_workbook_is_refused_before_parsing(ops, tmp_path):
    bomb = tmp_path / "projects.xlsx"
    _zip_bomb(bomb)
    result = ops("projects", "import", str(bomb), login="qmd1")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(f"opsqa: {bomb} would decompress to 209715") and "xl/worksheets/sheet1.xml" in \
        result.stderr
    assert ops.json("projects", "list") == []


def test_a_zip_bomb_is_refused_in_bounded_memory(tmp_path, db_path):
    bomb = tmp_path / "projects.xlsx"
    _zip_bomb(bomb)
    done = _refusal_in_subprocess(f"from handlers.tabular import read_table; read_table({str(bomb)!r})", 60)
    assert done.returncode == 0, done.stderr
    unpacked = sum(entry.file_size for entry in zipfile.ZipFile(bomb).infolist())
    assert done.stdout == f"{bomb} would decompress to {unpacked} bytes\n"


def test_a_workbook_with_too_many_rows_is_refused(tmp_path):
    from engine import OpsqaError
    from handlers import tabular

    sheet = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>x</t></is></c></row>' for n in range(1, 12))
    path = tmp_path / "rows.xlsx"
    _minimal_workbook(path, sheet)
    limit = tabular.MAX_ROWS
    tabular.MAX_ROWS = 10
    try:
        with pytest.raises(OpsqaError, match=r"rows.xlsx row 11: a workbook imported has at most 10 rows"):
            tabular.read_table(str(path))
    finally:
        tabular.MAX_ROWS = limit


def _minimal_workbook(path: Path, rows: str) -> None:
    ns = "http://schemas.openxmlformats.org"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", f'<?xml version="1.0"?><Types xmlns="{ns}/package/2006/content-types">'
                         '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+'
                         'xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                         'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml"'
                         ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                         '</Types>')
        archive.writestr("_rels/.rels", f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships">'
                         f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" '
                         'Target="xl/workbook.xml"/></Relationships>')
        archive.writestr("xl/workbook.xml", f'<?xml version="1.0"?><workbook xmlns="{ns}/spreadsheetml/2006/main" '
                         f'xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="s" sheetId="1" '
                         'r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/'
                         f'relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/'
                         'worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        archive.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet xmlns="{ns}/spreadsheetml/2006/'
                         f'main"><sheetData>{rows}</sheetData></worksheet>')


def test_a_gbk_csv_is_refused_with_advice(ops, tmp_path):
    path = tmp_path / "projects.csv"
    path.write_bytes("code,name,customer,pm,oms\nP-01,一期,公安局,pm1,pm1\n".encode("gbk"))
    _refused(ops("projects", "import", str(path), login="qmd1"),
             f'{path}:2: the file is not UTF-8 text (Excel saves "CSV" in the local code page, GBK in China); save it '
             'as "CSV UTF-8" or as .xlsx')
    values = tmp_path / "kpi.csv"
    values.write_bytes("indicator,period,value\nKPI-1,2027/3/1,九十\n".encode("gbk"))
    result = ops("indicators", "import", str(values), login="qmd1")
    assert result.exit_code == 1 and 'save it as "CSV UTF-8" or as .xlsx' in result.stderr
    assert ops.json("projects", "list") == []


def test_a_csv_field_beyond_the_limit_is_refused_naming_its_line(ops, tmp_path):
    path = tmp_path / "projects.csv"
    path.write_text("code,name,customer,pm,oms\nP-01,一期,公安局,pm1,pm1\nP-02," + "x" * 2_000_000 + ",c,pm1,pm1\n",
                    encoding="utf-8")
    _refused(ops("projects", "import", str(path), login="qmd1"), f"{path}:3: field larger than field limit (1048576)")
    assert ops.json("projects", "list") == []


# -- outputs --------------------------------------------------------------------------------------------------


def _outputs(ops, tmp_path):
    """Each command that writes a file the user names, with --force where it may replace one."""
    evidence = tmp_path / "note.txt"
    evidence.write_text("evidence", encoding="utf-8")
    assert ops("finding", "attach", ops.finding, str(evidence), login="pm1").exit_code == 0
    return {
        "evidence": lambda out, *force: ops("finding", "evidence", ops.finding, "1", "--out", str(out), *force),
        "xlsx": lambda out, *force: ops("findings", "--xlsx", str(out), *force),
        "diagram": lambda out, *force: ops("processes", "show", "nc_followup", "--diagram", str(out), *force),
        "instance": lambda out, *force: ops("instance", "show", "1", "--diagram", str(out), *force),
        "backup": lambda out, *force: ops("db", "backup", str(out), *force),
    }


SUFFIX = {"evidence": ".txt", "xlsx": ".xlsx", "diagram": ".svg", "instance": ".svg", "backup": ".db"}


@pytest.mark.parametrize("name", sorted(SUFFIX))
def test_an_output_never_follows_a_symbolic_link(ops, tmp_path, name):
    write = _outputs(ops, tmp_path)[name]
    victim = tmp_path / "victim"
    victim.write_text("keep me", encoding="utf-8")
    link = tmp_path / f"out{SUFFIX[name]}"
    link.symlink_to(victim)
    for force in ((), ("--force",)):
        _refused(write(link, *force), f"{link} is a symbolic link; opsqa does not write through one")
    assert victim.read_text(encoding="utf-8") == "keep me"
    dangling = tmp_path / f"dangling{SUFFIX[name]}"
    dangling.symlink_to(tmp_path / "created-through-the-link")
    _refused(write(dangling), f"{dangling} is a symbolic link; opsqa does not write through one")
    assert not (tmp_path / "created-through-the-link").exists()


@pytest.mark.parametrize("name", sorted(SUFFIX))
def test_an_existing_output_is_replaced_only_with_force(ops, tmp_path, name):
    write = _outputs(ops, tmp_path)[name]
    out = tmp_path / f"out{SUFFIX[name]}"
    out.write_bytes(b"old")
    _refused(write(out), f"{out} exists; use --force to replace it")
    assert out.read_bytes() == b"old"
    assert write(out, "--force").exit_code == 0
    assert out.read_bytes() != b"old" and not out.is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_evidence_and_backups_written_out_are_not_world_readable(ops, tmp_path):
    write = _outputs(ops, tmp_path)
    for name in ("evidence", "backup"):
        out = tmp_path / f"copy{SUFFIX[name]}"
        assert write[name](out).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o660


def test_a_report_folder_regenerated_in_place_never_follows_a_link(ops, tmp_path):
    out = tmp_path / "reports"
    assert ops("report", "audit", "--year", "2025", "--out", str(out)).exit_code == 0
    [md] = sorted((out / "2025").glob("*.md"))
    again = ops("report", "audit", "--year", "2025", "--out", str(out))
    assert again.exit_code == 0, again.output  # the same records, the same bytes: no --force needed
    victim = tmp_path / "victim"
    victim.write_text("keep me", encoding="utf-8")
    md.unlink()
    md.symlink_to(victim)
    _refused(ops("report", "audit", "--year", "2025", "--out", str(out)),
             f"{md} is a symbolic link; opsqa does not write through one")
    assert victim.read_text(encoding="utf-8") == "keep me"


# -- Markdown --------------------------------------------------------------------------------------------------


@pytest.fixture
def audit(run):
    """The internal audit IA-2028-01 of project P-01, planned, with qmd2 its auditor."""
    assert run("init").exit_code == 0
    for user, role in (("qmd1", "qmd"), ("qmd2", "qmd"), ("pm1", "pm"), ("oms1", "oms")):
        assert run("users", "add", user, "--role", role, "--department", "qmd").exit_code == 0
    assert run("deploy", "--reason", "set-up", str(ROOT / "processes")).exit_code == 0
    assert run("projects", "add", "P-01", "--name", "一期", "--customer", "公安局", "--pm", "pm1", "--oms", "oms1",
               login="qmd1").exit_code == 0
    assert run("auditors", "add", "qmd2", login="qmd1").exit_code == 0
    assert run("audit", "plan", "--year", "2028", "--lead", "qmd2", "--team", "qmd2=P-01", "--from", "2028-06-01",
               "--to", "2028-06-10", login="qmd1").exit_code == 0
    return run


@pytest.mark.parametrize("kind", ["zero", "fifo", "sparse"])
def test_checklist_evidence_must_be_a_small_regular_file(audit, tmp_path, kind):
    path = _hostile(tmp_path, "photo.jpg", kind)
    _refused(audit("audit", "record", "IA-2028-01", "--item", "PRC-d", "--unit", "P-01", "--result", "conform",
                   "--attach", str(path), login="qmd2"), _why(path, kind, "evidence files are", 50 * 1024 * 1024))
    assert "PRC-d" not in audit("report", "audit", "--year", "2028", "--out", str(tmp_path / "r")).stderr
    checklist = (tmp_path / "r" / "2028" / "internal-audit-checklist-IA-2028-01.md").read_text(encoding="utf-8")
    assert "| PRC-d | " in checklist and "符合 |" not in checklist.split("| PRC-d | ")[1].split("\n")[0]


def test_markdown_reports_show_user_text_literally(audit, tmp_path):
    run = audit
    hostile = '<script>alert(1)</script> ![](http://x/t.png) [link](http://x)'
    recorded = run("audit", "record", "IA-2028-01", "--item", "PRC-c", "--unit", "P-01", "--result", "nonconform",
                   "--evidence", hostile, login="qmd2")
    assert recorded.exit_code == 0, recorded.output
    out = tmp_path / "reports"
    assert run("report", "audit", "--year", "2028", "--out", str(out)).exit_code == 0
    text = (out / "2028" / "internal-audit-checklist-IA-2028-01.md").read_text(encoding="utf-8")
    assert r"\<script\>alert(1)\</script\> \!\[\](http://x/t.png) \[link\](http://x)" in text
    assert "<script>" not in text and "![](" not in text and "](http" not in text.replace(r"\](http", "")
    html = (out / "2028" / "internal-audit-checklist-IA-2028-01.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_markdown_escapes_block_markup_in_paragraphs():
    from handlers.reports import Document

    doc = Document("d", "标题", "QR-1")
    doc.paragraph("# not a heading\n- not a list\n1. nor this\n2027-03-01 stays")
    doc.table(["a"], [["4.5 | <b>"]])
    text = doc.markdown()
    assert "\\# not a heading\n\\- not a list\n1\\. nor this\n2027-03-01 stays" in text
    assert "| 4.5 \\| \\<b\\> |" in text


# -- databases -----------------------------------------------------------------------------------------------------


def test_a_new_database_and_its_new_folders_are_the_groups_only(run, tmp_path):
    db = tmp_path / "new" / "place" / "opsqa.db"
    mode = stat.S_IMODE(tmp_path.stat().st_mode)
    made = run("--db", str(db), "init")
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(db.stat().st_mode) == 0o660
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o2770
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o2770
    assert stat.S_IMODE(tmp_path.stat().st_mode) == mode  # an existing folder: untouched


def test_a_simulated_database_is_never_kept_through_a_link(run, tmp_path):
    link = tmp_path / "sim.db"
    link.symlink_to(tmp_path / "elsewhere.db")
    result = run("simulate", "--from", "2027-01-01", "--to", "2027-01-02", "--out", str(link))
    assert result.exit_code == 2 and f"{link} exists; --out needs a new file" in result.stderr
    assert not (tmp_path / "elsewhere.db").exists()

