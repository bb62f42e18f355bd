"""Mappings, ingest metadata and file names through the functions, against the Firestore emulator: what
Firestore cannot store, or would store changed, is a 400 problem+json naming where; never a 500,
never a changed copy (issue #16)."""

from __future__ import annotations

import json

import pytest

from shared.bulk.pipeline import fan_out
from shared.platform import clients
from shared.storage import firestore
from tests.conftest import unique
from tests.integration.conftest import BULK, _client
from tests.unit.test_mapping_bodies import UNSTORABLE

SCHEMAS = "/coatro/v1/pop/dynamic/schemas"


@pytest.fixture
def schemas(stack, tenant):
    client, headers = _client("schemas"), {"X-API-Key": tenant[1]}

    class Api:
        def put(self, version: str, body: bytes):
            return client.put(
                f"{SCHEMAS}/{version}", data=body, headers=headers, content_type="application/json"
            )

        def get(self, version: str):
            return client.get(f"{SCHEMAS}/{version}", headers=headers)

    return Api()


def problem(response, field: str | None, *words: str) -> dict:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"].endswith("/validation-failed"), body
    assert [e["field"] for e in body["errors"]] == [field], body
    for word in words:
        assert word in body["errors"][0]["message"], body
    return body


def ascii_json(value) -> bytes:
    return json.dumps(value).encode()  # lone surrogates as \ud800 escapes, as a client would send them


@pytest.mark.parametrize("mapping, field, word", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_a_mapping_firestore_cannot_store_is_a_400_not_a_500(schemas, mapping, field, word):
    version = unique("m")
    problem(schemas.put(version, ascii_json(mapping)), field, word)
    assert schemas.get(version).status_code == 404  # nothing was registered


@pytest.mark.parametrize(
    "body, field, word",
    [
        (b'{"constants": {"context.big": 1e400}}', "constants.context.big", "too large"),
        (b'{"fields": {"\\ud800": "screenId"}}', "fields.'\\ud800'", "surrogate"),
        (b'{"fields": {"a": "screenId"}, "fields": {"b": "siteId"}}', "fields", "more than once"),
        (b'{"fields": {"a": "screenId", "a": "siteId"}}', "fields.a", "more than once"),
    ],
    ids=["1e400 constant", "surrogate fields key", "fields twice", "a field twice"],
)
def test_a_mapping_that_would_be_stored_changed_is_a_400(schemas, body, field, word):
    version = unique("m")
    problem(schemas.put(version, body), field, word)
    assert schemas.get(version).status_code == 404


def test_a_mapping_over_one_firestore_document_is_a_400_naming_the_key(schemas, monkeypatch):
    monkeypatch.setenv("COATRO_MAX_MAPPING_BYTES", str(2**20))
    clients.reset()  # settings are read once
    version = unique("m")
    body = '{"constants": {"context.zeros": [' + ",".join(["0"] * 200_000) + "]}}"
    problem(schemas.put(version, body.encode()), "constants", "1 MiB")
    assert schemas.get(version).status_code == 404


def test_a_mapping_that_can_be_stored_reads_back_exactly(schemas):
    version = unique("m")
    constants = {"context.n": [2**63 - 1, -(2**63), 1.5e300, 5e-324], "context.t": {"k": "é 🙂", "z": None}}
    response = schemas.put(version, ascii_json({"constants": constants, "fields": {"a.b": "screenId"}}))
    assert response.status_code == 201, response.get_json()
    assert schemas.get(version).get_json()["mapping"]["constants"] == constants


# -- ingest metadata and fileName -------------------------------------------------------------------


def raw_ingest(bulk, body: bytes):
    return bulk.ingest_fn.post(
        f"{BULK}/ingest", data=body, headers=bulk.headers, content_type="application/json"
    )


@pytest.mark.parametrize(
    "metadata, field, word",
    [
        (b'{"x": 1e400}', "metadata.x", "too large"),
        (b'{"x": [[1]]}', "metadata.x[0]", "array"),
        (b'{"a": 1, "a": 2}', "metadata.a", "more than once"),
        (b'{"timezone": {"name": "UTC"}}', "metadata.timezone", "time zone"),
        (b'{"timezone": ["UTC"]}', "metadata.timezone", "time zone"),
        (b'{"timezone": "right/UTC"}', "metadata.timezone", "time zone"),
    ],
    ids=["1e400", "array in array", "a name twice", "timezone object", "timezone array", "right/ zone"],
)
def test_ingest_metadata_that_cannot_be_kept_as_sent_is_a_400_and_no_job(bulk, metadata, field, word):
    file_id = bulk.upload(
        "ndjson", b'{"eventId": "e1", "screenId": "s", "playedAt": "2025-01-27T10:00:00Z"}\n'
    )
    body = b'{"fileId": "%s", "schemaVersion": "1.0", "metadata": %s}' % (file_id.encode(), metadata)
    problem(raw_ingest(bulk, body), field, word)
    assert firestore.get_job(fan_out.job_id_for(file_id)) is None


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\u202a", "\u202e", "\u2066", "\u2069"])
def test_a_file_name_with_a_c1_control_separator_or_bidi_control_is_a_400_naming_it(bulk, char):
    response = bulk.request_upload("csv", fileName=f"invoice{char}fdp.csv")
    problem(response, "fileName", f"U+{ord(char):04X}")


def test_an_ordinary_file_name_still_gets_an_upload_url(bulk):
    assert bulk.request_upload("csv", fileName="Café – été 🙂.csv").status_code == 200
