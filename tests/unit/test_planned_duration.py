"""plannedDurationMs (issue 18): the creative's planned length, a canonical field like durationMs."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.bulk.preview import preview
from shared.bulk.schemas import BUILTIN, compile_mapping, load_mapping
from shared.canonical import event as canonical
from shared.canonical.event import MAX_DURATION_MS, PopEvent
from shared.canonical.messages import messages
from shared.events.api import parse_batch
from shared.platform.problems import Problem


def test_it_is_a_canonical_duration_read_from_pop_event():
    assert canonical.FIELDS.index("plannedDurationMs") == canonical.FIELDS.index("durationMs") + 1
    assert "plannedDurationMs" in canonical.SCALAR_FIELDS
    assert canonical.DURATION_FIELDS == ("durationMs", "plannedDurationMs")
    assert canonical.INTEGER_FIELDS == ("durationMs", "plannedDurationMs", "playCount")


@pytest.mark.parametrize("value", [0, 15000, MAX_DURATION_MS])
def test_the_events_endpoint_accepts_it_within_a_day(value):
    [event] = parse_batch({"events": [{"durationMs": 11250, "plannedDurationMs": value}]})
    assert (event.durationMs, event.plannedDurationMs) == (11250, value)


@pytest.mark.parametrize("value", [-1, MAX_DURATION_MS + 1, 1.5, "15000", True, {"ms": 1}])
def test_the_events_endpoint_rejects_a_bad_one_naming_the_field(value):
    with pytest.raises(Problem) as info:
        parse_batch({"events": [{"screenId": "s"}, {"plannedDurationMs": value}]})
    assert info.value.status == 400
    assert [(e["index"], e["field"]) for e in info.value.errors] == [(1, "plannedDurationMs")]


def test_it_reaches_the_message():
    event = PopEvent(eventId="e-1", durationMs=11250, plannedDurationMs=15000)
    [(data, _)] = messages("t1", [event], "api", "2025-01-27T10:00:00.000Z")
    body = json.loads(data)
    assert (body["durationMs"], body["plannedDurationMs"]) == (11250, 15000)


def _events(mapping, data: bytes, fmt: str) -> list[dict]:
    result = preview(mapping, data, fmt)
    assert not result.errors, result.errors
    return result.events


def test_the_built_in_schema_takes_it_in_every_format():
    v1 = BUILTIN["1.0"]
    assert _events(v1, b"eventId,durationMs,plannedDurationMs\ne-1,11250,15000\n", "csv") == [
        {"eventId": "e-1", "durationMs": 11250, "plannedDurationMs": 15000}
    ]
    line = {"eventId": "e-1", "plannedDurationMs": 15000}
    assert _events(v1, json.dumps(line).encode(), "ndjson") == [line]
    assert _events(v1, json.dumps([line]).encode(), "json") == [line]
    refused = preview(v1, b'{"plannedDurationMs": "15000"}', "ndjson").errors
    assert [e.error for e in refused] == ["plannedDurationMs: Input should be a valid integer"]


def test_a_mapping_renames_converts_and_sets_it():
    m = load_mapping(
        {
            "version": "p-1",
            "fields": {
                "secs": {"to": "durationMs", "unit": "s"},
                "planned": {"to": "plannedDurationMs", "unit": "s"},
            },
            "required": ["plannedDurationMs"],
            "event_id": ["plannedDurationMs", "durationMs"],
        }
    )
    [event] = _events(m, b"secs,planned\n11.25,15\n", "csv")
    assert (event["durationMs"], event["plannedDurationMs"]) == (11250, 15000)
    assert _events(m, b'{"secs": 11, "planned": "15s"}', "ndjson")[0]["plannedDurationMs"] == 15000
    [(_, none, error)] = list(compile_mapping(m, "ndjson").outcomes({"secs": 1, "planned": "soon"}))
    assert none is None and error == (
        "planned (plannedDurationMs): expected a duration (seconds, or a string like '15s' or '1500ms'), "
        "got 'soon'"
    )
    renamed = load_mapping({"version": "p-2", "fields": {"len_ms": "plannedDurationMs"}})
    assert _events(renamed, b"len_ms\n15000\n", "csv") == [{"plannedDurationMs": 15000}]
    constant = load_mapping({"version": "p-3", "constants": {"plannedDurationMs": 10000}})
    assert _events(constant, b'{"screenId": "s"}', "ndjson") == [
        {"screenId": "s", "plannedDurationMs": 10000}
    ]


def test_a_mapping_cannot_make_it_a_string():
    with pytest.raises(ValidationError, match="string does not apply to 'plannedDurationMs'"):
        load_mapping({"version": "p-4", "fields": {"p": {"to": "plannedDurationMs", "string": True}}})
    with pytest.raises(ValidationError, match="unit applies to durationMs and plannedDurationMs"):
        load_mapping({"version": "p-5", "fields": {"p": {"to": "playCount", "unit": "s"}}})
