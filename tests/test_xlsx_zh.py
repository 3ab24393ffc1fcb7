"""Workbooks in Chinese: a listing exported with the Chinese language is headed "中文 / English" and writes
its ids (a status, a source) in Chinese; every import reads English keys, Chinese labels and bilingual
headers alike, so a Chinese workbook edited by hand imports back."""

from __future__ import annotations

import csv
from datetime import date, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from conftest import Cli
from test_xlsx import RESPONSES, collecting, indicators_ready, read_back, stored_responses, workbook

from handlers import labels_zh
from handlers.workbook import write_workbook

SHANGHAI = ZoneInfo("Asia/Shanghai")


def with_findings(run: Cli, tmp_path) -> Cli:
    collecting(run, tmp_path)
    assert run("finding", "add", "--owner", "pm1", "--unit", "P-01", "--due", "2027-03-31", "--description",
               "事件未按约解决", login="qmd1").exit_code == 0
    return run


def test_a_listing_in_chinese_is_headed_in_both_languages(run, tmp_path):
    with_findings(run, tmp_path)
    path = tmp_path / "findings.xlsx"
    result = run("--lang", "zh_CN", "findings", "--xlsx", str(path))
    assert result.exit_code == 0, result.output
    header, rows = read_back(path)
    english = run.json("findings")
    assert header == [labels_zh.header(key) for key in english[0]]
    assert header[:3] == ["编号 / Code", "来源 / Source", "检查项 / Item"]
    finding = dict(zip(header, rows[0], strict=True))
    assert (finding["状态 / Status"], finding["来源 / Source"], finding["严重程度 / Severity"]) == \
        ("待制定措施", "手工提出", "轻微")
    assert finding["完成期限 / Due"] == datetime(2027, 3, 31)  # dates stay dates, yyyy-mm-dd
    assert finding["描述 / Description"] == "事件未按约解决" and finding["责任人 / Owner"] == "pm1"
    first = path.read_bytes()
    assert run("--lang", "zh_CN", "findings", "--xlsx", str(path), "--force").exit_code == 0
    assert path.read_bytes() == first  # the same records, the same bytes

    english_path = tmp_path / "findings-en.xlsx"
    assert run("findings", "--xlsx", str(english_path)).exit_code == 0
    assert read_back(english_path)[0] == list(english[0])  # English keeps the bare keys
    assert read_back(english_path)[1][0][list(english[0]).index("status")] == "open"


def test_the_language_of_the_environment_heads_the_workbook_too(run, tmp_path, monkeypatch):
    with_findings(run, tmp_path)
    monkeypatch.setenv("LANGUAGE", "zh_CN")
    path = tmp_path / "improvement.xlsx"
    assert run("findings", "--xlsx", str(path)).exit_code == 0
    assert read_back(path)[0][0] == "编号 / Code"


def projects_ready(run: Cli) -> Cli:
    assert run("init").exit_code == 0
    for user, role in (("qmd1", "qmd"), ("pm1", "pm"), ("pm2", "pm"), ("oms1", "oms")):
        assert run("users", "add", user, "--role", role).exit_code == 0
    return run


ENGLISH = [["code", "name", "customer", "pm", "oms", "kind", "status", "om_start"],
           ["P-01", "平安城市一期运维", "市公安局", "pm1", "oms1", "safe_city", "active", date(2027, 1, 1)],
           ["P-02", "智慧城市运维", "市城管局", "pm2", "oms1", "other", "closed", None]]
CHINESE = [["编号", "名称", "客户", "项目经理", "运维管理主管", "项目类型", "状态", "运维开始日期"],
           ["P-01", "平安城市一期运维", "市公安局", "pm1", "oms1", "平安城市", "在用", date(2027, 1, 1)],
           ["P-02", "智慧城市运维", "市城管局", "pm2", "oms1", "其他", "已关闭", None]]
BILINGUAL = [[labels_zh.header(key) for key in ENGLISH[0]], *CHINESE[1:]]


def projects_from(tmp_path, name: str, rows) -> list[dict]:
    run = projects_ready(Cli(tmp_path / f"{name}.db"))
    path = workbook(tmp_path / f"{name}.xlsx", rows)
    imported = run("projects", "import", path, login="qmd1")
    assert imported.stdout == f"{path}: 2 added, 0 updated, 0 unchanged\n", imported.output
    return run.json("projects", "list", "--all")


def test_chinese_and_bilingual_headers_import_the_rows_english_does(tmp_path):
    english = projects_from(tmp_path, "en", ENGLISH)
    assert [(p["kind"], p["status"], p["om_start"]) for p in english] == [
        ("safe_city", "active", "2027-01-01"), ("other", "closed", None)]
    assert projects_from(tmp_path, "zh", CHINESE) == english
    assert projects_from(tmp_path, "both", BILINGUAL) == english

    run = projects_ready(Cli(tmp_path / "csv.db"))  # a CSV reads its header as a workbook does
    path = tmp_path / "projects.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        csv.writer(file).writerows([[cell.isoformat() if isinstance(cell, date) else cell or "" for cell in row]
                                    for row in BILINGUAL])
    assert run("projects", "import", str(path), login="qmd1").exit_code == 0
    assert run.json("projects", "list", "--all") == english


def test_a_chinese_workbook_exported_imports_back(tmp_path):
    """The register written as a Chinese workbook (without the listing's team, which no import reads) and
    imported into another database gives the same register."""
    english = projects_from(tmp_path, "en", ENGLISH)
    path = tmp_path / "register.xlsx"
    rows = [{key: date.fromisoformat(v) if key.startswith("om_") and v else v for key, v in project.items()
             if key != "team"} for project in english]
    write_workbook(str(path), rows, sheet="projects", zone=SHANGHAI, chinese=True)
    header, cells = read_back(path)
    assert "项目类型 / Kind" in header and cells[0][header.index("项目类型 / Kind")] == "平安城市"
    run = projects_ready(Cli(tmp_path / "back.db"))
    assert run("projects", "import", str(path), login="qmd1").exit_code == 0
    assert run.json("projects", "list", "--all") == english


def test_indicator_values_and_survey_responses_read_chinese_headers(run, tmp_path):
    indicators_ready(run)
    path = workbook(tmp_path / "kpi.xlsx", [["指标", "统计期 / Period", "数值"], ["K1", "2027-01", 96]])
    assert run("indicators", "import", path).exit_code == 0
    assert [(v["indicator"], v["period"], v["value"]) for v in run.json("indicators", "values")] == [
        ("K1", "2027-01", 96.0)]

    english, chinese = collecting(Cli(tmp_path / "en.db"), tmp_path), collecting(Cli(tmp_path / "zh.db"), tmp_path)
    header = ["客户", "项目 / Project", "渠道", "总体满意度", "对运维服务的满意度", "q_service_desk", "答卷人",
              "反映的问题"]
    for who, rows in ((english, RESPONSES), (chinese, [header, *RESPONSES[1:]])):
        path = workbook(tmp_path / "responses.xlsx", rows)
        assert who("survey", "import", "--year", "2027", path, login="qmd1").exit_code == 0
    assert stored_responses(chinese) == stored_responses(english) != []


@pytest.mark.parametrize(("header", "message"), [
    (["编号 / Code", "名称", "客户", "pm", "oms", "备注"], "unknown column '备注' (columns: code, name, customer, pm, "
                                                    "oms, kind, status, members, contract_ref, om_start, om_end)"),
    (["编号", "名称", "客户 / Owner", "pm", "oms"], "the header '客户 / Owner' names two columns, customer and owner"),
    (["code", "编号", "name", "customer", "pm", "oms"], "the headers 'code' and '编号' both name the column code"),
])
def test_a_header_that_names_no_column_or_two_is_refused_in_one_line(tmp_path, header, message):
    run = projects_ready(Cli(tmp_path / "p.db"))
    path = workbook(tmp_path / "projects.xlsx", [header, ["P-01", "运维", "市公安局", "pm1", "oms1", "x"]])
    result = run("projects", "import", path, login="qmd1")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"opsqa: {path}: {message}\n")
    assert run.json("projects", "list") == []


def test_every_label_reads_back_as_one_key_and_one_id():
    assert len(set(labels_zh.FIELDS.values())) == len(labels_zh.FIELDS)
    for field, labels in labels_zh.VALUES.items():
        assert field in labels_zh.FIELDS
        assert len(set(labels.values())) == len(labels), field
        assert all(labels_zh.id_of(field, label) == value for value, label in labels.items())
    for key, label in labels_zh.FIELDS.items():
        assert labels_zh.key_of(key) == labels_zh.key_of(label) == labels_zh.key_of(labels_zh.header(key)) == key
    assert labels_zh.key_of("完成期限／due") == labels_zh.key_of("到期 / Due") == "due"  # either half will do
    assert labels_zh.key_of("q_new_question") == "q_new_question"  # a name of no field is the import's to judge
    assert labels_zh.id_of("description", "整改中") == "整改中"  # only columns of ids are read back


def test_an_empty_listing_in_chinese_has_no_header(tmp_path):
    path = tmp_path / "empty.xlsx"
    write_workbook(str(path), [], sheet="findings", zone=SHANGHAI, chinese=True)
    assert list(openpyxl.load_workbook(path).worksheets[0].iter_rows(values_only=True)) in ([], [(None,)])
