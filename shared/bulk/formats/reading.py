"""Reading an object in blocks and physical lines, with bounded memory; the record kinds framers yield."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

BLOCK_SIZE = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"
_CR = ord("\r")
OTHER_BOMS = {
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\xfe\xff": "UTF-16",
    b"\xff\xfe": "UTF-16",
}

# Record kinds produced by the framers.
OK = 0  # payload: the record's bytes (or None when the framer was asked not to keep them)
OVERSIZE = 1  # payload: the record's size in bytes; its content was not kept
EMPTY = 2  # JSON only: nothing between two commas; payload None
TRUNCATED = 3  # JSON only: the file ends inside this element; payload None


# What a framer yields for each record: (row, start, end, payload, kind), [start, end) being the
# record's bytes in the object and payload as its kind says. A plain tuple: one is made per row.
Framed = tuple[int, int, int, bytes | int | None, int]


class Run(NamedTuple):
    """Consecutive records framed in bulk for the splitter (which needs no payloads): record k (from 0)
    is row ``first_row + k`` and spans ``[start, ends[0])`` for k = 0, ``[ends[k - 1] + gap, ends[k])``
    after it. Never empty."""

    first_row: int
    start: int
    ends: list[int]
    gap: int


# A record read from its bytes: an object, or (a positional record, an envelope) an array.
Parsed = dict[str, Any] | list[Any]


class Readable(Protocol):
    """A binary stream (a file, `io.BytesIO`, a storage blob reader)."""

    def read(self, n: int = -1, /) -> bytes | bytearray | memoryview | None: ...


class FileInvalid(Exception):
    """The file cannot be framed at all; the message says why, for a person."""


def snippet(data: bytes, n: int = 20) -> str:
    text = data[:n].decode("utf-8", "replace").split("\n", 1)[0]
    return repr(text + ("..." if len(data) > n else ""))


class Prefixed:
    """A stream whose first bytes were already read (for sniffing) and are handed out again."""

    def __init__(self, prefix: bytes, stream: Readable):
        self._prefix = prefix
        self._stream = stream

    def read(self, n: int = -1, /) -> bytes:
        if self._prefix:
            out, self._prefix = self._prefix, b""
            return out
        return read(self._stream, n)


def read(stream: Readable, n: int) -> bytes:
    data = stream.read(n)
    if data is None:  # a non-blocking raw stream with nothing yet; our streams block
        return b""
    if isinstance(data, str):
        raise TypeError("the stream must be opened in binary mode")
    return bytes(data) if not isinstance(data, bytes) else data


def blocks(stream: Readable, limit: int | None) -> Iterator[bytes]:
    """Blocks of at most BLOCK_SIZE bytes, stopping after `limit` bytes (None: at end of stream)."""
    remaining = limit
    while remaining is None or remaining > 0:
        n = BLOCK_SIZE if remaining is None else min(BLOCK_SIZE, remaining)
        data = read(stream, n)
        if not data:
            return
        if remaining is not None:
            if len(data) > remaining:  # a stream that ignores n; never look past the limit
                data = data[:remaining]
            remaining -= len(data)
        yield data


# --------------------------------------------------------------------------------------------
# Lines (NDJSON and CSV)


class Skipped(NamedTuple):
    """A line longer than max_row_bytes, read past without being kept: what its framer needs of it."""

    size: int  # its bytes without the LF, and without a CR before the LF
    nonblank: bool  # it holds more than whitespace
    odd_quotes: int  # 1 if it holds an odd number of '"' (a CSV record goes on past it), else 0
    cr: int  # 1 if a CR ends it (before the LF), else 0


# (line_no, start, end, data, None) for a line kept, (line_no, start, end, None, Skipped) for one not.
Line = tuple[int, int, int, bytes | None, Skipped | None]


def lines(
    stream: Readable, start: int, limit: int | None, first_line: int, max_row_bytes: int
) -> Iterator[Line]:
    """Physical lines: (line_no, start, end, data, skipped).

    `end` is just past the line's LF (or the end of the data). `data` is the line without its LF
    (a CR before it is kept), or None when the line is longer than max_row_bytes, in which case
    `skipped` says what was seen while reading past it.
    """
    line_no = first_line
    pos = start  # absolute offset of the current (partial) line
    carry: list[bytes] = []
    carry_len = 0
    skipping = False
    skip_nonblank = False
    skip_quotes = 0
    skip_cr = False
    for block in blocks(stream, limit):
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
            yield (
                line_no,
                pos,
                end,
                None,
                Skipped(carry_len - skip_cr, skip_nonblank, skip_quotes & 1, skip_cr),
            )
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
                yield (
                    line_no,
                    pos,
                    end,
                    None,
                    Skipped(size, bool(line.strip()), line.count(b'"') & 1, n - size),
                )
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
        yield (
            line_no,
            pos,
            pos + carry_len,
            None,
            Skipped(carry_len - skip_cr, skip_nonblank, skip_quotes & 1, skip_cr),
        )
    elif carry:
        line = b"".join(carry)
        yield line_no, pos, pos + len(line), line, None
