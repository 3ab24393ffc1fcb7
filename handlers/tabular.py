"""A table the user imports: a CSV file or the first worksheet of an .xlsx workbook, read alike.

Both give the same `(where, cells)` pairs, so one validation serves both formats: `where` names the
file and the row as the user sees it (`kpi.csv:7: `, the line; `kpi.xlsx row 7: `, the spreadsheet's
row, row 1 being the header) and `cells` maps each header name to the cell's text, stripped. Workbook
cells become the text a CSV would hold: a whole number `5` (never `5.0`), a date `2027-03-01`, an empty
cell "". Rows with no value at all are skipped, in both formats.

A header is read as the key it names: `due`, its Chinese label 完成期限, or the bilingual "完成期限 / Due" a
Chinese workbook exports; in a column of ids (a status) a Chinese label is read as its id (整改中 is
`in_progress`). A header naming no key is kept as it is, for the import to take or refuse as before; two
headers naming one key are refused (handlers/labels_zh.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from engine import OpsqaError
from engine.files import read_bounded
from i18n import _

from . import labels_zh

FORMATS = (".csv", ".xlsx")
MAX_TABLE_BYTES = 20 * 1024 * 1024  # the file as stored
MAX_ROWS = 100_000  # rows of a table, header included
MAX_CELLS = 2_000_000  # cells of a workbook's first sheet, empty ones included
MAX_XLSX_ENTRIES = 1_000  # files inside a workbook
MAX_XLSX_UNPACKED = 100 * 1024 * 1024  # their total size once decompressed
MAX_XLSX_RATIO = 200  # how many times a part larger than a megabyte may grow when decompressed
MAX_CSV_FIELD = 1024 * 1024  # characters of one CSV field


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
    # a regular file, its size checked before it is read
    content = read_bounded(path, MAX_TABLE_BYTES,
                           too_large=_("{path} is {size} bytes; tables imported are at most {limit}"))
    if suffix == ".xlsx":
        return from_xlsx(content, path)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        raise OpsqaError(_('{path}:{line}: the file is not UTF-8 text (Excel saves "CSV" in the local code page, '
                           'GBK in China); save it as "CSV UTF-8" or as .xlsx').format(path=path, line=line)) from None
    return from_csv(text, path)


def from_csv(text: str, source: str) -> Table:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    keys = _keys([name.strip() for name in reader.fieldnames or ()], source)
    header = tuple(keys.values())
    rows = []
    limit = csv.field_size_limit(MAX_CSV_FIELD)
    try:
        for record in reader:  # a value beyond the header has the key None: not a column, left out
            cells = {keys[name.strip()]: _cell(keys[name.strip()], value or "")
                     for name, value in record.items() if name and name.strip()}
            if any(cells.values()):
                rows.append((f"{source}:{reader.line_num}: ", cells))
            if reader.line_num > MAX_ROWS:
                raise OpsqaError(_("{source}:{line}: a table imported has at most {max_rows} rows").format(
                                     source=source, line=reader.line_num, max_rows=MAX_ROWS))
    except csv.Error as exc:  # a field beyond the limit, a NUL: the line where reading stopped
        raise OpsqaError(_("{source}:{line}: {reason}").format(
                             source=source, line=reader.line_num + 1, reason=exc)) from None
    finally:
        csv.field_size_limit(limit)
    return Table(source, header, rows)


def from_xlsx(content: bytes, source: str) -> Table:
    """The first worksheet; its first row is the header."""
    import warnings

    import openpyxl

    _check_archive(content, source)
    try:
        with warnings.catch_warnings():  # about features we do not read (styles, data validation, drawings)
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            try:
                sheet = workbook.worksheets[0]
                sheet.reset_dimensions()  # the size a writer recorded may be wrong: read every row there is
                values, cells = [], 0
                for row in sheet.iter_rows(values_only=True):
                    values.append(row)
                    cells += len(row)
                    if len(values) > MAX_ROWS or cells > MAX_CELLS:
                        raise OpsqaError(_("{source} row {number}: a workbook imported has at most {max_rows} rows "
                                           "and {max_cells} cells").format(source=source, number=len(values),
                                                                           max_rows=MAX_ROWS, max_cells=MAX_CELLS))
            finally:
                workbook.close()
    except OpsqaError:
        raise
    except Exception as exc:  # a renamed CSV, an empty file, a damaged archive: each library raises its own
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OpsqaError(_("{source} is not an .xlsx workbook that can be read ({reason})").format(
                             source=source, reason=reason)) from None
    if not values:
        return Table(source, (), [])
    keys = _keys([_text(value) for value in values[0]], source)
    header = tuple(keys.get(_text(value), "") for value in values[0])
    rows = []
    for number, row in enumerate(values[1:], start=2):
        cells = {key: _cell(key, _text(value)) for key, value in zip(header, row, strict=False) if key}
        cells.update({key: "" for key in header[len(row):] if key})
        if any(cells.values()):
            rows.append((_("{source} row {number}: ").format(source=source, number=number), cells))
    return Table(source, tuple(key for key in header if key), rows)


def _keys(names: list[str], source: str) -> dict[str, str]:
    """Each header name (empty ones left out) with the key it names; a name that is two columns at once, or
    a key named twice, is refused: one of the two columns would be lost."""
    keys: dict[str, str] = {}
    named: dict[str, str] = {}
    for name in filter(None, names):
        try:
            key = labels_zh.key_of(name)
        except labels_zh.AmbiguousHeader as exc:
            raise OpsqaError(_("{source}: the header {header!r} names two columns, {first} and {second}").format(
                                 source=source, header=name, first=exc.keys[0], second=exc.keys[1])) from None
        if key in named:
            raise OpsqaError(_("{source}: the headers {first!r} and {second!r} both name the column {key}").format(
                                 source=source, first=named[key], second=name, key=key))
        keys[name], named[key] = key, name
    return keys


def _cell(key: str, text: str) -> str:
    """A cell's text, stripped; in a column of ids a Chinese label is read as its id."""
    return labels_zh.id_of(key, text.strip())


def _check_archive(content: bytes, source: str) -> None:
    """Refuse a workbook whose parts are too many or would grow too large (a zip bomb), by the sizes its
    archive declares; zipfile never decompresses a part beyond its declared size."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise OpsqaError(_("{source} is not an .xlsx workbook that can be read ({reason})").format(
                             source=source, reason=exc)) from None
    if len(entries) > MAX_XLSX_ENTRIES:
        raise OpsqaError(_("{source} holds {count} parts; a workbook imported holds at most {limit}").format(
                             source=source, count=len(entries), limit=MAX_XLSX_ENTRIES))
    unpacked = sum(entry.file_size for entry in entries)
    grows = [entry for entry in entries
             if entry.file_size > 1024 * 1024 and entry.file_size > MAX_XLSX_RATIO * max(entry.compress_size, 1)]
    if unpacked > MAX_XLSX_UNPACKED or grows:
        part = (grows or [max(entries, key=lambda entry: entry.file_size)])[0].filename
        raise OpsqaError(_("{source} would decompress to {unpacked} bytes ({part}); a workbook imported is at most "
                           "{limit} bytes unpacked, each part at most {ratio} times its packed size").format(
                             source=source, unpacked=unpacked, part=part, limit=MAX_XLSX_UNPACKED,
                             ratio=MAX_XLSX_RATIO))


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
