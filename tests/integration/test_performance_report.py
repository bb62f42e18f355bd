"""The performance report straight against the emulators: screens in Firestore and in the BigQuery
`screens` table, bookings in Firestore, plays written to the events table as the BigQuery subscription
writes them. Every figure is checked against a computation here, in Python with zoneinfo, and against
the delivery report on the same data (the two must agree: same deduplication and counting).

Plays: one per screen per hour from 20 February to 15 March 2025 on screens a (London), b (New York,
silent from 3 March), c (London, untargeted by the first booking), d (targeted, unregistered) and e
(unregistered, untargeted); campaigns and creatives alternate; durations cycle 500, 1,500, 3,000 ms (a
play under 1 s does not qualify); every fifth play carries measured impressions; a few events are
delivered twice (the later copy must not count).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.bookings import history as booking_history
from shared.bookings.model import parse_booking
from shared.platform import clients
from shared.reports import checks, performance
from shared.reports.delivery import delivery_report
from shared.reports.params import DeliveryQuery
from shared.screens import history as screen_history
from shared.screens.dimension import bigquery_row
from shared.storage import bookings as bookings_storage
from shared.storage import firestore
from tests.conftest import unique
from tests.integration.conftest import _client

FIRST, LAST = date(2025, 3, 1), date(2025, 3, 10)
NOW = datetime(2025, 3, 5, tzinfo=UTC)  # four days into the flight (London is on GMT in early March)
REGISTERED = "2025-01-01T00:00:00.000Z"
B_STOPS = datetime(2025, 3, 3, tzinfo=UTC)
REPORT = "/coatro/v1/pop/reports/performance"
SCREENS = {
    "a": {"timeZone": "Europe/London", "market": "London", "venueType": 10101, "country": "GB", "schedule": 2.0},
    "b": {"timeZone": "America/New_York", "market": "NYC", "venueType": 10102, "country": "US", "schedule": None},
    "c": {"timeZone": "Europe/London", "market": "London", "venueType": 10102, "country": "GB", "schedule": 3.0},
}  # fmt: skip
BOOKING_1 = {
    "campaignId": "camp", "advertiser": "=HYPERLINK(1)",
    "flight": {"start": FIRST.isoformat(), "end": LAST.isoformat(), "timeZone": "Europe/London"},
    "targets": {"screenIds": ["a", "b", "d"]}, "goal": {"metric": "qualifiedPlays", "quantity": 1000},
}  # fmt: skip
BOOKING_2 = {
    "campaignId": "camp", "creativeIds": ["cr1"], "advertiser": "Acme <Corp> & \"Sons\"",
    "flight": {"start": FIRST.isoformat(), "end": LAST.isoformat(), "timeZone": "screen"},
    "targets": {"selector": {"market": "London"}},
    "goal": {"metric": "impressions", "quantity": 500, "dailyCap": 100},
}  # fmt: skip


def make_plays(tenant_id: str) -> list[dict]:
    plays = []
    at = datetime(2025, 2, 20, tzinfo=UTC)
    i = 0
    while at < datetime(2025, 3, 15, tzinfo=UTC):
        for screen in "abcde":
            if screen == "b" and at >= B_STOPS:
                continue
            play = {
                "tenantId": tenant_id, "eventId": f"e{i}", "screenId": screen,
                "campaignId": "camp" if i % 3 else "other", "creativeId": "cr1" if i % 2 else "cr2",
                "playedAt": at + timedelta(minutes=7 * (i % 8)), "durationMs": (500, 1500, 3000)[i % 3],
            }  # fmt: skip
            if i % 5 == 0:
                play["impressions"] = {"ageBuckets": {"total": 1.25}}
            plays.append(play)
            i += 1
        at += timedelta(hours=1)
    return plays


def load(tenant_id: str, plays: list[dict]) -> None:
    client = clients.bigquery()
    # Published now, as the subscription's rows are: after any roll, so rollups and the late tail
    # (the events a roll has not reached) count them as raw events would.
    published = datetime.now(UTC)
    rows = [
        {**p, "playedAt": p["playedAt"].isoformat(), "publish_time": published.isoformat(),
         "message_id": p["eventId"], "subscription_name": "test"}
        for p in plays
    ]  # fmt: skip
    # Delivered again later, changed: the first delivery counts, as in the delivery report.
    rows += [
        dict(r, durationMs=1, publish_time=(published + timedelta(hours=1)).isoformat(), message_id="again")
        for r in rows[:40:4]
    ]
    for start in range(0, len(rows), 2000):
        assert client.insert_rows_json(clients.events_table(), rows[start : start + 2000]) == []
    screen_rows = []
    for screen_id, spec in SCREENS.items():
        fields = {k: v for k, v in spec.items() if k != "schedule"}
        fields["qualification"] = {"minDurationMs": 1000}
        fields["screens"] = 1
        if spec["schedule"] is not None:
            fields["audience"] = {"impressionSchedule": [[spec["schedule"]] * 24] * 7}
        at = REGISTERED
        _, written = firestore.change_screen(
            tenant_id,
            screen_id,
            lambda cur, s=screen_id, f=fields: screen_history.put(cur, tenant_id, s, f, REGISTERED),
        )
        screen_rows.append(bigquery_row(written.opened, written_at=at))
    assert client.insert_rows_json(clients.screens_table(), screen_rows) == []


def put_booking(tenant_id: str, booking_id: str, body: dict):
    fields = parse_booking(booking_id, body)
    assert not isinstance(fields, list), fields
    stored = fields.stored()
    bookings_storage.change_booking(
        tenant_id,
        booking_id,
        lambda cur: booking_history.put(cur, tenant_id, booking_id, stored, "2025-02-01T00:00:00Z"),
    )
    return bookings_storage.get_booking(tenant_id, booking_id)


@pytest.fixture(scope="module")
def loaded(stack):
    tenant_id = unique("perf")
    plays = make_plays(tenant_id)
    load(tenant_id, plays)
    return tenant_id, plays, put_booking(tenant_id, "b1", BOOKING_1), put_booking(tenant_id, "b2", BOOKING_2)


def qualified(p: dict) -> bool:
    return p["durationMs"] >= 1000


def impressions(p: dict) -> float:
    if "impressions" in p:
        return p["impressions"]["ageBuckets"]["total"]
    spec = SCREENS.get(p["screenId"])
    return spec["schedule"] if spec and spec["schedule"] is not None else 0.0


def expected_parts(plays, zone_of, targeted, creative=None) -> dict[str, dict[str, float]]:
    """{part: {plays, qualifiedPlays, impressions}} and per-day figures, computed here."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for p in plays:
        if p["campaignId"] != "camp" or (creative and p["creativeId"] != creative):
            continue
        local = p["playedAt"].astimezone(ZoneInfo(zone_of(p["screenId"]))).date()
        if not (FIRST - timedelta(days=7) <= local <= LAST + timedelta(days=7)):
            continue
        part = (
            "outsideFlight"
            if not FIRST <= local <= LAST
            else "delivered"
            if targeted(p["screenId"])
            else "untargetedScreens"
        )
        for key in (part, f"{part}:{local.isoformat()}"):
            out[key]["plays"] += 1
            out[key]["qualifiedPlays"] += qualified(p)
            out[key]["impressions"] += impressions(p)
    return out


def test_booking_by_screen_ids_matches_a_computation_and_the_delivery_report(loaded):
    tenant_id, plays, booking, _ = loaded
    got = performance.report(tenant_id, booking, NOW)
    want = expected_parts(plays, lambda s: "Europe/London", lambda s: s in {"a", "b", "d"})
    assert got["delivered"] == want["delivered"]["qualifiedPlays"]
    assert got["totals"]["plays"] == want["delivered"]["plays"]
    assert got["totals"]["impressions"] == pytest.approx(want["delivered"]["impressions"], abs=0.001)
    for name in ("untargetedScreens", "outsideFlight"):
        assert got["outside"][name]["plays"] == want[name]["plays"], name
        assert got["outside"][name]["qualifiedPlays"] == want[name]["qualifiedPlays"], name
    assert [d["qualifiedPlays"] for d in got["daily"]] == [
        want[f"delivered:{FIRST + timedelta(days=i)}"]["qualifiedPlays"] for i in range(10)
    ]
    # Four days of ten gone: 400 expected; pacing and projection follow.
    assert got["expected"] == 400.0
    assert got["pacing"] == round(got["delivered"] / 400, 4)
    assert got["projected"] == pytest.approx(got["delivered"] * 10 / 4, abs=0.001)
    assert got["percentDelivered"] == round(100 * got["delivered"] / 1000, 2)
    by_screen = {r["screenId"]: r["qualifiedPlays"] for r in got["breakdown"]["screenId"]}
    assert set(by_screen) == {"a", "b", "d"} and sum(by_screen.values()) == got["delivered"]
    markets = {r["market"]: r["plays"] for r in got["breakdown"]["market"]}
    assert set(markets) == {None, "London", "NYC"}  # d is unregistered
    assert {r["creativeId"] for r in got["breakdown"]["creativeId"]} == {"cr1", "cr2"}
    # b stopped on 3 March: dark for 48 hours at NOW; a and d played within the hour.
    assert [(d["screenId"], d["lastPlayedAt"][:10]) for d in got["darkScreens"]] == [("b", "2025-03-02")]

    # The delivery report on the same data, days in the flight's zone, filtered on the campaign.
    rows, _ = delivery_report(
        tenant_id,
        DeliveryQuery(FIRST, LAST, "Europe/London", ("date", "screenId"), {"campaignId": "camp"}, 1, 200),
    )
    daily: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["screenId"] in {"a", "b", "d"}:
            daily[r["date"]] += r["qualifiedPlays"]
    assert {d["date"]: d["qualifiedPlays"] for d in got["daily"] if d["qualifiedPlays"]} == dict(daily)
    assert sum(daily.values()) == got["delivered"]


def test_booking_by_selector_in_screen_time_with_creatives_and_a_daily_cap(loaded):
    tenant_id, plays, _, booking = loaded
    got = performance.report(tenant_id, booking, NOW, dark_after_hours=4)
    zones = {s: spec["timeZone"] for s, spec in SCREENS.items()}
    want = expected_parts(
        plays, lambda s: zones.get(s, "UTC"), lambda s: SCREENS.get(s, {}).get("market") == "London", "cr1"
    )
    assert got["delivered"] == pytest.approx(want["delivered"]["impressions"], abs=0.001)
    assert got["outside"]["untargetedScreens"]["plays"] == want["untargetedScreens"]["plays"]
    # A cap of 100 a day: 4 days gone plan 400 (capped by the goal of 500 from day 5).
    assert got["expected"] == 400.0
    assert [d["planned"] for d in got["daily"]][:6] == [100.0, 200.0, 300.0, 400.0, 500.0, 500.0]
    rate = min(got["delivered"] / 4, 100)
    assert got["projected"] == pytest.approx(got["delivered"] + rate * 6, abs=0.001)
    assert {r["screenId"] for r in got["breakdown"]["screenId"]} == {"a", "c"}
    assert got["darkScreens"] == []


@pytest.fixture
def reports_client(loaded, stack):
    from shared.auth import api_keys

    tenant_id = loaded[0]
    return _client("reports"), {"X-API-Key": api_keys.create_key(tenant_id, label="test")}


def test_the_endpoint_answers_json_csv_and_html_and_pages_bookings(reports_client, loaded):
    client, headers = reports_client
    _, plays, _, _ = loaded
    page = client.get(REPORT, query_string={"pageSize": "1"}, headers=headers).get_json()
    assert [r["bookingId"] for r in page["reports"]] == ["b1"] and page["nextPageToken"]
    assert page["reports"][0]["darkScreens"] == []  # the flight is over: nothing is dark any more

    # The next page, as a printable page: b2's, the last.
    rest = client.get(
        REPORT, query_string={"pageToken": page["nextPageToken"], "format": "html"}, headers=headers
    )
    assert rest.status_code == 200 and rest.mimetype == "text/html"
    text = rest.get_data(as_text=True)
    assert "Proof of performance: booking b2" in text and "booking b1" not in text
    assert "<svg" in text and "<script" not in text
    assert "Acme &lt;Corp&gt; &amp; &quot;Sons&quot;" in text and "Acme <Corp>" not in text
    assert "default-src 'none'" in rest.headers["Content-Security-Policy"]

    as_csv = client.get(REPORT, query_string={"bookingId": "b1"}, headers={**headers, "Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    [summary] = [r for r in rows if r["section"] == "summary"]
    want = expected_parts(plays, lambda s: "Europe/London", lambda s: s in {"a", "b", "d"})
    assert (summary["key"], int(summary["delivered"])) == (
        "qualifiedPlays",
        want["delivered"]["qualifiedPlays"],
    )
    assert summary["delivered"] == str(page["reports"][0]["delivered"])
    assert len([r for r in rows if r["section"] == "daily"]) == 10


def test_bad_parameters_and_another_tenants_booking(reports_client, tenant):
    client, headers = reports_client
    bad = client.get(REPORT, query_string={"darkAfterHours": "0", "format": "pdf", "x": "1"}, headers=headers)
    assert bad.status_code == 400
    assert {e["field"] for e in bad.get_json()["errors"]} == {"darkAfterHours", "format", "x"}
    other = {"X-API-Key": tenant[1]}
    assert client.get(REPORT, query_string={"bookingId": "b1"}, headers=other).status_code == 404
    assert client.get(REPORT, headers=other).get_json() == {"reports": [], "nextPageToken": None}


def test_the_sweeper_runs_the_checks_once_an_hour_a_budget_at_a_time(loaded):
    """Each tick spends its budget (here: one booking a tick) and the next goes on after it; once done,
    the hour has nothing left. (An hour no real sweep uses, so nothing races this test.)"""
    hour = datetime(2000, 1, 1, 5, tzinfo=UTC)
    ticks = 0
    while checks.run_hourly(hour + timedelta(seconds=ticks), budget_seconds=0) is not None:
        ticks += 1
        assert ticks < 10_000
    assert ticks >= 2  # at least this module's two bookings, one a tick
    assert checks.run_hourly(hour + timedelta(minutes=59)) is None
    assert checks.run_hourly(hour + timedelta(hours=1)) is not None  # the next hour starts over
