"""Spreadsheets: imports read .xlsx as they read CSV (all rows or none, a bad row named by its row)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import openpyxl
import pytest
from conftest import Cli

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
    assert run("deploy", "processes/satisfaction_survey.bpmn", "processes/nc_followup.bpmn").exit_code == 0
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
                                            ["K1", "2027-Q1", 94.5], ["K1", 2027, 95.25]])
    result = run("indicators", "import", good)
    assert result.stdout == f"{good}: 3 added, 0 updated, 0 unchanged\n", result.output
    values = run.json("indicators", "values")
    assert [(v["period"], v["value"], v["attainment"]) for v in values] == [
        ("2027", 95.25, "met"), ("2027-01", 96.0, "met"), ("2027-Q1", 94.5, "unmet")]
    for rows, message in (
            ([["K1", "2027-02", 97], ["K1", "2027-03", "n/a"]], "row 3: value 'n/a' is not a number"),
            ([["K1", "2027-02", 97], ["K1", None, 90]], "row 3: period '' is not a month"),
            ([["K1", "2027-02", 97], ["K9", "2027-03", 90]], "row 3: unknown indicator 'K9'")):
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
    path = workbook(tmp_path / "kpi.xlsx", [["指标", "period", "value"], ["K1", "2027-01", 96]])
    result = run("indicators", "import", path)
    assert result.stderr == f"opsqa: {path}: the header lacks indicator (indicator,period,value[,project])\n"
