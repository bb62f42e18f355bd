"""The `bookings` function through functions-framework's test client, against the Firestore emulator:
create, replace, read, list, cancel, the type-2 history, scopes and tenant isolation."""

from __future__ import annotations

import base64
import json

import pytest

from shared.auth.callers import USERINFO_HEADER
from tests.conftest import unique
from tests.integration.conftest import _client

BOOKINGS = "/coatro/v1/pop/bookings"
BOOKING = {
    "campaignId": "c-1",
    "advertiser": "Acme",
    "flight": {"start": "2026-01-01", "end": "2026-01-10", "timeZone": "Europe/London"},
    "targets": {"screenIds": ["s-1", "s-2"]},
    "goal": {"metric": "qualifiedPlays", "quantity": 10_000, "dailyCap": 1500},
}


def bearer(tenant_id: str, scope: str) -> dict[str, str]:
    claims = json.dumps({"tenant": tenant_id, "scope": scope}).encode()
    return {USERINFO_HEADER: base64.urlsafe_b64encode(claims).decode().rstrip("=")}


@pytest.fixture
def api(stack, tenant):
    client = _client("bookings")
    headers = {"X-API-Key": tenant[1]}

    class Api:
        tenant_id = tenant[0]

        def put(self, booking_id, body, key_headers=headers):
            return client.put(f"{BOOKINGS}/{booking_id}", json=body, headers=key_headers)

        def get(self, path="", key_headers=headers, **query):
            return client.get(f"{BOOKINGS}{path}", query_string=query, headers=key_headers)

        def delete(self, booking_id, key_headers=headers):
            return client.delete(f"{BOOKINGS}/{booking_id}", headers=key_headers)

    return Api()


def test_put_get_replace_cancel_and_history(api):
    created = api.put("b-1", BOOKING)
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"] == f"{BOOKINGS}/b-1"
    doc = created.get_json()
    assert (doc["version"], doc["cancelledAt"], doc["underdeliveryThreshold"]) == (1, None, 0.9)
    assert api.put("b-1", BOOKING).get_json()["version"] == 1  # the same again: nothing written
    replaced = api.put("b-1", {**BOOKING, "goal": {"metric": "plays", "quantity": 5}})
    assert replaced.status_code == 200 and replaced.get_json()["version"] == 2
    cancelled = api.delete("b-1")
    assert cancelled.status_code == 200 and cancelled.get_json()["cancelledAt"] is not None
    assert api.get("/b-1").get_json()["version"] == 3
    versions = api.get("/b-1/history", pageSize="2").get_json()
    assert [v["version"] for v in versions["versions"]] == [1, 2] and versions["nextPageToken"]
    rest = api.get("/b-1/history", pageToken=versions["nextPageToken"]).get_json()
    assert [v["version"] for v in rest["versions"]] == [3] and rest["nextPageToken"] is None
    assert versions["versions"][0]["validTo"] == versions["versions"][1]["validFrom"]


def test_listing_filters_and_pages(api):
    for i in range(3):
        assert api.put(f"l-{i}", {**BOOKING, "campaignId": f"c-{i % 2}"}).status_code == 201
    api.delete("l-2")
    page = api.get(pageSize="2").get_json()
    assert [b["bookingId"] for b in page["bookings"]] == ["l-0", "l-1"]
    assert [b["bookingId"] for b in api.get(pageToken=page["nextPageToken"]).get_json()["bookings"]] == [
        "l-2"
    ]
    assert [b["bookingId"] for b in api.get(campaignId="c-0").get_json()["bookings"]] == ["l-0", "l-2"]
    assert [b["bookingId"] for b in api.get(active="true").get_json()["bookings"]] == ["l-0", "l-1"]
    bad = api.get(active="maybe", pageSize="0", colour="red")
    assert bad.status_code == 400 and {e["field"] for e in bad.get_json()["errors"]} == {"colour"}
    bad = api.get(active="maybe", pageSize="0")
    assert {e["field"] for e in bad.get_json()["errors"]} == {"active", "pageSize"}


def test_bad_bodies_name_every_field(api):
    bad = api.put("b-bad", {**BOOKING, "goal": {"metric": "views", "quantity": 0}, "targets": {}, "x": 1})
    assert bad.status_code == 400
    body = bad.get_json()
    assert body["type"].endswith("validation-failed") or body["status"] == 400
    assert {e["field"] for e in body["errors"]} == {"goal.metric", "goal.quantity", "targets", "x"}
    assert api.put("x" * 129, BOOKING).status_code == 400
    assert api.get("/b-bad").status_code == 404


def test_scopes_and_another_tenant(api, stack):
    writer, reader = bearer(api.tenant_id, "bookings:write"), bearer(api.tenant_id, "bookings:read")
    booking_id = unique("b")
    assert api.put(booking_id, BOOKING, writer).status_code == 201
    assert api.put(booking_id, BOOKING, reader).status_code == 403
    assert api.get(f"/{booking_id}", reader).status_code == 200
    assert api.get(f"/{booking_id}", writer).status_code == 403
    assert api.get(f"/{booking_id}", {}).status_code == 401
    other = bearer(unique("tenant"), "bookings:read bookings:write")
    assert api.get(f"/{booking_id}", other).status_code == 404
    assert api.delete(booking_id, other).status_code == 404
    assert api.get("", other).get_json() == {"bookings": [], "nextPageToken": None}
