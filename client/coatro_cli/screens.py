"""The screen registry: a CSV or NDJSON file imported in parts, screens listed and shown as tables.

A file is sent to POST /coatro/v1/pop/screens/import in parts of at most `part_rows` rows (a CSV
part repeats the header), each cut at a whole row (a quoted CSV cell may hold line breaks). The
server numbers a part's rows by their line in the part; `Part.file_row` turns that back into the
line of the whole file, so every error names the row as the file's author sees it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

IMPORT_FORMATS = ("csv", "ndjson")
IMPORT_EXTENSIONS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}
DEFAULT_PART_ROWS = 5_000
MAX_PART_ROWS = 100_000  # the API's limit per request
MAX_PART_BYTES = 8 * 1024 * 1024  # well under the API's 32 MiB (and a local gateway's 10 MiB)
CONTENT_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
TABLE_COLUMNS = ("screenId", "version", "name", "timeZone", "venueType", "country", "market", "active")
HISTORY_COLUMNS = ("version", "validFrom", "validTo", "activeTo", "name", "timeZone", "venueType", "market")


class ImportFileError(ValueError):
    pass


def infer_import_format(path: Path) -> str:
    found = IMPORT_EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(
            f"cannot tell the format of {path.name} from its extension (known: "
            f"{', '.join(IMPORT_EXTENSIONS)}); pass --format csv or ndjson"
        )
    return found


@dataclass
class Part:
    """Rows [first_line, ...) of the file (1-based lines), as one request body."""

    body: bytes
    rows: int
    first_line: int  # the file's line of the part's first data line
    header_lines: int  # lines the part starts with before its data (a CSV header: 1, NDJSON: 0)

    def file_row(self, row: int) -> int:
        """The whole file's line of the part's line `row`."""
        return row - self.header_lines - 1 + self.first_line


def _blank(cells: list[str]) -> bool:
    return not cells or (len(cells) == 1 and not cells[0].strip())


def read_parts(path: Path, file_format: str, part_rows: int, part_bytes: int = MAX_PART_BYTES) -> list[Part]:
    """The file cut into parts of whole rows; blank lines go with a part but are not rows."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    if file_format == "ndjson":  # lines as the server counts them: cut at "\n" only
        lines = [line + "\n" for line in text.split("\n")]
        lines[-1] = lines[-1][:-1]
        if not lines[-1]:
            lines.pop()
    else:  # as the server's csv reader reads them
        lines = io.StringIO(text, newline="").readlines()
    if file_format == "ndjson":
        records = [(i, i + 1, bool(line.strip())) for i, line in enumerate(lines)]
        header: list[str] = []
    else:
        records, header = _csv_records(lines)
        if not header:
            raise ImportFileError(f"{path} has no header line naming its columns")
    header_text = "".join(header)
    parts: list[Part] = []
    start = len(header)  # index of the part's first line
    rows = size = 0
    for first, end, is_row in records:
        record_size = sum(len(line.encode()) for line in lines[first:end])
        if rows and (rows >= part_rows or size + record_size > part_bytes):
            parts.append(_part(header_text, lines, start, first, rows, len(header)))
            start, rows, size = first, 0, 0
        rows += is_row
        size += record_size
    end = len(lines)
    if rows or not parts:
        parts.append(_part(header_text, lines, start, end, rows, len(header)))
    return [p for p in parts if p.rows]


def _part(header: str, lines: list[str], start: int, end: int, rows: int, header_lines: int) -> Part:
    body = header + "".join(lines[start:end])
    if body and not body.endswith("\n"):
        body += "\n"
    return Part(body.encode(), rows, start + 1, header_lines)


def _csv_records(lines: list[str]) -> tuple[list[tuple[int, int, bool]], list[str]]:
    """[(first line index, end line index, is a row)] of a CSV file's records after its header, and
    the header's lines. The csv reader says where each record ends (a quoted cell may hold breaks)."""
    reader = csv.reader(iter(lines))
    records: list[tuple[int, int, bool]] = []
    header: list[str] = []
    before = 0
    for cells in reader:
        if not header:
            if _blank(cells):
                raise ImportFileError("the CSV file must start with its header line")
            header = lines[: reader.line_num]
        else:
            records.append((before, reader.line_num, not _blank(cells)))
        before = reader.line_num
    return records, header


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    replaced: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False

    def add(self, part: Part, answer: dict[str, Any]) -> None:
        for key in ("rows", "created", "replaced", "unchanged", "failed"):
            setattr(self, key, getattr(self, key) + int(answer.get(key) or 0))
        for error in answer.get("errors") or []:
            row = error.get("row")
            self.errors.append({**error, "row": part.file_row(row) if isinstance(row, int) else row})
        self.errors_truncated = self.errors_truncated or bool(answer.get("errorsTruncated"))

    def text(self) -> str:
        said = (
            f"{self.rows} rows: {self.created} created, {self.replaced} replaced, "
            f"{self.unchanged} unchanged, {self.failed} failed"
        )
        if self.errors_truncated:
            said += " (the server listed only the first errors of a part)"
        return said

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "errors": self.errors,
            "errorsTruncated": self.errors_truncated,
        }


def error_line(name: str, error: dict[str, Any]) -> str:
    """FILE:ROW: screenId ID: field: message (as `coatro send` names a line)."""
    where = f"{name}:{error.get('row')}:"
    if error.get("screenId"):
        where += f" screenId {error['screenId']}:"
    if error.get("field"):
        where += f" {error['field']}:"
    return f"{where} {error.get('message')}"


def import_file(
    parts: list[Part], send: Callable[[bytes], dict[str, Any]], on_rows: Callable[[int], None]
) -> ImportSummary:
    summary = ImportSummary()
    for part in parts:
        summary.add(part, send(part.body))
        on_rows(part.rows)
    return summary


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_table(records: Iterable[dict[str, Any]], columns: tuple[str, ...], out: TextIO) -> int:
    """Records as an aligned text table (columns as wide as their widest cell)."""
    rows = [[_cell(r.get(c)) for c in columns] for r in records]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    for row in [list(columns), *rows]:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    return len(rows)


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
