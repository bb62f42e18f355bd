"""Proof of performance end to end on the local stack (issue 19's "done when", the part of bookings and
the performance report): 20 screens in two zones (London and New York) imported over the API, a booking
for 10,000 qualified plays over 10 days recorded over the API, four-odd days of plays at 80% of the plan
written to the events table as the BigQuery subscription writes them (the fast path of the report
tests), then the report read through the gateway and the booking checks run.

Two targeted screens stopped ten hours ago: they are dark. Plays of the booked campaign on an
untargeted screen, and two days before the flight, are counted outside and never delivered.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import requests

from shared.platform import clients
from shared.platform.settings import get_settings
from shared.reports.checks import check_bookings
from tests.conftest import EventsSink, unique

IMPORT = "/coatro/v1/pop/screens/import"
BOOKINGS = "/coatro/v1/pop/bookings"
REPORT = "/coatro/v1/pop/reports/performance"
QUANTITY, DAYS, SHARE = 10_000, 10, 0.8
FLIGHT_ZONE = ZoneInfo("Europe/London")


def test_a_booking_paced_at_80_percent_with_dark_screens_and_delivery_outside(stack, tenant):
    tenant_id, key = tenant
    headers = {"X-API-Key": key}
    tag = unique("pp")
    sink = EventsSink(get_settings().webhook_events_topic)  # before anything could publish
    try:
        run(stack, tenant_id, headers, tag, sink)
    finally:
        sink.close()


def run(stack, tenant_id: str, headers: dict, tag: str, sink: EventsSink) -> None:
    screens = [f"{tag}-lon-{i}" for i in range(10)] + [f"{tag}-nyc-{i}" for i in range(10)]
    untargeted = f"{tag}-elsewhere"
    rows = [
        {"screenId": s, "timeZone": "Europe/London" if "-lon-" in s else "America/New_York",
         "market": "London" if "-lon-" in s else "New York", "country": "GB" if "-lon-" in s else "US"}
        for s in [*screens, untargeted]
    ]  # fmt: skip
    imported = requests.post(
        stack.gateway_url + IMPORT,
        data="".join(json.dumps(r) + "\n" for r in rows),
        headers={**headers, "Content-Type": "application/x-ndjson"},
        timeout=120,
    )
    assert imported.status_code == 200 and imported.json()["created"] == 21, imported.text

    now = datetime.now(UTC)
    first_day = now.astimezone(FLIGHT_ZONE).date() - timedelta(days=4)
    start = datetime.combine(first_day, time(), FLIGHT_ZONE).astimezone(UTC)
    end = datetime.combine(first_day + timedelta(days=DAYS), time(), FLIGHT_ZONE).astimezone(UTC)
    booking_id = f"{tag}-b"
    booking = {
        "campaignId": f"{tag}-camp",
        "advertiser": "Acme",
        "flight": {
            "start": first_day.isoformat(),
            "end": (first_day + timedelta(days=DAYS - 1)).isoformat(),
            "timeZone": "Europe/London",
        },
        "targets": {"screenIds": screens},
        "goal": {"metric": "qualifiedPlays", "quantity": QUANTITY},
    }
    put = requests.put(
        f"{stack.gateway_url}{BOOKINGS}/{booking_id}", json=booking, headers=headers, timeout=30
    )
    assert put.status_code == 201, put.text

    # 80% of the plan: one play every (flight seconds / (0.8 x quantity)), round robin over the
    # screens still playing; two screens (one per zone) stopped ten hours ago.
    stopped = {screens[3], screens[15]}
    stop_at = now - timedelta(hours=10)
    step = (end - start).total_seconds() / (SHARE * QUANTITY)
    events = []
    k = 0
    at = start + timedelta(seconds=step / 2)
    while at < now - timedelta(seconds=5):
        live = [s for s in screens if s not in stopped or at < stop_at]
        events.append(play(tenant_id, f"{tag}-{k}", live[k % len(live)], booking["campaignId"], at))
        k += 1
        at = start + timedelta(seconds=step * (k + 0.5))
    delivered = len(events)
    for i in range(50):  # the right campaign on an untargeted screen, during the flight
        events.append(
            play(tenant_id, f"{tag}-u{i}", untargeted, booking["campaignId"], start + timedelta(hours=i))
        )
    for i in range(30):  # and on a targeted screen two days before the flight
        events.append(play(tenant_id, f"{tag}-o{i}", screens[0], booking["campaignId"], start - timedelta(days=2, minutes=i)))  # fmt: skip
    bigquery = clients.bigquery()
    for i in range(0, len(events), 2000):
        assert bigquery.insert_rows_json(clients.events_table(), events[i : i + 2000]) == []

    response = requests.get(
        stack.gateway_url + REPORT, params={"bookingId": booking_id}, headers=headers, timeout=120
    )
    assert response.status_code == 200, response.text
    report = response.json()
    asked = datetime.fromisoformat(report["asOf"].replace("Z", "+00:00"))
    fraction = (asked - start) / (end - start)
    assert report["delivered"] == delivered
    assert report["expected"] == round(QUANTITY * fraction, 3)
    assert math.isclose(report["pacing"], 0.8, abs_tol=0.005), report["pacing"]  # 0.8 ± one play's rounding
    assert math.isclose(report["projected"], SHARE * QUANTITY, rel_tol=0.005), report["projected"]
    assert report["projected"] == round(delivered / fraction, 3)
    assert report["underdelivering"] is True
    assert sorted(d["screenId"] for d in report["darkScreens"]) == sorted(stopped)
    assert report["outside"]["untargetedScreens"]["plays"] == 50
    assert report["outside"]["outsideFlight"]["plays"] == 30
    assert sum(r["qualifiedPlays"] for r in report["breakdown"]["screenId"]) == delivered
    assert {r["market"] for r in report["breakdown"]["market"]} == {"London", "New York"}

    checked = check_bookings(datetime.now(UTC))
    mine = [e for e in checked.events if e.tenantId == tenant_id]
    assert sorted(e.type for e in mine) == ["booking.underdelivering", "screen.dark", "screen.dark"]
    published = sink.pull(tenant_id, until=lambda got: len(got) >= 3, timeout=30)
    by_type: dict[str, list[dict]] = {}
    for message in published:
        by_type.setdefault(message["data"]["type"], []).append(message["data"])
    [late] = {e["id"]: e for e in by_type["booking.underdelivering"]}.values()
    assert late["id"].startswith(f"evt_booking_{tenant_id}_{booking_id}_underdelivering_")
    assert late["data"]["bookingId"] == booking_id and late["data"]["pacing"] < 0.9
    assert {e["data"]["screenId"] for e in by_type["screen.dark"]} == stopped


def play(tenant_id: str, event_id: str, screen_id: str, campaign_id: str, at: datetime) -> dict:
    """A row of the events table as the BigQuery subscription writes it."""
    return {
        "tenantId": tenant_id, "eventId": event_id, "screenId": screen_id, "campaignId": campaign_id,
        "playedAt": at.isoformat(), "durationMs": 5000, "publish_time": datetime.now(UTC).isoformat(),
        "message_id": event_id, "subscription_name": "test",
    }  # fmt: skip
