"""Spreadsheets: imports read .xlsx as they read CSV (all rows or none, a bad row named by its row), and the
listings export the rows `--json` gives to a workbook, the same bytes for the same records."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from datetime import date, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from conftest import Cli

SHANGHAI = ZoneInfo("Asia/Shanghai")
RESPONSES = [
    ["customer", "project", "channel", "overall", "q_om_service", "q_service_desk", "respondent", "issues"],
    ["公安局", "P-01", "电话", 5, 5, 4, "王工", None],
    ["城管局", "P-02", "phone", 3, 3.0, 3, None, "夜间报修响应慢"],
    ["交通局", "P-02", "visit", 4, 4, None, "李科长", None],
]


def workbook(path, rows, *, blank_rows=()) -> str:
    """An .xlsx file with these rows in its first worksheet (and empty rows at the given row numbers)."""
    book = openpyxl.Workbook()
    sheet = book.active
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if number not in blank_rows:
                sheet.cell(row=number, column=column, value=value)
    book.save(path)
    return str(path)


def csv_file(path, rows) -> str:
    """The CSV a spreadsheet program saves for these rows (3.0 is written 3)."""
    text = "".join(",".join("" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in row) + "\n"
                   for row in rows)
    path.write_text(text, encoding="utf-8")
    return str(path)


def collecting(run: Cli, tmp_path) -> Cli:
    """A database with projects P-01 and P-02, the 2027 survey collecting and three customers invited."""
    assert run("init").exit_code == 0
    for user, role in (("qmd1", "qmd"), ("pm1", "pm"), ("pm2", "pm"), ("oms1", "oms"), ("ops1", "ops")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes/satisfaction_survey.bpmn",
               "processes/nc_followup.bpmn").exit_code == 0
    projects = workbook(tmp_path / "projects.xlsx", [
        ["code", "name", "customer", "pm", "oms", "om_start"],
        ["P-01", "平安城市一期运维", "市公安局", "pm1", "oms1", datetime(2027, 1, 1)],
        ["P-02", "智慧城市运维", "市城管局", "pm2", "oms1", None]])
    imported = run("projects", "import", projects, login="qmd1")
    assert imported.stdout == f"{projects}: 2 added, 0 updated, 0 unchanged\n", imported.output
    assert run("survey", "start", "--year", "2027", login="qmd1").exit_code == 0
    invites = workbook(tmp_path / "invites.xlsx", [["customer", "project", "channel"], ["公安局", "P-01", "电话"],
                                                   ["城管局", "P-02", "phone"], ["交通局", "P-02", "visit"]])
    assert run("survey", "invite", "--year", "2027", invites, login="qmd1").stdout.endswith("3 invited, 0 already "
                                                                                             "invited\n")
    for task, user, values in (("setup_survey", "qmd1", ["collect_until=2099-12-31", "questionnaire=Q1"]),
                               ("support_survey", "ops1", [])):
        task_id = [t for t in run.json("tasks") if t["task"] == task][0]["id"]
        assert run("task", "complete", task_id, *sum((["--set", v] for v in values), []), login=user).exit_code == 0
    return run


def stored_responses(run: Cli) -> list[tuple]:
    with sqlite3.connect(run.db_path) as connection:
        return connection.execute("SELECT invitation_id, channel, respondent, scores, overall, comments, issues, "
                                  "fingerprint FROM survey_response ORDER BY id").fetchall()


def test_an_xlsx_of_responses_imports_as_its_csv_does(run, tmp_path):
    from_xlsx = collecting(run, tmp_path)
    from_csv = collecting(Cli(tmp_path / "csv.db"), tmp_path)
    xlsx = workbook(tmp_path / "responses.xlsx", RESPONSES, blank_rows={3})  # an empty row is skipped
    csv = csv_file(tmp_path / "responses.csv", RESPONSES)
    assert from_xlsx("survey", "import", "--year", "2027", xlsx, login="qmd1").stdout == \
        f"{xlsx}: 2 added, 0 already imported\n"
    assert from_xlsx("survey", "import", "--year", "2027", xlsx, login="qmd1").stdout == \
        f"{xlsx}: 0 added, 2 already imported\n"
    csv_rows = RESPONSES[:2] + RESPONSES[3:]
    assert from_csv("survey", "import", "--year", "2027", csv_file(tmp_path / "r.csv", csv_rows),
                    login="qmd1").exit_code == 0
    assert stored_responses(from_xlsx) == stored_responses(from_csv) != []
    shown = from_xlsx.json("survey", "show", "--year", "2027")
    assert shown == from_csv.json("survey", "show", "--year", "2027")
    assert (shown["responded"], shown["mean_by_question"]) == (2, {"q_om_service": 4.5, "q_service_desk": 4.0})
    # The whole CSV (with the row the workbook left empty) adds that row, and only it.
    assert from_xlsx("survey", "import", "--year", "2027", csv, login="qmd1").stdout.endswith("1 added, "
                                                                                             "2 already imported\n")
    with sqlite3.connect(from_xlsx.db_path) as connection:
        sources = [row[0] for row in connection.execute("SELECT source FROM survey_response ORDER BY id")]
    assert sources == [f"{xlsx} row 2", f"{xlsx} row 4", f"{csv}:3"]


@pytest.mark.parametrize(("bad_row", "message"), [
    (["交通局", "P-02", "visit", 9], "row 5: overall '9' is not a score from 1 to 5"),
    (["交通局", "P-02", "visit", None, 4], "row 5: overall '' is not a score from 1 to 5"),
    (["交通局", "P-02", "fax", 4], "row 5: channel 'fax' is not one of phone, form, visit"),
    (["交通局", "P-02", "visit", 4, 4.5], "row 5: q_om_service '4.5' is not a score from 1 to 5"),
])
def test_a_bad_row_in_a_workbook_is_named_and_nothing_is_imported(run, tmp_path, bad_row, message):
    collecting(run, tmp_path)
    rows = [RESPONSES[0], RESPONSES[1], RESPONSES[2], [], bad_row]  # row 4 is empty: the numbers are Excel's
    path = workbook(tmp_path / "responses.xlsx", rows)
    result = run("survey", "import", "--year", "2027", path, login="qmd1")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"opsqa: {path} {message}\n"
    assert stored_responses(run) == []


def indicators_ready(run: Cli) -> None:
    assert run("init").exit_code == 0
    assert run("indicators", "add", "K1", "--name", "事件按时解决率", "--unit", "%", "--direction", "higher_better",
               "--target", "95", "--cycle", "monthly").exit_code == 0


def test_indicator_values_from_a_workbook(run, tmp_path):
    indicators_ready(run)
    good = workbook(tmp_path / "kpi.xlsx", [["indicator", "period", "value"], ["K1", "2027-01", 96],
                                            ["K1", "2027-Q1", 94.5], ["K1", 2027, 95.25],
                                            ["K1", date(2027, 2, 1), 97.5]])  # a typed 2027-02, as Excel keeps it
    result = run("indicators", "import", good)
    assert result.stdout == f"{good}: 4 added, 0 updated, 0 unchanged\n", result.output
    values = run.json("indicators", "values")
    assert [(v["period"], v["value"], v["attainment"]) for v in values] == [
        ("2027", 95.25, "met"), ("2027-01", 96.0, "met"), ("2027-02", 97.5, "met"), ("2027-Q1", 94.5, "unmet")]
    for rows, message in (
            ([["K1", "2027-02", 98], ["K1", "2027-03", "n/a"]], "row 3: value 'n/a' is not a number"),
            ([["K1", "2027-04", 97], ["K1", date(2027, 4, 2), 90]], "row 3: period '2027-04-02' is not a month"),
            ([["K1", "2027-02", 98], ["K1", None, 90]], "row 3: period '' is not a month"),
            ([["K1", "2027-02", 98], ["K9", "2027-03", 90]], "row 3: unknown indicator 'K9'")):
        bad = workbook(tmp_path / "bad.xlsx", [["indicator", "period", "value"], *rows])
        refused = run("indicators", "import", bad)
        assert refused.exit_code == 1 and refused.stderr.startswith(f"opsqa: {bad} {message}"), refused.stderr
        assert refused.stderr.count("\n") == 1
        assert run.json("indicators", "values") == values  # 2027-02 on the row before is not kept either


@pytest.mark.parametrize(("name", "content", "message"), [
    ("kpi.xlsx", b"indicator,period,value\nK1,2027-01,96\n", "is not an .xlsx workbook that can be read"),
    ("kpi.xlsx", b"", "is not an .xlsx workbook that can be read"),
    ("kpi.txt", b"indicator,period,value\n", ": only .csv and .xlsx files can be imported"),
])
def test_a_file_that_is_no_workbook_is_refused_in_one_line(run, tmp_path, name, content, message):
    indicators_ready(run)
    path = tmp_path / name
    path.write_bytes(content)
    result = run("indicators", "import", str(path))
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1
    assert result.stderr.startswith(f"opsqa: {path}") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert run.json("indicators", "values") == []


def test_a_workbook_without_the_columns_is_refused(run, tmp_path):
    indicators_ready(run)
    # 指标 is indicator's Chinese label (tests/test_xlsx_zh.py); 指标代号 names no column
    path = workbook(tmp_path / "kpi.xlsx", [["指标代号", "period", "value"], ["K1", "2027-01", 96]])
    result = run("indicators", "import", path)
    assert result.stderr == f"opsqa: {path}: the header lacks indicator (indicator,period,value[,project])\n"


# -- export ------------------------------------------------------------------------------------------


def as_written(value):
    """What a --json value becomes in the workbook: times local to the organisation, dates as times."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
        return (when.astimezone(SHANGHAI) if when.tzinfo else when).replace(tzinfo=None, microsecond=0)
    return value


def read_back(path) -> tuple[list, list[list]]:
    sheet = openpyxl.load_workbook(path).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    return rows[0], rows[1:]


@pytest.fixture
def records(run, tmp_path):
    """Open tasks, two findings, a complaint and an improvement item."""
    collecting(run, tmp_path)
    for description in ("事件未按约解决", "=HYPERLINK(\"http://x\")"):
        assert run("finding", "add", "--owner", "pm1", "--unit", "P-01", "--due", "2027-03-31", "--description",
                   description, login="qmd1").exit_code == 0
    assert run("deploy", "--reason", "set-up", "processes/complaint.bpmn").exit_code == 0
    added = run("complaints", "add", "--project", "P-01", "--description", "城市视频平台中断6小时", "--received",
                "2020-05-10 09:00", login="qmd1")
    assert added.exit_code == 0, added.output
    from store import ImprovementItem, open_database

    database = open_database(str(run.db_path))
    with database.transaction() as session:
        now = datetime(2027, 12, 1, tzinfo=SHANGHAI)
        session.add(ImprovementItem(code="IMP-2027-01", year=2027, source_type="mr", source_ref="1",
                                    description="夜间响应慢", measure="增设夜班", owner="pm2",
                                    due_date=date(2028, 3, 1), status="tracking", created_at=now, updated_at=now))
    database.dispose()
    return run


@pytest.mark.parametrize("command", [["findings"], ["complaints", "list"], ["improvement", "list"], ["tasks"]])
def test_a_listing_exported_is_its_json(records, tmp_path, command):
    run = records
    expected = run.json(*command)
    assert expected, "the listing has rows"
    path = tmp_path / "out" / "listing.xlsx"
    path.parent.mkdir()
    result = run(*command, "--xlsx", str(path))
    rows = f"{len(expected)} row" + ("s" if len(expected) != 1 else "")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", f"{path}: {rows} written\n")
    header, rows = read_back(path)
    assert header == list(expected[0])
    assert rows == [[as_written(value) for value in row.values()] for row in expected]
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b and not sheet["A2"].font.b
    widths = {name: sheet.column_dimensions[cell.column_letter].width
              for name, cell in zip(header, sheet[1], strict=True)}
    assert min(widths.values()) >= 8 and max(widths.values()) <= 62
    code = next(name for name in ("code", "id") if name in expected[0])  # as wide as its longest value
    assert widths[code] == max(len(str(row[code])) for row in expected) + 2

    first = path.read_bytes()
    assert run(*command, "--xlsx", str(path)).exit_code == 1  # an existing file is replaced only with --force
    assert run(*command, "--xlsx", str(path), "--force").exit_code == 0
    assert path.read_bytes() == first  # the same records, the same bytes
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert {entry.date_time for entry in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert b"<dcterms:modified" in archive.read("docProps/core.xml") and b"1980-01-01" in archive.read(
        "docProps/core.xml")


def test_exported_cells_keep_their_kind(records, tmp_path):
    path = tmp_path / "findings.xlsx"
    assert records("findings", "--xlsx", str(path)).exit_code == 0
    sheet = openpyxl.load_workbook(path).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    due = sheet.cell(row=2, column=header.index("due") + 1)
    assert (due.value, due.number_format, due.is_date) == (datetime(2027, 3, 31), "yyyy-mm-dd", True)
    descriptions = [sheet.cell(row=n, column=header.index("description") + 1) for n in (2, 3)]
    assert [c.value for c in descriptions] == ["事件未按约解决", "=HYPERLINK(\"http://x\")"]
    assert descriptions[1].data_type == "s"  # what a user typed is text, never a formula


def test_an_export_nowhere_is_refused(records, tmp_path):
    for target, message in ((tmp_path / "missing" / "f.xlsx", f"cannot write {tmp_path / 'missing' / 'f.xlsx'}: "
                                                               f"there is no directory {tmp_path / 'missing'}"),
                            (tmp_path / "f.csv", f"{tmp_path / 'f.csv'}: a workbook's name ends in .xlsx")):
        result = records("findings", "--xlsx", str(target))
        assert (result.exit_code, result.stderr) == (1, f"opsqa: {message}\n")
        assert not target.exists()
    both = records("findings", "--json", "--xlsx", str(tmp_path / "f.xlsx"))
    assert both.exit_code == 2 and "--xlsx and --json are alternatives" in both.stderr


def test_every_task_is_exported_not_a_page(records, tmp_path):
    path = tmp_path / "tasks.xlsx"
    everything = records.json("tasks", "--limit", "0")
    assert len(everything) > 1
    assert records("tasks", "--limit", "1", "--xlsx", str(path)).exit_code == 0
    assert len(read_back(path)[1]) == len(everything)


def test_help_does_not_load_openpyxl():
    """The CLI's cold start is measured: the workbook library loads only when a workbook is read or written."""
    import subprocess
    import sys

    from helpers import ROOT

    code = ("import sys, cli\nfrom click.testing import CliRunner\n"
            "for args in (['--help'], ['findings', '--help'], ['survey', 'import', '--help']):\n"
            "    assert CliRunner().invoke(cli.cli, args).exit_code == 0\n"
            "assert 'openpyxl' not in sys.modules, 'openpyxl loaded'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
