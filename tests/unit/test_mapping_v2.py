"""Mapping language v2: every key, on single records, and every bad mapping refused naming its key."""

from __future__ import annotations

import io
import json

import pytest
from pydantic import ValidationError

from shared.bulk import formats, rows
from shared.bulk.preview import PreviewRefused, preview
from shared.bulk.schemas import SchemaMapping, compile_mapping, load_mapping, mapping_problems
from shared.canonical.messages import MessageEncoder


def mapping(**kw) -> SchemaMapping:
    return load_mapping({"version": "t-2", **kw})


def event(m: SchemaMapping, record, fmt: str = "ndjson", zone: str | None = None) -> dict:
    """The one event a record becomes (AssertionError with the row error otherwise)."""
    [(_, ev, error)] = list(compile_mapping(m, fmt, zone).outcomes(record))
    assert error is None and ev is not None, error
    return ev.model_dump(mode="json", exclude_none=True)


def error(m: SchemaMapping, record, fmt: str = "ndjson", zone: str | None = None) -> str:
    [(_, ev, err)] = list(compile_mapping(m, fmt, zone).outcomes(record))
    assert ev is None and err is not None
    return err


def skipped(m: SchemaMapping, record) -> bool:
    [(_, ev, err)] = list(compile_mapping(m, "ndjson").outcomes(record))
    return ev is None and err is None


# -- time zones ----------------------------------------------------------------------------------

LONDON = mapping(fields={"t": "playedAt"}, timezone="Europe/London")


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2025-01-27T10:00:00", "2025-01-27T10:00:00.000Z"),  # GMT
        ("2025-07-01 10:00:00", "2025-07-01T09:00:00.000Z"),  # BST
        ("2025-03-30T00:59:59", "2025-03-30T00:59:59.000Z"),  # last second before the change
        (
            "2025-03-30T01:30:00",
            "2025-03-30T01:30:00.000Z",
        ),  # does not exist: offset before the change (moved forward)
        ("2025-03-30T02:00:00", "2025-03-30T01:00:00.000Z"),  # first valid BST time
        ("2025-10-26T00:59:59", "2025-10-25T23:59:59.000Z"),
        ("2025-10-26T01:30:00", "2025-10-26T00:30:00.000Z"),  # happens twice: the first (BST)
        ("2025-10-26T02:00:00", "2025-10-26T02:00:00.000Z"),
        ("2025-07-01T10:00:00+02:00", "2025-07-01T08:00:00.000Z"),  # an offset in the value wins
        ("2025-07-01T10:00:00Z", "2025-07-01T10:00:00.000Z"),
    ],
)
def test_zone_less_timestamps_are_read_in_the_mapping_zone_with_the_dst_rule(local, utc):
    assert event(LONDON, {"t": local})["playedAt"] == utc


def test_without_a_zone_a_zone_less_timestamp_is_an_error_naming_where_to_give_one():
    assert error(mapping(fields={"t": "playedAt"}), {"t": "2025-01-27T10:00:00"}) == (
        "t (playedAt): Input should be an ISO 8601 timestamp with a timezone, e.g. 2025-01-27T10:00:00Z"
    )
    assert "has no time zone; give one in the mapping (timezone), the ingest (metadata.timezone)" in error(
        mapping(fields={"t": "playedAt"}, timezone_field="tz"), {"t": "2025-01-27T10:00:00"}
    )


def test_zone_precedence_record_field_then_lookup_then_ingest_then_mapping():
    m = mapping(
        fields={"t": "playedAt"},
        timezone="Europe/London",
        timezone_field="tz",
        timezone_lookup={"field": "player", "zones": {"7": "Asia/Tokyo"}},
    )
    t = "2025-07-01T10:00:00"
    assert event(m, {"t": t})["playedAt"] == "2025-07-01T09:00:00.000Z"  # mapping
    assert event(m, {"t": t}, zone="UTC")["playedAt"] == "2025-07-01T10:00:00.000Z"  # ingest beats mapping
    assert (
        event(m, {"t": t, "player": 7}, zone="UTC")["playedAt"] == "2025-07-01T01:00:00.000Z"
    )  # lookup (number key)
    assert event(m, {"t": t, "player": "8"})["playedAt"] == "2025-07-01T09:00:00.000Z"  # not in the table
    assert event(m, {"t": t, "player": 7, "tz": "America/New_York"})["playedAt"] == "2025-07-01T14:00:00.000Z"
    assert error(m, {"t": t, "tz": "Mars/Olympus"}).startswith("tz: unknown time zone 'Mars/Olympus'")


@pytest.mark.parametrize(
    ("fmt", "value", "utc"),
    [
        ("%Y-%m-%d %H:%M:%S", "2025-07-01 10:00:00", "2025-07-01T09:00:00.000Z"),
        ("%d/%m/%Y %H:%M", "01/07/2025 10:05", "2025-07-01T09:05:00.000Z"),
        ("%d/%m/%Y %H:%M:%S%z", "01/07/2025 10:05:00+0000", "2025-07-01T10:05:00.000Z"),
        ("epoch_micros", 1737972000123456, "2025-01-27T10:00:00.123Z"),
        ("epoch_micros", "1737972000123456", "2025-01-27T10:00:00.123Z"),
        ("epoch_seconds", 1737972000, "2025-01-27T10:00:00.000Z"),  # epochs are UTC whatever the zone
    ],
)
def test_timestamp_patterns_and_epoch_micros(fmt, value, utc):
    m = mapping(fields={"t": "playedAt"}, timestamp_format=fmt, timezone="Europe/London")
    assert event(m, {"t": value})["playedAt"] == utc


def test_a_value_not_matching_the_pattern_is_a_row_error():
    m = mapping(fields={"t": "playedAt"}, timestamp_format="%d/%m/%Y %H:%M", timezone="UTC")
    assert (
        error(m, {"t": "2025-07-01 10:05"})
        == "t (playedAt): expected a timestamp like '%d/%m/%Y %H:%M', got '2025-07-01 10:05'"
    )


# -- envelopes and positional records ------------------------------------------------------------


def test_records_inside_an_envelope_with_envelope_fields_copied_in():
    m = mapping(
        records="pop", envelope_fields=["player_id"], fields={"player_id": {"to": "screenId", "string": True}}
    )
    out = list(
        compile_mapping(m, "ndjson").outcomes(
            {"api_key": "k", "player_id": 9, "pop": [{"creativeId": "a"}, {"creativeId": 1}]}
        )
    )
    assert out[0][0] == "pop[0]" and out[0][1].model_dump(exclude_none=True) == {
        "screenId": "9",
        "creativeId": "a",
    }
    assert out[1] == ("pop[1]", None, "pop[1]: creativeId: Input should be a valid string")
    assert list(compile_mapping(m, "ndjson").outcomes({"player_id": 9, "pop": []})) == []
    assert (
        list(compile_mapping(m, "ndjson").outcomes({"pop": {"creativeId": "a"}}))[0][0] == "pop"
    )  # one object: one record
    assert list(compile_mapping(m, "ndjson").outcomes({"pop": 3})) == [
        ("pop", None, "records 'pop': pop should be an array or an object")
    ]
    assert list(compile_mapping(m, "ndjson").outcomes({"pip": []})) == [
        (None, None, "records 'pop': pop is missing")
    ]


def test_records_path_through_arrays():
    m = mapping(records="requests[*].adPlay")
    out = list(
        compile_mapping(m, "json").outcomes({"requests": [{"adPlay": {"screenId": "a"}}, {"x": 1}, 7]})
    )
    assert out[0][1].screenId == "a"  # one element without the path does not lose the others
    assert out[1:] == [
        ("requests[1].adPlay", None, "records 'requests[*].adPlay': requests[1].adPlay is missing"),
        ("requests[2].adPlay", None, "records 'requests[*].adPlay': requests[2].adPlay is missing"),
    ]


def test_envelope_fields_are_read_from_the_nearest_object_holding_the_record():
    # parent sits beside adPlay in each request; a field of the line itself is still reachable
    m = mapping(
        records="requests[*].adPlay",
        envelope_fields=["parent", "batch"],
        fields={"parent": "context.seller", "batch": "context.batch"},
    )
    line = {
        "batch": "b-1",
        "parent": "line-level",
        "requests": [
            {"parent": "sellers/1", "adPlay": {"screenId": "a"}},
            {"adPlay": {"screenId": "b"}},
            {
                "parent": "sellers/3",
                "adPlay": {"screenId": "c", "parent": "own"},
            },  # a record's own field wins
        ],
    }
    got = [
        ev.model_dump(exclude_none=True)["context"]
        for _, ev, _ in compile_mapping(m, "ndjson").outcomes(line)
    ]
    assert got == [
        {"seller": "sellers/1", "batch": "b-1"},
        {"seller": "line-level", "batch": "b-1"},
        {"seller": "own", "batch": "b-1"},
    ]


DV360_DOC = mapping(
    records="requests[*].adPlay",
    envelope_fields=["parent"],
    fields={"adUnit": "screenId", "parent": "context.seller"},
    required=["screenId"],
)


def document(*requests) -> bytes:
    return json.dumps({"requests": list(requests)}, indent=2).encode()


def test_a_json_document_is_read_from_its_array_member_with_rows_its_positions():
    data = document(
        {"parent": "sellers/1", "adPlay": {"adUnit": "u1"}},
        {"parent": "sellers/1", "adPlay": {"adUnit": "u2"}},
        {"parent": "sellers/1", "adPlay": {}},
        {"parent": "sellers/1"},
        7,
        {"parent": "sellers/2", "adPlay": {"adUnit": "u6"}},
    )
    result = preview(DV360_DOC, data, "json")
    assert (result.totalRows, result.processedRows, result.errorRows) == (6, 3, 3)
    assert result.events == [
        {"screenId": "u1", "context": {"seller": "sellers/1"}},
        {"screenId": "u2", "context": {"seller": "sellers/1"}},
        {"screenId": "u6", "context": {"seller": "sellers/2"}},
    ]
    assert [(e.row, e.error) for e in result.errors] == [
        (3, "requests[2].adPlay: adUnit (screenId): required, but the record has no value for it"),
        (4, "records 'requests[*].adPlay': requests[3].adPlay is missing"),
        (5, "Row should be a JSON object, not a number"),
    ]
    # records at the member itself: each element is a record
    whole = preview(
        mapping(records="requests[*]", fields={"adUnit": "screenId"}), document({"adUnit": "u"}), "json"
    )
    assert whole.events == [{"screenId": "u"}]


@pytest.mark.parametrize(
    ("m", "message"),
    [
        (
            mapping(),
            'no "events" array; its records are in its "requests" array, .* starting there \\(such as "requests\\[\\*\\]"\\)',
        ),
        (mapping(records="plays[*].adPlay"), "records path 'plays\\[\\*\\].adPlay' starts elsewhere"),
        (mapping(records="requests.adPlay"), "starts elsewhere"),  # requests is an array: [*] walks it
    ],
)
def test_a_json_document_its_mapping_cannot_read_is_refused_as_a_whole(m, message):
    with pytest.raises(PreviewRefused, match=message):
        preview(m, document({"adPlay": {}}), "json")


def test_a_json_document_planned_after_ingest_with_a_mapping_that_cannot_read_it_fails_each_row():
    data = document({"adPlay": {}}, {"adPlay": {}})
    plan = formats.plan_file(io.BytesIO(data), "json", 1, 1 << 20)
    got = []
    for chunk in plan.chunks:
        stream = io.BytesIO(data)
        stream.seek(chunk.start)
        got += list(
            rows.mapped_rows(stream, "json", chunk, 1 << 20, None, compile_mapping(mapping(), "json"))
        )
    assert [(row, event) for row, event, _ in got] == [(1, None), (2, None)]
    assert all(error.startswith('The JSON object has no "events" array') for _, _, error in got)


def test_positional_records_are_named_by_columns():
    m = mapping(
        columns=["screen", "creative", "start"],
        fields={"screen": "screenId", "creative": "creativeId", "start": "playedAt"},
    )
    assert event(m, ["s1", "c1", "2025-01-27T10:00:00Z"]) == {
        "screenId": "s1",
        "creativeId": "c1",
        "playedAt": "2025-01-27T10:00:00.000Z",
    }
    assert error(m, ["s1", "c1"]) == "Record has 2 values; the mapping's columns name 3"
    assert error(mapping(), ["s1"]) == "Record is an array; name its positions with columns in the mapping"


def test_positional_rows_of_an_ndjson_file_and_envelope_errors_name_line_and_place():
    m = mapping(columns=["screen", "ms"], fields={"screen": "screenId", "ms": "durationMs"})
    result = preview(m, b'["a", 1000]\n["b"]\n{"screen": "c"}\n', "ndjson")
    assert [e["screenId"] for e in result.events] == ["a", "c"]
    assert [(e.row, e.error) for e in result.errors] == [
        (2, "Record has 1 value; the mapping's columns name 2")
    ]
    env = mapping(records="pop")
    result = preview(env, b'{"pop": [{"screenId": "a"}, {"screenId": 5}]}\n{"pop": [{"x": 1}]}\n', "ndjson")
    assert (result.totalRows, result.processedRows, result.errorRows) == (3, 2, 1)
    assert [(e.row, e.error) for e in result.errors] == [
        (1, "pop[1]: screenId: Input should be a valid string")
    ]


# -- transforms ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "value", "ms"),
    [
        ("s", 15, 15000),
        ("s", 1.5, 1500),
        ("s", "15", 15000),
        ("s", "15s", 15000),
        ("s", "1500ms", 1500),
        ("ms", 1500, 1500),
        ("ms", "15s", 15000),
        ("ms", " 250 MS ", 250),
        ("ms", "1500", 1500),
    ],
)
def test_duration_units(unit, value, ms):
    assert event(mapping(fields={"d": {"to": "durationMs", "unit": unit}}), {"d": value})["durationMs"] == ms


def test_a_duration_that_is_not_one_names_the_field():
    m = mapping(fields={"d": {"to": "durationMs", "unit": "s"}})
    assert (
        error(m, {"d": "soon"})
        == "d (durationMs): expected a duration (seconds, or a string like '15s' or '1500ms'), got 'soon'"
    )


def test_numbers_to_strings_null_sentinels_fallbacks_regex_and_json_strings():
    m = mapping(
        fields={
            "id": {"to": "screenId", "string": True, "fallback": ["screen_name", "display"]},
            "unit": {"to": "creativeId", "extract": "adUnits/(\\d+)$"},
            "meta": {"to": "context.weather", "from_json": "weather.now"},
            "camp": {"to": "campaignId", "null_values": ["-"]},
        },
        null_values=["N/A", ""],
    )
    record = {
        "id": 1234,
        "unit": "sellers/1/adUnits/9001",
        "meta": '{"weather": {"now": "rain"}}',
        "camp": "-",
        "x": "N/A",
    }
    assert event(m, record) == {"screenId": "1234", "creativeId": "9001", "context": {"weather": "rain"}}
    assert (
        event(m, {"screen_name": "lobby", "display": "d"})["screenId"] == "lobby"
    )  # first present; others consumed
    assert event(m, {"id": "N/A", "display": "d"})["screenId"] == "d"
    assert (
        error(m, {"unit": "creativeAssets/7"})
        == "unit (creativeId): 'creativeAssets/7' does not match 'adUnits/(\\\\d+)$'"
    )
    assert error(m, {"meta": "{oops"}).startswith("meta (context.weather): is not valid JSON")
    assert "context" not in event(m, {"meta": '{"other": 1}', "id": 1})  # the path is absent: so is the field


# -- derived fields ------------------------------------------------------------------------------


def test_duration_from_end_minus_start_and_start_from_end_minus_duration():
    both = mapping(fields={"s": "playedAt", "e": "endedAt"}, timezone="Europe/London")
    assert event(both, {"s": "2025-03-30T00:59:50", "e": "2025-03-30T02:00:05"}) == {
        "playedAt": "2025-03-30T00:59:50.000Z",
        "durationMs": 15000,
    }  # across the spring change: 15 s, not 1 h 15 s
    assert (
        error(both, {"s": "2025-03-30T03:00:00", "e": "2025-03-30T02:00:00"})
        == "e (endedAt): is before s (playedAt)"
    )
    end = mapping(fields={"e": "endedAt", "d": {"to": "durationMs", "unit": "s"}}, timezone="America/Toronto")
    assert event(end, {"e": "2025-03-09T03:00:10", "d": 15}) == {
        "playedAt": "2025-03-09T06:59:55.000Z",
        "durationMs": 15000,
    }


# -- filters, required, dropped ------------------------------------------------------------------


def test_where_conditions_are_combined_and_skip_rows():
    m = mapping(
        where=[
            {"field": "type", "in": ["media", "widget"]},
            {"field": "tag", "not_equals": "house"},
            {"field": "screenId", "present": True},
            {"field": "deleted", "absent": True},
            {"field": "n", "not_in": [0]},
        ],
        null_values=["-"],
    )
    assert not skipped(m, {"type": "media", "screenId": "s", "tag": "x", "n": "1"})
    assert skipped(m, {"type": "layout", "screenId": "s"})
    assert skipped(m, {"type": "media", "screenId": "s", "tag": "house"})
    assert skipped(m, {"type": "media", "screenId": "-"})  # a null sentinel is absent
    assert skipped(m, {"type": "media", "screenId": "s", "deleted": True})
    assert skipped(m, {"type": "media", "screenId": "s", "n": "0"})  # "0" in a CSV equals 0
    eq = mapping(where=[{"field": "kind", "equals": 1}])
    assert not skipped(eq, {"kind": "1"}) and skipped(eq, {"kind": 2}) and skipped(eq, {})


def test_skipped_rows_are_counted_apart():
    m = mapping(where=[{"field": "type", "equals": "media"}], drop=["type"])
    result = preview(m, b"type,screenId\nmedia,a\nlayout,b\nmedia,\n", "csv")
    assert (result.totalRows, result.processedRows, result.errorRows, result.skippedRows) == (3, 2, 0, 1)
    assert result.events == [{"screenId": "a"}, {}]


def test_required_and_dropped_fields():
    m = mapping(
        fields={"scr": "screenId"}, required=["screenId", "playedAt"], drop=["api_key", "secret.token"]
    )
    assert error(m, {"scr": "s"}) == "playedAt: required, but the record has no value for it"
    assert (
        error(m, {"playedAt": "2025-01-27T10:00:00Z"})
        == "scr (screenId): required, but the record has no value for it"
    )
    out = event(m, {"scr": "s", "playedAt": "2025-01-27T10:00:00Z", "api_key": "k", "other": 1})
    assert out == {"screenId": "s", "playedAt": "2025-01-27T10:00:00.000Z", "context": {"other": 1}}


SECRETS = mapping(
    fields={"scr": "screenId"}, drop=["auth.token", "meta.inner.secret", "Stat.Date", "no.such"]
)


def test_drop_removes_a_nested_field_from_the_preview_and_the_published_message():
    line = {
        "scr": "s",
        "auth": {"token": "t0p-secret", "user": "u"},
        "meta": {"inner": {"secret": "x-secret"}, "keep": 1},  # an object the drop empties goes too
        "Stat.Date": "2025-01-27",  # a key with a dot, as a CSV column may have: dropped as written
        "no": {"suchthing": 1},
    }
    data = (json.dumps(line) + "\n").encode()
    kept = {"screenId": "s", "context": {"auth": {"user": "u"}, "meta": {"keep": 1}, "no": {"suchthing": 1}}}
    assert preview(SECRETS, data, "ndjson").events == [kept]
    plan = formats.plan_file(io.BytesIO(data), "ndjson", 10, 1 << 20)
    stream = io.BytesIO(data)
    encode = MessageEncoder("t", "bulk", "2025-01-27T10:00:00Z", "job-1").encode
    [(row, _event, message, error)] = list(
        rows.encoded_rows(
            stream, "ndjson", plan.chunks[0], 1 << 20, None, compile_mapping(SECRETS, "ndjson"), encode
        )
    )
    assert (row, error) == (1, None)
    published = json.loads(message[0])
    assert published["context"] == kept["context"] and b"secret" not in message[0]


def test_drop_of_a_nested_field_does_not_change_the_envelope_its_records_share():
    m = mapping(records="pop", envelope_fields=["auth"], drop=["auth.token"])
    auth = {"token": "t0p-secret", "user": "u"}
    envelope = {"auth": auth, "pop": [{"screenId": "a"}, {"screenId": "b"}]}
    got = [ev.model_dump(exclude_none=True) for _, ev, _ in compile_mapping(m, "ndjson").outcomes(envelope)]
    assert got == [{"screenId": k, "context": {"auth": {"user": "u"}}} for k in "ab"]
    assert auth == {"token": "t0p-secret", "user": "u"}


def test_a_row_with_nothing_required_mapped_is_an_error_not_an_event_of_context_only():
    m = mapping(fields={"Display": "screenId"}, required=["screenId"])
    assert error(m, {"junk": 1}) == "Display (screenId): required, but the record has no value for it"


# -- event ids and play counts -------------------------------------------------------------------


def test_event_id_from_chosen_fields_is_deterministic_and_ignores_the_rest():
    m = mapping(
        fields={"scr": "screenId", "cr": "creativeId", "t": "playedAt"},
        event_id=["screenId", "creativeId", "playedAt"],
    )
    a = event(m, {"scr": "s", "cr": "c", "t": "2025-01-27T11:00:00+01:00", "note": "first"})
    b = event(m, {"scr": "s", "cr": "c", "t": "2025-01-27T10:00:00Z", "note": "corrected"})
    c = event(m, {"scr": "s", "cr": "c2", "t": "2025-01-27T10:00:00Z"})
    assert a["eventId"] == b["eventId"] != c["eventId"] and a["eventId"].startswith("evt-")
    assert (
        error(m, {"scr": "s", "t": "2025-01-27T10:00:00Z"})
        == "event_id: cr (creativeId) is missing, so the event id cannot be made"
    )


def test_play_count_is_an_integer_of_at_least_one():
    m = mapping(fields={"n": "playCount"})
    assert event(m, {"n": "40"}, "csv")["playCount"] == 40
    assert error(m, {"n": "0"}, "csv") == "n (playCount): Input should be greater than or equal to 1"


# -- bad mappings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"fields": {}, "colums": ["a"]}, "colums: unknown key"),
        ({"timezone": "Europe/Londn"}, "timezone: unknown time zone 'Europe/Londn'"),
        ({"timezone": "../etc/passwd"}, "timezone: unknown time zone"),
        (
            {"timezone_lookup": {"field": "p", "zones": {"1": "Nowhere/Land"}}},
            "timezone_lookup.zones: zones['1']: unknown time zone",
        ),
        ({"timestamp_format": "YYYY-MM-DD"}, "timestamp_format: 'YYYY-MM-DD' is not a timestamp format"),
        ({"timestamp_format": "%H:%M"}, "does not hold a whole date, hour and minute"),
        ({"timestamp_format": "%Y-%m-%d %Q"}, "is not a valid pattern"),
        (
            {"fields": {"u": {"to": "screenId", "extract": "adUnits/(\\d+"}}},
            "fields.u.extract: extract 'adUnits/(\\\\d+' is not a regular expression RE2 can run (missing ): adUnits/(\\d+)",
        ),
        (
            {"fields": {"u": {"to": "screenId", "extract": "(a)\\1"}}},
            "fields.u.extract: extract '(a)\\\\1' is not a regular expression RE2 can run (invalid escape sequence: \\1); patterns run in linear time, so backreferences",
        ),
        (
            {"fields": {"u": {"to": "screenId", "extract": "x(?=y)"}}},
            "fields.u.extract: extract 'x(?=y)' is not a regular expression RE2 can run (invalid perl operator: (?=)",
        ),
        (
            {"fields": {"u": {"to": "screenId", "extract": "a" * 1001}}},
            "fields.u.extract: extract is 1001 characters; a pattern has at most 1000",
        ),
        (
            {"where": [{"field": "a", "in": [1, {"b": 2}]}]},
            "where.0: in[1]: a condition compares with strings, numbers, booleans or null, not an object",
        ),
        (
            {"where": [{"field": "a", "equals": [1]}]},
            "where.0: equals: a condition compares with strings, numbers, booleans or null, not an array",
        ),
        ({"fields": {"u": {"to": "screenId", "extract": "(a)(b)"}}}, "has 2 groups"),
        ({"fields": {"u": {"to": "screenId", "unit": "s"}}}, "unit applies to durationMs"),
        ({"fields": {"u": {"to": "durationMs", "unit": "h"}}}, "fields.u.unit"),
        ({"fields": {"u": {"to": "screen"}}}, "to: 'screen' is not a canonical field"),
        ({"fields": {"u": {"to": "screenId", "bogus": 1}}}, "fields.u.bogus: unknown key"),
        ({"fields": {"u": {"to": "playedAt", "string": True}}}, "string does not apply to 'playedAt'"),
        ({"records": "pop[]"}, "records: 'pop[]' is not a records path"),
        ({"envelope_fields": ["player_id"]}, "envelope_fields: there is no envelope"),
        ({"columns": ["a", "a"]}, "columns names a column twice"),
        ({"columns": []}, "columns must name at least one column"),
        ({"columns": ["a", "b"], "where": [{"field": "c", "equals": 1}]}, "where[0]: field 'c' cannot exist"),
        ({"columns": ["a"], "fields": {"b": "screenId"}}, "fields: 'b' cannot exist"),
        ({"columns": ["a"], "timezone_field": "tz"}, "timezone field 'tz' cannot exist"),
        (
            {"fields": {"Display": "screenId"}, "where": [{"field": "screenId", "present": True}]},
            "conditions test the record's own fields: use 'Display'",
        ),
        ({"where": [{"field": "a"}]}, "exactly one of equals"),
        ({"where": [{"field": "a", "equals": 1, "in": [1]}]}, "(it has equals, in)"),
        ({"where": [{"field": "a", "in": 1}]}, "in must be a list"),
        ({"where": [{"field": "a", "present": False}]}, "present must be true"),
        ({"where": [{"field": "a", "matches": "x"}]}, "unknown key 'matches'"),
        ({"required": ["screen"]}, "required: 'screen' is not a canonical field"),
        ({"event_id": []}, "event_id: name at least one canonical field"),
        ({"event_id": ["eventId"]}, "eventId cannot be part of its own key"),
        ({"fields": {"id": "eventId"}, "event_id": ["screenId"]}, "eventId is already mapped from 'id'"),
        ({"fields": {"a": "screenId"}, "drop": ["a"]}, "drop: 'a' is mapped in fields"),
        ({"fields": {"e": "endedAt"}}, "needs playedAt or durationMs"),
    ],
)
def test_bad_mappings_are_refused_naming_the_key(data, problem):
    with pytest.raises(ValidationError) as exc:
        load_mapping({"version": "bad-1", **data})
    assert problem in " | ".join(mapping_problems(exc.value))


def test_the_canonical_mapping_keeps_its_fast_path_and_reads_zone_less_times_in_the_ingest_zone():
    from shared.bulk.schemas import BUILTIN

    v1 = BUILTIN["1.0"]
    assert compile_mapping(v1, "ndjson").direct and compile_mapping(v1, "ndjson", "Europe/London").direct
    assert not compile_mapping(mapping(where=[{"field": "a", "present": True}]), "ndjson").direct
    rows = b'{"screenId": "s", "playedAt": "2025-07-01T10:00:00"}\n{"screenId": "s", "playedAt": "2025-07-01T10:00:00Z"}\n'
    assert [e["playedAt"] for e in preview(v1, rows, "ndjson", {"timezone": "Europe/London"}).events] == [
        "2025-07-01T09:00:00.000Z",
        "2025-07-01T10:00:00.000Z",
    ]
    assert preview(v1, rows, "ndjson").errors[0].error == (
        "playedAt: Input should be an ISO 8601 timestamp with a timezone, e.g. 2025-01-27T10:00:00Z"
    )


# -- delimited files: other delimiters, no header ------------------------------------------------


def test_semicolon_and_tab_delimited_files_with_a_header():
    semi = mapping(delimiter=";", fields={"scr": "screenId", "ms": "durationMs"})
    result = preview(semi, b"scr;ms;note\nA;1000;x,y\nB;2000;\n", "csv")
    assert result.events == [
        {"screenId": "A", "durationMs": 1000, "context": {"note": "x,y"}},
        {"screenId": "B", "durationMs": 2000},
    ]
    tab = mapping(delimiter="\t", fields={"scr": "screenId"})
    assert preview(tab, b"scr\tn\nA\t1\n", "csv").events == [{"screenId": "A", "context": {"n": "1"}}]


def test_a_file_without_a_header_is_named_by_columns_and_its_first_line_is_row_1():
    m = mapping(
        header=False,
        delimiter=";",
        columns=["scr", "ms", "kind"],
        fields={"scr": "screenId", "ms": "durationMs"},
        where=[{"field": "kind", "equals": "ad"}],
        drop=["kind"],
    )
    result = preview(m, b"A;1000;ad\nB;;ad\nC;10;house\nD;x;ad\nE;1\n", "csv")
    assert (result.totalRows, result.processedRows, result.errorRows, result.skippedRows) == (5, 2, 2, 1)
    assert result.events == [{"screenId": "A", "durationMs": 1000}, {"screenId": "B"}]
    assert [(e.row, e.error) for e in result.errors] == [
        (4, "ms (durationMs): Input should be a valid integer"),
        (5, "Row has 2 values; the header has 3 columns"),
    ]


def test_a_header_the_mapping_cannot_read_is_a_file_error():
    from shared.bulk.preview import PreviewRefused

    with pytest.raises(PreviewRefused, match="names column 'a' twice"):
        preview(mapping(delimiter=";"), b"a;b;a\n1;2;3\n", "csv")
    # the same first line is fine for a mapping that says the file has no header
    assert (
        preview(
            mapping(header=False, columns=["x", "y", "z"], delimiter=";"), b"a;b;a\n", "csv"
        ).processedRows
        == 1
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"delimiter": ";;"}, "delimiter: ';;' is not a delimiter"),
        ({"delimiter": '"'}, "is not a delimiter"),
        ({"header": False}, "header: a file without a header row needs columns"),
    ],
)
def test_bad_delimited_settings(data, problem):
    with pytest.raises(ValidationError) as exc:
        load_mapping({"version": "bad-2", **data})
    assert problem in " | ".join(mapping_problems(exc.value))


def test_the_events_endpoint_body_accepts_play_count_strictly():
    from shared.canonical.event import events_batch

    batch = events_batch.validate_json(b'{"events": [{"screenId": "s", "playCount": 40}, {"screenId": "t"}]}')
    assert [e.playCount for e in batch.events] == [40, None]
    for bad in (b"0", b'"3"', b"1.5", b"1000001"):
        with pytest.raises(ValidationError):
            events_batch.validate_json(b'{"events": [{"playCount": ' + bad + b"}]}")


def test_preview_refuses_what_ingest_would_refuse_whole():
    from shared.bulk.preview import PreviewRefused

    with pytest.raises(PreviewRefused, match="^metadata.timezone: unknown time zone 'Mars/Base'"):
        preview(mapping(), b'{"screenId": "a"}\n', "ndjson", {"timezone": "Mars/Base"})
    with pytest.raises(PreviewRefused, match="declared csv but looks like NDJSON"):
        preview(mapping(), b'{"screenId": "a"}\n', "csv")
