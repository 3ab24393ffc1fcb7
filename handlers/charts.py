"""Small, deterministic SVG bar charts for the reports: the same numbers give the same bytes."""

from __future__ import annotations

from html import escape

WIDTH, BAR, GAP, LEFT, TOP, HEIGHT = 640, 36, 18, 150, 40, 220
# Chinese faces first: a bare sans-serif lets fontconfig pick a Japanese one for the labels
FONTS = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei',sans-serif"


def bar_chart(title: str, bars: list[tuple[str, float | None]], *, maximum: float | None = None,
              marks: dict[str, float] | None = None, unit: str = "") -> str:
    """Horizontal bars, one per (label, value); a value of None is drawn as 'no data'. `marks` draws
    a target tick on the bar of that label."""
    marks = marks or {}
    values = [v for _, v in bars if v is not None] + list(marks.values())
    top = maximum if maximum is not None else (max(values) * 1.1 if values else 1.0) or 1.0
    span = WIDTH - LEFT - 60
    height = TOP + len(bars) * (BAR + GAP) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="{FONTS}" font-size="13" xml:lang="zh-CN">',
             f'<text x="{WIDTH // 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
             f"{escape(title)}</text>"]
    for index, (label, value) in enumerate(bars):
        y = TOP + index * (BAR + GAP)
        parts.append(f'<text x="{LEFT - 8}" y="{y + BAR * 0.65:.1f}" text-anchor="end">{escape(label)}</text>')
        if value is None:
            parts.append(f'<text x="{LEFT + 4}" y="{y + BAR * 0.65:.1f}" fill="#888">无数据</text>')
        else:
            width = max(0.0, min(value / top, 1.0)) * span
            parts.append(f'<rect x="{LEFT}" y="{y}" width="{width:.1f}" height="{BAR}" fill="#4a7ab5"/>')
            parts.append(f'<text x="{LEFT + width + 6:.1f}" y="{y + BAR * 0.65:.1f}">{_number(value)}{escape(unit)}'
                         "</text>")
        if label in marks:
            x = LEFT + max(0.0, min(marks[label] / top, 1.0)) * span
            parts.append(f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x:.1f}" y2="{y + BAR + 4}" stroke="#c0392b" '
                         'stroke-width="3"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")
