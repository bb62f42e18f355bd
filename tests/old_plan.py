"""The splitter's planner as it was before issue 21 (record by record, through the framers that the
workers still use), kept as the reference the bulk planner (shared.bulk.formats.line_plan and
json_array.plan_items) must equal: tests/unit/test_plan_equivalence.py."""

from __future__ import annotations

from collections.abc import Iterator

from shared.bulk.formats import delimited, json_array, ndjson, reading
from shared.bulk.formats.chunking import MAX_HEADER_TEXT, MAX_PLAN_ERRORS, _check_format, _check_kind
from shared.bulk.formats.reading import (
    EMPTY,
    OTHER_BOMS,
    UTF8_BOM,
    FileInvalid,
    Framed,
    Prefixed,
    Readable,
    read,
)
from shared.records.jobs import ChunkSpec, FilePlan, RowError


def _records(fmt: str, stream: Readable, start: int, max_row_bytes: int) -> Iterator[Framed]:
    if fmt == "ndjson":
        return ndjson.records(stream, start, None, 1, max_row_bytes)
    return delimited.records(stream, start, None, 1, max_row_bytes)


class _Cut:
    """The chunks (and plan-level row errors) of one run of records."""

    def __init__(self) -> None:
        self.chunks: list[ChunkSpec] = []
        self.errors: list[RowError] = []
        self.rows = 0  # in chunks
        self.too_many_errors = False


def _cut(records: Iterator[Framed], chunk_rows: int, chunk_bytes: int, member: str | None = None) -> _Cut:
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

    for row, s, e, _payload, kind in records:
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
        cut = _cut(json_array.items(cur, 1, False, max_row_bytes), chunk_rows, chunk_bytes, member)
        if not cut.chunks and not cur.closed:
            raise FileInvalid("The JSON file ends before its first element is complete (truncated file?)")
    if cut is None:
        return
    if cut.too_many_errors:
        raise FileInvalid(f"The JSON array has more than {MAX_PLAN_ERRORS} empty elements")
    plan.chunks, plan.errors, plan.member = cut.chunks, cut.errors, member
    plan.total_rows = cut.rows + len(cut.errors)


def plan_file(stream: Readable, fmt: str, chunk_rows: int, max_row_bytes: int, chunk_bytes: int) -> FilePlan:
    """Read `stream` once and cut it into chunks of at most `chunk_rows` records.

    A chunk also ends with the record that makes it span `chunk_bytes` (default: the setting), so
    it spans less than chunk_bytes + max_row_bytes (plus a line end) and, every record of a mapping
    being at least 2 bytes, holds boundedly many records however many a row turns into. Every chunk
    but the last spans chunk_bytes or holds chunk_rows rows; `pipeline.splitter.chunk_rows_for` relies on it.
    """
    fmt = _check_format(fmt)
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
    records = _records(fmt, source, start, max_row_bytes)
    if fmt == "csv":
        header_rec = next(records, None)
        if header_rec is None:
            return plan  # only blank lines
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
    cut = _cut(records, chunk_rows, chunk_bytes)
    plan.chunks = cut.chunks
    plan.total_rows = cut.rows
    return plan
