"""JSON: the elements of a top-level array (or of the `"events"` array of an object), framed as byte
ranges by tracking strings, escapes and bracket depth with regular expressions over blocks."""

from __future__ import annotations

import json
import re

from shared.bulk.formats.reading import EMPTY, OK, OVERSIZE, TRUNCATED, FileInvalid, blocks, snippet


class Cursor:
    """A window over a stream: `buf` holds bytes from absolute offset `base`; `pos` indexes buf."""

    def __init__(self, stream, start: int, limit: int | None):
        self._blocks = blocks(stream, limit)
        self.base = start
        self.buf = b""
        self.pos = 0
        self.eof = False
        self.closed = False  # JSON: the array's closing bracket was seen
        self.in_object = False  # JSON: the array is the "events" member of an object

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


def scan_element(cur: Cursor, closer: int, keep: bool, max_row_bytes: int):
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
                return start, end, None, TRUNCATED
            break
        i -= shift
        el -= shift
    cur.pos = i
    end = cur.base + i
    if not keep:
        return start, end, None, OK
    if oversize or end - start > max_row_bytes:
        data = None if oversize else cur.buf[el:i].rstrip()
        if data is None or len(data) > max_row_bytes:
            return start, end, end - start if data is None else len(data), OVERSIZE
        return start, end, data, OK
    return start, end, cur.buf[el:i].rstrip(), OK


def skip_ws(cur: Cursor) -> int | None:
    """Skip whitespace; return the next byte (not consumed) or None at the end of the data."""
    while True:
        cur.pos = _WS.match(cur.buf, cur.pos).end()
        if cur.pos < len(cur.buf):
            return cur.buf[cur.pos]
        if cur.more(cur.pos) < 0:
            return None


def items(cur: Cursor, first_row: int, keep: bool, max_row_bytes: int):
    """Elements of an array whose `[` was consumed: (row, start, end, payload, kind).

    Stops at the closing `]` (consumed) or at the end of the data.
    """
    row = first_row - 1
    expect_value = True
    while True:
        c = skip_ws(cur)
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
                yield row, start, start, None, EMPTY
            cur.pos += 1
            expect_value = True
            continue
        row += 1
        expect_value = False
        start, end, payload, kind = scan_element(cur, _CLOSE[1], keep, max_row_bytes)
        yield row, start, end, payload, kind


def read_key(cur: Cursor, max_row_bytes: int) -> str | None:
    """The member name at cur.pos (a `"`), leaving cur after its `:`; None if it is not valid JSON text."""
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
    if skip_ws(cur) != ord(":"):
        raise FileInvalid("The JSON object is not valid: expected ':' after a key")
    cur.pos += 1
    return key


def find_array(cur: Cursor, max_row_bytes: int) -> None:
    """Position cur just after the `[` of the events array, or raise FileInvalid."""
    c = skip_ws(cur)
    if c == _OPEN[1]:
        cur.pos += 1
        return
    if c != _OPEN[0]:
        raise FileInvalid(
            f"The file was declared json but starts with {snippet(cur.buf[cur.pos :])}; "
            'a JSON file should be an array of events or {"events": [...]}'
        )
    cur.pos += 1
    cur.in_object = True
    while True:
        c = skip_ws(cur)
        if c is None:
            raise FileInvalid('The JSON document ends before an "events" array (truncated file?)')
        if c == _CLOSE[0]:
            cur.pos += 1
            hint = ""
            if skip_ws(cur) is not None:
                hint = " (it holds more than one JSON value: if it has one event per line, use format ndjson)"
            raise FileInvalid(f'The JSON object has no "events" array{hint}')
        if c == _COMMA:
            cur.pos += 1
            continue
        if c != _QUOTE:
            raise FileInvalid(f"The JSON object is not valid near {snippet(cur.buf[cur.pos :])}")
        key = read_key(cur, max_row_bytes)
        c = skip_ws(cur)
        if key == "events":
            if c != _OPEN[1]:
                raise FileInvalid('"events" in the JSON object should be an array')
            cur.pos += 1
            return
        if c is None:
            raise FileInvalid('The JSON document ends before an "events" array (truncated file?)')
        if scan_element(cur, _CLOSE[0], False, max_row_bytes)[3] == TRUNCATED:
            raise FileInvalid('The JSON document ends before an "events" array (truncated file?)')


def check_end(cur: Cursor, max_row_bytes: int) -> None:
    """After the closing `]` of the events array: the rest of its object (other members are
    ignored; a second `events` makes the file invalid), then nothing but whitespace. Content after
    the document would otherwise vanish unread, so it makes the file invalid. (A file that simply ends early stays accepted: see the
    truncation rules in shared/bulk/formats/__init__.py.)"""
    if cur.in_object:
        while True:
            c = skip_ws(cur)
            if c is None:
                return
            if c == _CLOSE[0]:
                cur.pos += 1
                break
            if c != _COMMA:
                raise FileInvalid(
                    f"The JSON object is not valid after its events array, near {snippet(cur.buf[cur.pos :])}"
                )
            cur.pos += 1
            c = skip_ws(cur)
            if c is None:
                return
            if c != _QUOTE:
                raise FileInvalid(
                    f"The JSON object is not valid after its events array, near {snippet(cur.buf[cur.pos :])}"
                )
            if read_key(cur, max_row_bytes) == "events":  # JSON.parse would keep the second: never guess
                raise FileInvalid('The JSON object has "events" more than once; send one events array')
            if skip_ws(cur) is None:
                return
            if scan_element(cur, _CLOSE[0], False, max_row_bytes)[3] == TRUNCATED:
                return
    if skip_ws(cur) is not None:
        what = 'the {"events": [...]} object' if cur.in_object else "the top-level array"
        raise FileInvalid(
            f"The JSON file holds more after {what}: {snippet(cur.buf[cur.pos :])}; a JSON file is one document "
            "(for one event per line, use format ndjson)"
        )
