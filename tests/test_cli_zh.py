"""The Chinese CLI reads as Chinese: a listing's stored ids in words (状态 整改中, 来源 未达标指标 K1, 依据 3 个值的
平均值), coloured from the stored state; --json keeps the ids."""

from __future__ import annotations

import shutil

from conftest import Cli


def test_listings_in_chinese_show_words_where_the_records_keep_ids(demo_year_db, tmp_path):
    db = tmp_path / "year.db"
    shutil.copyfile(demo_year_db, db)
    run = Cli(db)
    items = run("--lang", "zh_CN", "improvement", "list", "--year", "2027")
    assert items.exit_code == 0, items.output
    assert "未达标指标 K1" in items.stdout and "跟踪中" in items.stdout and "整改中" in items.stdout
    assert "unmet_kpi" not in items.stdout and "tracking" not in items.stdout
    kpis = run("--lang", "zh_CN", "indicators", "year", "2027").stdout
    assert "3 个值的平均值" in kpis and "未达标" in kpis and "unmet" not in kpis and "mean" not in kpis
    findings = run("--lang", "zh_CN", "findings", "--as-of", "2028-01-02").stdout
    assert "已关闭" in findings and "内审" in findings and "closed" not in findings
    raw = run.json("improvement", "list", "--year", "2027")
    assert {row["source"].split(":")[0] for row in raw} >= {"unmet_kpi"} and "tracking" in {r["status"] for r in raw}
