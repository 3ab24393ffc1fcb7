"""A listing written as an .xlsx workbook: the rows `--json` gives, for the people who live in spreadsheets.

One worksheet; row 1 is the header, bold and frozen, with a filter: the rows' keys, the names an import
reads. In Chinese it is bilingual, "完成期限 / Due", and ids such as a status are written in Chinese (整改中);
an import reads both back (handlers/labels_zh.py). English keeps the bare keys, which scripts and older
imports read as they are. Times are Excel times in the organisation's zone, to the second; dates are Excel
dates; a list of names becomes `a, b`, records within a record JSON. The same rows always give the same bytes:
the document's created/modified times and the archive's entry times are fixed, so an export can be
compared, checked in, or attached twice.
"""

from __future__ import annotations

import io
import json
import unicodedata
import zipfile
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine import OpsqaError
from i18n import _, chinese

from . import labels_zh

FIXED_TIME = datetime(1980, 1, 1)  # the earliest time a zip entry can carry
DATE_FORMAT, TIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd hh:mm"
NARROWEST, WIDEST = 6, 60  # characters; a Chinese one counts two


class _FixedTimeZip(zipfile.ZipFile):
    """A zip archive whose entries all carry FIXED_TIME (openpyxl's would carry the current time)."""

    def writestr(self, name, data, compress_type=None, compresslevel=None):
        if not isinstance(name, zipfile.ZipInfo):
            name = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
            name.compress_type = zipfile.ZIP_DEFLATED
            name.external_attr = 0o600 << 16
        super().writestr(name, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):  # a worksheet, from a temp file
        self.writestr(arcname or Path(filename).name, Path(filename).read_bytes(), compress_type, compresslevel)


def write_workbook(path: str, rows: list[dict[str, Any]], *, sheet: str, zone: tzinfo, force: bool = False,
                   chinese: bool | None = None) -> None:
    """Write `rows` to a new .xlsx file at `path` (an existing one replaced with `force`, a symbolic link
    never); refused where it cannot be written. Headed in Chinese when `chinese`, by default when the
    language in use is Chinese."""
    from engine.files import check_output, write_output

    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise OpsqaError(_("{path}: a workbook's name ends in .xlsx").format(path=path))
    if not target.parent.is_dir():
        raise OpsqaError(_("cannot write {path}: there is no directory {parent}").format(
                             path=path, parent=target.parent))
    check_output(path, force=force)  # before the work of building it
    chinese = in_chinese() if chinese is None else chinese
    write_output(path, workbook_bytes(rows, sheet=sheet, zone=zone, chinese=chinese), force=force)


def in_chinese() -> bool:
    """Whether the language in use (`--lang`, LANG, a web request's) is Chinese."""
    return chinese()


def workbook_bytes(rows: list[dict[str, Any]], *, sheet: str, zone: tzinfo, chinese: bool = False) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    columns = list(rows[0]) if rows else []
    headers = [labels_zh.header(name) for name in columns] if chinese else columns
    worksheet.append(headers)
    for cell in worksheet[1] if columns else ():
        cell.font = Font(bold=True)
    widths = [_width(name) for name in headers]
    for row in rows:
        values = [_value(labels_zh.value(name, row.get(name)) if chinese else row.get(name), zone) for name in columns]
        worksheet.append(values)
        for index, (cell, value) in enumerate(zip(worksheet[worksheet.max_row], values, strict=True)):
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text someone typed, never a formula Excel would run
            elif isinstance(value, datetime):
                cell.number_format = TIME_FORMAT
            elif isinstance(value, date):
                cell.number_format = DATE_FORMAT
            widths[index] = max(widths[index], _width(value))
    for index, width in enumerate(widths, start=1):
        worksheet.column_dimensions[get_column_letter(index)].width = min(max(width, NARROWEST), WIDEST) + 2
    if columns:
        worksheet.freeze_panes = "A2"
        worksheet.auto_filter.ref = worksheet.dimensions
    workbook.properties.creator = "opsqa"
    workbook.properties.created = workbook.properties.modified = FIXED_TIME
    buffer = io.BytesIO()
    ExcelWriter(workbook, _FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    return buffer.getvalue()


def _value(value: Any, zone: tzinfo) -> Any:
    """A cell's value: Excel holds no time zone, so an aware time is written as the organisation's."""
    if isinstance(value, datetime):
        return (value.astimezone(zone) if value.tzinfo else value).replace(tzinfo=None, microsecond=0)
    if isinstance(value, list | tuple) and all(isinstance(item, str | int | float) for item in value):
        value = ", ".join(str(item) for item in value)
    elif isinstance(value, list | tuple | dict):  # records within the record (a due date's history): as JSON
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=_iso)
    elif isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters an .xlsx cannot hold
    return value


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _width(value: Any) -> int:
    """Columns wide enough for their text; a Chinese character takes two."""
    if isinstance(value, datetime):
        return len("2027-01-01 09:00")
    if isinstance(value, date):
        return len("2027-01-01")
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
