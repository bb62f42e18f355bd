"""Delivery reports on the local stack, end to end: events in over the API and as bulk files, through
pop-events, the BigQuery subscription stand-in and the BigQuery emulator, out of the reports function
behind the gateway."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from shared.auth import api_keys
from tests.conftest import bigquery_rows, unique
from tests.e2e.conftest import Api

REPORT = "/coatro/v1/pop/reports/delivery"
pytestmark = pytest.mark.e2e


def make_events(tag: str, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for i in range(count):
        day, hour = rng.choice(["26", "27"]), rng.randrange(24)
        event = {
            "eventId": f"{tag}-{i}",
            "playedAt": f"2025-01-{day}T{hour:02d}:{rng.randrange(60):02d}:00Z",
            "durationMs": rng.randrange(1000, 60000),
            "screenId": f"screen-{rng.randrange(4)}",
            "siteId": f"site-{rng.randrange(2)}",
            "creativeId": f"creative-{rng.randrange(3)}",
        }
        if i % 7:  # some events have no campaign: they are a group of their own
            event["campaignId"] = f"campaign-{rng.randrange(3)}"
        if i % 5:
            event["impressions"] = {
                "ageBuckets": {"total": float(rng.randrange(100)), "male": 1.5, "female": 2.25}
            }
        events.append(event)
    return events


def expected_report(
    events: list[dict], keys: tuple[str, ...], plays: dict[str, int] | None = None
) -> dict[tuple, dict]:
    """The report computed here from the events (each once), keyed by its group keys (UTC days)."""
    out: dict[tuple, dict] = defaultdict(
        lambda: {
            "plays": 0,
            "qualifiedPlays": 0,
            "durationMs": 0,
            "measured": 0.0,
            "scheduled": 0.0,  # no screen of these tests is registered
            "total": 0.0,
            "male": 0.0,
            "female": 0.0,
            "first": None,
            "last": None,
        }
    )
    for e in events:
        key = tuple(e["playedAt"][:10] if k == "date" else e.get(k) for k in keys)
        g = out[key]
        g["plays"] += (plays or {}).get(e["eventId"], 1)
        if e.get("durationMs", 0) >= 1000:  # the default rule of an unregistered screen
            g["qualifiedPlays"] += (plays or {}).get(e["eventId"], 1)
        g["durationMs"] += e.get("durationMs", 0)
        buckets = e.get("impressions", {}).get("ageBuckets", {})
        for name in ("total", "male", "female"):
            g[name] += buckets.get(name, 0.0)
        g["measured"] += buckets.get("total", 0.0)
        at = e["playedAt"].replace(":00Z", ":00.000Z")
        g["first"] = min(g["first"] or at, at)
        g["last"] = max(g["last"] or at, at)
    return dict(out)


def as_expected(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, dict]:
    got = {}
    for r in rows:
        key = tuple(r[k] for k in keys)
        assert key not in got, f"group {key} returned twice"
        got[key] = {
            "plays": r["plays"],
            "qualifiedPlays": r["qualifiedPlays"],
            "durationMs": r["durationMs"],
            **r["impressions"],
            "first": r["firstPlayedAt"],
            "last": r["lastPlayedAt"],
        }
    return got


def get(base: str, key: str, **params) -> requests.Response:
    return requests.get(base + REPORT, params=params, headers={"X-API-Key": key}, timeout=60)


def walk(first_url: str, key: str) -> tuple[list[dict], list[dict]]:
    """Every page from first_url by next_url: (rows, collections)."""
    rows, collections, url = [], [], first_url
    while url:
        response = requests.get(url, headers={"X-API-Key": key}, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == 200
        rows += body["result"]
        collections.append(body["collection"])
        url = body["collection"]["next_url"]
        assert len(collections) < 100
    return rows, collections


def test_each_event_counts_once_whatever_path_and_however_often_it_came(stack, tenant):
    tenant_id, key = tenant
    api = Api(stack.gateway_url, key)
    tag = unique("rep")
    api_events = make_events(f"{tag}-api", 60, seed=1)
    bulk_events = make_events(f"{tag}-bulk", 40, seed=2)

    # Over the API: all of them, then the first 20 again (a client retrying).
    for batch in (api_events, api_events[:20]):
        response = requests.post(
            stack.gateway_url + "/coatro/v1/pop/events",
            json={"events": batch},
            headers={"X-API-Key": key},
            timeout=30,
        )
        assert response.status_code == 202, response.text
    # As a bulk file, ingested twice (uploaded again as a new file: the same event ids).
    content = "\n".join(json.dumps(e) for e in bulk_events).encode()
    for _ in range(2):
        _, status = api.run("ndjson", content)
        assert status["status"] == "completed", status
    # An aggregated row: one event standing for 25 plays.
    aggregated = {
        "eventId": f"{tag}-agg",
        "playedAt": "2025-01-27T12:00:00.000Z",
        "campaignId": "campaign-0",
        "durationMs": 10_000,
        "playCount": 25,
    }
    response = requests.post(
        stack.gateway_url + "/coatro/v1/pop/events",
        json={"events": [aggregated]},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    # Another tenant, same event ids and campaigns: never in this tenant's report.
    other_key = api_keys.create_key(unique("other"), label="test")
    response = requests.post(
        stack.gateway_url + "/coatro/v1/pop/events",
        json={"events": api_events[:30]},
        headers={"X-API-Key": other_key},
        timeout=30,
    )
    assert response.status_code == 202

    deliveries = 60 + 20 + 2 * 40 + 1
    assert len(bigquery_rows(tenant_id, deliveries)) == deliveries  # duplicates are in the table

    everything = api_events + bulk_events + [aggregated]
    keys = ("date", "campaignId")
    expected = expected_report(everything, keys, plays={aggregated["eventId"]: 25})
    response = get(
        stack.gateway_url, key, **{"filter[from]": "2025-01-26", "filter[to]": "2025-01-27", "per_page": 200}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["collection"]["size"] == len(expected) == len(body["result"])
    assert as_expected(body["result"], keys) == expected  # quarters and whole numbers: float sums are exact
    assert sum(r["plays"] for r in body["result"]) == 100 + 25

    # A campaign filter agrees with the same campaign's groups.
    response = get(
        stack.gateway_url,
        key,
        **{"filter[date]": "2025-01-27", "filter[campaignId]": "campaign-0", "groupBy": "campaignId"},
    )
    [row] = response.json()["result"]
    day = [g for k, g in expected.items() if k == ("2025-01-27", "campaign-0")][0]
    assert (row["campaignId"], row["plays"], row["durationMs"]) == (
        "campaign-0",
        day["plays"],
        day["durationMs"],
    )

    # Walking next_url from the first page reaches the last page and returns every group once.
    keys = ("date", "screenId", "creativeId")
    expected = expected_report(everything, keys, plays={aggregated["eventId"]: 25})
    params = {
        "filter[from]": "2025-01-26",
        "filter[to]": "2025-01-27",
        "groupBy": ",".join(keys),
        "per_page": 5,
        "timezone": "UTC",
    }
    first = get(stack.gateway_url, key, **params).json()["collection"]
    rows, collections = walk(first["first_url"], key)
    assert as_expected(rows, keys) == expected  # quarters and whole numbers: float sums are exact
    pages = -(-len(expected) // 5)
    assert len(collections) == pages > 2
    assert all(c["size"] == len(expected) and c["per_page"] == 5 for c in collections)
    assert collections[0]["prev_url"] is None and collections[-1]["next_url"] is None
    assert collections[-1]["last_url"] == first["last_url"]
    for url in (first["first_url"], first["last_url"], collections[1]["prev_url"]):
        assert url.startswith(stack.gateway_url + REPORT + "?")  # absolute, where the caller called
        query = parse_qs(urlsplit(url).query)
        assert {k: v[0] for k, v in query.items() if k != "page"} == {k: str(v) for k, v in params.items()}
    assert parse_qs(urlsplit(first["last_url"]).query)["page"] == [str(pages)]

    # The same days in Paris: an event at 23:30 UTC on the 26th is on the 27th there.
    paris = get(
        stack.gateway_url,
        key,
        **{"filter[date]": "2025-01-27", "timezone": "Europe/Paris", "groupBy": "date", "per_page": 200},
    ).json()["result"]
    in_paris = [
        e
        for e in everything
        if (datetime.fromisoformat(e["playedAt"].replace("Z", "+00:00")) + timedelta(hours=1))
        .date()
        .isoformat()
        == "2025-01-27"
    ]
    assert any(e["playedAt"].startswith("2025-01-26T23") for e in in_paris)
    assert paris == [
        {**paris[0], "date": "2025-01-27", "plays": sum(25 if e is aggregated else 1 for e in in_paris)}
    ]


def test_another_tenant_sees_only_its_own(stack, tenant):
    tenant_id, key = tenant
    tag = unique("iso")
    mine = [
        {
            "eventId": f"{tag}-1",
            "playedAt": "2025-02-01T10:00:00Z",
            "campaignId": "shared-campaign",
            "durationMs": 7,
        }
    ]
    other_key = api_keys.create_key(unique("other"), label="test")
    theirs = [
        {
            "eventId": f"{tag}-{i}",
            "playedAt": "2025-02-01T10:00:00Z",
            "campaignId": "shared-campaign",
            "durationMs": 1000,
        }
        for i in range(1, 4)
    ]
    for k, events in ((key, mine), (other_key, theirs)):
        assert (
            requests.post(
                stack.gateway_url + "/coatro/v1/pop/events",
                json={"events": events},
                headers={"X-API-Key": k},
                timeout=30,
            ).status_code
            == 202
        )
    bigquery_rows(tenant_id, 1)
    body = get(stack.gateway_url, key, **{"filter[date]": "2025-02-01"}).json()
    assert body["result"] == [
        {
            "date": "2025-02-01",
            "campaignId": "shared-campaign",
            "plays": 1,
            "qualifiedPlays": 0,  # 7 ms: under the default 1 s
            "durationMs": 7,
            "impressions": {"measured": 0.0, "scheduled": 0.0, "total": 0.0, "male": 0.0, "female": 0.0},
            "firstPlayedAt": "2025-02-01T10:00:00.000Z",
            "lastPlayedAt": "2025-02-01T10:00:00.000Z",
        }
    ]
    # a tenant cannot ask for another's data by parameter
    response = get(stack.gateway_url, key, **{"filter[date]": "2025-02-01", "tenantId": "anyone"})
    assert response.status_code == 400


def test_bad_parameters_and_credentials_through_the_gateway(stack, tenant):
    _, key = tenant
    response = get(
        stack.gateway_url,
        key,
        **{"filter[from]": "2025-01-01", "filter[to]": "2025-06-01", "per_page": "500"},
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["filter[to]", "per_page"]
    assert get(stack.gateway_url, "not-a-key", **{"filter[date]": "2025-01-27"}).status_code == 401
    response = requests.post(stack.gateway_url + REPORT, headers={"X-API-Key": key}, timeout=30)
    assert response.status_code == 405


def test_a_page_past_the_last_is_empty_and_links_back(stack, tenant):
    tenant_id, key = tenant
    events = [
        {"eventId": f"p-{i}", "playedAt": "2025-03-01T10:00:00Z", "screenId": f"s-{i}"} for i in range(3)
    ]
    assert (
        requests.post(
            stack.gateway_url + "/coatro/v1/pop/events",
            json={"events": events},
            headers={"X-API-Key": key},
            timeout=30,
        ).status_code
        == 202
    )
    bigquery_rows(tenant_id, 3)
    body = get(
        stack.gateway_url,
        key,
        **{"filter[date]": "2025-03-01", "groupBy": "screenId", "per_page": 2, "page": 5},
    ).json()
    assert body["result"] == [] and body["collection"]["size"] == 3 and body["collection"]["next_url"] is None
    assert parse_qs(urlsplit(body["collection"]["prev_url"]).query)["page"] == ["2"]


def test_the_same_report_by_api_key_and_by_bearer_token_and_scopes_are_enforced(stack, tenant):
    from shared.auth import oauth_clients

    tenant_id, key = tenant
    events = make_events(unique("tok"), 12, seed=3)
    response = requests.post(
        stack.gateway_url + "/coatro/v1/pop/events",
        json={"events": events},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert len(bigquery_rows(tenant_id, len(events))) == len(events)

    def token(scopes: list[str]) -> str:
        client_id, secret = oauth_clients.create_client(tenant_id, scopes)
        response = requests.post(
            stack.gateway_url + "/coatro/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    params = {
        "filter[from]": "2025-01-26",
        "filter[to]": "2025-01-27",
        "groupBy": "date,screenId",
        "per_page": 3,
    }
    by_key = requests.get(stack.gateway_url + REPORT, params=params, headers={"X-API-Key": key}, timeout=60)
    reader = token(["reports:read"])
    by_token = requests.get(
        stack.gateway_url + REPORT, params=params, headers={"Authorization": f"Bearer {reader}"}, timeout=60
    )
    assert by_key.status_code == by_token.status_code == 200, (by_key.text, by_token.text)
    assert by_token.json() == by_key.json() and by_key.json()["result"]
    # The token as a query parameter works too, and never appears in the page links.
    by_param = requests.get(stack.gateway_url + REPORT, params={**params, "access_token": reader}, timeout=60)
    assert by_param.json()["result"] == by_key.json()["result"]
    assert reader not in json.dumps(by_param.json()["collection"])

    writer = token(["pop:write"])
    denied = requests.get(
        stack.gateway_url + REPORT, params=params, headers={"Authorization": f"Bearer {writer}"}, timeout=60
    )
    assert denied.status_code == 403 and "insufficient_scope" in denied.headers["WWW-Authenticate"], (
        denied.text
    )
    assert denied.headers["Content-Type"].startswith("application/problem+json")
    refused = requests.post(
        stack.gateway_url + "/coatro/v1/pop/events",
        json={"events": events[:1]},
        headers={"Authorization": f"Bearer {reader}"},
        timeout=30,
    )
    assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    "params, named",
    [
        ({"filter[date]": "9999-12-31"}, "filter[date]"),  # the window overflowed: a 500
        ({"filter[date]": "0001-01-01", "timezone": "Asia/Tokyo"}, "filter[date]"),
        (
            {"filter[from]": "9999-12-30", "filter[to]": "9999-12-31", "timezone": "America/Los_Angeles"},
            "filter[from]",
        ),
        ({"filter[date]": "2025-W10-1"}, "filter[date]"),  # an ISO week date was taken for 2025-03-03
        ({"filter[date]": "٢٠٢٥-٠١-٢٧"}, "filter[date]"),
        ({"filter[date]": "2025-01-27", "timezone": "right/UTC"}, "timezone"),  # these gave an empty report
        ({"filter[date]": "2025-01-27", "timezone": "posixrules"}, "timezone"),
        ({"filter[date]": "2025-01-27", "timezone": "posix/Europe/Paris"}, "timezone"),
        ({"filter[date]": "2025-01-27", "timezone": "localtime"}, "timezone"),
        ({"filter[date]": "2025-01-27", "page": "١٢"}, "page"),
        ({"filter[date]": "2025-01-27", "per_page": "٥"}, "per_page"),
    ],
)
def test_edges_of_the_calendar_odd_zones_and_digits_are_400s_naming_the_parameter(
    stack, tenant, params, named
):
    response = get(stack.gateway_url, tenant[1], **params)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert named in [e["field"] for e in response.json()["errors"]], response.text


def test_the_first_and_last_days_answer_in_the_zones_furthest_from_utc(stack, tenant):
    for day, zone in (
        ("1900-01-01", "Pacific/Kiritimati"),
        ("1900-01-01", "Etc/GMT+12"),
        ("2999-12-31", "Pacific/Kiritimati"),
        ("2999-12-31", "Etc/GMT+12"),
    ):
        response = get(stack.gateway_url, tenant[1], **{"filter[date]": day, "timezone": zone})
        assert response.status_code == 200, (day, zone, response.text)
        assert response.json()["result"] == []


def test_links_never_show_the_functions_own_address(stack, tenant):
    _, key = tenant
    function = f"127.0.0.1:{stack.function_ports['reports']}"
    params = {"filter[date]": "2025-01-27", "per_page": 5}
    # A Host that is not a host: the gateway cannot forward it, and the links showed the function's address.
    for host in ("bad host", "a@b", "x/y"):
        response = requests.get(
            stack.gateway_url + REPORT, params=params, headers={"X-API-Key": key, "Host": host}, timeout=60
        )
        assert response.status_code == 200, response.text
        assert function not in response.text
        collection = response.json()["collection"]
        assert collection["first_url"].startswith(REPORT + "?") and collection["last_url"].startswith(
            REPORT + "?"
        )
    # Through the gateway with a good Host: absolute, where the caller called.
    response = get(stack.gateway_url, key, **params)
    assert response.json()["collection"]["first_url"].startswith(stack.gateway_url + REPORT + "?"), (
        response.text
    )
    # The caller cannot choose the host of its links: the gateway replaces what it claims.
    response = requests.get(
        stack.gateway_url + REPORT,
        params=params,
        timeout=60,
        headers={"X-API-Key": key, "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert response.json()["collection"]["first_url"].startswith(stack.gateway_url + REPORT + "?"), (
        response.text
    )
    # Called directly (no gateway, no forwarded host): relative, not at the function's address.
    response = requests.get(
        f"http://{function}{REPORT}", params=params, headers={"X-API-Key": key}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert function not in response.text and response.json()["collection"]["first_url"].startswith(
        REPORT + "?"
    )
