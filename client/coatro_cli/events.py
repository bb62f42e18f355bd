"""Reading events from a JSON or NDJSON stream without holding it in memory, and cutting it into batches.

Accepted input:
- NDJSON: one event object per line (blank lines ignored);
- a JSON array of events;
- a JSON object `{"events": [...]}` (the request body of the events API).
The kind is recognised from the content. Every event remembers where it came from (its line, and
for JSON its position in the array) so the server's per-event errors can point back into the file.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

# The API's limits (pop-events contract + server settings).
API_MAX_EVENTS = 10_000
API_MAX_BODY_BYTES = 10 * 1024 * 1024
# Defaults stay well under them: a batch that fits is never a 413, and a 400 rejects less at once.
DEFAULT_BATCH_EVENTS = 5_000
DEFAULT_BATCH_BYTES = 5 * 1024 * 1024

_ENVELOPE = len(b'{"events":[]}')
_WS = re.compile(r"[ \t\r\n]*")
_READ_CHARS = 1 << 16


@dataclass
class SourceEvent:
    """One event as it will be sent, and where it is in the input."""

    line: int
    ordinal: int | None  # position in a JSON array, from 1; None for NDJSON
    encoded: bytes

    def where(self) -> str:
        return f"{self.line}" if self.ordinal is None else f"{self.line} (event {self.ordinal})"


@dataclass
class Unreadable:
    """Input that is not an event the client can send: reported, counted, never sent."""

    line: int
    message: str
    fatal: bool = False  # the rest of the input cannot be read either


@dataclass
class Batch:
    number: int
    events: list[SourceEvent] = field(default_factory=list)
    size: int = _ENVELOPE

    def body(self) -> bytes:
        return b'{"events":[' + b",".join(e.encoded for e in self.events) + b"]}"

    def gzipped(self) -> bytes:
        return gzip.compress(self.body(), compresslevel=5)

    def lines(self) -> str:
        first, last = self.events[0].line, self.events[-1].line
        return f"line {first}" if first == last else f"lines {first}-{last}"


class InputError(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def encode_event(event: Any) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


class _Reader:
    """A text stream read in blocks, with a cursor that knows its line number."""

    def __init__(self, stream: TextIO, max_value_chars: int):
        self.stream = stream
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = 1
        self.max_value_chars = max_value_chars

    def fill(self) -> bool:
        if self.eof:
            return False
        data = self.stream.read(_READ_CHARS)
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return True

    def advance(self, n: int) -> None:
        self.line += self.buf.count("\n", self.pos, self.pos + n)
        self.pos += n

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end), without consuming it."""
        while True:
            m = _WS.match(self.buf, self.pos)
            self.advance(m.end() - self.pos)
            if self.pos < len(self.buf) or not self.fill():
                return self.buf[self.pos : self.pos + 1]

    def lookahead(self, chars: int) -> str:
        while len(self.buf) - self.pos < chars and self.fill():
            pass
        return self.buf[self.pos : self.pos + chars]

    def expect(self, char: str, what: str) -> None:
        got = self.peek()
        if got != char:
            found = repr(got) if got else "the end of the input"
            raise InputError(f"line {self.line}: expected {what}, found {found}")
        self.advance(1)

    def value(self) -> Any:
        """Decode the JSON value at the cursor, reading more input as needed."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._more():
                    continue
                raise InputError(
                    f"line {exc.lineno + self.line - self._line_at_pos()}: not valid JSON: {exc.msg}"
                ) from None
            except (ValueError, RecursionError) as exc:
                raise InputError(f"line {self.line}: not valid JSON: {exc}") from None
            # A number that ends exactly at the end of the buffer may continue in the next block.
            if end == len(self.buf) and self._more():
                continue
            self.advance(end - self.pos)
            return value

    def _line_at_pos(self) -> int:
        # JSONDecodeError.lineno counts from the buffer's start; translate to file lines.
        return self.buf.count("\n", 0, self.pos) + 1

    def _more(self) -> bool:
        if len(self.buf) - self.pos > self.max_value_chars:
            raise InputError(
                f"line {self.line}: not valid JSON, or an event larger than {self.max_value_chars} characters"
            )
        return self.fill()

    def readline(self) -> str | None:
        while True:
            idx = self.buf.find("\n", self.pos)
            if idx >= 0 or not self.fill():
                break
        if self.pos >= len(self.buf):
            return None
        end = len(self.buf) if idx < 0 else idx + 1
        text = self.buf[self.pos : end]
        self.advance(end - self.pos)
        return text


def detect_kind(reader: _Reader) -> str:
    """'array', 'envelope' ({"events": [...]}), 'ndjson' or 'empty', from the first characters."""
    first = reader.peek()
    if not first:
        return "empty"
    if first == "[":
        return "array"
    if first == "{" and re.match(r'\{\s*"events"\s*:', reader.lookahead(4096)):
        return "envelope"
    return "ndjson"


def read_events(
    stream: TextIO, max_event_bytes: int = API_MAX_BODY_BYTES
) -> Iterator[SourceEvent | Unreadable]:
    """Every event of the input in order; input that cannot be sent is yielded as Unreadable."""
    reader = _Reader(stream, max_event_bytes)
    kind = detect_kind(reader)
    if kind == "empty":
        return
    try:
        if kind == "ndjson":
            yield from _ndjson(reader)
        elif kind == "array":
            yield from _array(reader)
        else:
            yield from _envelope(reader)
    except InputError as exc:
        line = int(m.group(1)) if (m := re.match(r"line (\d+)", str(exc))) else reader.line
        yield Unreadable(line, re.sub(r"^line \d+: ", "", str(exc)), fatal=True)


def _ndjson(reader: _Reader) -> Iterator[SourceEvent | Unreadable]:
    while (text := reader.readline()) is not None:
        line = reader.line - (1 if text.endswith("\n") else 0)
        if not text.strip():
            continue
        try:
            event = _DECODER.decode(text.strip())
        except json.JSONDecodeError as exc:
            yield Unreadable(
                line, f"not valid JSON: {exc.msg} (column {exc.colno}); NDJSON needs one event per line"
            )
            continue
        except (ValueError, RecursionError) as exc:
            yield Unreadable(line, f"not valid JSON: {exc}")
            continue
        yield _checked(event, line, None)


def _array(reader: _Reader) -> Iterator[SourceEvent | Unreadable]:
    yield from _array_items(reader)
    _expect_end(reader)


def _envelope(reader: _Reader) -> Iterator[SourceEvent | Unreadable]:
    reader.expect("{", "{")
    seen_events = False
    while True:
        key = reader.value()
        if key != "events":
            raise InputError(f'line {reader.line}: unexpected key "{key}"; the object may hold only "events"')
        if seen_events:
            raise InputError(f'line {reader.line}: "events" appears twice')
        seen_events = True
        reader.expect(":", "':'")
        if reader.peek() != "[":
            raise InputError(f'line {reader.line}: "events" must be an array')
        yield from _array_items(reader)
        nxt = reader.peek()
        if nxt == "}":
            reader.advance(1)
            break
        reader.expect(",", "',' or '}'")
    _expect_end(reader)


def _array_items(reader: _Reader) -> Iterator[SourceEvent | Unreadable]:
    reader.expect("[", "[")
    if reader.peek() == "]":
        reader.advance(1)
        return
    ordinal = 0
    while True:
        line = reader.line
        ordinal += 1
        yield _checked(reader.value(), line, ordinal)
        if reader.peek() == "]":
            reader.advance(1)
            return
        reader.expect(",", "',' or ']' after an event")
        reader.peek()


def _expect_end(reader: _Reader) -> None:
    if reader.peek():
        raise InputError(f"line {reader.line}: unexpected data after the end of the JSON document")


def _checked(event: Any, line: int, ordinal: int | None) -> SourceEvent | Unreadable:
    if not isinstance(event, dict):
        return Unreadable(line, f"an event must be a JSON object, not {type(event).__name__}")
    return SourceEvent(line, ordinal, encode_event(event))


def batches(
    items: Iterable[SourceEvent | Unreadable],
    max_events: int = DEFAULT_BATCH_EVENTS,
    max_bytes: int = DEFAULT_BATCH_BYTES,
) -> Iterator[Batch | Unreadable]:
    """Group events into request bodies of at most `max_events` events and about `max_bytes` bytes.

    An event too big to share a batch goes alone if it still fits the API's body limit; an event
    that cannot fit any request is Unreadable. Unreadable input passes through in order.
    """
    if not 1 <= max_events <= API_MAX_EVENTS:
        raise ValueError(f"max_events must be between 1 and {API_MAX_EVENTS}")
    if not _ENVELOPE < max_bytes <= API_MAX_BODY_BYTES:
        raise ValueError(f"max_bytes must be between {_ENVELOPE + 1} and {API_MAX_BODY_BYTES}")
    number = 1
    current = Batch(number)
    for item in items:
        if isinstance(item, Unreadable):
            yield item
            continue
        size = len(item.encoded)
        if _ENVELOPE + size > API_MAX_BODY_BYTES:
            yield Unreadable(
                item.line, f"the event is {size} bytes; a request holds at most {API_MAX_BODY_BYTES} bytes"
            )
            continue
        extra = size + (1 if current.events else 0)
        if current.events and (len(current.events) >= max_events or current.size + extra > max_bytes):
            yield current
            number += 1
            current = Batch(number)
            extra = size
        current.events.append(item)
        current.size += extra
    if current.events:
        yield current
