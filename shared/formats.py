"""Streaming framing and parsing of bulk files (NDJSON, JSON, CSV), with bounded memory.

Two entry points share one framer per format, so the splitter and the workers cannot disagree on
where a record starts or ends or on its row number:

- `plan_file(stream, fmt, chunk_rows, max_row_bytes)` reads the whole object once, in blocks, and
  cuts it into chunks: byte ranges ``[start, end)`` holding ``row_count`` records whose first one
  has row number ``first_row``.
- `iter_rows(stream, fmt, chunk, max_row_bytes, header)` reads one chunk's byte range (the caller
  has seeked to ``chunk.start``; nothing past ``chunk.end`` is read) and yields
  ``(row, record, error)`` for each of its records.

Memory never exceeds about one block (1 MiB) plus ``max_row_bytes``: a record larger than
``max_row_bytes`` is skipped without being buffered and reported as a row error.

Row numbers are what a person sees in the file:

- NDJSON: the physical line number (from 1). Blank (whitespace-only) lines are not rows but count
  as lines. LF and CRLF line ends; a lone CR is not a line end.
- JSON: the element's position in the top-level array (from 1). The document is either an array of
  events or an object with an ``"events"`` array (the events endpoint's body); other members of that
  object are ignored. The framer tracks strings, escapes and bracket depth with regular expressions
  over blocks, so an element is a byte range and need not be valid JSON to be framed: an element
  that does not parse is a row error. ``[a,,b]`` counts an empty element (a row error known to the
  splitter, in ``FilePlan.errors``); a trailing comma before ``]`` is tolerated.
- CSV: the physical line number of the record's first line, the header being line 1 (or the first
  non-blank line). Records may contain quoted newlines (RFC 4180: a record ends at a line end where
  the number of ``"`` seen since its start is even). A stray quote inside an unquoted field (which
  RFC 4180 forbids) therefore joins lines until the next odd quote; the joined record is one row
  error. Blank lines are skipped.

Truncation:

- NDJSON / CSV: a last line without a line end is an ordinary row; if it is cut mid-record it fails
  to parse and is a row error.
- JSON: when the file ends inside an element (inside a string or an unclosed bracket), the complete
  elements before it are rows and the truncated element is a row error in ``FilePlan.errors``
  (counted in ``total_rows``, in no chunk). A file that ends after a complete element but before the
  closing ``]`` is accepted as is. If no element at all is complete the file is `FileInvalid`.

`FileInvalid` (the file cannot be framed at all): NUL bytes in the first block (binary), a UTF-16 /
UTF-32 byte order mark, content that clearly does not match the declared format, a JSON object
without an ``"events"`` array, a CSV file without a usable header. An empty file is not invalid: it
has zero rows and no chunks. A UTF-8 byte order mark is skipped (offsets stay byte offsets of the
object).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from shared.models import STRICT_JSON

FORMATS = {"ndjson": "application/x-ndjson", "json": "application/json", "csv": "text/csv"}

BLOCK_SIZE = 1 << 20
_UTF8_BOM = b"\xef\xbb\xbf"
_CR = ord("\r")
_OTHER_BOMS = {
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\xfe\xff": "UTF-16",
    b"\xff\xfe": "UTF-16",
}

# Record kinds produced by the framers.
_OK = 0  # payload: the record's bytes (or None when the framer was asked not to keep them)
_OVERSIZE = 1  # payload: the record's size in bytes; its content was not kept
_EMPTY = 2  # JSON only: nothing between two commas; payload None
_TRUNCATED = 3  # JSON only: the file ends inside this element; payload None


class FileInvalid(Exception):
    """The file cannot be framed at all; the message says why, for a person."""


@dataclass
class RowError:
    row: int
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RowError":
        return cls(row=int(data["row"]), error=str(data["error"]))


@dataclass
class ChunkSpec:
    index: int
    start: int
    end: int
    first_row: int
    row_count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ChunkSpec":
        return cls(**{k: int(data[k]) for k in ("index", "start", "end", "first_row", "row_count")})


@dataclass
class FilePlan:
    format: str
    total_rows: int
    chunks: list[ChunkSpec] = field(default_factory=list)
    header: list[str] | None = None
    errors: list[RowError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "total_rows": self.total_rows,
            "chunks": [c.to_dict() for c in self.chunks],
            "header": None if self.header is None else list(self.header),
            "errors": [e.to_dict() for e in self.errors],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FilePlan":
        header = data.get("header")
        return cls(
            format=data["format"],
            total_rows=int(data["total_rows"]),
            chunks=[ChunkSpec.from_dict(c) for c in data.get("chunks") or []],
            header=None if header is None else [str(h) for h in header],
            errors=[RowError.from_dict(e) for e in data.get("errors") or []],
        )


# --------------------------------------------------------------------------------------------
# Reading


class _Prefixed:
    """A stream whose first bytes were already read (for sniffing) and are handed out again."""

    def __init__(self, prefix: bytes, stream):
        self._prefix = prefix
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            out, self._prefix = self._prefix, b""
            return out
        return self._stream.read(n)


def _read(stream, n: int) -> bytes:
    data = stream.read(n)
    if data is None:  # a non-blocking raw stream with nothing yet; our streams block
        return b""
    if isinstance(data, str):
        raise TypeError("the stream must be opened in binary mode")
    return bytes(data) if not isinstance(data, bytes) else data


def _blocks(stream, limit: int | None) -> Iterator[bytes]:
    """Blocks of at most BLOCK_SIZE bytes, stopping after `limit` bytes (None: at end of stream)."""
    remaining = limit
    while remaining is None or remaining > 0:
        n = BLOCK_SIZE if remaining is None else min(BLOCK_SIZE, remaining)
        data = _read(stream, n)
        if not data:
            return
        if remaining is not None:
            if len(data) > remaining:  # a stream that ignores n; never look past the limit
                data = data[:remaining]
            remaining -= len(data)
        yield data


# --------------------------------------------------------------------------------------------
# Lines (NDJSON and CSV)


def _lines(stream, start: int, limit: int | None, first_line: int, max_row_bytes: int):
    """Physical lines: (line_no, start, end, data, info).

    `end` is just past the line's LF (or the end of the data). `data` is the line without its LF
    (a CR before it is kept), or None when the line is longer than max_row_bytes, in which case
    `info` is (size, nonblank, odd_quotes) computed while skipping it.
    """
    line_no = first_line
    pos = start  # absolute offset of the current (partial) line
    carry: list[bytes] = []
    carry_len = 0
    skipping = False
    skip_nonblank = False
    skip_quotes = 0
    skip_cr = False
    for block in _blocks(stream, limit):
        if skipping:
            j = block.find(b"\n")
            piece = block if j < 0 else block[:j]
            skip_nonblank = skip_nonblank or bool(piece.strip())
            skip_quotes += piece.count(b'"')
            carry_len += len(piece)
            if piece:
                skip_cr = piece[-1] == _CR
            if j < 0:
                continue
            end = pos + carry_len + 1
            yield line_no, pos, end, None, (carry_len - skip_cr, skip_nonblank, skip_quotes & 1, skip_cr)
            line_no += 1
            pos = end
            skipping = False
            carry_len = 0
            block = block[j + 1 :]
        parts = block.split(b"\n")
        last = parts.pop()
        if parts and carry:
            carry.append(parts[0])
            parts[0] = b"".join(carry)
            carry = []
            carry_len = 0
        for line in parts:
            n = len(line)
            end = pos + n + 1
            if n > max_row_bytes:
                size = n - (line[-1] == _CR)
                yield line_no, pos, end, None, (size, bool(line.strip()), line.count(b'"') & 1, n - size)
            else:
                yield line_no, pos, end, line, None
            line_no += 1
            pos = end
        if last:
            carry.append(last)
            carry_len += len(last)
            if carry_len > max_row_bytes:
                skipping = True
                skip_nonblank = any(p.strip() for p in carry)
                skip_quotes = sum(p.count(b'"') for p in carry)
                skip_cr = carry[-1][-1] == _CR
                carry = []
    if skipping:
        yield line_no, pos, pos + carry_len, None, (carry_len - skip_cr, skip_nonblank, skip_quotes & 1, skip_cr)
    elif carry:
        line = b"".join(carry)
        yield line_no, pos, pos + len(line), line, None


def _ndjson_records(stream, start, limit, first_row, max_row_bytes):
    for line_no, s, e, data, info in _lines(stream, start, limit, first_row, max_row_bytes):
        if data is None:
            if info[1]:
                yield line_no, s, e, info[0], _OVERSIZE
        elif data.strip():
            yield line_no, s, e, data, _OK


def _csv_records(stream, start, limit, first_row, max_row_bytes):
    rec_line = rec_start = 0
    pieces: list[bytes] | None = None  # None: no open record
    size = 0
    oversize = False
    odd = 0
    last_end = start
    for line_no, s, e, data, info in _lines(stream, start, limit, first_row, max_row_bytes):
        last_end = e
        if data is None:
            n, nonblank, q, cr = info
            n += cr
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
                yield line_no, s, e, data, _OK
                continue
            rec_line, rec_start, pieces, size, oversize, odd = line_no, s, [], 0, False, 0
        else:
            size += 1  # the LF joining the previous line to this one
        size += n
        odd ^= q
        if data is None or size > max_row_bytes:
            oversize = True
            pieces = []
        if not oversize:
            pieces.append(data)
        if not odd:
            if oversize:
                yield rec_line, rec_start, e, size - cr, _OVERSIZE
            else:
                yield rec_line, rec_start, e, b"\n".join(pieces), _OK
            pieces = None
    if pieces is not None:  # the file ends inside a quoted field
        if oversize:
            yield rec_line, rec_start, last_end, size - cr, _OVERSIZE
        else:
            yield rec_line, rec_start, last_end, b"\n".join(pieces), _OK


# --------------------------------------------------------------------------------------------
# JSON


class _Cursor:
    """A window over a stream: `buf` holds bytes from absolute offset `base`; `pos` indexes buf."""

    def __init__(self, stream, start: int, limit: int | None):
        self._blocks = _blocks(stream, limit)
        self.base = start
        self.buf = b""
        self.pos = 0
        self.eof = False
        self.closed = False  # JSON: the array's closing bracket was seen

    def more(self, keep_from: int) -> int:
        """Drop buf[:keep_from], append a block. Returns the shift applied to indexes, or -1 at EOF."""
        if self.eof:
            return -1
        block = next(self._blocks, None)
        if block is None:
            self.eof = True
            return -1
        if keep_from:
            self.buf = self.buf[keep_from:]
            self.base += keep_from
            self.pos -= keep_from
        self.buf = self.buf + block if self.buf else block
        return keep_from


_WS = re.compile(rb"[ \t\r\n]*+")
_STRING_TAIL = rb'(?:[^"\\]++|\\[\s\S])*+'
# Everything up to the next structural byte outside strings; a string unterminated within the
# buffer stops the match at its opening quote.
_OUT_TOP = re.compile(rb'(?:[^"\[\]{},]++|"' + _STRING_TAIL + rb'")*+')
_OUT_NESTED = re.compile(rb'(?:[^"\[\]{}]++|"' + _STRING_TAIL + rb'")*+')
_STR_BODY = re.compile(_STRING_TAIL)
_STRING = re.compile(rb'"' + _STRING_TAIL + rb'"')
_QUOTE, _BACKSLASH, _COMMA = ord('"'), ord("\\"), ord(",")
_OPEN = (ord("{"), ord("["))
_CLOSE = (ord("}"), ord("]"))


def _scan_element(cur: _Cursor, closer: int, keep: bool, max_row_bytes: int):
    """Frame one value starting at cur.pos (not whitespace, not a separator).

    Returns (start, end, payload, kind): the value ends before the first `,` or `closer` at depth 0
    (cur.pos is left there) or at the end of the data. With keep, payload is the value's bytes
    (trailing whitespace stripped) unless it is larger than max_row_bytes.
    """
    el = cur.pos
    start = cur.base + el
    depth = 0
    in_str = False
    oversize = not keep
    i = el
    while True:
        buf = cur.buf
        n = len(buf)
        need_more = False
        while True:
            if in_str:
                i = _STR_BODY.match(buf, i).end()
                if i >= n or (i == n - 1 and buf[i] == _BACKSLASH):
                    need_more = True
                    break
                i += 1
                in_str = False
            i = (_OUT_NESTED if depth else _OUT_TOP).match(buf, i).end()
            if i >= n:
                need_more = True
                break
            c = buf[i]
            if c == _QUOTE:
                in_str = True
                i += 1
            elif c in _OPEN:
                depth += 1
                i += 1
            elif c in _CLOSE:
                if depth:
                    depth -= 1
                    i += 1
                elif c == closer:
                    break
                else:
                    i += 1  # a stray closing bracket: part of this (invalid) value
            else:  # a comma at depth 0
                break
        if not need_more:
            break
        if not oversize and cur.base + i - start > max_row_bytes:
            oversize = True
        shift = cur.more(i if oversize else el)
        if shift < 0:
            i = len(cur.buf)
            cur.pos = i
            end = cur.base + i
            if in_str or depth:
                return start, end, None, _TRUNCATED
            break
        i -= shift
        el -= shift
    cur.pos = i
    end = cur.base + i
    if not keep:
        return start, end, None, _OK
    if oversize or end - start > max_row_bytes:
        data = None if oversize else cur.buf[el:i].rstrip()
        if data is None or len(data) > max_row_bytes:
            return start, end, end - start if data is None else len(data), _OVERSIZE
        return start, end, data, _OK
    return start, end, cur.buf[el:i].rstrip(), _OK


def _skip_ws(cur: _Cursor) -> int | None:
    """Skip whitespace; return the next byte (not consumed) or None at the end of the data."""
    while True:
        cur.pos = _WS.match(cur.buf, cur.pos).end()
        if cur.pos < len(cur.buf):
            return cur.buf[cur.pos]
        if cur.more(cur.pos) < 0:
            return None


def _json_items(cur: _Cursor, first_row: int, keep: bool, max_row_bytes: int):
    """Elements of an array whose `[` was consumed: (row, start, end, payload, kind).

    Stops at the closing `]` (consumed) or at the end of the data.
    """
    row = first_row - 1
    expect_value = True
    while True:
        c = _skip_ws(cur)
        if c is None:
            return
        if c == _CLOSE[1]:
            cur.pos += 1
            cur.closed = True
            return
        if c == _COMMA:
            if expect_value:
                row += 1
                start = cur.base + cur.pos
                yield row, start, start, None, _EMPTY
            cur.pos += 1
            expect_value = True
            continue
        row += 1
        expect_value = False
        start, end, payload, kind = _scan_element(cur, _CLOSE[1], keep, max_row_bytes)
        yield row, start, end, payload, kind


def _json_find_array(cur: _Cursor, max_row_bytes: int) -> None:
    """Position cur just after the `[` of the events array, or raise FileInvalid."""
    c = _skip_ws(cur)
    if c == _OPEN[1]:
        cur.pos += 1
        return
    if c != _OPEN[0]:
        raise FileInvalid(
            f"The file was declared json but starts with {_snippet(cur.buf[cur.pos:])}; "
            'a JSON file should be an array of events or {"events": [...]}'
        )
    cur.pos += 1
    while True:
        c = _skip_ws(cur)
        if c is None:
            raise FileInvalid('The JSON document ends before an "events" array (truncated file?)')
        if c == _CLOSE[0]:
            cur.pos += 1
            hint = ""
            if _skip_ws(cur) is not None:
                hint = " (it holds more than one JSON value: if it has one event per line, use format ndjson)"
            raise FileInvalid(f'The JSON object has no "events" array{hint}')
        if c == _COMMA:
            cur.pos += 1
            continue
        if c != _QUOTE:
            raise FileInvalid(f"The JSON object is not valid near {_snippet(cur.buf[cur.pos:])}")
        while True:
            m = _STRING.match(cur.buf, cur.pos)
            if m:
                break
            if len(cur.buf) - cur.pos > max_row_bytes or cur.more(cur.pos) < 0:
                raise FileInvalid("The JSON object has a key that is not a complete string")
        try:
            key = json.loads(m.group())
        except ValueError:
            key = None
        cur.pos = m.end()
        if _skip_ws(cur) != ord(":"):
            raise FileInvalid("The JSON object is not valid: expected ':' after a key")
        cur.pos += 1
        c = _skip_ws(cur)
        if key == "events":
            if c != _OPEN[1]:
                raise FileInvalid('"events" in the JSON object should be an array')
            cur.pos += 1
            return
        if c is None:
            raise FileInvalid('The JSON document ends before an "events" array (truncated file?)')
        if _scan_element(cur, _CLOSE[0], False, max_row_bytes)[3] == _TRUNCATED:
            raise FileInvalid('The JSON document ends before an "events" array (truncated file?)')


# --------------------------------------------------------------------------------------------
# Sniffing and planning


def _snippet(data: bytes, n: int = 20) -> str:
    text = data[:n].decode("utf-8", "replace").split("\n", 1)[0]
    return repr(text + ("..." if len(data) > n else ""))


def _first_nonblank_line(block: bytes) -> bytes:
    for line in block.split(b"\n", 200):
        if line.strip():
            return line.strip()
    return b""


def _check_kind(fmt: str, block: bytes) -> None:
    first = _first_nonblank_line(block)
    if not first:
        return
    if fmt == "csv" and first[:1] in (b"{", b"["):
        looks = "NDJSON (one JSON object per line)" if first[:1] == b"{" else "JSON"
        raise FileInvalid(
            f"The file was declared csv but looks like {looks}: its first line starts with "
            f"{_snippet(first, 1)}; a CSV file starts with a header row of column names"
        )
    if fmt == "ndjson" and first[:1] == b"[":
        raise FileInvalid(
            "The file was declared ndjson but looks like a JSON array: its first line starts with "
            "'['; upload it with format json, or write one JSON object per line"
        )


def _records(fmt: str, stream, start: int, limit: int | None, first_row: int, max_row_bytes: int, keep: bool):
    if fmt == "ndjson":
        return _ndjson_records(stream, start, limit, first_row, max_row_bytes)
    if fmt == "csv":
        return _csv_records(stream, start, limit, first_row, max_row_bytes)
    cur = _Cursor(stream, start, limit)
    return _json_items(cur, first_row, keep, max_row_bytes)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


MAX_PLAN_ERRORS = 1_000  # empty/truncated JSON elements the plan itself records
CHUNK_BYTES = 64 * 1024 * 1024  # a chunk of huge rows is cut early so one worker call stays short


def plan_file(stream, fmt: str, chunk_rows: int, max_row_bytes: int, chunk_bytes: int = CHUNK_BYTES) -> FilePlan:
    """Read `stream` once and cut it into chunks of at most `chunk_rows` records (and about `chunk_bytes`)."""
    _check_format(fmt)
    if chunk_rows < 1 or max_row_bytes < 1:
        raise ValueError("chunk_rows and max_row_bytes must be positive")
    first = _read(stream, BLOCK_SIZE)
    plan = FilePlan(format=fmt, total_rows=0)
    if not first:
        return plan
    for bom, name in _OTHER_BOMS.items():
        if first.startswith(bom):
            raise FileInvalid(f"The file is {name} encoded; only UTF-8 is supported")
    if b"\x00" in first:
        raise FileInvalid("The file looks binary (it contains NUL bytes), not UTF-8 text")
    start = 0
    if first.startswith(_UTF8_BOM):
        start = len(_UTF8_BOM)
        first = first[start:]
    _check_kind(fmt, first)
    source = _Prefixed(first, stream)

    if fmt == "json":
        cur = _Cursor(source, start, None)
        if _skip_ws(cur) is None:
            return plan  # only whitespace: an empty file
        _json_find_array(cur, max_row_bytes)
        records = _json_items(cur, 1, False, max_row_bytes)
        json_cursor = cur
    else:
        records = _records(fmt, source, start, None, 1, max_row_bytes, False)
        if fmt == "csv":
            header_rec = next(records, None)
            if header_rec is None:
                return plan  # only blank lines
            plan.header = _parse_header(header_rec)

    chunks = plan.chunks
    errors = plan.errors
    count = 0
    total = 0
    c_start = c_first = last_end = 0
    for row, s, e, _payload, kind in records:
        if kind >= _EMPTY:
            if kind == _EMPTY:
                errors.append(RowError(row, "Row is empty: there is nothing between two commas"))
            else:
                errors.append(RowError(row, "Row is truncated: the file ends inside this element"))
            if len(errors) > MAX_PLAN_ERRORS:
                raise FileInvalid(f"The JSON array has more than {MAX_PLAN_ERRORS} empty elements")
            continue
        if count == 0:
            c_start, c_first = s, row
        count += 1
        last_end = e
        if count == chunk_rows or last_end - c_start >= chunk_bytes:
            chunks.append(ChunkSpec(len(chunks), c_start, last_end, c_first, count))
            total += count
            count = 0
    if count:
        chunks.append(ChunkSpec(len(chunks), c_start, last_end, c_first, count))
        total += count
    if fmt == "json" and not chunks and not json_cursor.closed:
        raise FileInvalid("The JSON file ends before its first element is complete (truncated file?)")
    plan.total_rows = total + len(errors)
    return plan


def _parse_header(rec) -> list[str]:
    _row, _s, _e, payload, kind = rec
    if kind != _OK:
        raise FileInvalid(f"The CSV header row is {payload} bytes, longer than the row size limit")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise FileInvalid("The CSV header row is not valid UTF-8") from None
    try:
        values = next(csv.reader([text]), [])
    except csv.Error as exc:
        raise FileInvalid(f"The CSV header row cannot be read: {exc}") from None
    names = [v.strip() for v in values]
    if not any(names):
        raise FileInvalid("The CSV file has an empty header row; the first line must name the columns")
    for i, name in enumerate(names, 1):
        if not name:
            raise FileInvalid(f"The CSV header has an empty column name (column {i})")
    seen = set()
    for name in names:
        if name in seen:
            raise FileInvalid(f"The CSV header names column {name!r} twice")
        seen.add(name)
    return names


# --------------------------------------------------------------------------------------------
# Parsing rows


_decode = STRICT_JSON.decode
_TYPE_NAMES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _utf8_error(exc: UnicodeDecodeError) -> str:
    return f"Row is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at byte {exc.start + 1} of the row)"


def _parse_json(data: bytes) -> tuple[dict | None, str | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _utf8_error(exc)
    try:
        value = _decode(text)
    except json.JSONDecodeError as exc:
        where = f"at column {exc.colno}" if exc.lineno == 1 else f"at line {exc.lineno}, column {exc.colno} of the element"
        return None, f"Row is not valid JSON: {exc.msg} {where}"
    except (ValueError, RecursionError) as exc:
        return None, f"Row is not valid JSON: {exc}"
    if type(value) is not dict:
        return None, f"Row should be a JSON object, not {_TYPE_NAMES.get(type(value), 'null')}"
    return value, None


def _parse_csv(data: bytes, header: list[str]) -> tuple[dict | None, str | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _utf8_error(exc)
    try:
        values = next(csv.reader([text]), [])
    except csv.Error as exc:
        return None, f"Row is not valid CSV: {exc}"
    if len(values) != len(header):
        n = len(values)
        return None, f"Row has {n} value{'' if n == 1 else 's'}; the header has {len(header)} columns"
    return {k: v for k, v in zip(header, values) if v != ""}, None


def iter_rows(
    stream, fmt: str, chunk: ChunkSpec, max_row_bytes: int, header: list[str] | None
) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (row, record, error) for each of the chunk's records; read only [start, end).

    Exactly chunk.row_count tuples, numbered as plan_file numbered them. If the range holds fewer
    records than planned (the object was replaced after it was split) FileInvalid is raised after
    the rows that were found.
    """
    _check_format(fmt)
    if fmt == "csv":
        if not header:
            raise ValueError("a CSV chunk needs the header from the file plan")
        if csv.field_size_limit() < max_row_bytes:
            csv.field_size_limit(max_row_bytes)
    length = chunk.end - chunk.start
    records = _records(fmt, stream, chunk.start, length, chunk.first_row, max_row_bytes, True)
    remaining = chunk.row_count
    if remaining <= 0:
        return
    for row, _s, _e, payload, kind in records:
        if kind == _OK:
            if fmt == "csv":
                record, error = _parse_csv(payload, header)
            else:
                record, error = _parse_json(payload)
            yield row, record, error
        elif kind == _OVERSIZE:
            yield row, None, f"Row is {payload} bytes; the limit is {max_row_bytes} bytes"
        else:
            continue  # known to the splitter (FilePlan.errors), not part of this chunk's count
        remaining -= 1
        if remaining == 0:
            return
    raise FileInvalid(
        f"Chunk {chunk.index} holds fewer records than planned ({chunk.row_count - remaining} of "
        f"{chunk.row_count}); the object changed after it was split"
    )
