"""Screen-local time ("timezone": "screen") against the emulators: screens registered through the
`screens` function, a job through the pipeline's functions and the same sample through the `schemas`
function's preview; the events' instants, and an unregistered (or another tenant's) screen's row error."""

from __future__ import annotations

from shared.auth import api_keys
from shared.bulk import schema_registry
from shared.bulk.schemas import load_mapping
from shared.platform import clients
from tests.conftest import unique
from tests.integration.conftest import _client, assert_counts

SCREENS = "/coatro/v1/pop/screens"
SCHEMAS = "/coatro/v1/pop/dynamic/schemas"
MAPPING = {
    "fields": {"Display": "screenId", "Start": "playedAt", "Ad": "creativeId"},
    "timestamp_format": "%Y-%m-%d %H:%M:%S",
    "timezone": "screen",
}
CSV = b"""Display,Start,Ad
lon,2025-07-01 10:00:00,a
syd,2025-07-01 10:00:00,a
lon,2025-10-26 01:30:00,repeated-hour
lon,2025-03-30 01:30:00,missing-hour
moved,2025-07-01 10:00:00,before-the-move
moved,2030-07-01 10:00:00,after-the-move
ghost,2025-07-01 10:00:00,a
theirs,2025-07-01 10:00:00,a
"""
INSTANTS = [
    ("lon", "a", "2025-07-01T09:00:00.000Z"),  # BST
    ("syd", "a", "2025-07-01T00:00:00.000Z"),  # AEST
    ("lon", "repeated-hour", "2025-10-26T00:30:00.000Z"),  # the first 01:30 (BST)
    ("lon", "missing-hour", "2025-03-30T01:30:00.000Z"),  # read with GMT, so 02:30 BST
    ("moved", "before-the-move", "2025-07-01T09:00:00.000Z"),  # before version 1: London
    ("moved", "after-the-move", "2030-07-01T00:00:00.000Z"),  # version 2: Sydney
]
ERRORS = [
    {
        "row": 8,
        "error": "Display (screenId): 'ghost' is not a registered screen, so its local time zone is unknown "
        "(timezone: screen)",
    },
    {
        "row": 9,
        "error": "Display (screenId): 'theirs' is not a registered screen, so its local time zone is unknown "
        "(timezone: screen)",
    },
]


def register_screens(key: str) -> None:
    screens = _client("screens")
    headers = {"X-API-Key": key}
    for screen_id, zone in [
        ("lon", "Europe/London"),
        ("syd", "Australia/Sydney"),
        ("moved", "Europe/London"),
        ("moved", "Australia/Sydney"),  # version 2, from now on
    ]:
        response = screens.put(f"{SCREENS}/{screen_id}", json={"timeZone": zone}, headers=headers)
        assert response.status_code in (200, 201), response.get_json()
    other = api_keys.create_key(unique("tenant"), label="other")  # another tenant's screen of that id
    response = screens.put(f"{SCREENS}/theirs", json={"timeZone": "UTC"}, headers={"X-API-Key": other})
    assert response.status_code == 201


def test_a_job_and_the_preview_read_local_times_in_each_screens_zone(bulk, events_sink):
    key = bulk.headers["X-API-Key"]
    register_screens(key)
    current = clients.firestore().collection("screens")
    assert current.document(f"{bulk.tenant_id}:moved").get().to_dict()["timeZones"] == [
        "Australia/Sydney",
        "Europe/London",
    ]
    assert current.document(f"{bulk.tenant_id}:lon").get().to_dict()["timeZones"] == ["Europe/London"]

    version = unique("screen-local")
    assert schema_registry.register(bulk.tenant_id, load_mapping({"version": version, **MAPPING}))
    job_id = bulk.start("csv", CSV, version)
    bulk.run_all()
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 8, 6, 2)
    assert status["errors"] == ERRORS
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 6)
    instants = sorted((m["data"]["screenId"], m["data"]["creativeId"], m["data"]["playedAt"]) for m in got)
    assert instants == sorted(INSTANTS)

    shown = _client("schemas").post(
        f"{SCHEMAS}/{version}/preview", json={"format": "csv", "sample": CSV.decode()}, headers=bulk.headers
    )
    assert shown.status_code == 200, shown.get_json()
    body = shown.get_json()
    assert [(e["screenId"], e["creativeId"], e["playedAt"]) for e in body["events"]] == INSTANTS
    assert body["errors"] == ERRORS

    # the mapping in the body of a preview, and its refusal beside another zone option
    draft = _client("schemas").post(
        f"{SCHEMAS}/preview",
        json={"format": "csv", "sample": CSV.decode(), "mapping": MAPPING, "metadata": {"timezone": "UTC"}},
        headers=bulk.headers,
    )
    assert draft.get_json()["errors"] == ERRORS  # metadata.timezone does not apply
    refused = _client("schemas").put(
        f"{SCHEMAS}/{unique('both')}", json={**MAPPING, "timezone_field": "tz"}, headers=bulk.headers
    )
    assert refused.status_code == 400
    assert "cannot be combined with timezone_field" in refused.get_json()["errors"][0]["message"]
