"""Schema versions as data: shared/bulk/schemas.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.bulk.formats import iter_rows, plan_file
from shared.bulk.schemas import (
    BUILTIN,
    SchemaMapping,
    compile_mapping,
    load_mapping,
    mapping_problems,
    row_to_event,
)
from shared.canonical.event import PopEvent
from tests.bulk_files import EXAMPLES_DIR, shipped_examples

EXAMPLES = shipped_examples()

DATA = Path(__file__).resolve().parent.parent / "data"
V1 = BUILTIN["1.0"]


class MappingError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def to_event(record: dict, mapping: SchemaMapping, fmt: str) -> dict:
    """What a mapping makes of a record before canonical validation; MappingError for conversion errors."""
    data, errors = compile_mapping(mapping, fmt).map(record)
    if errors:
        raise MappingError(errors)
    return data


def mapping(**kw) -> SchemaMapping:
    return SchemaMapping(version=kw.pop("version", "t-1"), **kw)


# ------------------------------------------------------------------------------------------
# Built-in 1.0


def test_v1_csv_dotted_columns_become_nested_fields_and_numbers():
    record = {
        "eventId": "evt-1",
        "screenId": "screen-001",
        "playedAt": "2025-01-27T10:00:00Z",
        "durationMs": "30000",
        "impressions.ageBuckets.total": "150.5",
        "impressions.ageBuckets.male": "80",
        "context.weather": "sunny",
        "device.model": "XR-55",
    }
    assert to_event(record, V1, "csv") == {
        "eventId": "evt-1",
        "screenId": "screen-001",
        "playedAt": "2025-01-27T10:00:00Z",
        "durationMs": 30000,
        "impressions": {"ageBuckets": {"total": 150.5, "male": 80.0}},
        "context": {"weather": "sunny"},
        "device": {"model": "XR-55"},
    }
    event, error = row_to_event(record, V1, "csv")
    assert error is None
    assert isinstance(event, PopEvent)
    assert event.playedAt == "2025-01-27T10:00:00.000Z"
    assert event.impressions.ageBuckets.total == 150.5


def test_v1_csv_integral_float_duration_is_an_integer():
    assert to_event({"durationMs": "30000.0"}, V1, "csv") == {"durationMs": 30000}


def test_v1_csv_non_numeric_string_is_reported_by_the_canonical_validation():
    event, error = row_to_event({"screenId": "s", "durationMs": "thirty"}, V1, "csv")
    assert event is None
    assert error == "durationMs: Input should be a valid integer"
    _, error = row_to_event({"impressions.ageBuckets.total": "many"}, V1, "csv")
    assert error == "impressions.ageBuckets.total: Input should be a valid number"
    _, error = row_to_event({"impressions.ageBuckets.total": "nan"}, V1, "csv")
    assert error == "impressions.ageBuckets.total: Input should be a finite number"


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_v1_json_is_strict_like_the_events_endpoint(fmt):
    _, error = row_to_event({"screenId": "s", "durationMs": "30000"}, V1, fmt)
    assert error == "durationMs: Input should be a valid integer"
    event, error = row_to_event(
        {
            "screenId": "s",
            "durationMs": 30000,
            "impressions": {"ageBuckets": {"total": 1.5}},
            "context": {"a": [1]},
        },
        V1,
        fmt,
    )
    assert error is None and event.context == {"a": [1]}


def test_v1_rejects_unknown_fields_and_joins_every_error():
    _, error = row_to_event({"screenid": "s", "durationMs": -1, "playedAt": "yesterday"}, V1, "ndjson")
    assert error == "; ".join(
        [
            "playedAt: Input should be an ISO 8601 timestamp with a timezone, e.g. 2025-01-27T10:00:00Z",
            "durationMs: Input should be greater than or equal to 0",
            "screenid: Unknown field; custom data belongs in context or device",
        ]
    )


def test_v1_merges_a_context_object_with_context_columns():
    out = to_event({"context": {"a": 1}, "context.b": "2"}, V1, "ndjson")
    assert out == {"context": {"a": 1, "b": "2"}}
    with pytest.raises(MappingError, match="context.b: cannot be set because context is not an object"):
        to_event({"context": "flat", "context.b": "2"}, V1, "ndjson")


# ------------------------------------------------------------------------------------------
# Custom mappings


def test_renames_constants_and_unmapped_fields_kept_in_context():
    m = mapping(
        fields={"scr": "screenId", "dur": "durationMs", "venue": "context.venueType"},
        constants={"siteId": "site-9", "context.source": "export"},
    )
    out = to_event({"scr": "s1", "dur": 5, "venue": "mall", "fw": "1.2", "screenId": "ignored?"}, m, "ndjson")
    assert out == {
        "screenId": "ignored?",  # a canonical name in the file is kept; last one wins
        "durationMs": 5,
        "context": {"venueType": "mall", "fw": "1.2", "source": "export"},
        "siteId": "site-9",
    }


def test_unmapped_reject():
    m = mapping(fields={"scr": "screenId"}, unmapped="reject")
    _, error = row_to_event({"scr": "s1", "extra": 1}, m, "csv")
    assert error == "extra: Unknown field; custom data belongs in context or device"


def test_errors_name_the_file_column_and_the_canonical_field():
    m = mapping(fields={"duration_ms": "durationMs"})
    _, error = row_to_event({"duration_ms": "abc"}, m, "csv")
    assert error == "duration_ms (durationMs): Input should be a valid integer"


def test_numeric_strings_can_be_forced_either_way():
    on = mapping(numeric_strings=True)
    off = mapping(numeric_strings=False)
    assert to_event({"durationMs": "7"}, on, "ndjson") == {"durationMs": 7}
    assert to_event({"durationMs": "7"}, off, "csv") == {"durationMs": "7"}


@pytest.mark.parametrize(
    ("fmt_name", "value", "expected"),
    [
        ("epoch_millis", 1737972000123, "2025-01-27T10:00:00.123Z"),
        ("epoch_millis", "1737972000123", "2025-01-27T10:00:00.123Z"),
        ("epoch_seconds", 1737972000, "2025-01-27T10:00:00.000Z"),
        ("epoch_seconds", "1737972000.5", "2025-01-27T10:00:00.500Z"),
        ("epoch_seconds", 0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_epoch_timestamps_become_iso8601_utc(fmt_name, value, expected):
    m = mapping(fields={"t": "playedAt"}, timestamp_format=fmt_name)
    assert to_event({"t": value}, m, "csv") == {"playedAt": expected}
    event, error = row_to_event({"t": value}, m, "ndjson")
    assert error is None and event.playedAt == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "playedAt: expected epoch milliseconds, got 'abc'"),
        (True, "playedAt: expected epoch milliseconds, got True"),
        (None, "playedAt: expected epoch milliseconds, got None"),
        ("2025-01-27T10:00:00Z", "playedAt: expected epoch milliseconds, got '2025-01-27T10:00:00Z'"),
        (10**20, "playedAt: epoch milliseconds value 100000000000000000000 is out of range"),
    ],
)
def test_bad_epoch_timestamps_are_clear(value, message):
    m = mapping(timestamp_format="epoch_millis")
    event, error = row_to_event({"playedAt": value, "durationMs": "x"}, m, "csv")
    assert event is None
    assert error == f"{message}; durationMs: Input should be a valid integer"
    with pytest.raises(MappingError) as exc:
        to_event({"playedAt": value}, m, "csv")
    assert exc.value.errors == [message]


def test_dotted_source_paths_reach_into_nested_json():
    m = mapping(
        fields={"aud.total": "impressions.ageBuckets.total", "aud.split.m": "impressions.ageBuckets.male"}
    )
    out = to_event({"aud": {"total": 9.0, "split": {"m": 4.0}, "note": "x"}, "screenId": "s"}, m, "ndjson")
    assert out == {
        "impressions": {"ageBuckets": {"total": 9.0, "male": 4.0}},
        "context": {"aud": {"note": "x"}},
        "screenId": "s",
    }
    assert to_event({"aud": {"total": 1.0}}, m, "json") == {"impressions": {"ageBuckets": {"total": 1.0}}}
    assert to_event({"aud.total": "1"}, m, "csv") == {"impressions": {"ageBuckets": {"total": 1.0}}}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"version": "", "fields": {}}, "version"),
        ({"version": "a b", "fields": {}}, "version"),
        ({"version": "x" * 33, "fields": {}}, "version"),
        ({"version": "v", "fields": {"a": "screen_id"}}, "'screen_id' (for 'a') is not a canonical field"),
        ({"version": "v", "fields": {"a": "impressions.ageBuckets.kids"}}, "not a canonical field"),
        ({"version": "v", "fields": {"a": "context."}}, "not a canonical field"),
        ({"version": "v", "fields": {"a": "screenId", "b": "screenId"}}, "both map to 'screenId'"),
        ({"version": "v", "constants": {"venue": "x"}}, "constant 'venue' is not a canonical field"),
        ({"version": "v", "timestamp_format": "rfc2822"}, "timestamp_format"),
        ({"version": "v", "unmapped": "drop"}, "unmapped"),
        ({"version": "v", "feilds": {}}, "feilds"),
    ],
)
def test_invalid_mappings_are_refused_with_a_reason(data, problem):
    with pytest.raises(ValidationError) as exc:
        load_mapping(data)
    assert problem in " | ".join(mapping_problems(exc.value))


def test_valid_targets():
    m = load_mapping(
        {
            "version": "Acme_2.1-b",
            "fields": {"a": "context.x.y", "b": "device.serial", "c": "impressions", "d": "context"},
        }
    )
    assert m.version == "Acme_2.1-b"


# ------------------------------------------------------------------------------------------
# The shipped example: a snake_case CSV export with epoch-millisecond timestamps


def test_shipped_examples_load():
    files = sorted(EXAMPLES_DIR.glob("*.json"))
    assert files
    for path in files:
        m = load_mapping(json.loads(path.read_text()))
        assert EXAMPLES[m.version] == m
    assert "snake-epoch-ms-1" in EXAMPLES


def test_snake_case_csv_export_maps_end_to_end():
    m = EXAMPLES["snake-epoch-ms-1"]
    data = (DATA / "snake_case_export.csv").read_bytes()
    plan = plan_file(io.BytesIO(data), "csv", 2, 1 << 20)
    assert plan.total_rows == 3
    results = []
    for chunk in plan.chunks:
        stream = io.BytesIO(data)
        stream.seek(chunk.start)
        for row, record, error in iter_rows(stream, "csv", chunk, 1 << 20, plan.header):
            assert error is None
            event, error = row_to_event(record, m, "csv")
            assert error is None, (row, error)
            results.append((row, event))
    assert [row for row, _ in results] == [2, 3, 4]
    first = results[0][1]
    assert first.model_dump(exclude_none=True) == {
        "eventId": "p-0001",
        "screenId": "scr-lon-001",
        "siteId": "site-lon-01",
        "campaignId": "cmp-2025-q1",
        "creativeId": "cr-0042",
        "playedAt": "2025-01-27T10:00:00.000Z",
        "durationMs": 30000,
        "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
        "context": {"venueType": "transit, rail", "player_fw": "4.2.1", "exportedBy": "cms-daily-export"},
    }
    assert results[1][1].playedAt == "2025-01-27T10:00:15.250Z"
    assert results[1][1].impressions.ageBuckets.male == 20.0
    third = results[2][1]
    assert third.impressions is None  # empty cells are absent, not zero
    assert third.context["venueType"] == "roadside\nbillboard"


def test_snake_case_example_reports_bad_rows_by_their_column_names():
    m = EXAMPLES["snake-epoch-ms-1"]
    _, error = row_to_event({"play_id": "p", "played_at_ms": "yesterday", "aud_total": "-3"}, m, "csv")
    assert error == (
        "played_at_ms (playedAt): expected epoch milliseconds, got 'yesterday'; "
        "aud_total (impressions.ageBuckets.total): Input should be greater than or equal to 0"
    )


# (row, taken by the fast path, accepted by the full path)
DIRECT_ROWS = [
    (
        b'{"eventId": "e", "playedAt": "2025-01-27T11:00:00+01:00", "durationMs": 15000, "context": {"a": [1]}}',
        True,
        True,
    ),
    (b'{"screenId": "s", "context.weather": "sunny"}', False, True),  # a dotted key: the full path maps it
    (b'{"context": {"a": NaN}}', False, False),  # NaN is not JSON, though pydantic's parser takes it
    (b'{"durationMs": "15000"}', False, False),
    (b'{"unknown": 1}', False, False),
    (b'{"screenId": "\\ud800"}', False, False),  # a lone surrogate in an id: neither path takes it
]


@pytest.mark.parametrize("row, fast_takes_it, full_accepts_it", DIRECT_ROWS)
def test_the_canonical_mapping_validates_json_rows_from_their_bytes_exactly_as_the_full_path(
    row, fast_takes_it, full_accepts_it
):
    from shared.bulk.formats import parse_record

    compiled = compile_mapping(V1, "ndjson")
    assert compiled.direct and not compile_mapping(mapping(fields={"a": "screenId"}), "ndjson").direct
    record, error = parse_record("ndjson", row, None)
    full = compiled.to_event(record) if error is None else (None, error)
    fast = compiled.validate_json(row)
    assert (fast is not None, full[0] is not None) == (fast_takes_it, full_accepts_it)
    if fast is not None:  # whatever the fast path takes, the full path makes the same event of
        assert full == (fast, None)
