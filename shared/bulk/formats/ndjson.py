"""NDJSON: one record per physical line; blank lines are not rows. Rows are JSON objects."""

from __future__ import annotations

import json
from collections.abc import Iterator

from pydantic_core import from_json

from shared.bulk.formats.reading import OK, OVERSIZE, Framed, Parsed, Readable, lines
from shared.platform.encoding import STRICT_JSON


def records(
    stream: Readable, start: int, limit: int | None, first_row: int, max_row_bytes: int
) -> Iterator[Framed]:
    for line_no, s, e, data, skipped in lines(stream, start, limit, first_row, max_row_bytes):
        if data is None:
            assert skipped is not None  # a line not kept says what it held
            if skipped.nonblank:
                yield line_no, s, e, skipped.size, OVERSIZE
        elif data.strip():
            yield line_no, s, e, data, OK


_decode = STRICT_JSON.decode
_UNREAD = object()
_TYPE_NAMES: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


def utf8_error(exc: UnicodeDecodeError) -> str:
    return f"Row is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at byte {exc.start + 1} of the row)"


def parse_object(data: bytes, any_value: bool = False) -> tuple[Parsed | None, str | None]:
    """A JSON object from a row's bytes (with any_value, any JSON value: an array of positional
    values, or an envelope the mapping looks into), or the row error saying why not."""
    try:  # pydantic-core's parser is about 2.5x faster; json's (below) words the errors
        value = from_json(data, allow_inf_nan=False)
    except ValueError:
        value = _UNREAD
    if type(value) is dict or any_value and type(value) is list:
        return value, None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, utf8_error(exc)
    try:
        value = _decode(text)
    except json.JSONDecodeError as exc:
        where = (
            f"at column {exc.colno}"
            if exc.lineno == 1
            else f"at line {exc.lineno}, column {exc.colno} of the element"
        )
        return None, f"Row is not valid JSON: {exc.msg} {where}"
    except (ValueError, RecursionError) as exc:
        return None, f"Row is not valid JSON: {exc}"
    if type(value) is not dict and not (any_value and type(value) is list):
        return None, f"Row should be a JSON object, not {_TYPE_NAMES.get(type(value), 'null')}"
    return value, None
