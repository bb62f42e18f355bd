"""JSON: the elements of one array of the document, framed as byte ranges by tracking strings,
escapes and bracket depth with regular expressions over blocks.

Which array holds the rows (`arrays`, for the splitter, which plans without knowing the mapping):

- a top-level array: its elements;
- an object with an ``"events"`` array (the events endpoint's body): that array's elements; the
  object's other members are ignored, as they always were;
- any other object: the elements of its one array-valued member, e.g. ``requests`` of a DV360
  ``adPlays:batchCreate`` body ``{"requests": [{"parent": ..., "adPlay": {...}}, ...]}``. The plan
  records that member's name (`FilePlan.member`, and each `ChunkSpec.member`, since a chunk message
  is all a worker reads), and the mapping's ``records`` path, read from the document, must start
  there (``requests[*].adPlay``): the worker reads the rest of the path in each element. An object
  with two array members and no ``events`` is refused (which one holds the records is the mapping's
  to say, and the splitter has none), so is a member name a records path cannot write (empty, with
  ``.``, ``[`` or ``]``, or over `MAX_MEMBER_CHARS`).

One pass, whatever the document's size: members before the array are skipped by framing their
values without keeping them, and an array member met before ``events`` is framed as it comes and
replaced if ``events`` follows, so memory stays one block plus one row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import accumulate
from operator import add

from shared.bulk.formats.reading import (
    EMPTY,
    OK,
    OVERSIZE,
    TRUNCATED,
    FileInvalid,
    Framed,
    Readable,
    Run,
    blocks,
    snippet,
)

EVENTS = "events"
MAX_MEMBER_CHARS = 64  # stored in every chunk of the plan: a short name keeps the plan one Firestore document
_ADDRESSABLE = re.compile(r"[^.\[\]]+")  # a key a records path can write (shared.bulk.mapping.records)


class Cursor:
    """A window over a stream: `buf` holds bytes from absolute offset `base`; `pos` indexes buf."""

    def __init__(self, stream: Readable, start: int, limit: int | None):
        self._blocks = blocks(stream, limit)
        self.base = start
        self.buf = b""
        self.pos = 0
        self.eof = False
        self.closed = False  # the closing bracket of the array being framed was seen

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
# buffer stops the match at its opening quote. (Each of these patterns can match the empty string,
# so `match` never returns None: `_end` says so once.)
_OUT_TOP = re.compile(rb'(?:[^"\[\]{},]++|"' + _STRING_TAIL + rb'")*+')
_OUT_NESTED = re.compile(rb'(?:[^"\[\]{}]++|"' + _STRING_TAIL + rb'")*+')
_STR_BODY = re.compile(_STRING_TAIL)
_STRING = re.compile(rb'"' + _STRING_TAIL + rb'"')
_QUOTE, _BACKSLASH, _COMMA, _COLON = ord('"'), ord("\\"), ord(","), ord(":")
_OPEN_OBJECT, _OPEN_ARRAY = ord("{"), ord("[")
_CLOSE_OBJECT, _CLOSE_ARRAY = ord("}"), ord("]")
_OPEN = (_OPEN_OBJECT, _OPEN_ARRAY)
_CLOSE = (_CLOSE_OBJECT, _CLOSE_ARRAY)


def _end(pattern: re.Pattern[bytes], buf: bytes, i: int) -> int:
    m = pattern.match(buf, i)
    assert m is not None  # the pattern matches the empty string
    return m.end()


def scan_element(
    cur: Cursor, closer: int, keep: bool, max_row_bytes: int
) -> tuple[int, int, bytes | int | None, int]:
    """Frame one value starting at cur.pos (not whitespace, not a separator).

    Returns (start, end, payload, kind): the value ends before the first `,` or `closer` at depth 0
    (cur.pos is left there) or at the end of the data. With keep, payload is the value's bytes
    (trailing whitespace stripped) unless it is larger than max_row_bytes (OVERSIZE: its size).
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
                i = _end(_STR_BODY, buf, i)
                if i >= n or (i == n - 1 and buf[i] == _BACKSLASH):
                    need_more = True
                    break
                i += 1
                in_str = False
            i = _end(_OUT_NESTED if depth else _OUT_TOP, buf, i)
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
        cur.pos = _end(_WS, cur.buf, cur.pos)
        if cur.pos < len(cur.buf):
            return cur.buf[cur.pos]
        if cur.more(cur.pos) < 0:
            return None


def items(cur: Cursor, first_row: int, keep: bool, max_row_bytes: int) -> Iterator[Framed]:
    """Elements of an array whose `[` was consumed: (row, start, end, payload, kind).

    Stops at the closing `]` (consumed; cur.closed is set) or at the end of the data.
    """
    row = first_row - 1
    expect_value = True
    while True:
        c = skip_ws(cur)
        if c is None:
            return
        if c == _CLOSE_ARRAY:
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
        start, end, payload, kind = scan_element(cur, _CLOSE_ARRAY, keep, max_row_bytes)
        yield row, start, end, payload, kind


def plan_items(cur: Cursor, max_row_bytes: int) -> Iterator[Framed | Run]:
    """`items(cur, 1, False, max_row_bytes)` for the splitter, the same rows at read speed.

    After an element framed by `scan_element` ends at a comma, the bytes from its closing bracket to
    the next element's opening one (``},\n  {``: the separator a serializer writes between elements)
    are searched for with ``bytes.find``, and each piece between two of them is run through the same
    string/escape/depth automaton (`_advance`), remembered by the piece's structural skeleton (its
    ``"[]{}`` bytes, when it holds no backslash): an element is a piece (or several, when the
    separator also occurs inside it) that leaves depth 1 outside a string. Anything else (depth 0
    inside a piece, an escape cut by a separator, the last, incomplete piece of the buffer) goes back
    to `scan_element` at that element's start, so rows and byte ranges are exactly `items`'.
    """
    row = 0
    expect_value = True
    while True:
        c = skip_ws(cur)
        if c is None:
            return
        if c == _CLOSE_ARRAY:
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
        start, end, payload, kind = scan_element(cur, _CLOSE_ARRAY, False, max_row_bytes)
        yield row, start, end, payload, kind
        if cur.pos < len(cur.buf) and cur.buf[cur.pos] == _COMMA:
            run = _run(cur, row)
            if run is not None:
                yield run
                row += len(run.ends)


_WS_BYTES = frozenset(b" \t\r\n")
_NOT_STRUCTURAL = bytes(c for c in range(256) if c not in b'"[]{}')
_SKELETONS: dict[tuple[bytes, int, bool], tuple[int, bool] | None] = {}
_START = (1, False)  # just inside an element's opening bracket
_FROM_START: dict[bytes, tuple[int, bool] | None] = {}  # _advance(skeleton, *_START), by skeleton
_MISSING = (0, False)
_MAX_SKELETONS = 1024  # bounded: at most 1024 x 512-byte keys
_MAX_SKELETON_BYTES = 512


def _advance(data: bytes, depth: int, in_str: bool) -> tuple[int, bool] | None:
    """(depth, in a string) after `data`, read from `depth` >= 1 as `scan_element` reads it; None if
    the depth reaches 0 in it (an element ends there) or it ends in an escape (which needs the next byte)."""
    i = 0
    n = len(data)
    while True:
        if in_str:
            i = _end(_STR_BODY, data, i)
            if i >= n:
                return depth, True
            if data[i] == _BACKSLASH:  # a lone backslash at the end
                return None
            i += 1
            in_str = False
        i = _end(_OUT_NESTED, data, i)
        if i >= n:
            return depth, False
        c = data[i]
        i += 1
        if c == _QUOTE:
            in_str = True
        elif c in _OPEN:
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return None


def _escapes_matter(data: bytes) -> bool:
    """Whether a backslash in `data` may change where strings end: only an escaped quote or an
    escaped backslash does (``\\u00e9``, ``\\n`` or ``\\/`` escape a byte that reads as string content
    either way), so bytes without ``\\"`` or ``\\\\`` read alike with their backslashes deleted."""
    return b"\\" in data and (b'\\"' in data or b"\\\\" in data)


def _step(data: bytes, depth: int, in_str: bool) -> tuple[int, bool] | None:
    """`_advance`, remembered by skeleton: bytes other than ``"[]{}`` and a backslash all read alike
    (as plain bytes outside strings, string content inside), so a piece whose escapes do not matter
    (`_escapes_matter`) leaves the same state as its skeleton, which repeats from element to element."""
    if _escapes_matter(data):
        return _advance(data, depth, in_str)
    skeleton = data.translate(None, _NOT_STRUCTURAL)
    if len(skeleton) > _MAX_SKELETON_BYTES:
        return _advance(skeleton, depth, in_str)
    key = (skeleton, depth, in_str)
    try:
        return _SKELETONS[key]
    except KeyError:
        pass
    if len(_SKELETONS) >= _MAX_SKELETONS:
        _SKELETONS.clear()
    state = _SKELETONS[key] = _advance(skeleton, depth, in_str)
    return state


def _run(cur: Cursor, row: int) -> Run | None:
    """The elements after the one just framed (cur.pos is at the comma that ended it) found by
    separator (see `plan_items`), as a Run of rows from row + 1; cur is left at the start of the first
    element not in it. None if there is none."""
    buf = cur.buf
    comma = cur.pos
    j = comma - 1
    while j >= 0 and buf[j] in _WS_BYTES:
        j -= 1
    if j < 0 or buf[j] not in _CLOSE:
        return None
    k = _end(_WS, buf, comma + 1)
    if k >= len(buf) or buf[k] not in _OPEN:
        return None
    sep = buf[j : k + 1]  # closing bracket, whitespace, comma, whitespace, opening bracket
    to_comma = comma - j
    gap = k - comma  # from an element's end (its comma) to the next one's start
    base = cur.base
    lsep = len(sep)
    last = buf.rfind(sep, k + 1)
    if last > k:
        bulk = _bulk(buf[k + 1 : last], sep, base + k + 1 + to_comma)
        if bulk is not None:
            cur.pos = last + lsep - 1
            return Run(row + 1, base + k, bulk, gap)
    find = buf.find
    starts = _FROM_START
    ends: list[int] = []
    append = ends.append
    el = k  # the element being framed starts here (its opening bracket)
    i = k + 1
    state: tuple[int, bool] | None = _START
    while True:
        q = find(sep, i)
        if q < 0:
            break
        piece = buf[i:q]
        if state is _START and not _escapes_matter(piece):  # the common case, inlined
            skeleton = piece.translate(None, _NOT_STRUCTURAL)
            state = starts.get(skeleton, _MISSING)
            if state is _MISSING:
                state = _advance(skeleton, 1, False)
                if len(skeleton) <= _MAX_SKELETON_BYTES:
                    if len(starts) >= _MAX_SKELETONS:
                        starts.clear()
                    starts[skeleton] = state
        else:
            assert state is not None
            state = _step(piece, *state)
        if state is None:
            break
        if state == _START:  # the separator's bracket closes the element
            append(base + q + to_comma)
            el = q + lsep - 1
            state = _START
        else:
            state = _step(sep, *state)  # depth >= 2 or in a string: the separator is inside the element
            if state is None:  # (cannot happen)
                break
        i = q + lsep
    if not ends:
        cur.pos = k
        return None
    cur.pos = el
    return Run(row + 1, base + k, ends, gap)


def _bulk(region: bytes, sep: bytes, first_end: int) -> list[int] | None:
    """The ends of the elements of `region` (from just inside an element's opening bracket to just
    before a separator) if every separator in it is one between elements, found for the whole region
    at once: None if not (the caller then goes piece by piece).

    The skeleton of the region, split at the separator's skeleton (two brackets, which cannot overlap
    themselves), gives as many pieces as the region split at the separator only if every skeleton
    separator is the image of a real one (each real one leaves one, and no other overlaps it); then
    each piece's skeleton is its element's, and the distinct skeletons (few: elements of one
    producer look alike) are run through the automaton once each."""
    if _escapes_matter(region):
        return None
    pieces = region.split(sep)
    skeletons = region.translate(None, _NOT_STRUCTURAL).split(sep.translate(None, _NOT_STRUCTURAL))
    if len(skeletons) != len(pieces):
        return None
    for skeleton in set(skeletons):
        state = _FROM_START.get(skeleton, _MISSING)
        if state is _MISSING:
            state = _advance(skeleton, *_START)
            if len(skeleton) <= _MAX_SKELETON_BYTES:
                if len(_FROM_START) >= _MAX_SKELETONS:
                    _FROM_START.clear()
                _FROM_START[skeleton] = state
        if state != _START:
            return None
    # element j ends at the comma of the separator after piece j
    return list(
        map(add, accumulate(map(len, pieces)), range(first_end, first_end + len(sep) * len(pieces), len(sep)))
    )


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
    if skip_ws(cur) != _COLON:
        raise FileInvalid("The JSON object is not valid: expected ':' after a key")
    cur.pos += 1
    return key if type(key) is str else None


def member_problem(name: str) -> str | None:
    """Why a document's array member cannot hold the rows of a plan, or None."""
    shown = json.dumps(name)[:40]
    if len(name) > MAX_MEMBER_CHARS:
        return f"its name {shown}... is {len(name)} characters; at most {MAX_MEMBER_CHARS}"
    if not _ADDRESSABLE.fullmatch(name):
        return f"its name {shown} cannot be written in a records path (empty, or with '.', '[' or ']')"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"its name {shown} is not valid Unicode (a lone surrogate)"
    return None


def _ends_early(chosen: str | None) -> FileInvalid:
    what = f'its "{chosen}" array' if chosen else 'an "events" array (or another array of records)'
    return FileInvalid(f"The JSON document ends before {what} (truncated file?)")


def arrays(cur: Cursor, max_row_bytes: int) -> Iterator[str | None]:
    """The arrays whose elements are the document's rows, in the order met; for each, cur is just
    after its `[` and the caller frames its elements (`items`) before asking for the next. The last
    one yielded holds the rows: None (a top-level array), ``"events"``, or another member's name
    (``"requests"``), which is yielded first and replaced if an ``events`` array follows.

    Before stopping, the rest of the document is checked (see the module docstring); FileInvalid
    when it cannot be framed. A file that ends inside or after the array is accepted as it is (see
    the truncation rules in shared/bulk/formats/__init__.py); content after the document is not:
    it would otherwise vanish unread.
    """
    c = skip_ws(cur)
    if c == _OPEN_ARRAY:
        cur.pos += 1
        yield None
        _nothing_after(cur, "the top-level array")
        return
    if c != _OPEN_OBJECT:
        raise FileInvalid(
            f"The file was declared json but starts with {snippet(cur.buf[cur.pos :])}; a JSON file "
            'should be an array of events, {"events": [...]}, or one document holding an array of records'
        )
    cur.pos += 1
    chosen: str | None = None  # the array member framed (not events)
    events = False
    more: list[str] = []  # array members after the chosen one
    while True:
        c = skip_ws(cur)
        if c is None:
            if events or chosen is not None:
                return  # ends after its array: accepted as it is
            raise _ends_early(None)
        if c == _CLOSE_OBJECT:
            cur.pos += 1
            break
        if c == _COMMA:
            cur.pos += 1
            continue
        if c != _QUOTE:
            raise FileInvalid(f"The JSON object is not valid near {snippet(cur.buf[cur.pos :])}")
        key = read_key(cur, max_row_bytes)
        c = skip_ws(cur)
        if c is None:
            if events or chosen is not None:
                return
            raise _ends_early(None)
        if key == EVENTS:
            if events:  # JSON.parse would keep the second: never guess
                raise FileInvalid('The JSON object has "events" more than once; send one events array')
            if c != _OPEN_ARRAY:
                raise FileInvalid('"events" in the JSON object should be an array')
            cur.pos += 1
            events = True
            cur.closed = False
            yield EVENTS
            if not cur.closed:
                return  # the file ends inside it
            continue
        if c == _OPEN_ARRAY and not events:
            if chosen is None:
                chosen = "" if key is None else key
                cur.pos += 1
                cur.closed = False
                yield chosen
                if not cur.closed:
                    return
                continue
            more.append("" if key is None else key)
        if scan_element(cur, _CLOSE_OBJECT, False, max_row_bytes)[3] == TRUNCATED:
            if events or chosen is not None:
                return
            raise _ends_early(None)
    if not events:
        if chosen is None:
            hint = ""
            if skip_ws(cur) is not None:
                hint = " (it holds more than one JSON value: if it has one event per line, use format ndjson)"
            raise FileInvalid(f'The JSON object has no "events" array (nor any other array of records){hint}')
        if more:
            names = ", ".join(json.dumps(n) for n in [chosen, *more][:5])
            raise FileInvalid(
                f"The JSON object has more than one array ({names}); a document's records are its one "
                'array (or its "events" array)'
            )
        problem = member_problem(chosen)
        if problem:
            raise FileInvalid(f"The JSON object's array cannot hold the rows: {problem}")
    _nothing_after(cur, 'the {"events": [...]} object' if events else "the JSON document")


def _nothing_after(cur: Cursor, what: str) -> None:
    if skip_ws(cur) is not None:
        raise FileInvalid(
            f"The JSON file holds more after {what}: {snippet(cur.buf[cur.pos :])}; a JSON file is one document "
            "(for one event per line, use format ndjson)"
        )
