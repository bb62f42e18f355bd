"""The delivery report joined to the screens table, straight against the BigQuery emulator: rows are
written as the BigQuery subscription and the screens mirror write them, and the report is compared
with a computation here, in Python with zoneinfo, from the same plays and schedules.

Screens in London, Toronto and Sydney; plays from Saturday 2025-03-29 to Sunday 2025-04-06 UTC, a
week across two DST changes: London springs forward on Sunday 30 March (01:00 UTC) and Sydney falls
back on Sunday 6 April (16:00 UTC on the 5th). London's schedule changes mid-week (version 2 from
Wednesday 2 April 12:00 UTC); Toronto is retired on Thursday 3 April.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.platform import clients
from shared.records.screens import ScreenRecord
from shared.reports.delivery import delivery_report
from shared.reports.params import DeliveryQuery
from shared.screens.dimension import bigquery_row
from tests.conftest import unique

FIRST, LAST = date(2025, 3, 29), date(2025, 4, 6)
LONDON_V2_FROM = datetime(2025, 4, 2, 12, tzinfo=UTC)
TORONTO_RETIRED = datetime(2025, 4, 3, 9, tzinfo=UTC)


def schedule(base: float) -> list[list[float]]:
    """Every weekday and hour its own multiplier: base + weekday + hour / 100."""
    return [[base + day + hour / 100 for hour in range(24)] for day in range(7)]


# (screenId, version, validFrom, fields, activeTo)
VERSIONS = [
    ("lon", 1, datetime(2025, 3, 1, tzinfo=UTC), {"name": "Heathrow T5", "timeZone": "Europe/London", "venueType": 10101, "market": "London", "country": "GB", "screens": 2, "audience": {"impressionSchedule": schedule(1.0)}, "qualification": {"minDurationMs": 1000}}, None),
    ("lon", 2, LONDON_V2_FROM, {"name": "Heathrow T5", "timeZone": "Europe/London", "venueType": 10101, "market": "London", "country": "GB", "screens": 2, "audience": {"impressionSchedule": schedule(10.0)}, "qualification": {"minDurationMs": 1000}}, None),
    ("tor", 1, datetime(2025, 3, 20, tzinfo=UTC), {"name": "Union Station", "timeZone": "America/Toronto", "venueType": 10102, "market": "Toronto", "country": "CA", "screens": 1, "audience": {"impressionSchedule": schedule(0.5)}, "qualification": {"minDurationMs": 5000, "minShareOfPlanned": 0.75}}, None),
    ("tor", 2, TORONTO_RETIRED, {"name": "Union Station", "timeZone": "America/Toronto", "venueType": 10102, "market": "Toronto", "country": "CA", "screens": 1, "audience": {"impressionSchedule": schedule(0.5)}, "qualification": {"minDurationMs": 5000, "minShareOfPlanned": 0.75}}, TORONTO_RETIRED),
    ("syd", 1, datetime(2025, 4, 1, tzinfo=UTC), {"name": "Circular Quay", "timeZone": "Australia/Sydney", "venueType": 20101, "market": "Sydney", "country": "AU", "screens": 3, "audience": {"impressionSchedule": schedule(2.0)}, "qualification": {"minDurationMs": 1000}}, None),
]  # fmt: skip


def screen_rows(tenant_id: str) -> list[dict]:
    rows = []
    for screen_id, version, valid_from, fields, active_to in VERSIONS:
        record = ScreenRecord(
            tenantId=tenant_id, screenId=screen_id, version=version, validFrom=valid_from.isoformat(),
            activeTo=active_to.isoformat() if active_to else None, updatedAt=valid_from.isoformat(),
            fields={"qualification": {"minDurationMs": 1000}, **fields},
        )  # fmt: skip
        rows.append(bigquery_row(record, written_at="2025-04-10T00:00:00Z"))
    rows.append(dict(rows[0], writtenAt="2025-04-11T00:00:00Z"))  # a retried export: the same version twice
    return rows


def make_plays(tenant_id: str, count: int) -> list[dict]:
    rng = random.Random(18)
    start = datetime.combine(FIRST, datetime.min.time(), UTC) - timedelta(hours=12)
    plays = []
    for i in range(count):
        play = {
            "tenantId": tenant_id,
            "eventId": f"e-{i}",
            "screenId": rng.choice(["lon", "tor", "syd", "nowhere"]),
            "campaignId": rng.choice(["c1", "c2"]),
            "playedAt": start + timedelta(seconds=rng.randrange(10 * 86400)),
            "durationMs": rng.choice([400, 999, 1000, 4000, 6000, 15000]),
        }
        if rng.random() < 0.5:
            play["plannedDurationMs"] = rng.choice([5000, 8000, 15000])
        if rng.random() < 0.3:
            play["impressions"] = {"ageBuckets": {"total": rng.randrange(40) / 4}}
        if rng.random() < 0.1:
            play["playCount"] = rng.randrange(2, 5)
        plays.append(play)
    # Hand-picked instants at the edges: the hour London skips, Sydney's repeated hour, midnight.
    for i, (screen, at) in enumerate(
        [
            ("lon", "2025-03-30T00:59:59Z"),  # Sunday 00:59 GMT
            ("lon", "2025-03-30T01:00:00Z"),  # Sunday 02:00 BST
            ("syd", "2025-04-05T15:30:00Z"),  # Sunday 02:30 AEDT
            ("syd", "2025-04-05T16:30:00Z"),  # Sunday 02:30 AEST (the same hour again)
            ("syd", "2025-03-29T13:30:00Z"),  # Sunday 00:30 AEDT on 30 March: before version 1
            ("tor", "2025-04-06T03:30:00Z"),  # Saturday 23:30 EDT, retired screen
            ("lon", "2025-04-02T11:59:59Z"),  # the last second of version 1
            ("lon", "2025-04-02T12:00:00Z"),  # the first of version 2
        ]
    ):
        at_utc = datetime.fromisoformat(at.replace("Z", "+00:00"))
        plays.append({"tenantId": tenant_id, "eventId": f"edge-{i}", "screenId": screen, "campaignId": f"edge-{i}",
                      "playedAt": at_utc, "durationMs": 2000, "plannedDurationMs": 2000})  # fmt: skip
    return plays


def version_at(screen_id: str, at: datetime):
    versions = [v for v in VERSIONS if v[0] == screen_id]
    if not versions:
        return None
    chosen = versions[0]
    for v in versions:
        if v[2] <= at:
            chosen = v
    return chosen


def expected(plays: list[dict], keys: tuple[str, ...], timezone: str) -> dict[tuple, dict]:
    out: dict[tuple, dict] = defaultdict(lambda: defaultdict(float))
    for p in plays:
        version = version_at(p["screenId"], p["playedAt"])
        fields = version[3] if version else {}
        zone = ZoneInfo(
            fields["timeZone"]
            if timezone == "screen" and version
            else timezone
            if timezone != "screen"
            else "UTC"
        )
        local = p["playedAt"].astimezone(zone)
        if not FIRST <= local.date() <= LAST:
            continue
        attributes = {"date": local.date().isoformat(), "hour": local.hour, "screenId": p["screenId"],
                      "campaignId": p["campaignId"], "venueType": fields.get("venueType"),
                      "market": fields.get("market"), "country": fields.get("country")}  # fmt: skip
        group = out[tuple(attributes[k] for k in keys)]
        plays_here = p.get("playCount", 1)
        rule = fields.get("qualification", {"minDurationMs": 1000})
        qualified = p["durationMs"] >= rule["minDurationMs"] and (
            rule.get("minShareOfPlanned") is None
            or (
                "plannedDurationMs" in p
                and p["durationMs"] >= rule["minShareOfPlanned"] * p["plannedDurationMs"]
            )
        )
        scheduled = None
        if version:
            screen_local = p["playedAt"].astimezone(ZoneInfo(fields["timeZone"]))
            multiplier = fields["audience"]["impressionSchedule"][screen_local.weekday()][screen_local.hour]
            scheduled = plays_here * multiplier * fields["screens"]
        measured = p.get("impressions", {}).get("ageBuckets", {}).get("total")
        group["plays"] += plays_here
        group["qualifiedPlays"] += plays_here if qualified else 0
        group["measured"] += measured or 0
        group["scheduled"] += scheduled or 0
        group["total"] += measured if measured is not None else (scheduled or 0)
    return {k: dict(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def loaded(stack):
    tenant_id = unique("screens-report")
    plays = make_plays(tenant_id, 3000)
    client = clients.bigquery()
    # Published now, as the subscription's rows are: after any roll, so rollups and the late tail
    # (the events a roll has not reached) count them as raw events would.
    published = datetime.now(UTC)
    rows = [
        {**p, "playedAt": p["playedAt"].isoformat(), "publish_time": published.isoformat(),
         "message_id": p["eventId"], "subscription_name": "test"}
        for p in plays
    ]  # fmt: skip
    rows.append(
        dict(
            rows[0],
            durationMs=1,
            publish_time=(published + timedelta(hours=1)).isoformat(),
            message_id="again",
        )
    )
    for start in range(0, len(rows), 1000):
        assert client.insert_rows_json(clients.events_table(), rows[start : start + 1000]) == []
    assert client.insert_rows_json(clients.screens_table(), screen_rows(tenant_id)) == []
    return tenant_id, plays


def report(tenant_id: str, keys: tuple[str, ...], timezone: str) -> dict[tuple, dict]:
    rows: list[dict] = []
    page, size = 1, 1
    while len(rows) < size:
        more, size = delivery_report(
            tenant_id, DeliveryQuery(FIRST, LAST, timezone, keys, page=page, per_page=200)
        )
        rows += more
        page += 1
    got = {}
    for r in rows:
        got[tuple(r[k] for k in keys)] = r
    return got


def compare(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        assert g["plays"] == w["plays"], key
        assert g["qualifiedPlays"] == w["qualifiedPlays"], key
        for name in ("measured", "scheduled", "total"):
            assert g["impressions"][name] == pytest.approx(w[name], abs=0.0011), (key, name)


@pytest.mark.parametrize(
    "keys,timezone",
    [
        (("date", "screenId"), "screen"),
        (("date", "hour", "screenId"), "screen"),
        (("date", "screenId"), "UTC"),
        (("date", "hour"), "America/Toronto"),
        (("country", "market", "venueType"), "screen"),
        (("date", "campaignId"), "Australia/Sydney"),
    ],
)
def test_the_report_matches_a_computation_from_the_schedules(loaded, keys, timezone):
    tenant_id, plays = loaded
    compare(report(tenant_id, keys, timezone), expected(plays, keys, timezone))


# The hand-picked plays (make_plays), each its own campaign: (local date, local hour, qualified,
# scheduled impressions by hand: faces x (base + weekday + hour / 100)).
EDGES = {
    "edge-0": ("2025-03-30", 0, True, 2 * (1.0 + 6 + 0.00)),  # London, Sunday 00:59:59 GMT
    "edge-1": ("2025-03-30", 2, True, 2 * (1.0 + 6 + 0.02)),  # London, Sunday 02:00 BST (01:00 skipped)
    "edge-2": ("2025-04-06", 2, True, 3 * (2.0 + 6 + 0.02)),  # Sydney, Sunday 02:30 AEDT
    "edge-3": ("2025-04-06", 2, True, 3 * (2.0 + 6 + 0.02)),  # Sydney, Sunday 02:30 AEST, the hour again
    "edge-4": ("2025-03-30", 0, True, 3 * (2.0 + 6 + 0.00)),  # Sydney before its first version
    "edge-5": ("2025-04-05", 23, False, 1 * (0.5 + 5 + 0.23)),  # Toronto, Saturday 23:30 EDT, retired; < 5 s
    "edge-6": ("2025-04-02", 12, True, 2 * (1.0 + 2 + 0.12)),  # London, Wednesday 12:59:59 BST: version 1
    "edge-7": ("2025-04-02", 13, True, 2 * (10.0 + 2 + 0.13)),  # London, Wednesday 13:00 BST: version 2
}


def test_screen_time_days_hours_and_schedules_at_the_edges(loaded):
    """DST changes in London and Sydney, a schedule changed mid-week (from its validFrom only), a play
    before the screen's first version, a retired screen, a play too short for its screen's rule."""
    tenant_id, _ = loaded
    got = report(tenant_id, ("campaignId", "date", "hour"), "screen")
    edges = {k[0]: (k[1], k[2], r) for k, r in got.items() if k[0].startswith("edge-")}
    assert set(edges) == set(EDGES)
    for campaign, (day, hour, qualified, scheduled) in EDGES.items():
        got_day, got_hour, row = edges[campaign]
        assert (got_day, got_hour) == (day, hour), campaign
        assert row["plays"] == 1 and row["qualifiedPlays"] == int(qualified), campaign
        assert row["impressions"]["scheduled"] == round(scheduled, 3), campaign
        assert row["impressions"]["total"] == row["impressions"]["scheduled"], campaign
        assert row["impressions"]["measured"] == 0, campaign


def test_a_retired_screen_and_an_unknown_screen_stay_in_the_report(loaded):
    tenant_id, plays = loaded
    got = report(tenant_id, ("screenId", "market"), "UTC")
    assert got[("tor", "Toronto")]["plays"] > 0  # retired on 3 April, its later plays included
    nowhere = got[("nowhere", None)]
    assert nowhere["impressions"]["scheduled"] == 0
    assert nowhere["plays"] == sum(
        p.get("playCount", 1)
        for p in plays
        if p["screenId"] == "nowhere" and FIRST <= p["playedAt"].date() <= LAST
    )
