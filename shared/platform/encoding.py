"""How values are written on the wire: strict JSON in, RFC 3339 UTC timestamps out."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any


def iso_utc(moment: datetime, timespec: str = "milliseconds") -> str:
    """RFC 3339 in UTC with a `Z`, the one timestamp format the API and the events carry."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


# Python's json accepts NaN and Infinity, which are not JSON (RFC 8259) and could not reach
# BigQuery; every body and every bulk row is decoded with this instead.
STRICT_JSON = json.JSONDecoder(parse_constant=_not_json)


# -- bodies stored as sent (a schema mapping, an ingest's metadata) --------------------------------


class RepeatedNames(dict[str, Any]):
    """A JSON object that gives some name more than once (`repeated`); the last value is the one kept."""

    repeated: list[str]


class OutOfRange(float):
    """A JSON number a double cannot hold: it overflowed to ±infinity or underflowed to 0. The value is
    what Python made of it; the mark lets `shared.storage.firestore.unstorable` refuse it, naming where it is."""


_NONZERO_DIGIT = re.compile(r"[1-9]")


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    marked = RepeatedNames(obj)
    marked.repeated = []
    for name, _ in pairs:
        if name in seen:
            marked.repeated.append(name)
        seen.add(name)
    return marked


def _number(text: str) -> float:
    value = float(text)
    if math.isinf(value) or (value == 0 and _NONZERO_DIGIT.search(text.lower().partition("e")[0])):
        return OutOfRange(value)
    return value


# For the bodies the API keeps as they are: decoded like STRICT_JSON, except that a repeated name and
# a number out of a double's range are marked instead of silently resolved (`repeated_name`, `OutOfRange`).
# Slower than STRICT_JSON (Python hooks per object and per number): not for bulk rows.
DOCUMENT_JSON = json.JSONDecoder(parse_constant=_not_json, parse_float=_number, object_pairs_hook=_members)


def member_path(path: str, name: str) -> str:
    """Where member `name` of the value at `path` is, as the API's errors name it (`fields.a`, `where[0].field`)."""
    return f"{path}.{name}" if path else name


def repeated_name(value: Any, path: str = "") -> tuple[str, str] | None:
    """(where, name) of the first name a DOCUMENT_JSON value gives twice in one object, else None."""
    pending = [(value, path)]
    while pending:  # iterative: a body may nest as deep as the decoder went
        value, path = pending.pop()
        if isinstance(value, list):
            pending.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, dict):
            if isinstance(value, RepeatedNames):
                return member_path(path, value.repeated[0]), value.repeated[0]
            pending.extend((item, member_path(path, key)) for key, item in reversed(list(value.items())))
    return None
