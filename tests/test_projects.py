"""The project register: add, list, import (all rows or none, idempotent), refusals."""

from __future__ import annotations

import pytest

HEADER = "code,name,customer,pm,oms,kind,members\n"
ROWS = ("P-01,平安城市一期运维,市公安局,pm1,oms1,safe_city,eng1\n"
        "P-02,智慧城市运维,市大数据局,pm2,oms1,smart_city,\n"
        "P-03,视频专网运维,区公安分局,pm1,oms1,safe_city,eng1;eng2\n")


@pytest.fixture
def ready(run):
    assert run("init").exit_code == 0
    for user, role, dept in (("pm1", "pm", "ops"), ("pm2", "pm", "ops"), ("oms1", "oms", "ops"), ("eng1", "ops", "ops"),
                             ("eng2", "ops", "ops"), ("qmd1", "qmd", "qmd")):
        assert run("users", "add", user, "--role", role, "--department", dept).exit_code == 0
    return run


def test_add_and_list(ready):
    result = ready("projects", "add", "P-01", "--name", "平安城市一期运维", "--customer", "市公安局", "--pm", "pm1",
                   "--oms", "oms1", "--kind", "safe_city", "--member", "eng1", "--om-start", "2027-01-01",
                   login="qmd1")
    assert result.exit_code == 0, result.output
    [project] = ready.json("projects", "list")
    assert (project["code"], project["team"], project["om_start"]) == ("P-01", ["eng1", "oms1", "pm1"], "2027-01-01")
    again = ready("projects", "add", "P-01", "--name", "x", "--customer", "y", "--pm", "pm1", "--oms", "oms1",
                  login="qmd1")
    assert again.exit_code == 1 and "project P-01 is already in the register" in again.stderr
    assert ready.json("users", "list")[-1]["department"] == "qmd"


def test_import_is_all_or_nothing_and_idempotent(ready, tmp_path):
    good = tmp_path / "projects.csv"
    good.write_text(HEADER + ROWS, encoding="utf-8")
    result = ready("projects", "import", str(good), login="qmd1")
    assert result.exit_code == 0 and result.stdout == f"{good}: 3 added, 0 updated, 0 unchanged\n"
    assert ready("projects", "import", str(good), login="qmd1").stdout == f"{good}: 0 added, 0 updated, 3 unchanged\n"
    before = ready.json("history")

    changed = tmp_path / "changed.csv"
    changed.write_text(HEADER + ROWS.replace("P-02,智慧城市运维", "P-02,智慧城市二期运维")
                       + "P-04,新项目,客户,nobody,oms1,other,\n", encoding="utf-8")
    result = ready("projects", "import", str(changed), login="qmd1")
    assert result.exit_code == 1
    assert result.stderr == f"opsqa: {changed}:5: pm 'nobody' is not an opsqa user\n"
    assert ready.json("history") == before  # the good rows before it were not imported either
    assert [p["name"] for p in ready.json("projects", "list")][1] == "智慧城市运维"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,name,customer,pm\n", "the header lacks oms"),
        (HEADER.replace("members", "budget"), "unknown column 'budget'"),
        (HEADER + "P-01,,市公安局,pm1,oms1,other,\n", ":2: name: a value is required"),
        (HEADER + "P-01,a,b,pm1,oms1,city,\n", ":2: kind 'city' is not one of safe_city, smart_city, other"),
        (HEADER + "P-01,a,b,pm1,oms1,other,\nP-01,a,b,pm1,oms1,other,\n", "bad.csv:3: code P-01 is also in "),
        (HEADER + "P 01,a,b,pm1,oms1,other,\n", ":2: code 'P 01': letters, digits"),
    ],
)
def test_bad_rows_are_named_by_line(ready, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    result = ready("projects", "import", str(path), login="qmd1")
    assert result.exit_code == 1 and message in result.stderr, result.stderr
    assert ready.json("projects", "list", "--all") == []


def test_only_ops_or_qmd_keep_the_register(ready, tmp_path):
    before = ready.json("history")
    result = ready("projects", "add", "P-09", "--name", "a", "--customer", "b", "--pm", "pm1", "--oms", "oms1",
                   login="pm1")
    assert (result.exit_code, result.stderr) == (1, "opsqa: project.edit needs role ops or qmd or admin; "
                                                    "pm1 holds pm\n")
    good = tmp_path / "projects.csv"
    good.write_text(HEADER + ROWS, encoding="utf-8")
    result = ready("projects", "import", str(good), login="pm1")
    assert (result.exit_code, result.stderr) == (1, "opsqa: project.edit needs role ops or qmd or admin; "
                                                    "pm1 holds pm\n")
    assert ready.json("projects", "list", "--all") == []
    after = ready.json("history")
    assert after[:len(before)] == before
    assert [(e["kind"], e["actor"], e["payload"]["action"]) for e in after[len(before):]] == [
        ("security.denied", "pm1", "project.edit")] * 2
