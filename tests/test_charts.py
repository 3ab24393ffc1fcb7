"""The documents' charts as people read them: axes from zero with round ticks and the unit, each finding counted
once, indicators against their own targets in their own units, the same bytes for the same numbers."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from handlers.charts import bar_chart, nice_ticks, nice_top, stacked_chart, target_chart

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    return [t.text for t in etree.fromstring(svg.encode()).iter(f"{SVG}text")]


def rects(svg: str) -> list[dict]:
    return [dict(r.attrib) for r in etree.fromstring(svg.encode()).iter(f"{SVG}rect")]


@pytest.mark.parametrize("value, top, ticks", [(4.95, 5, 5), (104.5, 120, 6), (8, 8, 4), (0.7, 0.8, 4),
                                               (1.2, 1.2, 6), (0, 1, 5), (2300, 2500, 5)])
def test_an_axis_ends_on_a_round_number_divided_in_round_steps(value, top, ticks):
    assert (nice_top(value), nice_ticks(nice_top(value))) == (pytest.approx(top), ticks)


def test_a_bar_chart_has_its_axis_its_unit_and_no_data_where_there_is_none():
    svg = bar_chart("满意度（满分5分）", [("电话", 4.4), ("拜访", None)], maximum=5, unit="分")
    assert texts(svg)[:1] == ["满意度（满分5分）"] and "4.4 分" in texts(svg) and "无数据" in texts(svg)
    assert [t for t in texts(svg) if re.fullmatch(r"[\d.]+( 分)?", t)][-6:] == ["0", "1", "2", "3", "4", "5 分"]
    assert svg == bar_chart("满意度（满分5分）", [("电话", 4.4), ("拜访", None)], maximum=5, unit="分")


def test_counts_have_whole_ticks():
    svg = bar_chart("不符合项按状态", [("已关闭", 3.0), ("整改中", 1.0)], unit="项", counts=True)
    assert [t for t in texts(svg) if re.fullmatch(r"\d+( 项)?", t)][-4:] == ["0", "1", "2", "3 项"]


def test_a_stacked_bar_counts_each_part_once_and_adds_up_to_its_total():
    svg = stacked_chart("不符合项按检查范围与状态", [("过程检查", [("整改中", 2), ("已关闭", 3)]),
                                                 ("资源检查", [("整改中", 0), ("已关闭", 1)])],
                        colours={"已关闭": "#3d8b4f"})
    labels = texts(svg)
    assert "共 5 项" in labels and "共 1 项" in labels and labels.count("已关闭") == 1  # one legend entry
    bars = [r for r in rects(svg) if r["height"] == "30"]
    assert [(r["fill"], round(float(r["width"]))) for r in bars] == [
        ("#c0392b", 168), ("#3d8b4f", 252), ("#3d8b4f", 84)]  # 2 + 3 and 1 on an axis of 5: 84 px each


def test_each_indicator_on_its_own_axis_coloured_by_whether_it_met_its_target():
    svg = target_chart("质量指标", [("K1 事件按时解决率", 94.2, 95.0, "higher_better", "%"),
                                  ("K2 平均修复时间", 3.6, 4.0, "lower_better", "小时"),
                                  ("K4 客户满意度", None, 4.5, "higher_better", "分")])
    labels = texts(svg)
    assert {"实际 94.2%", "目标 ≥95%", "实际 3.6 小时", "目标 ≤4 小时", "100%", "5 小时"} <= set(labels)
    assert "无数据（目标 ≥4.5 分）" in labels
    assert [r["fill"] for r in rects(svg)] == ["#c0392b", "#3d8b4f"]  # K1 missed, K2 met, K4 not measured


def test_the_review_reports_charts_carry_their_numbers_for_word(demo_year):
    from handlers.reports import audit_documents, review_documents

    with demo_year.database.reading() as session:
        [review] = review_documents(session, 2027)
        report = audit_documents(session, 2027)[0][0]
    images = {b[1]: b for doc in (review, report) for b in doc.blocks if b[0] == "img"}
    headers, rows = images["management-review-report-2027-findings.svg"][4]
    assert headers == ["状态", "项数"] and sum(int(row[1]) for row in rows) >= 1
    headers, rows = images["internal-audit-report-2027-IA-2027-01-findings.svg"][4]
    assert headers[0] == "检查范围" and headers[-1] == "合计"
    assert all(int(row[-1]) == sum(int(c) for c in row[1:-1]) for row in rows)  # each finding counted once
