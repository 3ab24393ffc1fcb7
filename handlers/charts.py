"""Small, deterministic SVG charts for the documents, made to be read: each with its axis, its ticks and its
unit, in Chinese faces. The same numbers give the same bytes.

- `bar_chart`: one bar per label on a common axis (satisfaction by channel, findings by status).
- `stacked_chart`: one bar per label split into parts that add up, so nothing is counted twice (findings of
  each area by status).
- `target_chart`: one row per indicator, each on its own axis in its own unit, the actual value as a bar and the
  target as a mark, coloured by whether it was met (indicators of different units cannot share an axis).
"""

from __future__ import annotations

import math
from html import escape

WIDTH, BAR, GAP, LEFT, TOP = 640, 30, 22, 150, 44
RIGHT = 70  # room for the value written after the longest bar
SPAN = WIDTH - LEFT - RIGHT
TARGET_SPAN = WIDTH - LEFT - 130  # an indicator's row writes its actual and its target at the right
# Chinese faces first: a bare sans-serif lets fontconfig pick a Japanese one for the labels
FONTS = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei',sans-serif"
BLUE, GREEN, RED, GREY, INK = "#4a7ab5", "#3d8b4f", "#c0392b", "#888", "#333"
# the parts of a stacked bar, in order: from the start of a finding's life to its end
PART_COLOURS = ("#c0392b", "#e67e22", "#f1c40f", "#8e7cc3", "#3d8b4f", "#aaaaaa")


def _svg(height: int, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="{FONTS}" font-size="13" xml:lang="zh-CN">',
            f'<text x="{WIDTH // 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
            f"{escape(title)}</text>"]


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def nice_top(value: float) -> float:
    """The axis's end: the first of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * power >= value - 1e-9)


def nice_ticks(top: float) -> int:
    """How many intervals divide [0, top] into round steps (1, 2, 2.5 or 5 × 10ⁿ): 5 for 100, 4 for 8, 6 for 1.2."""
    for count in (5, 4, 6, 3, 8, 2):
        step = top / count
        power = 10 ** math.floor(math.log10(step))
        if any(abs(step - nice * power) < 1e-9 * top for nice in (1, 2, 2.5, 5, 10)):
            return count
    return 4


def _axis(parts: list[str], y: float, top: float, unit: str, *, x0: int = LEFT, span: int = SPAN,
          counts: bool = False) -> None:
    """A horizontal axis at `y` from 0 to `top`, with round ticks (whole numbers for `counts`), their numbers and
    the unit after the last."""
    ticks = int(top) if counts and top <= 8 else nice_ticks(top)
    parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + span}" y2="{y:.1f}" stroke="{INK}"/>')
    for i in range(ticks + 1):
        value, x = top * i / ticks, x0 + span * i / ticks
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}" stroke="{INK}"/>')
        label = _number(round(value, 6)) + (f" {unit}" if unit and i == ticks and not unit.startswith("%") else
                                            unit if unit and i == ticks else "")
        parts.append(f'<text x="{x:.1f}" y="{y + 17:.1f}" text-anchor="middle" font-size="11" fill="{INK}">'
                     f"{escape(label)}</text>")


def bar_chart(title: str, bars: list[tuple[str, float | None]], *, maximum: float | None = None,
              unit: str = "", counts: bool = False) -> str:
    """Horizontal bars on one axis from 0 (to `maximum`, else a round number above the largest); a value of None
    is drawn as 无数据."""
    values = [v for _, v in bars if v is not None]
    largest = max(values) if values else 1.0
    top = maximum if maximum is not None else float(largest) if counts and largest <= 8 else nice_top(largest)
    height = TOP + len(bars) * (BAR + GAP) + 30
    parts = _svg(height, title)
    for index, (label, value) in enumerate(bars):
        y = TOP + index * (BAR + GAP)
        parts.append(f'<text x="{LEFT - 8}" y="{y + BAR * 0.65:.1f}" text-anchor="end">{escape(label)}</text>')
        if value is None:
            parts.append(f'<text x="{LEFT + 4}" y="{y + BAR * 0.65:.1f}" fill="{GREY}">无数据</text>')
            continue
        width = max(0.0, min(value / top, 1.0)) * SPAN
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{BLUE}"/>')
        parts.append(f'<text x="{LEFT + width + 6:.1f}" y="{y + BAR * 0.65:.1f}">{_number(value)}'
                     f"{escape(_unit_after(unit))}</text>")
    _axis(parts, TOP + len(bars) * (BAR + GAP) - GAP / 2, top, unit, counts=counts)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def stacked_chart(title: str, rows: list[tuple[str, list[tuple[str, int]]]], *, unit: str = "项",
                  colours: dict[str, str] | None = None) -> str:
    """One bar per row split into its parts (each counted once: the parts add up to the row's total), a legend
    of the parts that occur, and the total after each bar; `colours` names a part's colour."""
    names = []
    for _, row_parts in rows:
        names += [name for name, count in row_parts if count and name not in names]
    colour = {name: (colours or {}).get(name) or PART_COLOURS[i % len(PART_COLOURS)] for i, name in enumerate(names)}
    totals = [sum(count for _, count in row_parts) for _, row_parts in rows]
    top = float(max(totals, default=1)) if max(totals, default=1) <= 8 else nice_top(max(totals))
    legend_y = TOP + len(rows) * (BAR + GAP) + 34
    parts = _svg(int(legend_y + 24), title)
    for index, ((label, row_parts), total) in enumerate(zip(rows, totals, strict=True)):
        y, x = TOP + index * (BAR + GAP), float(LEFT)
        parts.append(f'<text x="{LEFT - 8}" y="{y + BAR * 0.65:.1f}" text-anchor="end">{escape(label)}</text>')
        for name, count in row_parts:
            if not count:
                continue
            width = count / top * SPAN
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{colour[name]}"/>')
            if width >= 18:
                parts.append(f'<text x="{x + width / 2:.1f}" y="{y + BAR * 0.65:.1f}" text-anchor="middle" '
                             f'fill="#fff" font-size="12">{count}</text>')
            x += width
        parts.append(f'<text x="{x + 6:.1f}" y="{y + BAR * 0.65:.1f}">共 {total} {escape(unit)}</text>')
    _axis(parts, TOP + len(rows) * (BAR + GAP) - GAP / 2, top, unit, counts=True)
    x = float(LEFT)
    for name in names:
        parts.append(f'<rect x="{x:.1f}" y="{legend_y - 10:.1f}" width="12" height="12" fill="{colour[name]}"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="{legend_y:.1f}" font-size="12">{escape(name)}</text>')
        x += 16 + 13 * len(name) + 18
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def target_chart(title: str, rows: list[tuple[str, float | None, float, str, str]]) -> str:
    """One row per indicator (label, actual, target, direction `higher_better`|`lower_better`, unit), each on
    its own axis from 0 in its own unit: the actual as a bar (green met, red missed), the target as a dark mark,
    both written out (实际 94.2% · 目标 ≥95%)."""
    row_height = BAR + 40
    height = TOP + len(rows) * row_height + 10
    parts = _svg(height, title)
    for index, (label, actual, target, direction, unit) in enumerate(rows):
        y = TOP + index * row_height
        largest = max(target, actual or 0)
        top = 100.0 if unit == "%" and largest <= 100 else nice_top(largest * 1.1)
        sign = "≥" if direction == "higher_better" else "≤"
        parts.append(f'<text x="{LEFT - 8}" y="{y + BAR * 0.65:.1f}" text-anchor="end">{escape(label)}</text>')
        if actual is None:
            parts.append(f'<text x="{LEFT + 4}" y="{y + BAR * 0.65:.1f}" fill="{GREY}">无数据（目标 {sign}'
                         f"{_number(target)}{escape(_unit_after(unit))}）</text>")
        else:
            met = actual >= target if direction == "higher_better" else actual <= target
            width = min(actual / top, 1.0) * TARGET_SPAN
            parts.append(f'<rect x="{LEFT}" y="{y}" width="{width:.1f}" height="{BAR}" '
                         f'fill="{GREEN if met else RED}"/>')
            parts.append(f'<text x="{LEFT + TARGET_SPAN + 10}" y="{y + BAR * 0.45:.1f}" font-size="11">实际 '
                         f"{_number(actual)}{escape(_unit_after(unit))}</text>")
        x = LEFT + min(target / top, 1.0) * TARGET_SPAN
        parts.append(f'<line x1="{x:.1f}" y1="{y - 5}" x2="{x:.1f}" y2="{y + BAR + 5}" stroke="{INK}" '
                     'stroke-width="3"/>')
        parts.append(f'<text x="{LEFT + TARGET_SPAN + 10}" y="{y + BAR * 0.95:.1f}" font-size="11">目标 {sign}'
                     f"{_number(target)}{escape(_unit_after(unit))}</text>")
        _axis(parts, y + BAR + 6, top, unit, span=TARGET_SPAN)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _unit_after(unit: str) -> str:
    """A unit after a number: % close to it, a word with a space."""
    return unit if not unit or unit.startswith(("%", "‰")) else f" {unit}"
