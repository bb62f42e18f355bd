"""Cutting a file into chunks (`plan_file`, the splitter) and reading one chunk back (`iter_rows`, the
worker), with the same framer per format so the two cannot disagree on rows."""

from __future__ import annotations

import io
import json
from bisect import bisect_left
from collections.abc import Iterator

from shared.bulk.formats import delimited, json_array, line_plan, ndjson, reading
from shared.bulk.formats.reading import (
    EMPTY,
    OK,
    OTHER_BOMS,
    OVERSIZE,
    UTF8_BOM,
    FileInvalid,
    Framed,
    Parsed,
    Prefixed,
    Readable,
    Run,
    read,
    snippet,
)
from shared.platform.settings import get_settings
from shared.records.jobs import ChunkSpec, FileFormat, FilePlan, RowError

FORMATS = {"ndjson": "application/x-ndjson", "json": "application/json", "csv": "text/csv"}


def _first_nonblank_line(block: bytes) -> bytes:
    for line in block.split(b"\n", 200):
        if line.strip():
            return line.strip()
    return b""


def _positional_line(line: bytes) -> bool:
    """An NDJSON line that is a whole array of plain values: a positional record (a mapping's
    `columns` names them), not the first line of a JSON array of events."""
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return type(value) is list and not any(type(v) in (dict, list) for v in value)


def _check_kind(fmt: str, block: bytes) -> None:
    first = _first_nonblank_line(block)
    if not first:
        return
    if fmt == "csv" and first[:1] in (b"{", b"["):
        looks = "NDJSON (one JSON object per line)" if first[:1] == b"{" else "JSON"
        raise FileInvalid(
            f"The file was declared csv but looks like {looks}: its first line starts with "
            f"{snippet(first, 1)}; a CSV file starts with a header row of column names"
        )
    if fmt == "ndjson" and first[:1] == b"[" and not _positional_line(first):
        raise FileInvalid(
            "The file was declared ndjson but looks like a JSON array: its first line starts with "
            "'['; upload it with format json, or write one JSON object per line"
        )


def _records(
    fmt: str, stream: Readable, start: int, limit: int | None, first_row: int, max_row_bytes: int, keep: bool
) -> Iterator[Framed]:
    if fmt == "ndjson":
        return ndjson.records(stream, start, limit, first_row, max_row_bytes)
    if fmt == "csv":
        return delimited.records(stream, start, limit, first_row, max_row_bytes)
    return json_array.items(json_array.Cursor(stream, start, limit), first_row, keep, max_row_bytes)


def _check_format(fmt: str) -> FileFormat:
    if fmt == "ndjson":
        return "ndjson"
    if fmt == "json":
        return "json"
    if fmt == "csv":
        return "csv"
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


MAX_HEADER_TEXT = 64 * 1024  # kept in the plan to be read again with a mapping's delimiter
MAX_PLAN_ERRORS = 1_000  # empty/truncated JSON elements the plan itself records


class _Cut:
    """The chunks (and plan-level row errors) of one run of records."""

    def __init__(self) -> None:
        self.chunks: list[ChunkSpec] = []
        self.errors: list[RowError] = []
        self.rows = 0  # in chunks
        self.too_many_errors = False


def _cut(
    records: Iterator[Framed | Run], chunk_rows: int, chunk_bytes: int, member: str | None = None
) -> _Cut:
    out = _Cut()
    chunks, errors = out.chunks, out.errors
    count = 0
    c_start = c_first = last_end = 0

    def close() -> None:  # the chunk of the last `count` rows
        chunks.append(
            ChunkSpec(
                index=len(chunks),
                start=c_start,
                end=last_end,
                first_row=c_first,
                row_count=count,
                member=member,
            )
        )
        out.rows += count

    for record in records:
        if isinstance(record, Run):
            first_row, start, ends, gap = record
            j, n = 0, len(ends)
            while j < n:
                if count == 0:
                    c_start, c_first = (start if j == 0 else ends[j - 1] + gap), first_row + j
                k = min(j + chunk_rows - count - 1, bisect_left(ends, c_start + chunk_bytes, j))
                if k < n:
                    count += k - j + 1
                    last_end = ends[k]
                    close()
                    count = 0
                    j = k + 1
                else:
                    count += n - j
                    last_end = ends[-1]
                    j = n
            continue
        row, s, e, _payload, kind = record
        if kind >= EMPTY:
            if len(errors) == MAX_PLAN_ERRORS:
                out.too_many_errors = True  # raised only if these are the file's rows (see plan_file)
                continue
            if kind == EMPTY:
                errors.append(RowError(row=row, error="Row is empty: there is nothing between two commas"))
            else:
                errors.append(RowError(row=row, error="Row is truncated: the file ends inside this element"))
            continue
        if count == 0:
            c_start, c_first = s, row
        count += 1
        last_end = e
        if count == chunk_rows or last_end - c_start >= chunk_bytes:
            close()
            count = 0
    if count:
        close()
    return out


def _plan_json(
    source: Readable, start: int, plan: FilePlan, chunk_rows: int, max_row_bytes: int, chunk_bytes: int
) -> None:
    cur = json_array.Cursor(source, start, None)
    if json_array.skip_ws(cur) is None:
        return  # only whitespace: an empty file
    cut = None
    member = None
    for found in json_array.arrays(cur, max_row_bytes):
        # (A member met before an "events" array is framed too, and replaced: one pass, bounded memory.)
        member = None if found == json_array.EVENTS else found
        cut = _cut(json_array.plan_items(cur, max_row_bytes), chunk_rows, chunk_bytes, member)
        if not cut.chunks and not cur.closed:
            raise FileInvalid("The JSON file ends before its first element is complete (truncated file?)")
    if cut is None:
        return
    if cut.too_many_errors:
        raise FileInvalid(f"The JSON array has more than {MAX_PLAN_ERRORS} empty elements")
    plan.chunks, plan.errors, plan.member = cut.chunks, cut.errors, member
    plan.total_rows = cut.rows + len(cut.errors)


def plan_file(
    stream: Readable, fmt: str, chunk_rows: int, max_row_bytes: int, chunk_bytes: int | None = None
) -> FilePlan:
    """Read `stream` once and cut it into chunks of at most `chunk_rows` records.

    A chunk also ends with the record that makes it span `chunk_bytes` (default: the setting), so
    it spans less than chunk_bytes + max_row_bytes (plus a line end) and, every record of a mapping
    being at least 2 bytes, holds boundedly many records however many a row turns into. Every chunk
    but the last spans chunk_bytes or holds chunk_rows rows; `pipeline.splitter.chunk_rows_for` relies on it.
    """
    fmt = _check_format(fmt)
    if chunk_bytes is None:
        chunk_bytes = get_settings().chunk_bytes
    if chunk_rows < 1 or max_row_bytes < 1 or chunk_bytes < 1:
        raise ValueError("chunk_rows, max_row_bytes and chunk_bytes must be positive")
    first = read(stream, reading.BLOCK_SIZE)
    plan = FilePlan(format=fmt, total_rows=0)
    if not first:
        return plan
    for bom, name in OTHER_BOMS.items():
        if first.startswith(bom):
            raise FileInvalid(f"The file is {name} encoded; only UTF-8 is supported")
    if b"\x00" in first:
        raise FileInvalid("The file looks binary (it contains NUL bytes), not UTF-8 text")
    start = 0
    if first.startswith(UTF8_BOM):
        start = len(UTF8_BOM)
        first = first[start:]
    _check_kind(fmt, first)
    source = Prefixed(first, stream)

    if fmt == "json":
        _plan_json(source, start, plan, chunk_rows, max_row_bytes, chunk_bytes)
        return plan
    if fmt == "ndjson":
        plan.chunks, plan.total_rows = line_plan.plan_lines(source, start, 1, False, chunk_rows, chunk_bytes)
        return plan
    head, header_rec, whole = _csv_header(first, stream, start, max_row_bytes)
    if header_rec is None:
        return plan  # only blank lines
    if not whole:  # a first record longer than MAX_HEAD_BYTES: the file is framed line by line
        records = _records(fmt, Prefixed(head, stream), start, None, 1, max_row_bytes, False)
        header_rec = next(records)
    if fmt == "csv":
        plan.header_row, plan.header_start, plan.header_end = header_rec[0], header_rec[1], header_rec[2]
        try:
            text = delimited.header_text(header_rec, max_row_bytes)
        except delimited.HeaderUnreadable as exc:  # too long: only a file without a header can use it
            plan.header_problem = str(exc)
        else:
            plan.header_text = text if len(text) <= MAX_HEADER_TEXT else None
            try:
                plan.header = delimited.header_names(text)
            except delimited.HeaderProblem as exc:  # the file may have no header or another delimiter
                plan.header_problem = str(exc)
    if not whole:
        cut = _cut(records, chunk_rows, chunk_bytes)
        plan.chunks, plan.total_rows = cut.chunks, cut.rows
        return plan
    used = header_rec[2] - start
    plan.chunks, plan.total_rows = line_plan.plan_lines(
        Prefixed(head[used:], stream),
        header_rec[2],
        1 + head.count(b"\n", 0, used),
        True,
        chunk_rows,
        chunk_bytes,
    )
    return plan


MAX_HEAD_BYTES = 8 * 1024 * 1024  # read to find the CSV header record before falling back to lines


def _csv_header(
    first: bytes, stream: Readable, start: int, max_row_bytes: int
) -> tuple[bytes, Framed | None, bool]:
    """The CSV header record framed line by line from the file's first bytes, read on until it ends
    before their end (or the file does): (the bytes read, the record or None if there are only blank
    lines, whether it is whole: False once more than MAX_HEAD_BYTES were read without its end)."""
    head = first
    while True:
        rec = next(delimited.records(io.BytesIO(head), start, None, 1, max_row_bytes), None)
        if rec is not None and rec[2] - start < len(head):
            return head, rec, True
        more = read(stream, reading.BLOCK_SIZE)
        if not more:
            return head, rec, True
        head += more
        if len(head) > MAX_HEAD_BYTES:
            return head, rec, False


def parse_record(
    fmt: str, payload: bytes, header: list[str] | None, arrays: bool = False, delimiter: str = ","
) -> tuple[Parsed | None, str | None]:
    """One framed record as a dict (with arrays, a JSON array too), or the row error that says why not."""
    if fmt == "csv":
        if header is None:
            raise ValueError("a CSV record needs the header from the file plan")
        return delimited.parse_row(payload, header, delimiter)
    return ndjson.parse_object(payload, arrays)


def iter_rows(
    stream: Readable,
    fmt: str,
    chunk: ChunkSpec,
    max_row_bytes: int,
    header: list[str] | None,
    parse: bool = True,
    arrays: bool = False,
    delimiter: str = ",",
) -> Iterator[tuple[int, Parsed | bytes | None, str | None]]:
    """Yield (row, record, error) for each of the chunk's records; read only [start, end).

    With parse=False a framed record is yielded as its bytes, for a caller that validates them
    directly (and calls `parse_record` for those it cannot). With arrays, a JSON record may be an
    array (positional values) as well as an object.

    Exactly chunk.row_count tuples, numbered as plan_file numbered them. If the range holds fewer
    records than planned (the object was replaced after it was split) FileInvalid is raised after
    the rows that were found.
    """
    _check_format(fmt)
    if fmt == "csv":
        if not header:
            raise ValueError("a CSV chunk needs the header from the file plan")
        delimited.allow_fields_up_to(max_row_bytes)
    length = chunk.end - chunk.start
    records = _records(fmt, stream, chunk.start, length, chunk.first_row, max_row_bytes, True)
    remaining = chunk.row_count
    if remaining <= 0:
        return
    for row, _s, _e, payload, kind in records:
        if kind == OK:
            data: bytes = payload  # type: ignore[assignment]  # what a framer yields as OK is its bytes
            if parse:
                record, error = parse_record(fmt, data, header, arrays, delimiter)
                yield row, record, error
            else:
                yield row, data, None
        elif kind == OVERSIZE:
            yield row, None, f"Row is {payload!s} bytes; the limit is {max_row_bytes} bytes"  # its size
        else:
            continue  # known to the splitter (FilePlan.errors), not part of this chunk's count
        remaining -= 1
        if remaining == 0:
            return
    raise FileInvalid(
        f"Chunk {chunk.index} holds fewer records than planned ({chunk.row_count - remaining} of "
        f"{chunk.row_count}); the object changed after it was split"
    )
