"""The screen registry through the local gateway, as a network's tooling would use it: register a
screen with the API key, change it, read it with a token holding screens:read, retire it, and read
its history."""

from __future__ import annotations

import requests

from shared.auth import oauth_clients
from tests.conftest import unique
from tests.e2e.test_oauth import get_token
from tests.integration.test_screens_sync import reader_rows

SCREENS = "/coatro/v1/pop/screens"


def test_a_screens_life_through_the_gateway(stack, tenant):
    base, key = stack.gateway_url + SCREENS, {"X-API-Key": tenant[1]}
    screen_id = unique("lobby")
    schedule = [[1.0] * 24 for _ in range(7)]
    body = {
        "name": "Lobby",
        "timeZone": "America/New_York",
        "venueType": 205,
        "country": "US",
        "market": "NYC",
    }

    created = requests.put(f"{base}/{screen_id}", json=body, headers=key, timeout=30)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{SCREENS}/{screen_id}"
    schedule[5][22] = 612
    refused = requests.put(
        f"{base}/{screen_id}",
        json={**body, "audience": {"impressionSchedule": schedule}},
        headers=key,
        timeout=30,
    )
    assert refused.status_code == 400 and refused.headers["Content-Type"] == "application/problem+json"
    assert "(Saturday 22:00) is 612" in refused.json()["errors"][0]["message"]
    changed = requests.put(
        f"{base}/{screen_id}", json={**body, "market": "Brooklyn"}, headers=key, timeout=30
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2

    client_id, secret = oauth_clients.create_client(tenant[0], ["screens:read"])
    token = get_token(stack, client_id, secret).json()["access_token"]
    reader = {"Authorization": f"Bearer {token}"}
    read = requests.get(f"{base}/{screen_id}", headers=reader, timeout=30)
    assert read.status_code == 200 and read.json()["market"] == "Brooklyn"
    assert requests.delete(f"{base}/{screen_id}", headers=reader, timeout=30).status_code == 403

    retired = requests.delete(f"{base}/{screen_id}", headers=key, timeout=30)
    assert retired.status_code == 200 and retired.json()["activeTo"] is not None
    listed = requests.get(base, params={"market": "Brooklyn", "active": "false"}, headers=reader, timeout=30)
    assert screen_id in [s["screenId"] for s in listed.json()["screens"]]
    versions = requests.get(f"{base}/{screen_id}/history", headers=reader, timeout=30).json()["versions"]
    assert [(v["version"], v["market"], v["activeTo"] is None) for v in versions] == [
        (1, "NYC", True),
        (2, "Brooklyn", True),
        (3, "Brooklyn", False),
    ]
    other = requests.get(f"{base}/{screen_id}", headers={"X-API-Key": "not-a-key"}, timeout=30)
    assert other.status_code == 401

    # Mirrored to BigQuery by the function after each commit (docs/screens.md, "The BigQuery mirror").
    mirrored = reader_rows(tenant[0], screen_id)
    assert [(r["version"], r["market"], r["activeTo"] is None) for r in mirrored] == [
        (1, "NYC", True),
        (2, "Brooklyn", True),
        (3, "Brooklyn", False),
    ]
