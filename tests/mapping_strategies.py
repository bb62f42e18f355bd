"""Hypothesis strategies for tenant mappings and the records they meet (issue 16).

The mappings are drawn from every key of the mapping language, with values chosen to reach the edges
the code once fell over: zones and formats at years 1 and 9999, units on huge numbers, `from_json`
on deep JSON, `extract` with catastrophic-backtracking patterns, dotted sources into deep records,
envelopes, positional columns, filters, derived ids. The records share the mappings' field names,
so the mapping applies to them, and hold what JSON can carry: huge and tiny numbers, lone
surrogates, empty keys, deep nesting. A drawn mapping that the model refuses is not used (what
registration refuses never reaches a record)."""

from __future__ import annotations

import json

from hypothesis import strategies as st
from pydantic import ValidationError

from shared.bulk.schemas import load_mapping

NAMES = [
    "screenId",
    "playedAt",
    "durationMs",
    "eventId",
    "campaignId",
    "tz",
    "secs",
    "end",
    "blob",
    "a",
    "kind",
    "player",
    "pop",
    "ts",
    "",
]
TARGETS = [
    "screenId",
    "siteId",
    "campaignId",
    "creativeId",
    "playedAt",
    "durationMs",
    "plannedDurationMs",
    "playCount",
    "endedAt",
    "context.x",
    "device.y",
    "impressions.ageBuckets.total",
    "eventId",
]
ZONES = [
    "UTC",
    "Europe/Paris",
    "Asia/Tokyo",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "screen",  # each record's screen's zone (tests/unit/test_mapping_properties.py registers some)
    "right/UTC",
    "Nowhere/Land",
]
PATTERNS = ["^(a+)+$", "(x+x+)+y", r"(\d+)", "([a-z]+)-", "(.*)*b", "^(a|aa)+$", "[", "(a)(b)"]
FORMATS = [
    "iso8601",
    "epoch_seconds",
    "epoch_millis",
    "epoch_micros",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
]

EDGE_TEXT = [
    "",
    "a" * 40 + "!",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2025-01-27T10:00:00Z",
    "2025-03-30 01:30",
    "0001-01-01 00:00",
    "9" * 400,
    "1e308",
    "15s",
    "1500ms",
    "inf",
    "NaN",
    "\ud800",
    "[" * 3000 + "]" * 3000,
    '{"x": {"y": 1}}',
    "Europe/Paris",
    "right/UTC",
    "null",
    "-",
    "\u202e",
]
EDGE_NUMBERS = [
    0,
    -1,
    1,
    10**20,
    -(10**20),
    2**64,
    1e308,
    -1e308,
    5e-324,
    1.5,
    86_400_000,
    253402300799,
    253402300800,
    -62135596801,
]


def deep(depth: int, leaf=1):
    value = leaf
    for i in range(depth):
        value = {"x": value} if i % 2 else [value]
    return value


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(EDGE_NUMBERS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(EDGE_TEXT),
    st.text(max_size=12),
)
json_values = (
    st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4)
        ),
        max_leaves=12,
    )
    | st.sampled_from([300, 700]).map(deep)
    | st.just(700).map(lambda n: {"x": deep(n)})
)
# (made anew for each example: the mapping consumes the records it is given. Deeper than 700, json.dumps
# in the test itself would recurse too far.)

records = st.dictionaries(st.sampled_from(NAMES + ["a.x", "context", "device"]), json_values, max_size=7)

field_specs = st.one_of(
    st.sampled_from(TARGETS),
    st.fixed_dictionaries(
        {"to": st.sampled_from(TARGETS)},
        optional={
            "unit": st.sampled_from(["s", "ms"]),
            "from_json": st.sampled_from(["", "x", "x.y"]),
            "extract": st.sampled_from(PATTERNS),
            "string": st.booleans(),
            "null_values": st.lists(st.sampled_from(["-", "null", ""]), max_size=2),
            "fallback": st.lists(st.sampled_from(NAMES[:-1]), max_size=2),
        },
    ),
)
conditions = st.fixed_dictionaries({"field": st.sampled_from(NAMES[:-1] + ["a.x"])}).flatmap(
    lambda base: st.one_of(
        st.fixed_dictionaries({**{k: st.just(v) for k, v in base.items()}, "equals": scalars}),
        st.fixed_dictionaries(
            {**{k: st.just(v) for k, v in base.items()}, "not_in": st.lists(scalars, max_size=5)}
        ),
        st.fixed_dictionaries(
            {**{k: st.just(v) for k, v in base.items()}, "in": st.lists(scalars, max_size=5)}
        ),
        st.fixed_dictionaries({**{k: st.just(v) for k, v in base.items()}, "present": st.just(True)}),
    )
)
mapping_bodies = st.fixed_dictionaries(
    {"version": st.just("prop-1")},
    optional={
        "fields": st.dictionaries(st.sampled_from(NAMES[:-1] + ["a.x", "a.x.b"]), field_specs, max_size=4),
        "timestamp_format": st.sampled_from(FORMATS),
        "timezone": st.sampled_from(ZONES),
        "timezone_field": st.sampled_from(["tz", "a.x"]),
        "timezone_lookup": st.fixed_dictionaries(
            {
                "field": st.sampled_from(["player", "tz"]),
                "zones": st.dictionaries(st.sampled_from(["1", "2", "x"]), st.sampled_from(ZONES[:5])),
            }
        ),
        "constants": st.dictionaries(
            st.sampled_from(["siteId", "context.k", "durationMs", "playCount"]), json_values, max_size=2
        ),
        "numeric_strings": st.booleans(),
        "unmapped": st.sampled_from(["context", "reject"]),
        "null_values": st.lists(st.sampled_from(["-", "null", "", "N/A"]), max_size=3),
        "records": st.sampled_from(["pop", "pop[*].a", "a.x"]),
        "where": st.lists(conditions, max_size=2),
        "required": st.lists(st.sampled_from(["screenId", "siteId", "playedAt"]), max_size=2),
        "drop": st.lists(st.sampled_from(["kind", "blob", "tz", "a.x", "a.x.b"]), max_size=2),
        "event_id": st.lists(st.sampled_from(["screenId", "playedAt", "context.x"]), min_size=1, max_size=2),
    },
)


def usable(body: dict):
    """The mapping, or None when registration would refuse it."""
    try:
        return load_mapping(body)
    except (ValidationError, ValueError):
        return None


def ndjson(rows: list) -> bytes:
    """Rows as NDJSON lines; a row JSON cannot write (a lone surrogate is written as its escape)."""
    return "".join(json.dumps(r) + "\n" for r in rows).encode()
