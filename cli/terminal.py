"""What the operator types and sees: values from --set and --data files, times in the organisation's
zone, tables sized to the terminal and coloured by state, JSON."""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click

import usecases
from i18n import _, chinese, ngettext

from .base import State


def _write_xlsx(rows: list[dict], file: str, sheet: str, as_json: bool) -> None:
    if as_json:
        raise click.UsageError(_("--xlsx and --json are alternatives; give one"))
    from .base import forced

    usecases.documents.write_workbook(file, rows, sheet=sheet, zone=_zone(), force=forced())
    click.echo(ngettext("{file}: {rows} row written", "{file}: {rows} rows written", len(rows)).format(
        file=file, rows=len(rows)), err=True)


def _parse_moment(text: str, zone, hint: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(_("{text!r} is not a date (YYYY-MM-DD) or ISO 8601 time").format(
                                     text=text), param_hint=hint) from None
    return when.replace(tzinfo=zone) if when.tzinfo is None else when


def _parse_local(text: str, hint: str) -> datetime:
    """An ISO 8601 time; without an offset it is local to the organisation's zone."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(_("{text!r} is not an ISO 8601 time, e.g. 2028-05-10 09:00").format(
                                     text=text), param_hint=hint) from None
    return when if when.tzinfo else when.replace(tzinfo=_zone())


def _parse_now(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(_("{text!r} is not an ISO 8601 time").format(text=text), param_hint="--now") from None
    if when.tzinfo is None:
        raise click.BadParameter(_("{text!r} has no time-zone offset, e.g. {text}+08:00").format(
                                     text=text), param_hint="--now")
    return when


def _read_text(file: str) -> str:
    """A UTF-8 file the user named, or a one-line refusal saying why it cannot be read."""
    from usecases import OpsqaError, read_text_bounded

    try:
        return read_text_bounded(file)  # a regular file, sized before reading, read with a bound
    except OSError as exc:
        raise OpsqaError(_("cannot read {file}: {strerror}").format(file=file, strerror=exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise OpsqaError(_("cannot read {file}: it is not UTF-8 text").format(file=file)) from None
    except ValueError as exc:  # a NUL in the name
        raise OpsqaError(_("cannot read {file!r}: {exc}").format(file=file, exc=exc)) from None


# -- input and output ----------------------------------------------------------------------


def _assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(_("{pair!r} is not NAME=VALUE").format(pair=pair), param_hint="--set")
        values[name.strip()] = value
    return values


def _scalar(text: str) -> Any:
    """Start variables: numbers, true/false and null as typed, everything else as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


def _read_data(path: str) -> dict[str, Any]:
    from usecases import OpsqaError

    text = _read_text(path)
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        kind = "YAML" if path.endswith((".yaml", ".yml")) else "JSON"
        raise OpsqaError(_("{path} is not valid {kind}: {error}").format(
                             path=path, kind=kind, error=str(exc).splitlines()[0])) from None
    if not isinstance(data, dict):
        raise OpsqaError(_("{path} must hold a mapping of field names to values").format(path=path))
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _zone():
    """The organisation's zone, as the running command's state reads it once (the `timezone` setting)."""
    return click.get_current_context().find_object(State).zone


# What must not reach a terminal raw from recorded text: C0 controls but newline and tab (ESC starts the
# sequences that recolour, move the cursor or retitle the window), DEL, C1 (0x9b is CSI on some terminals),
# the bidirectional overrides and isolates that reorder what is shown, and lone surrogates. Each is shown
# escaped, as \x1b or \u202e, so that it is seen rather than obeyed.
_UNSAFE = {code: f"\\x{code:02x}" for code in (*range(0x00, 0x20), *range(0x7f, 0xa0)) if chr(code) not in "\n\t"}
_UNSAFE.update({code: f"\\u{code:04x}" for code in (0x061c, 0x200e, 0x200f, *range(0x202a, 0x202f),
                                                     *range(0x2066, 0x206a))})


def _printable(text: str) -> str:
    """Text as it may be written to a terminal: control characters escaped visibly."""
    if text.isprintable():
        return text
    text = text.translate(_UNSAFE)
    if any("\ud800" <= ch <= "\udfff" for ch in text):  # bytes that were not UTF-8 (surrogate escapes)
        text = "".join(f"\\u{ord(ch):04x}" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return usecases.local_time(value, _zone())  # 2027-03-01 10:10 +08:00
    if isinstance(value, str) and len(value) == 36 and value.count("-") == 4:
        return _printable(value[:8])  # task ids: a unique prefix is accepted wherever an id is
    return _printable(str(value))


def _summary(payload: dict) -> str:
    parts = []
    for key, value in payload.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        if value not in (None, "", []):
            parts.append(f"{key}={value}")
    return "; ".join(parts)


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clip(text: str, limit: int) -> str:
    if _width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        if used + _width(ch) > limit - 1:
            break
        out.append(ch)
        used += _width(ch)
    return "".join(out) + "…"


_GOOD = {"completed", "closed", "met", "on time", "reported", "approved", "passed", "satisfied"}
_WAIT = {"ready", "running", "in_progress", "open", "planned", "collecting", "due", "pending_verification"}
_BAD = {"error", "failed", "overdue", "late", "unmet", "missed", "escalated", "cancelled", "not_measured"}


def _colour_on() -> bool:
    """Colour for people at a terminal: never with NO_COLOR (no-color.org), always with CLICOLOR_FORCE."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("CLICOLOR_FORCE"):
        return True
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _hue(text: str) -> str | None:
    """The colour of a state's cell, from the stored word."""
    word = text.strip()
    if word.endswith(" d") and word[:-2].isdigit():  # days overdue
        return "red"
    return "green" if word in _GOOD else "yellow" if word in _WAIT else "red" if word in _BAD else None


def _render(rows: list[dict], columns: list[tuple[str, str]], as_json: bool) -> None:
    """A table sized to the terminal (the widest column gives way), coloured where a state is shown."""
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo(_("(none)"), err=True)
        return
    hues = [[_hue(_cell(row.get(key))) for key, _ in columns] for row in rows]  # from the stored id
    if chinese():  # a stored id in words (in_progress: 整改中); --json keeps the ids
        rows = [{key: usecases.documents.word(key, row.get(key)) for key, _ in columns} for row in rows]
    cells = [[_clip(_cell(row.get(key)).replace("\n", " ").replace("\t", " "), 60) for key, _ in columns]
             for row in rows]
    widths = [max(_width(title), *(_width(line[i]) for line in cells)) for i, (_, title) in enumerate(columns)]
    if sys.stdout.isatty():
        import shutil

        room = shutil.get_terminal_size((120, 24)).columns - 2 * (len(widths) - 1)
        while sum(widths) > room and max(widths) > 12:
            widest = widths.index(max(widths))
            widths[widest] -= 1
            cells = [[_clip(v, widths[i]) if i == widest else v for i, v in enumerate(line)] for line in cells]
    colour = _colour_on()

    def line(values, hue=None, header: bool = False):
        out = []
        for index, (value, width) in enumerate(zip(values, widths, strict=True)):
            padded = value + " " * (width - _width(value))
            shade = hue[index] if hue else None
            out.append(click.style(padded, bold=True) if header and colour else
                       click.style(padded, fg=shade) if colour and shade else padded)
        return "  ".join(out).rstrip()

    lines = [line([title for _, title in columns], header=True),
             *(line(values, hue) for values, hue in zip(cells, hues, strict=True))]
    click.echo("\n".join(lines), color=colour or None)
