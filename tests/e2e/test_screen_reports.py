"""Screens in reports, end to end on the local stack: screens registered, changed and retired over the
API (mirrored into BigQuery by the screens function), plays sent over the events endpoint (through
pop-events and the BigQuery subscription stand-in), reports read through the gateway. Every expected
figure is computed here by hand (zoneinfo for the local time, the schedules for the multipliers).

Screens in London, Toronto and Sydney; plays across Toronto's DST change (Sunday 9 March 2025, 02:00
local), London's (Sunday 30 March, 01:00 UTC) and Sydney's (Sunday 6 April, 03:00 local back to
02:00). Plays logged before a screen was registered take its first version (docs/reports.md). London's
schedule then changes (version 2, valid from the moment of the PUT): a play a second before uses
version 1's multiplier, a play a second after version 2's. Toronto is then retired, and its later
play still counts under its market.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from tests import polling
from tests.conftest import unique

SCREENS = "/coatro/v1/pop/screens"
EVENTS = "/coatro/v1/pop/events"
REPORT = "/coatro/v1/pop/reports/delivery"


def schedule(base: float) -> list[list[float]]:
    """base + weekday + hour / 100: every weekday and hour its own multiplier."""
    return [[base + day + hour / 100 for hour in range(24)] for day in range(7)]


def multiplier(base: float, local: datetime) -> float:
    return base + local.weekday() + local.hour / 100


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_screen_time_schedules_history_and_qualification_end_to_end(stack, tenant):
    key = {"X-API-Key": tenant[1]}
    tag = unique("st")
    lon, tor, syd = f"{tag}-lon", f"{tag}-tor", f"{tag}-syd"
    screens = {
        lon: ({"timeZone": "Europe/London", "market": "London", "country": "GB", "screens": 2}, 1.0),
        tor: ({"timeZone": "America/Toronto", "market": "Toronto", "country": "CA"}, 0.5),
        syd: ({"timeZone": "Australia/Sydney", "market": "Sydney", "country": "AU", "screens": 3}, 2.0),
    }
    for screen_id, (fields, base) in screens.items():
        body = {**fields, "name": screen_id, "audience": {"impressionSchedule": schedule(base)}}
        put = requests.put(f"{stack.gateway_url}{SCREENS}/{screen_id}", json=body, headers=key, timeout=30)
        assert put.status_code == 201, put.text

    # (campaignId, screen, playedAt, durationMs, expected local date and hour in the screen's zone)
    plays = [
        ("tor-before", tor, "2025-03-09T06:30:00Z", 6000, "2025-03-09", 1),  # 01:30 EST
        ("tor-after", tor, "2025-03-09T07:30:00Z", 6000, "2025-03-09", 3),  # 03:30 EDT: 02:00 skipped
        ("lon-before", lon, "2025-03-30T00:59:59Z", 2000, "2025-03-30", 0),  # 00:59 GMT
        ("lon-after", lon, "2025-03-30T01:00:00Z", 2000, "2025-03-30", 2),  # 02:00 BST
        ("lon-short", lon, "2025-03-30T12:00:00Z", 999, "2025-03-30", 13),  # under 1 s: not qualified
        ("syd-first", syd, "2025-04-05T15:30:00Z", 2000, "2025-04-06", 2),  # 02:30 AEDT
        ("syd-again", syd, "2025-04-05T16:30:00Z", 2000, "2025-04-06", 2),  # 02:30 AEST, the same hour
        ("syd-readme", syd, "2025-03-29T23:30:00Z", 2000, "2025-03-30", 10),  # UTC: 29 March
    ]
    events = [
        {"eventId": f"{tag}-{c}", "campaignId": c, "screenId": s, "playedAt": p, "durationMs": d}
        for c, s, p, d, _, _ in plays
    ]
    # A registered screen's history: London's schedule changes now; Toronto is retired.
    changed = requests.put(
        f"{stack.gateway_url}{SCREENS}/{lon}",
        json={**screens[lon][0], "name": lon, "audience": {"impressionSchedule": schedule(10.0)}},
        headers=key,
        timeout=30,
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2, changed.text
    switched = at(changed.json()["validFrom"])
    retired = requests.delete(f"{stack.gateway_url}{SCREENS}/{tor}", headers=key, timeout=30)
    assert retired.status_code == 200, retired.text
    retired_at = at(retired.json()["activeTo"])
    recent = [
        ("lon-v1", lon, switched - timedelta(seconds=1), 1.0),
        ("lon-v2", lon, switched + timedelta(seconds=1), 10.0),
        ("tor-retired", tor, retired_at + timedelta(seconds=1), 0.5),
    ]
    events += [
        {
            "eventId": f"{tag}-{c}",
            "campaignId": c,
            "screenId": s,
            "playedAt": t.isoformat(),
            "durationMs": 6000,
        }
        for c, s, t, _ in recent
    ]
    sent = requests.post(f"{stack.gateway_url}{EVENTS}", json={"events": events}, headers=key, timeout=30)
    assert sent.status_code == 202, sent.text

    def report(first: date, last: date, group_by: str, timezone: str) -> dict[str, dict]:
        params = {
            "filter[from]": first.isoformat(),
            "filter[to]": last.isoformat(),
            "groupBy": group_by,
            "timezone": timezone,
            "per_page": 200,
        }
        response = requests.get(stack.gateway_url + REPORT, params=params, headers=key, timeout=60)
        assert response.status_code == 200, response.text
        return {r["campaignId"]: r for r in response.json()["result"]}

    spring = (date(2025, 3, 8), date(2025, 4, 7))
    got = polling.until(
        lambda: report(*spring, "campaignId,date,hour", "screen"),
        lambda rows: len(rows) == len(plays),
        timeout=120,
        interval=0.5,
    )
    assert set(got) == {c for c, *_ in plays}
    for campaign, screen_id, played_at, duration, day, hour in plays:
        row = got[campaign]
        fields, base = screens[screen_id]
        local = at(played_at).astimezone(ZoneInfo(fields["timeZone"]))
        assert (row["date"], row["hour"]) == (day, hour) == (local.date().isoformat(), local.hour), campaign
        scheduled = round(multiplier(base, local) * fields.get("screens", 1), 3)
        assert row["impressions"] == {
            "measured": 0.0,
            "scheduled": scheduled,
            "total": scheduled,
            "male": 0.0,
            "female": 0.0,
        }, campaign
        # every screen here keeps the default rule: at least 1,000 ms
        assert (row["plays"], row["qualifiedPlays"]) == (1, int(duration >= 1000)), campaign

    # The README's example: the same play on another day in one zone than in its screen's.
    assert report(*spring, "campaignId,date", "UTC")["syd-readme"]["date"] == "2025-03-29"
    assert got["syd-readme"]["date"] == "2025-03-30"

    # Now: the schedule change applies from its validFrom only; the retired screen still counts.
    today = datetime.now(UTC).date()
    now_rows = polling.until(
        lambda: report(
            today - timedelta(days=1), today + timedelta(days=1), "campaignId,screenId,market", "screen"
        ),
        lambda rows: len(rows) == len(recent),
        timeout=120,
        interval=0.5,
    )
    for campaign, screen_id, played_at, base in recent:
        fields = screens[screen_id][0]
        local = played_at.astimezone(ZoneInfo(fields["timeZone"]))
        row = now_rows[campaign]
        assert (row["screenId"], row["market"]) == (screen_id, fields["market"]), campaign
        assert row["impressions"]["scheduled"] == round(multiplier(base, local) * fields.get("screens", 1), 3)
