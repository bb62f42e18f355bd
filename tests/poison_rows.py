"""Records that once made mapping code raise (issue 16): each is a registered-style mapping and one
record that used to escape as an exception (OverflowError, TypeError, RecursionError) instead of
being that record's row error, failing its whole chunk, which was then retried five times."""

from __future__ import annotations

import json

VALID = {"screenId": "scr-1", "playedAt": "2025-01-27T10:00:00Z", "durationMs": 15000}


def _nested(depth: int) -> dict:
    value: dict = {"b": "deep"}
    for _ in range(depth):
        value = {"x": value}
    return value


# id -> (mapping without its version, the poison record, what its row error must say)
TRIGGERS = {
    "zone field is an object": ({"timezone_field": "tz"}, {**VALID, "tz": {"a": 1}}, "unknown time zone"),
    "zone field is an array": (
        {"timezone_field": "tz"},
        {**VALID, "tz": ["Europe/Paris"]},
        "unknown time zone",
    ),
    "year 1 in Paris": (
        {"timezone": "Europe/Paris"},
        {**VALID, "playedAt": "0001-01-01T00:00:00+01:00"},
        "out of range",
    ),
    "year 9999 at a negative offset": (
        {"timezone": "UTC"},
        {**VALID, "playedAt": "9999-12-31T23:59:59-01:00"},
        "out of range",
    ),
    "pattern with a zone at year 1": (
        {"timestamp_format": "%Y-%m-%dT%H:%M:%S%z"},
        {**VALID, "playedAt": "0001-01-01T00:00:00+0100"},
        "out of range",
    ),
    "pattern with a zone at year 9999": (
        {"timestamp_format": "%Y-%m-%dT%H:%M:%S%z"},
        {**VALID, "playedAt": "9999-12-31T23:59:59-0100"},
        "out of range",
    ),
    "400 digits of seconds": (
        {"fields": {"secs": {"to": "durationMs", "unit": "s"}}},
        {k: v for k, v in VALID.items() if k != "durationMs"} | {"secs": "9" * 400},
        "out of range",
    ),
    "1e308 seconds": (
        {"fields": {"secs": {"to": "durationMs", "unit": "s"}}},
        {k: v for k, v in VALID.items() if k != "durationMs"} | {"secs": 1e308},
        "out of range",
    ),
    "endedAt with 10^20 ms": (
        {"fields": {"end": "endedAt", "ms": "durationMs"}},
        {"screenId": "scr-1", "end": "2025-01-27T10:00:00Z", "ms": 10**20},
        "out of range",
    ),
    "from_json of 5,000 nested arrays": (
        {"fields": {"blob": {"to": "context.blob", "from_json": ""}}},
        {**VALID, "blob": "[" * 5000 + "]" * 5000},
        "too deeply",
    ),
    "dotted source 900 deep": ({"fields": {"a.x.b": "siteId"}}, {**VALID, "a": _nested(900)}, "too deeply"),
}


def poison_file(trigger: str, rows: int, poison_row: int) -> tuple[bytes, set[str]]:
    """An NDJSON file of `rows` rows whose row `poison_row` is the trigger's record; the valid ids."""
    _mapping, poison, _message = TRIGGERS[trigger]
    lines, ids = [], set()
    for row in range(1, rows + 1):
        if row == poison_row:
            lines.append(json.dumps({"eventId": f"evt-poison-{row}", **poison}))
        else:
            ids.add(f"evt-{row}")
            lines.append(json.dumps({"eventId": f"evt-{row}", **VALID}))
    return ("\n".join(lines) + "\n").encode(), ids
