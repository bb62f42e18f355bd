"""A tenant's mapping and an ingest's metadata are stored as sent, or refused with a 400 naming where
(issue #16): nothing Firestore cannot store, nothing silently changed on the way in.

The endpoints' handlers run in a Flask request context with the caller and Firestore replaced by
fakes: whatever reaches the fake store would have been written.
"""

from __future__ import annotations

import json

import flask
import pytest

from shared.auth import callers
from shared.bulk import api, schema_api
from shared.bulk.models import UploadUrlRequest
from shared.platform import clients
from shared.platform.problems import Problem
from shared.storage import firestore

SCHEMAS = schema_api.BASE
INGEST = "/coatro/v1/pop/dynamic/bulk/ingest"
APP = flask.Flask(__name__)


@pytest.fixture
def stored(monkeypatch) -> list:
    """What each handler would have written to Firestore (nothing, for a refused request)."""
    writes: list = []
    monkeypatch.setattr(callers, "tenant_for", lambda request, scope: "tenant-a")
    monkeypatch.setattr(
        firestore, "create_schema", lambda tenant, version, mapping: writes.append(mapping) or True
    )
    monkeypatch.setattr(firestore, "get_schema", lambda tenant, version: None)
    monkeypatch.setattr(
        firestore, "get_file", lambda file_id, transaction=None: None
    )  # every file is unknown
    monkeypatch.setattr(firestore, "create_file", writes.append)
    return writes


def call(handler, path: str, method: str, body: str | bytes):
    """The handler's response, or the Problem it raised."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    with APP.test_request_context(path, method=method, data=data, content_type="application/json"):
        try:
            return handler(flask.request)
        except Problem as problem:
            return problem


def put_mapping(body: str | bytes, version: str = "t-1"):
    return call(schema_api.handle, f"{SCHEMAS}/{version}", "PUT", body)


def refused(result, field: str | None, *words: str) -> dict:
    """The one error of a 400 naming `field`; its message holds each of `words`."""
    assert isinstance(result, Problem), f"not refused: {getattr(result, 'status_code', result)}"
    assert result.status == 400, result.body()
    errors = [e for e in result.errors or [] if e["field"] == field]
    assert errors, result.body()
    for word in words:
        assert word in errors[0]["message"], errors[0]
    return errors[0]


def body_of(mapping: dict) -> bytes:
    return json.dumps(mapping, ensure_ascii=True).encode()


def nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


# Each of these is a mapping that model validation accepts but Firestore cannot store (a 500 before).
UNSTORABLE = {
    "array in an array": (
        {"constants": {"context.grid": [[1, 2], [3]]}},
        "constants.context.grid[0]",
        "array",
    ),
    "__name__ key": (
        {"constants": {"context.x": {"__name__": 1}}},
        "constants.context.x.__name__",
        "reserved",
    ),
    "__x__ key": ({"constants": {"context.x": {"__x__": 1}}}, "constants.context.x.__x__", "reserved"),
    "empty key": ({"constants": {"context.x": {"": 1}}}, "constants.context.x", "empty"),
    "2^64": ({"constants": {"context.n": 2**64}}, "constants.context.n", "64 bits"),
    "-2^63-1": ({"constants": {"context.n": -(2**63) - 1}}, "constants.context.n", "64 bits"),
    "depth 30": ({"constants": {"context.deep": nested(30)}}, "constants.context.deep" + ".a" * 14, "nests"),
    "surrogate in constants": ({"constants": {"context.s": "a\ud800b"}}, "constants.context.s", "surrogate"),
    "surrogate in a constant's key": (
        {"constants": {"context.s": {"\udc00": 1}}},
        "constants.context.s.'\\udc00'",
        "surrogate",
    ),
    "surrogate in null_values": ({"null_values": ["N/A", "\udfff"]}, "null_values[1]", "surrogate"),
    "surrogate in columns": (
        {"header": False, "columns": ["a", "\ud83d"], "fields": {"a": "screenId"}},
        "columns[1]",
        "surrogate",
    ),
    "reserved zone key": (
        {"timezone_lookup": {"field": "p", "zones": {"__x__": "UTC"}}},
        "timezone_lookup.zones.__x__",
        "reserved",
    ),
    "empty zone key": (
        {"timezone_lookup": {"field": "p", "zones": {"": "UTC"}}},
        "timezone_lookup.zones",
        "empty",
    ),
    "reserved fields key": ({"fields": {"__name__": "screenId"}}, "fields.__name__", "reserved"),
    "reserved fields key, spec": ({"fields": {"__id__": {"to": "screenId"}}}, "fields.__id__", "reserved"),
    "surrogate in a where value": (
        {"where": [{"field": "t", "equals": "\ud800"}]},
        "where[0].equals",
        "surrogate",
    ),
}


@pytest.mark.parametrize("mapping, field, word", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_a_mapping_firestore_cannot_store_is_a_400_naming_where(stored, mapping, field, word):
    refused(put_mapping(body_of(mapping)), field, word)
    assert stored == []


@pytest.mark.parametrize("mapping, field, word", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_a_preview_refuses_what_registration_refuses(stored, mapping, field, word):
    body = {"format": "ndjson", "sample": '{"s": 1}\n', "mapping": mapping}
    refused(call(schema_api.handle, f"{SCHEMAS}/preview", "POST", body_of(body)), f"mapping.{field}", word)


def test_a_constant_beyond_a_double_is_a_400_not_null(stored):
    refused(put_mapping(b'{"constants": {"context.big": 1e400}}'), "constants.context.big", "too large")
    refused(put_mapping(b'{"constants": {"context.big": [-1e400]}}'), "constants.context.big[0]", "too large")
    refused(put_mapping(b'{"constants": {"context.tiny": 1e-400}}'), "constants.context.tiny", "too small")
    assert stored == []


def test_numbers_a_double_holds_are_stored_as_they_are(stored):
    result = put_mapping(
        b'{"constants": {"context.a": 1.5e300, "context.b": -0.0, "context.c": 0e5, '
        b'"context.d": 5e-324, "context.e": 9223372036854775807}}'
    )
    assert result.status_code == 201, result.get_json()
    assert stored[0]["constants"] == {
        "context.a": 1.5e300,
        "context.b": -0.0,
        "context.c": 0.0,
        "context.d": 5e-324,
        "context.e": 2**63 - 1,
    }


def test_a_lone_surrogate_fields_key_is_a_400_not_three_replacement_characters(stored):
    refused(put_mapping(b'{"fields": {"\\ud800": "screenId"}}'), "fields.'\\ud800'", "surrogate")
    assert stored == []


def test_a_name_given_twice_in_the_mapping_is_a_400_naming_it(stored):
    both = b'{"fields": {"a": "screenId"}, "fields": {"b": "screenId"}}'
    refused(put_mapping(both), "fields", "more than once")
    refused(put_mapping(b'{"fields": {"a": "screenId", "a": "siteId"}}'), "fields.a", "more than once")
    refused(
        put_mapping(b'{"where": [{"field": "t", "equals": 1, "equals": 2}]}'),
        "where[0].equals",
        "more than once",
    )
    refused(
        put_mapping(b'{"constants": {"context.x": [{"k": 1, "k": 1}]}}'),
        "constants.context.x[0].k",
        "more than once",
    )
    preview = b'{"format": "ndjson", "sample": "", "mapping": {"fields": {}, "fields": {}}}'
    refused(
        call(schema_api.handle, f"{SCHEMAS}/preview", "POST", preview), "mapping.fields", "more than once"
    )
    assert stored == []


def test_a_mapping_whose_stored_document_would_pass_1_mib_is_a_400_naming_the_key(stored, monkeypatch):
    # Under the body limit as JSON, but each number takes 8 bytes in Firestore: over a 1 MiB document.
    monkeypatch.setenv("COATRO_MAX_MAPPING_BYTES", str(2**20))
    clients.reset()  # settings are read once
    zeros = ",".join(["0"] * 200_000)
    refused(put_mapping(f'{{"constants": {{"context.zeros": [{zeros}]}}}}'), "constants", "1 MiB")
    assert stored == []


def test_a_valid_mapping_is_still_registered(stored):
    result = put_mapping(
        body_of(
            {
                "fields": {"scr": "screenId", "d": {"to": "durationMs", "unit": "s"}},
                "constants": {"context.src": {"k": [1, {"x": None}], "ok": "é"}},
            }
        )
    )
    assert result.status_code == 201, result.get_json()
    assert stored[0]["constants"] == {"context.src": {"k": [1, {"x": None}], "ok": "é"}}


# -- ingest metadata ---------------------------------------------------------------------------------


def ingest(body: str | bytes):
    return call(api.start_ingest, INGEST, "POST", body)


def test_ingest_metadata_beyond_a_double_is_a_400_not_infinity(stored):
    refused(
        ingest(b'{"fileId": "f", "schemaVersion": "1.0", "metadata": {"x": 1e400}}'),
        "metadata.x",
        "too large",
    )
    refused(
        ingest(b'{"fileId": "f", "schemaVersion": "1.0", "metadata": {"x": {"y": -1e999}}}'),
        "metadata.x.y",
        "too large",
    )


def test_a_name_given_twice_in_an_ingest_is_a_400_naming_it(stored):
    refused(ingest(b'{"fileId": "f", "fileId": "g", "schemaVersion": "1.0"}'), "fileId", "more than once")
    refused(
        ingest(b'{"fileId": "f", "schemaVersion": "1.0", "metadata": {"a": 1, "a": 2}}'),
        "metadata.a",
        "more than once",
    )


@pytest.mark.parametrize(
    "zone", [{"name": "UTC"}, ["UTC"], 1, True, "posix/UTC", "right/UTC", "localtime", "posixrules"]
)
def test_an_ingest_timezone_that_is_no_iana_name_is_a_400_naming_it(stored, zone):
    body = json.dumps({"fileId": "f", "schemaVersion": "1.0", "metadata": {"timezone": zone}})
    refused(ingest(body), "metadata.timezone", "time zone")


@pytest.mark.parametrize("zone", [{"name": "UTC"}, ["UTC"], "right/UTC"])
def test_a_preview_refuses_the_ingest_timezones_ingest_refuses(stored, zone):
    body = json.dumps({"format": "ndjson", "sample": "", "mapping": {}, "metadata": {"timezone": zone}})
    refused(call(schema_api.handle, f"{SCHEMAS}/preview", "POST", body), "metadata.timezone", "time zone")


def test_a_preview_refuses_metadata_an_ingest_refuses(stored):
    body = b'{"format": "ndjson", "sample": "", "mapping": {}, "metadata": {"x": [[1]]}}'
    refused(call(schema_api.handle, f"{SCHEMAS}/preview", "POST", body), "metadata.x[0]", "array")


def test_ingest_with_storable_metadata_gets_past_the_checks(stored):
    result = ingest(
        b'{"fileId": "f", "schemaVersion": "1.0", "metadata": {"timezone": "Europe/London", "n": 1e300}}'
    )
    assert isinstance(result, Problem) and result.slug == "unknown-file", result


# -- upload-url fileName ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "char",
    [
        "\x00",
        "\n",
        "\x7f",
        "\x85",
        "\x9f",
        "\u2028",
        "\u2029",
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
    ],
)
def test_a_file_name_with_a_control_line_separator_or_bidi_override_is_refused_by_code_point(char):
    with pytest.raises(ValueError) as caught:
        UploadUrlRequest.model_validate({"fileName": f"report{char}fdp.csv", "format": "csv"})
    assert f"U+{ord(char):04X}" in str(caught.value)


def test_a_file_name_with_a_bidi_override_is_a_400_naming_file_name(stored):
    body = json.dumps({"fileName": "invoice\u202efdp.exe", "format": "csv"})
    refused(
        call(api.create_upload_url, "/coatro/v1/pop/dynamic/bulk/upload-url", "POST", body),
        "fileName",
        "U+202E",
    )
    assert stored == []


@pytest.mark.parametrize(
    "name", ["a", "x" * 255, "Café – été.csv", "日本語.csv", "emoji 🙂.ndjson", "a\u200db.csv"]
)
def test_ordinary_file_names_are_accepted(name):
    assert UploadUrlRequest.model_validate({"fileName": name, "format": "csv"}).fileName == name
