"""The `schemas` function through functions-framework's test client, against the Firestore emulator:
register, list, read and preview schema mappings with the tenant's own key."""

from __future__ import annotations

import json

import pytest

from shared.auth import api_keys
from tests.conftest import ROOT, unique
from tests.integration.conftest import _client
from tools import admin

SCHEMAS = "/coatro/v1/pop/dynamic/schemas"
SNAKE = json.loads((ROOT / "shared/bulk/schema_examples/snake-epoch-ms-1.json").read_text())
SNAKE_CSV = (ROOT / "tests/data/snake_case_export.csv").read_text()


@pytest.fixture
def schemas(stack, tenant):
    client = _client("schemas")
    headers = {"X-API-Key": tenant[1]}

    class Api:
        tenant_id = tenant[0]

        def put(self, version, mapping, key_headers=headers):
            return client.put(f"{SCHEMAS}/{version}", json=mapping, headers=key_headers)

        def get(self, path="", key_headers=headers):
            return client.get(f"{SCHEMAS}{path}", headers=key_headers)

        def post(self, path, body, key_headers=headers):
            return client.post(f"{SCHEMAS}{path}", json=body, headers=key_headers)

        raw = client

    return Api()


def versions(response) -> list[tuple[str, bool]]:
    assert response.status_code == 200, response.get_json()
    return [(s["version"], s["builtIn"]) for s in response.get_json()["schemas"]]


def test_register_is_201_then_200_for_the_same_mapping_and_409_for_another(schemas):
    version = unique("snake")
    first = schemas.put(version, {**SNAKE, "version": version})
    assert first.status_code == 201, first.get_json()
    assert first.headers["Location"] == f"{SCHEMAS}/{version}"
    document = first.get_json()
    assert (document["version"], document["builtIn"]) == (version, False)
    assert document["mapping"]["fields"] == SNAKE["fields"]

    mapping_without_version = {k: v for k, v in SNAKE.items() if k != "version"}  # the path names it
    again = schemas.put(version, mapping_without_version)
    assert again.status_code == 200 and again.get_json() == document

    changed = {**mapping_without_version, "constants": {"context.exportedBy": "someone else"}}
    conflict = schemas.put(version, changed)
    assert conflict.status_code == 409
    assert conflict.get_json()["type"].endswith("/schema-version-exists")
    assert "immutable" in conflict.get_json()["detail"]
    assert schemas.get(f"/{version}").get_json() == document  # unchanged


def test_list_and_read_show_built_in_and_own_versions_only(schemas):
    mine = unique("mine")
    assert schemas.put(mine, {"fields": {"scr": "screenId"}}).status_code == 201
    other_key = api_keys.create_key(unique("other-tenant"))
    theirs = unique("theirs")
    assert schemas.put(theirs, {"fields": {"s": "screenId"}}, {"X-API-Key": other_key}).status_code == 201

    assert versions(schemas.get()) == [("1.0", True), (mine, False)]
    builtin = schemas.get("/1.0")
    assert builtin.status_code == 200 and builtin.get_json()["builtIn"] is True
    assert builtin.get_json()["mapping"]["unmapped"] == "reject"
    # another tenant's version is answered exactly like one that does not exist
    hidden, missing = schemas.get(f"/{theirs}"), schemas.get("/no-such-version")
    assert hidden.status_code == missing.status_code == 404
    assert schemas.post(f"/{theirs}/preview", {"format": "csv", "sample": "a\n1\n"}).status_code == 404


def test_built_in_versions_are_not_writable(schemas):
    response = schemas.put("1.0", {"fields": {"scr": "screenId"}})
    assert response.status_code == 409
    assert "built-in" in response.get_json()["detail"]


@pytest.mark.parametrize(
    "version, mapping, field, words",
    [
        ("v1", {"fields": {"screen": "screenID"}}, "fields", "'screenID'"),
        ("v1", {"fields": {"screen": "screenId"}, "colour": "blue"}, "colour", "unknown key"),
        ("v1", {"timestamp_format": "epoch_days"}, "timestamp_format", "epoch_millis"),
        ("v1", {"version": "v2"}, "version", "not the path's"),
        ("v 1", {}, "version", "letters, digits"),
        ("v1", ["not", "an", "object"], None, "JSON object"),
    ],
)
def test_an_invalid_mapping_is_a_400_naming_the_key(schemas, version, mapping, field, words):
    response = schemas.put(version, mapping)
    assert response.status_code == 400, response.get_json()
    problem = response.get_json()
    assert problem["type"].endswith("/validation-failed")
    assert [e["field"] for e in problem["errors"]] == [field], problem
    assert words in problem["errors"][0]["message"] and words in problem["detail"], problem


def test_the_admin_command_and_the_api_share_one_registry(schemas, tmp_path):
    version = unique("admin")
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({**SNAKE, "version": version}))
    assert admin.main(["register-schema", schemas.tenant_id, str(path)]) == 0
    assert (version, False) in versions(schemas.get())
    assert schemas.put(version, {**SNAKE, "version": version}).status_code == 200  # the same mapping


def test_the_admin_command_refuses_what_the_api_refuses_as_unstorable(schemas, tmp_path, capsys):
    version = unique("admin")
    path = tmp_path / "mapping.json"
    for constants, words in (
        ({"context.grid": [[1]]}, "is an array directly inside an array"),
        ({"context.big": 2**64}, "is an integer beyond 64 bits"),
    ):
        path.write_text(json.dumps({**SNAKE, "version": version, "constants": constants}))
        assert admin.main(["register-schema", schemas.tenant_id, str(path)]) == 1
        assert words in capsys.readouterr().err
    assert (version, False) not in versions(schemas.get())


def test_preview_of_a_registered_version_shows_events_and_row_errors_and_ingests_nothing(
    schemas, events_sink
):
    version = unique("snake")
    assert schemas.put(version, {**SNAKE, "version": version}).status_code == 201
    sample = SNAKE_CSV + "p-0004,scr-x,site-x,cmp-x,cr-x,not-a-time,30000,,,,mall,4.2.1\n"
    response = schemas.post(f"/{version}/preview", {"format": "csv", "sample": sample})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert (result["totalRows"], result["processedRows"], result["errorRows"], result["skippedRows"]) == (
        4,
        3,
        1,
        0,
    )
    assert result["events"][0] == {
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
    assert result["events"][2]["context"]["venueType"] == "roadside\nbillboard"  # a quoted newline
    assert result["errors"] == [
        {"row": 6, "error": "played_at_ms (playedAt): expected epoch milliseconds, got 'not-a-time'"}
    ]
    assert events_sink.pull(schemas.tenant_id, timeout=3) == []


def test_preview_of_an_unregistered_mapping(schemas):
    sample = '{"scr": "s1", "at": "2025-01-27T10:00:00Z", "dur": "15"}\n\n{"scr": "s2", "at": "yesterday"}\n'
    body = {
        "format": "ndjson",
        "sample": sample,
        "mapping": {"fields": {"scr": "screenId", "at": "playedAt"}},
    }
    response = schemas.post("/preview", body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["events"] == [
        {"screenId": "s1", "playedAt": "2025-01-27T10:00:00.000Z", "context": {"dur": "15"}}
    ]
    assert result["errors"] == [
        {
            "row": 3,
            "error": "at (playedAt): Input should be an ISO 8601 timestamp with a timezone, e.g. 2025-01-27T10:00:00Z",
        }
    ]
    assert (result["totalRows"], result["processedRows"], result["errorRows"]) == (2, 1, 1)
    assert versions(schemas.get()) == [("1.0", True)]  # nothing was registered


@pytest.mark.parametrize(
    "path, body, status, field",
    [
        (
            "/preview",
            {"format": "csv", "sample": "a\n1\n", "mapping": {"fields": {"a": "nope"}}},
            400,
            "mapping.fields",
        ),
        ("/preview", {"format": "csv", "sample": "a\n1\n"}, 400, "mapping"),
        ("/1.0/preview", {"format": "csv", "sample": "a\n1\n", "mapping": {}}, 400, "mapping"),
        ("/1.0/preview", {"format": "xml", "sample": "<a/>"}, 400, "format"),
        ("/1.0/preview", {"format": "csv"}, 400, "sample"),
        ("/1.0/preview", {"format": "csv", "sample": '{"screenId": "s1"}\n'}, 400, "sample"),
        ("/1.0/preview", {"format": "ndjson", "sample": "x" * (1024 * 1024 + 1)}, 413, "sample"),
    ],
)
def test_preview_errors_name_the_field(schemas, path, body, status, field):
    response = schemas.post(path, body)
    assert response.status_code == status, response.get_json()
    assert [e["field"] for e in response.get_json()["errors"]] == [field], response.get_json()


def test_a_key_is_needed_and_only_the_documented_methods_are_allowed(schemas):
    assert schemas.get(key_headers={}).status_code == 401
    assert schemas.put("v1", {}, key_headers={"X-API-Key": "not-a-key"}).status_code == 401
    assert schemas.post("/preview", {}, key_headers={}).status_code == 401
    headers = {"X-API-Key": api_keys.create_key(unique("t"))}
    assert schemas.raw.delete(f"{SCHEMAS}/v1", headers=headers).status_code == 405
    assert schemas.raw.post(SCHEMAS, json={}, headers=headers).status_code == 405
    assert schemas.raw.get(f"{SCHEMAS}/1.0/preview", headers=headers).status_code == 405
    reserved = schemas.raw.put(f"{SCHEMAS}/preview", json={}, headers=headers)  # "preview" names no version
    assert reserved.status_code == 405 and reserved.headers["Allow"] == "POST"
    not_json = schemas.raw.put(
        f"{SCHEMAS}/v1", data="fields: {}", headers={**headers, "Content-Type": "text/yaml"}
    )
    assert not_json.status_code == 415
