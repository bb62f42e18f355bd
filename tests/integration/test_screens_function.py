"""The `screens` function through functions-framework's test client, against the Firestore emulator:
create, replace, read, list, retire, and the type-2 history of a tenant's screens."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.auth import api_keys
from shared.auth.callers import USERINFO_HEADER
from tests.conftest import unique
from tests.integration.conftest import _client

SCREENS = "/coatro/v1/pop/screens"
SCREEN = {
    "name": "Lobby",
    "timeZone": "Europe/London",
    "venueType": 10101,
    "country": "GB",
    "market": "London",
}


@pytest.fixture
def api(stack, tenant):
    client = _client("screens")
    headers = {"X-API-Key": tenant[1]}

    class Api:
        tenant_id = tenant[0]
        raw = client

        def put(self, screen_id, body, key_headers=headers):
            return client.put(f"{SCREENS}/{screen_id}", json=body, headers=key_headers)

        def get(self, path="", key_headers=headers, **query):
            return client.get(f"{SCREENS}{path}", query_string=query, headers=key_headers)

        def delete(self, screen_id, key_headers=headers):
            return client.delete(f"{SCREENS}/{screen_id}", headers=key_headers)

    return Api()


def bearer(tenant_id: str, scope: str) -> dict[str, str]:
    """The claims the gateway forwards for a verified token (shared/auth/callers.py)."""
    claims = json.dumps({"tenant": tenant_id, "scope": scope}).encode()
    return {USERINFO_HEADER: base64.urlsafe_b64encode(claims).decode().rstrip("=")}


def test_put_creates_then_replaces_and_an_identical_put_writes_nothing(api):
    screen_id = unique("scr")
    created = api.put(screen_id, SCREEN)
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"] == f"{SCREENS}/{screen_id}"
    doc = created.get_json()
    assert (doc["screenId"], doc["version"], doc["validTo"], doc["activeTo"]) == (screen_id, 1, None, None)
    assert doc["validFrom"] == doc["updatedAt"] and doc["screens"] == 1
    assert doc["qualification"] == {"minDurationMs": 1000, "minShareOfPlanned": None}

    again = api.put(screen_id, {**SCREEN, "screenId": screen_id})
    assert again.status_code == 200 and again.get_json() == doc  # nothing written

    replaced = api.put(screen_id, {**SCREEN, "market": "Leeds"})
    assert replaced.status_code == 200
    assert (replaced.get_json()["version"], replaced.get_json()["market"]) == (2, "Leeds")
    assert api.get(f"/{screen_id}").get_json() == replaced.get_json()

    versions = api.get(f"/{screen_id}/history").get_json()["versions"]
    assert [(v["version"], v["market"]) for v in versions] == [(1, "London"), (2, "Leeds")]
    assert versions[0]["validTo"] == versions[1]["validFrom"] and versions[1]["validTo"] is None


def test_delete_retires_keeps_history_and_lists_as_inactive(api):
    screen_id = unique("scr")
    assert api.put(screen_id, SCREEN).status_code == 201
    retired = api.delete(screen_id)
    assert retired.status_code == 200, retired.get_json()
    doc = retired.get_json()
    assert doc["version"] == 2 and doc["activeTo"] == doc["validFrom"] and doc["name"] == "Lobby"
    assert api.get(f"/{screen_id}").get_json() == doc  # still reads
    assert api.delete(screen_id).get_json() == doc  # retiring again changes nothing
    versions = api.get(f"/{screen_id}/history").get_json()["versions"]
    assert [(v["version"], v["activeTo"] is None) for v in versions] == [(1, True), (2, False)]

    inactive = api.get(active="false").get_json()["screens"]
    assert screen_id in [s["screenId"] for s in inactive]
    assert screen_id not in [s["screenId"] for s in api.get(active="true").get_json()["screens"]]

    back = api.put(screen_id, SCREEN)  # a PUT makes it active again
    assert back.status_code == 200 and (back.get_json()["version"], back.get_json()["activeTo"]) == (3, None)
    assert api.delete(unique("never")).status_code == 404


def test_listing_filters_and_pages(api):
    market = unique("market")
    ids = sorted(unique(f"scr{i}") for i in range(5))
    for n, screen_id in enumerate(ids):
        body = {
            **SCREEN,
            "market": market,
            "venueType": 101 if n % 2 else 10101,
            "country": "FR" if n == 4 else "GB",
        }
        assert api.put(screen_id, body).status_code == 201
    listed, token = [], None
    while True:
        query = {"market": market, "pageSize": 2, **({"pageToken": token} if token else {})}
        page = api.get(**query)
        assert page.status_code == 200, page.get_json()
        listed += [s["screenId"] for s in page.get_json()["screens"]]
        token = page.get_json()["nextPageToken"]
        if not token:
            break
    assert listed == ids
    by_venue = api.get(market=market, venueType="101").get_json()["screens"]
    assert [s["screenId"] for s in by_venue] == [ids[1], ids[3]]
    by_country = api.get(market=market, country="FR", active="true").get_json()["screens"]
    assert [s["screenId"] for s in by_country] == [ids[4]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "501"}, "pageSize"),
        ({"pageToken": "not base64!"}, "pageToken"),
        ({"venueType": "99"}, "venueType"),
        ({"country": "gb"}, "country"),
        ({"active": "yes"}, "active"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_list_parameters_are_named(api, query, field):
    response = api.get(**query)
    assert response.status_code == 400
    assert field in [e["field"] for e in response.get_json()["errors"]]


def test_another_tenants_screen_is_not_found(api):
    screen_id = unique("scr")
    other = {"X-API-Key": api_keys.create_key(unique("other-tenant"))}
    assert api.put(screen_id, SCREEN, other).status_code == 201
    for response in (api.get(f"/{screen_id}"), api.get(f"/{screen_id}/history"), api.delete(screen_id)):
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert screen_id not in [s["screenId"] for s in api.get().get_json()["screens"]]
    # the same id is this tenant's own screen, apart from the other's
    assert api.put(screen_id, {**SCREEN, "name": "mine"}).status_code == 201
    assert api.get(f"/{screen_id}", other).get_json()["name"] == "Lobby"


def test_bad_bodies_name_every_field(api):
    schedule = [[1.0] * 24 for _ in range(7)]
    schedule[2][14] = 612
    body = {"timeZone": "Mars/Base", "venueType": 5, "extra": 1, "audience": {"impressionSchedule": schedule}}
    response = api.put(unique("scr"), body)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    fields = {e["field"]: e["message"] for e in response.get_json()["errors"]}
    assert set(fields) == {"timeZone", "extra", "audience.impressionSchedule[2][14]"}
    assert "(Wednesday 14:00) is 612" in fields["audience.impressionSchedule[2][14]"]
    assert api.put(unique("scr"), {**SCREEN, "name": "\ud800"}).status_code == 400  # not storable as sent
    assert api.put("x" * 129, SCREEN).status_code == 400
    not_json = api.raw.put(f"{SCREENS}/s", data="x", headers={"X-API-Key": "k", "Content-Type": "text/plain"})
    assert not_json.status_code in (401, 415)


def test_scopes(api):
    screen_id = unique("scr")
    writer, reader = bearer(api.tenant_id, "screens:write"), bearer(api.tenant_id, "screens:read")
    assert api.put(screen_id, SCREEN, writer).status_code == 201
    assert api.put(screen_id, SCREEN, reader).status_code == 403
    assert api.get(f"/{screen_id}", reader).status_code == 200
    assert api.get(f"/{screen_id}", writer).status_code == 403
    assert api.get("", bearer(api.tenant_id, "pop:write")).status_code == 403
    assert api.get(f"/{screen_id}", {}).status_code == 401


def test_concurrent_puts_lose_no_version(api):
    screen_id = unique("scr")
    assert api.put(screen_id, SCREEN).status_code == 201
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(lambda n: api.put(screen_id, {**SCREEN, "name": f"n{n}"}).status_code, range(6))
        )
    # A transaction that stays contended past its retries is a 503 (retry it); every 200 is a version.
    assert set(statuses) <= {200, 503} and 200 in statuses
    versions = api.get(f"/{screen_id}/history").get_json()["versions"]
    assert [v["version"] for v in versions] == list(range(1, 2 + statuses.count(200)))
    assert sorted(v["name"] for v in versions[1:]) == sorted(
        f"n{n}" for n, status in enumerate(statuses) if status == 200
    )
    for earlier, later in zip(versions, versions[1:], strict=False):
        assert earlier["validTo"] == later["validFrom"]
    assert versions[-1]["validTo"] is None
    assert api.get(f"/{screen_id}").get_json()["version"] == len(versions)


def test_the_impression_schedule_reads_back_as_sent(api):
    # Firestore keeps no array inside an array: storage wraps each weekday, the API never shows it.
    schedule = [[round(d + h / 100, 2) for h in range(24)] for d in range(7)]
    schedule[4][20] = 750
    body = {**SCREEN, "audience": {"impressionSchedule": schedule, "allowLarge": True, "sourceType": 2}}
    screen_id = unique("scr")
    assert api.put(screen_id, body).status_code == 201
    audience = api.get(f"/{screen_id}").get_json()["audience"]
    assert audience == {"impressionSchedule": schedule, "allowLarge": True, "sourceType": 2, "vendor": None}
    assert api.put(screen_id, body).get_json()["version"] == 1  # the same screen: nothing written
    listed = api.get(market="London", pageSize="500").get_json()["screens"]
    assert any(s["screenId"] == screen_id and s["audience"]["impressionSchedule"] == schedule for s in listed)
    assert (
        api.get(f"/{screen_id}/history").get_json()["versions"][0]["audience"]["impressionSchedule"]
        == schedule
    )


def test_history_pages_oldest_first(api):
    screen_id = unique("scr")
    for n in range(5):
        assert api.put(screen_id, {**SCREEN, "name": f"v{n + 1}"}).status_code in (200, 201)
    names, token = [], None
    while True:
        page = api.get(f"/{screen_id}/history", pageSize="2", **({"pageToken": token} if token else {}))
        assert page.status_code == 200, page.get_json()
        names += [v["name"] for v in page.get_json()["versions"]]
        token = page.get_json()["nextPageToken"]
        if not token:
            break
    assert names == ["v1", "v2", "v3", "v4", "v5"]
    forged = base64.urlsafe_b64encode(b"x").decode()
    assert api.get(f"/{screen_id}/history", pageToken=forged).status_code == 400
