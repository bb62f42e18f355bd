"""Pure logic of the events path: batch parsing, error listing, ids, bounded body reading."""

from __future__ import annotations

import gzip
import io
import json

import pytest
import yaml
from flask import Request
from werkzeug.test import EnvironBuilder

from local.bigquery import ROOT, schema_fields
from shared.canonical import event as canonical
from shared.canonical.event import PopEvent, PopEventMessage, pop_event
from shared.canonical.messages import derived_event_id, messages
from shared.events.api import parse_batch
from shared.platform.http import read_json
from shared.platform.problems import Problem


def test_valid_batch_is_normalized():
    [event] = parse_batch({"events": [{"playedAt": "2025-01-27T12:00:00+02:00", "durationMs": 0}]})
    assert event.playedAt == "2025-01-27T10:00:00.000Z"
    assert event.durationMs == 0


@pytest.mark.parametrize(
    "played_at", ["2025-01-27", "2025-01-27T10:00:00", "yesterday", "1706349600", "2025-13-01T00:00:00Z"]
)
def test_played_at_needs_iso_8601_with_timezone(played_at):
    with pytest.raises(Problem) as info:
        parse_batch({"events": [{"playedAt": played_at}]})
    [error] = info.value.errors
    assert error["index"] == 0 and error["field"] == "playedAt"
    assert "timezone" in error["message"]


def test_errors_list_every_event_with_index_and_dotted_field():
    with pytest.raises(Problem) as info:
        parse_batch({"events": [{}, {"durationMs": -5}, {}, {"impressions": {"ageBuckets": {"total": "x"}}}]})
    assert [(e["index"], e["field"]) for e in info.value.errors] == [
        (1, "durationMs"),
        (3, "impressions.ageBuckets.total"),
    ]
    assert info.value.status == 400


def test_unknown_fields_are_rejected_not_dropped():
    with pytest.raises(Problem) as info:
        parse_batch({"events": [{"screenID": "s-1"}], "extra": 1})
    assert {e["field"] for e in info.value.errors} == {"extra", "screenID"}


def test_context_and_device_take_any_object():
    [event] = parse_batch({"events": [{"context": {"weather": {"temp": 3}}, "device": {"os": "android"}}]})
    assert event.context == {"weather": {"temp": 3}}


def test_derived_event_id_is_deterministic_per_tenant_and_content():
    a = pop_event.validate_python({"screenId": "s", "playedAt": "2025-01-27T10:00:00Z"})
    same_instant = pop_event.validate_python({"screenId": "s", "playedAt": "2025-01-27T11:00:00+01:00"})
    other = pop_event.validate_python({"screenId": "t", "playedAt": "2025-01-27T10:00:00Z"})
    assert derived_event_id("t1", a) == derived_event_id("t1", same_instant)
    assert derived_event_id("t1", a) != derived_event_id("t2", a)
    assert derived_event_id("t1", a) != derived_event_id("t1", other)


def test_message_keeps_a_sent_event_id_and_adds_provenance():
    [(data, attributes)] = messages("t1", [PopEvent(eventId="evt-1")], "api", "2025-01-27T10:00:00.000Z")
    message = PopEventMessage.model_validate_json(data)
    assert message.eventId == "evt-1" and message.tenantId == "t1" and message.source == "api"
    assert "jobId" not in json.loads(data)
    assert attributes == {"tenantId": "t1", "eventId": "evt-1", "source": "api"}


def _reference_message(tenant_id, event, source, ingested_at, job_id=None, row=None) -> bytes:
    """The message as the model would write it: the spliced JSON must be byte for byte the same."""
    return (
        PopEventMessage.model_construct(
            **{name: getattr(event, name) for name in PopEvent.model_fields if name != "eventId"},
            eventId=event.eventId or derived_event_id(tenant_id, event),
            tenantId=tenant_id,
            source=source,
            ingestedAt=ingested_at,
            jobId=job_id,
            row=row,
        )
        .model_dump_json(exclude_none=True)
        .encode()
    )


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"eventId": "e-1"},
        {"screenId": "écran-1", "playedAt": "2025-01-27T11:00:00+01:00", "durationMs": 15000},
        {
            "impressions": {"ageBuckets": {"total": 1.5, "male": 0.0}},
            "context": {"k": [1, {"n": None}], "q": '"\\\n'},
        },
        {"eventId": "e-2", "device": {"model": "x"}, "campaignId": "c", "creativeId": "cr", "siteId": "s"},
    ],
)
@pytest.mark.parametrize("source, job_id, row", [("api", None, None), ("bulk", "job-dynamic-pop-1", 7)])
def test_message_data_is_exactly_what_the_model_writes(fields, source, job_id, row):
    event = pop_event.validate_python(fields)
    [(data, attributes)] = messages(
        "tenant-é", [event], source, "2025-01-27T10:00:00.000Z", job_id, None if row is None else [row]
    )
    assert data == _reference_message("tenant-é", event, source, "2025-01-27T10:00:00.000Z", job_id, row)
    assert attributes["eventId"] == json.loads(data)["eventId"]


def _request(data: bytes, **headers) -> Request:
    headers.setdefault("Content-Type", "application/json")
    return Request(EnvironBuilder(method="POST", data=data, headers=headers).get_environ())


def test_read_json_stops_inflating_a_gzip_bomb_at_the_limit():
    bomb = gzip.compress(b" " * (50 * 1024 * 1024))
    with pytest.raises(Problem) as info:
        read_json(_request(bomb, **{"Content-Encoding": "gzip"}), max_bytes=1024 * 1024)
    assert info.value.status == 413


def test_read_json_limit_applies_to_body_without_content_length():
    # A chunked upload: no Content-Length, the server marks the input as terminated.
    request = _request(b"")
    request.environ["wsgi.input_terminated"] = True
    request.environ["wsgi.input"] = io.BytesIO(b"[" + b"1," * 1000 + b"1]")
    request.environ.pop("CONTENT_LENGTH", None)
    with pytest.raises(Problem) as info:
        read_json(request, max_bytes=100)
    assert info.value.status == 413


def test_read_json_accepts_json_with_charset_and_rejects_constants():
    assert read_json(_request(b'{"a": 1}', **{"Content-Type": "application/json; charset=utf-8"})) == {"a": 1}
    with pytest.raises(Problem) as info:
        read_json(_request(json.dumps({"a": float("nan")}).encode()))
    assert info.value.status == 400


def _outcome(parse, raw: bytes):
    try:
        return [e.model_dump() for e in parse(raw)]
    except Problem as problem:
        return problem.status, problem.body()


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(
            {"events": [{"eventId": "e", "playedAt": "2025-01-27T11:00:00+01:00", "durationMs": 1}]}
        ).encode(),
        b'{"events": [{"context": {"a": 1e400}}]}',
        b'{"events": [{"context": {"s": "NaN is a word"}}]}',
        b'{"events": [{"context": {"a": NaN}}]}',
        b'{"events": [{"screenId": "a", "screenId": "b"}]}',
        b'{"events": [{"context": {"k": "\\ud800"}}]}',
        b'{"events": [{"durationMs": 1.0}]}',
        b'{"events": [{"durationMs": "1"}]}',
        b'{"events": [{"impressions": {"ageBuckets": {"total": 3}}}]}',
        b'{"events": [], "extra": 1}',
        b'{"events": [{}], "extra": 1}',
        b'[{"eventId": "e"}]',
        b'\xef\xbb\xbf{"events": [{}]}',
        b'{"events": [{"eventId": "\xff"}]}',
        b'{"events": [{"device": {"a": [[[]]]}}]} trailing',
    ],
)
def test_the_fast_path_accepts_and_rejects_exactly_what_the_full_path_does(raw):
    from shared.events.api import parse_body
    from shared.platform.http import decode_json

    assert _outcome(parse_body, raw) == _outcome(lambda r: parse_batch(decode_json(r)), raw)


@pytest.mark.parametrize(
    "value",
    [
        "2025-01-27T10:00:00Z",
        "2025-01-27T10:00:00.123Z",
        "2025-01-27T10:00:00.12Z",
        "2025-01-27T10:00:00.1234Z",
        "2025-02-30T10:00:00Z",
        "2025-01-27T24:00:00Z",
        "2025-01-27T10:00:60Z",
        "2025-01-27T10:00:00.12aZ",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2025-01-27t10:00:00.123Z",
        "2025-01-27T10:00:00,123Z",
        "2025-01-27 10:00:00.123Z",
        "\u0662025-01-27T10:00:00.123Z",
        "2025-01-27T10:00:00+01:00",
    ],
)
def test_timestamps_already_in_utc_are_written_as_the_general_path_writes_them(value):
    from datetime import datetime

    from shared.canonical.event import _utc_timestamp
    from shared.platform.encoding import iso_utc

    try:
        parsed = datetime.fromisoformat(value)
        expected = iso_utc(parsed) if parsed.tzinfo else "rejected"
    except ValueError:
        expected = "rejected"
    try:
        got = _utc_timestamp(value)
    except Exception:
        got = "rejected"
    assert got == expected


def _paths(properties: dict, prefix: str = "") -> list[str]:
    """Dotted paths of a JSON schema's `properties` or a BigQuery schema's `fields`, nested ones included."""
    out = []
    for name, spec in properties.items():
        out.append(prefix + name)
        nested = spec.get("properties") or {f["name"]: f for f in spec.get("fields", [])}
        if spec.get("type") != "JSON":
            out += _paths(nested, f"{prefix}{name}.")
    return out


def test_the_contract_and_the_events_table_name_the_canonical_fields():
    """The canonical field names are one list, read from PopEvent (shared.canonical.event); the OpenAPI
    document and the table's schema file are written by hand, so they are checked against it."""
    canonical_paths = [*canonical.SCALAR_FIELDS, *canonical.CONTAINER_FIELDS, *canonical.IMPRESSION_FIELDS]
    spec = yaml.safe_load((ROOT / "infra" / "openapi.yaml").read_text())
    assert sorted(_paths(spec["definitions"]["PopEvent"]["properties"])) == sorted(canonical_paths)
    columns = {f["name"]: f for f in schema_fields()}
    write_metadata = {"subscription_name", "message_id", "publish_time", "attributes"}
    assert set(columns) - write_metadata == set(PopEventMessage.model_fields)
    assert sorted(p for p in _paths(columns) if p.split(".")[0] in canonical.FIELDS) == sorted(
        canonical_paths
    )
