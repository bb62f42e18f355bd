"""CSV (RFC 4180): records may span lines inside quotes; the header row names the columns."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from shared.bulk.formats.ndjson import utf8_error
from shared.bulk.formats.reading import OK, OVERSIZE, FileInvalid, Framed, Readable, lines


def allow_fields_up_to(max_bytes: int) -> None:
    """Let the csv module read fields as long as a whole row may be.

    Its limit is process-wide (128 KiB by default); rows are already bounded by `max_row_bytes`
    before they reach it, so the worker raises it to that before parsing a CSV chunk.
    """
    if csv.field_size_limit() < max_bytes:
        csv.field_size_limit(max_bytes)


def records(
    stream: Readable, start: int, limit: int | None, first_row: int, max_row_bytes: int
) -> Iterator[Framed]:
    rec_line = rec_start = 0
    pieces: list[bytes] | None = None  # None: no open record
    size = 0
    oversize = False
    odd = 0
    last_end = start
    for line_no, s, e, data, skipped in lines(stream, start, limit, first_row, max_row_bytes):
        last_end = e
        if data is None:
            assert skipped is not None  # a line not kept says what it held
            n, nonblank, q, cr = skipped.size + skipped.cr, skipped.nonblank, skipped.odd_quotes, skipped.cr
        else:
            n = len(data)
            cr = data[-1:] == b"\r"
            q = data.count(b'"') & 1 if b'"' in data else 0
            nonblank = True
        if pieces is None:
            if data is not None:
                if q == 0 and not data.strip():
                    continue  # a blank line between records
            elif not nonblank:
                continue
            if q == 0 and data is not None:  # the common case: a one-line record
                yield line_no, s, e, data, OK
                continue
            rec_line, rec_start, pieces, size, oversize, odd = line_no, s, [], 0, False, 0
        else:
            size += 1  # the LF joining the previous line to this one
        size += n
        odd ^= q
        if data is None or size > max_row_bytes:
            oversize = True
            pieces = []
        if data is not None and not oversize:
            pieces.append(data)
        if not odd:
            if oversize:
                yield rec_line, rec_start, e, size - cr, OVERSIZE
            else:
                yield rec_line, rec_start, e, b"\n".join(pieces), OK
            pieces = None
    if pieces is not None:  # the file ends inside a quoted field
        if oversize:
            yield rec_line, rec_start, last_end, size - cr, OVERSIZE
        else:
            yield rec_line, rec_start, last_end, b"\n".join(pieces), OK


class HeaderProblem(FileInvalid):
    """The header row cannot name the columns. Whether that makes the file unusable depends on how
    its mapping reads it (a mapping may say the file has no header, or another delimiter)."""


class HeaderUnreadable(HeaderProblem):
    """The first row is longer than the row size limit: no header can be read from it, whatever the
    delimiter. A mapping without a header row (`header: false`) reads it as a data row, which is then
    one row error like the same row anywhere else."""

    PREFIX = "The CSV header row cannot be read: "

    @classmethod
    def marks(cls, problem: str | None) -> bool:
        """Whether a plan's `header_problem` is this one (the plan keeps only the message)."""
        return problem is not None and problem.startswith(cls.PREFIX)


def header_text(rec: Framed, max_row_bytes: int | None = None) -> str:
    """The header record's text; HeaderUnreadable if it is too long, FileInvalid if it is not UTF-8."""
    _row, _s, _e, payload, kind = rec
    if not isinstance(payload, bytes):  # OVERSIZE: its size
        limit = f" ({max_row_bytes} bytes)" if max_row_bytes else ""
        raise HeaderUnreadable(
            f"{HeaderUnreadable.PREFIX}it is {payload!s} bytes, longer than the row size limit{limit}"
        )
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise FileInvalid("The CSV header row is not valid UTF-8") from None


def header_names(text: str, delimiter: str = ",") -> list[str]:
    """The column names a header row gives, or HeaderProblem."""
    try:
        values = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error as exc:
        raise HeaderProblem(f"The CSV header row cannot be read: {exc}") from None
    names = [v.strip() for v in values]
    if not any(names):
        raise HeaderProblem("The CSV file has an empty header row; the first line must name the columns")
    for i, name in enumerate(names, 1):
        if not name:
            raise HeaderProblem(f"The CSV header has an empty column name (column {i})")
    seen = set()
    for name in names:
        if name in seen:
            raise HeaderProblem(f"The CSV header names column {name!r} twice")
        seen.add(name)
    return names


def parse_header(rec: Framed) -> list[str]:
    return header_names(header_text(rec))


def parse_row(
    data: bytes, header: list[str], delimiter: str = ","
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, utf8_error(exc)
    try:
        values = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error as exc:
        return None, f"Row is not valid CSV: {exc}"
    if len(values) != len(header):
        n = len(values)
        return None, f"Row has {n} value{'' if n == 1 else 's'}; the header has {len(header)} columns"
    return {k: v for k, v in zip(header, values, strict=True) if v != ""}, None
