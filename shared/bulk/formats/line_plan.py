"""Planning NDJSON and CSV at read speed: the records `ndjson.records` / `delimited.records` frame,
found a window of whole lines at a time with bytes methods instead of line by line.

The splitter needs no payloads, only where records start and end and their row numbers, and those
depend on three things only: where lines end (LF), which lines are blank (whitespace only: not rows,
unless inside a CSV record), and, in CSV, which lines hold an odd number of ``"`` (a record that
starts on one goes on to the next one; RFC 4180, see `delimited`). A row longer than max_row_bytes
is framed exactly like any other (it is a record, reported by the worker), so it changes nothing here.

Per window (the complete lines of about one block): the lines are counted with ``bytes.count``;
blank lines are the empty lines of the window with its other whitespace deleted
(``bytes.translate``); odd lines are the lines still holding a quote once every line is reduced to
its quotes and ``""`` pairs are deleted (``translate`` then ``replace``). Only those exceptional lines
are visited one by one. The window's records are then "every line is a record, except these
excluded lines" (blank lines, and all but the last line of a multi-line record), and a chunk's end
(the n-th record, or the first record ending at or past chunk_bytes from the chunk's start) is found
by counting in that list (`bisect`) and converting one line number to a byte offset per chunk
(`_Window.start`): the work is a few passes of C per window plus Python per exception and per chunk.

Memory: one window (a block plus the partial line before it). A line longer than a block is not
kept whole: what is read of it is folded into its start offset, quote parity and blankness.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate, repeat

from shared.bulk.formats import reading
from shared.bulk.formats.reading import Readable, blocks
from shared.records.jobs import ChunkSpec

_NOT_QUOTE_OR_LF = bytes(c for c in range(256) if c not in b'"\n')


class _Window:
    """Complete lines (the last one may end at the end of the file without a LF) with the byte
    offset `base` of data[0] and the row number `line0` of its first line. The first line may have
    begun before data[0] (a line longer than a block): `first` is its start relative to data."""

    def __init__(self, data: bytes, base: int, line0: int, first: int, partial: bool, lfs: int):
        self.data = data
        self.base = base
        self.line0 = line0
        self.first = first
        self.lines = lfs + (1 if partial else 0)
        self.avg = max(1.0, len(data) / max(1, self.lines))
        self.ax = 0  # anchor: line ax starts at data[ap] (ap = 0 for line 0, whatever `first` is)
        self.ap = 0

    def start(self, x: int) -> int:
        """Where line x starts, relative to data (x == lines: the end of the window)."""
        if x == 0:
            return self.first
        if x >= self.lines:
            return len(self.data)
        d = self.data
        if x < self.ax:
            self.ax, self.ap = 0, 0
        lo, n = self.ap, x - self.ax  # the n-th LF at or after lo ends line x - 1
        hi = -1
        while n > 32:
            if hi < 0:
                hi = min(len(d), lo + int(n * self.avg) + 64)
            c = d.count(b"\n", lo, hi)
            if c < n:
                if hi >= len(d):
                    raise AssertionError("a line past the window's end")  # x < lines: cannot happen
                n -= c
                lo, hi = hi, -1
            elif c - n <= 32:
                r = hi
                for _ in range(c - n + 1):
                    r = d.rfind(b"\n", lo, r)
                lo, n = r + 1, 0
            else:
                hi = lo + (hi - lo) // 2
        for _ in range(n):
            lo = d.find(b"\n", lo) + 1
        self.ax, self.ap = x, lo
        return lo

    def line_at(self, p: int) -> int:
        """The line holding data[p] (0 <= p < len(data))."""
        d = self.data
        if p < self.ap:
            self.ax, self.ap = 0, 0
        c = d.count(b"\n", self.ap, p)
        if c:
            self.ax, self.ap = self.ax + c, d.rfind(b"\n", self.ap, p) + 1
        return self.ax


class _Excluded:
    """Lines of a window that end no record, as sorted disjoint ranges [a, b)."""

    def __init__(self, ranges: list[tuple[int, int]]):
        self.starts = [a for a, _ in ranges]
        self.ends = [b for _, b in ranges]
        self.before = [0] * len(ranges)  # excluded lines in the ranges before range i
        total = 0
        for i, (a, b) in enumerate(ranges):
            self.before[i] = total
            total += b - a

    def count_below(self, z: int) -> int:
        i = bisect_right(self.starts, z - 1) - 1
        if i < 0:
            return 0
        return self.before[i] + min(z, self.ends[i]) - self.starts[i]

    def ends_in(self, x: int, y: int) -> int:
        """Records ending on lines x..y."""
        return y - x + 1 - (self.count_below(y + 1) - self.count_below(x))

    def kth_end(self, x: int, k: int, lines: int) -> int | None:
        """The line on which the k-th record ending at or after line x ends, or None if not here."""
        y = x + k - 1
        while y < lines:
            y2 = x + k - 1 + self.count_below(y + 1) - self.count_below(x)
            if y2 == y:
                return y
            y = y2
        return None

    def last_end(self, x: int, lines: int) -> int:
        y = lines - 1
        while y >= x:
            i = bisect_right(self.starts, y) - 1
            if i < 0 or y >= self.ends[i]:
                return y
            y = self.starts[i] - 1
        return -1


class _Cutter:
    """`chunking._cut` over windows: the same chunks, computed per chunk rather than per record."""

    def __init__(self, chunk_rows: int, chunk_bytes: int):
        self.chunk_rows = chunk_rows
        self.chunk_bytes = chunk_bytes
        self.chunks: list[ChunkSpec] = []
        self.rows = 0
        self.count = 0
        self.c_start = self.c_first = self.last_end = 0

    def _close(self) -> None:
        self.chunks.append(
            ChunkSpec(
                index=len(self.chunks),
                start=self.c_start,
                end=self.last_end,
                first_row=self.c_first,
                row_count=self.count,
            )
        )
        self.rows += self.count
        self.count = 0

    def one(self, row: int, s: int, e: int) -> None:
        if self.count == 0:
            self.c_start, self.c_first = s, row
        self.count += 1
        self.last_end = e
        if self.count == self.chunk_rows or e - self.c_start >= self.chunk_bytes:
            self._close()

    def window(
        self, w: _Window, ex: _Excluded, blank: set[int], carried: tuple[int, int] | None, carried_end: int
    ) -> None:
        """The records of a window; `carried` (row, start) is a record begun in an earlier window
        that ends on line carried_end here."""
        x, lines = 0, w.lines
        while x < lines:
            if self.count == 0:
                y0 = ex.kth_end(x, 1, lines)
                if y0 is None:
                    return
                if carried is not None and y0 == carried_end:
                    self.c_first, self.c_start = carried
                else:
                    a = x
                    while a in blank:
                        a += 1
                    self.c_first, self.c_start = w.line0 + a, w.base + w.start(a)
            y = ex.kth_end(x, self.chunk_rows - self.count, lines)
            q = self.c_start + self.chunk_bytes - 1 - w.base  # a record ending past data[q] closes it
            if q < len(w.data):
                yb = ex.kth_end(max(x, 0 if q < 0 else w.line_at(q)), 1, lines)
                if yb is not None and (y is None or yb < y):
                    y = yb
            if y is None:
                last = ex.last_end(x, lines)
                if last >= 0:
                    self.count += ex.ends_in(x, lines - 1)
                    self.last_end = w.base + w.start(last + 1)
                return
            self.count += ex.ends_in(x, y)
            self.last_end = w.base + w.start(y + 1)
            self._close()
            x = y + 1

    def finish(self) -> None:
        if self.count:
            self._close()


def _windows(stream: Readable, start: int) -> Iterator[tuple[bytes, int, int, int, bool, bool]]:
    """(data, base, fold, fold_odd, fold_nonblank, partial): the whole lines of about a block, and at
    the end the last line if it has no LF (partial). A line that outgrows a block is folded: its
    bytes read so far are dropped, and `fold` (their length), their quote parity and whether they
    held more than whitespace are handed on with the window that ends it."""
    carry = b""
    pos = start  # offset of carry[0]
    fold = fold_odd = 0
    fold_nonblank = False
    for block in blocks(stream, None):
        data = carry + block if carry else block
        j = data.rfind(b"\n")
        if j < 0:
            if len(data) > reading.BLOCK_SIZE:
                fold += len(data)
                fold_odd ^= data.count(b'"') & 1
                fold_nonblank = fold_nonblank or bool(data.strip())
                pos += len(data)
                carry = b""
            else:
                carry = data
            continue
        yield data[: j + 1], pos, fold, fold_odd, fold_nonblank, False
        fold = fold_odd = 0
        fold_nonblank = False
        carry = data[j + 1 :]
        pos += j + 1
    if carry or fold:
        yield carry, pos, fold, fold_odd, fold_nonblank, True


_BLANK_NEXT = re.compile(rb"\n(?=[ \t\r\x0b\x0c]*(?:\n|\Z))")  # a LF before a blank line
_MAYBE_BLANK = re.compile(rb"\n[ \t\r\n\x0b\x0c]")  # cheaper: no lookahead (a CRLF blank line has LF CR)
_BLANK_FIRST = re.compile(rb"[ \t\r\x0b\x0c]*(?:\n|\Z)")


def _blank_lines(data: bytes, partial: bool, first_nonblank: bool) -> list[int]:
    """The blank lines of a window (a partial last line is blank if it holds only whitespace)."""
    out = []
    if not first_nonblank and _BLANK_FIRST.match(data) and (data or partial):
        out.append(0)
    counted, line = 0, 0  # line: the line the LF at `counted` ends
    if not _MAYBE_BLANK.search(data):
        return out
    for m in _BLANK_NEXT.finditer(data):
        i = m.start()
        if i == len(data) - 1 and not partial:
            break  # the LF ends the window: the line after it is the next window's
        line += data.count(b"\n", counted, i)
        counted = i
        out.append(line + 1)
    return out


def _odd_lines(data: bytes, first_odd: int) -> tuple[list[int], int]:
    """The lines holding an odd number of quotes, and the number of LFs (counted on the reduced text)."""
    out: list[int] = []
    if b'"' not in data:
        lfs = data.count(b"\n")
    else:
        marks = data.translate(None, _NOT_QUOTE_OR_LF)
        lfs = marks.count(b"\n")
        marks = marks.replace(b'""', b"")  # one quote per odd line
        if b'"' in marks:
            pieces = marks.split(b'"')
            pieces.pop()
            out = list(accumulate(map(bytes.count, pieces, repeat(b"\n"))))
    if first_odd:
        if out and out[0] == 0:
            out.pop(0)
        else:
            out.insert(0, 0)
    return out, lfs


def plan_lines(
    stream: Readable, start: int, first_row: int, csv: bool, chunk_rows: int, chunk_bytes: int
) -> tuple[list[ChunkSpec], int]:
    """The chunks and row count that `chunking._cut` makes of `ndjson.records` (or, with csv,
    `delimited.records`) from `start` (a line start, outside any record) to the end of the stream."""
    cut = _Cutter(chunk_rows, chunk_bytes)
    line0 = first_row
    open_rec: tuple[int, int] | None = None  # (row, start) of a CSV record going on past its window
    end = start
    for data, base, fold, fold_odd, fold_nonblank, partial in _windows(stream, start):
        if csv:
            odds, lfs = _odd_lines(data, fold_odd)
        else:
            odds, lfs = [], data.count(b"\n")
        w = _Window(data, base, line0, -fold, partial, lfs)
        lines = w.lines
        blanks = _blank_lines(data, partial, fold_nonblank)
        ranges: list[tuple[int, int]] = []
        blank: set[int] = set()
        carried, carried_end = open_rec, -1
        opened = -1  # the line a record opened on in this window, while it is open
        if not blanks:  # odd lines alternately open and close records
            if open_rec is not None and odds:
                carried_end = odds[0]
                if odds[0]:
                    ranges.append((0, odds[0]))
                open_rec = None
                odds = odds[1:]
            ranges.extend(zip(odds[0::2], odds[1::2], strict=False))
            if len(odds) & 1:
                opened = odds[-1]
        else:
            events = sorted([(n, False) for n in blanks] + [(n, True) for n in odds])
            for n, odd in events:
                if open_rec is None and opened < 0:
                    if odd:
                        opened = n
                    else:
                        ranges.append((n, n + 1))
                        blank.add(n)
                elif odd:  # closes the open record on line n
                    a = 0 if opened < 0 else opened
                    if n > a:
                        ranges.append((a, n))
                    if opened < 0:
                        carried_end = n
                    open_rec, opened = None, -1
        if opened >= 0 or open_rec is not None:  # a record goes on past this window
            a = 0 if opened < 0 else opened
            if a < lines:
                ranges.append((a, lines))
            if opened >= 0:
                open_rec = (line0 + opened, base + w.start(opened))
        cut.window(w, _Excluded(ranges), blank, carried, carried_end)
        line0 += lines
        end = base + len(data)
    if open_rec is not None:  # the file ends inside a quoted field: the record ends there
        cut.one(open_rec[0], open_rec[1], end)
    cut.finish()
    return cut.chunks, cut.rows
