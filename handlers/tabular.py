"""A table the user imports: a CSV file or the first worksheet of an .xlsx workbook, read alike.

Both give the same `(where, cells)` pairs, so one validation serves both formats: `where` names the
file and the row as the user sees it (`kpi.csv:7: `, the line; `kpi.xlsx row 7: `, the spreadsheet's
row, row 1 being the header) and `cells` maps each header name to the cell's text, stripped. Workbook
cells become the text a CSV would hold: a whole number `5` (never `5.0`), a date `2027-03-01`, an empty
cell "". Rows with no value at all are skipped, in both formats.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from engine import OpsqaError
from i18n import _

FORMATS = (".csv", ".xlsx")


@dataclass(frozen=True)
class Table:
    source: str
    header: tuple[str, ...]
    rows: list[tuple[str, dict[str, str]]]

    def require(self, names: list[str], hint: str = "") -> None:
        """Refuse a header without these columns, naming the missing ones."""
        missing = [name for name in names if name not in self.header]
        if missing:
            raise OpsqaError(_("{source}: the header lacks {missing}{hint}").format(
                                 source=self.source, missing=', '.join(missing), hint=hint))


def read_table(path: str) -> Table:
    """The file the user named, read by its extension (.csv or .xlsx); anything else is refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OpsqaError(_("{path}: only .csv and .xlsx files can be imported").format(path=path))
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise OpsqaError(_("cannot read {path}: {strerror}").format(path=path, strerror=exc.strerror or exc)) from None
    except ValueError as exc:  # a NUL in the name
        raise OpsqaError(_("cannot read {path!r}: {exc}").format(path=path, exc=exc)) from None
    if suffix == ".xlsx":
        return from_xlsx(content, path)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise OpsqaError(_("cannot read {path}: it is not UTF-8 text").format(path=path)) from None
    return from_csv(text, path)


def from_csv(text: str, source: str) -> Table:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(name.strip() for name in reader.fieldnames or ())
    rows = []
    for record in reader:  # a value beyond the header has the key None: not a column, left out
        cells = {key.strip(): (value or "").strip() for key, value in record.items() if key and key.strip()}
        if any(cells.values()):
            rows.append((f"{source}:{reader.line_num}: ", cells))
    return Table(source, header, rows)


def from_xlsx(content: bytes, source: str) -> Table:
    """The first worksheet; its first row is the header."""
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():  # about features we do not read (styles, data validation, drawings)
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            try:
                sheet = workbook.worksheets[0]
                sheet.reset_dimensions()  # the size a writer recorded may be wrong: read every row there is
                values = list(sheet.iter_rows(values_only=True))
            finally:
                workbook.close()
    except Exception as exc:  # a renamed CSV, an empty file, a damaged archive: each library raises its own
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OpsqaError(_("{source} is not an .xlsx workbook that can be read ({reason})").format(
                             source=source, reason=reason)) from None
    if not values:
        return Table(source, (), [])
    header = tuple(_text(value) for value in values[0])
    rows = []
    for number, row in enumerate(values[1:], start=2):
        cells = {name: _text(value) for name, value in zip(header, row, strict=False) if name}
        cells.update({name: "" for name in header[len(row):] if name})
        if any(cells.values()):
            rows.append((_("{source} row {number}: ").format(source=source, number=number), cells))
    return Table(source, tuple(name for name in header if name), rows)


def _text(value: Any) -> str:
    """A cell as the CSV would have it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()
