"""The sample exports of tests/data/exports (sources in its README) and the exact canonical events,
row errors and counts their shipped mappings make of them: checked in-process (unit) and through
the local stack (e2e)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"


def natural_id(event: dict, names: tuple[str, ...]) -> str:
    """README's rule for event_id: sha256 of the [name, value] pairs as compact JSON, first 32 hex digits."""
    key = json.dumps([[n, event[n]] for n in names], separators=(",", ":"))
    return "evt-" + hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass
class Expected:
    version: str
    sample: str
    fmt: str
    counts: tuple[int, int, int, int]  # totalRows, processedRows, errorRows, skippedRows
    events: list[dict]
    errors: list[tuple[int, str]]
    key: tuple[str, ...]
    lines: int = 0  # rows the splitter counts (lines / elements), the job's totalRows while it runs
    ids: list[str] = field(init=False)

    def __post_init__(self):
        self.ids = [natural_id(e, self.key) for e in self.events]
        self.events = [{"eventId": i, **e} for i, e in zip(self.ids, self.events, strict=True)]

    @property
    def data(self) -> bytes:
        return (EXPORTS / self.sample).read_bytes()


BROADSIGN_CONTEXT = {"frameId": 4457, "n_screens": 1, "schedule_id": 5003, "interactions": 0}

XIBO = Expected(
    "xibo-stats-1",
    "xibo-proof-of-play.csv",
    "csv",
    (10, 5, 2, 3),
    [
        # 00:59:50 GMT, the last minute before the clocks go forward
        {
            "screenId": "Lobby 1",
            "creativeId": "spring-sale.mp4",
            "playedAt": "2025-03-30T00:59:50.000Z",
            "durationMs": 15000,
            "playCount": 1,
            "context": {"layout": "Spring Loop", "engagements": []},
        },
        # 01:30 does not exist in London that day: read with the offset before the change (GMT)
        {
            "screenId": "Lobby 1",
            "creativeId": "spring-sale.mp4",
            "playedAt": "2025-03-30T01:30:00.000Z",
            "durationMs": 15000,
            "playCount": 1,
            "context": {"layout": "Spring Loop", "engagements": []},
        },
        # 02:45 BST
        {
            "screenId": "Lobby 2",
            "creativeId": "spring-teaser.png",
            "playedAt": "2025-03-30T01:45:00.000Z",
            "durationMs": 10000,
            "playCount": 1,
            "context": {"layout": "Spring Loop", "engagements": []},
        },
        # 01:30 happens twice on 26 October: the first time (BST)
        {
            "screenId": "Lobby 1",
            "creativeId": "autumn-sale.mp4",
            "playedAt": "2025-10-26T00:30:00.000Z",
            "durationMs": 15000,
            "playCount": 1,
            "context": {"layout": "Autumn Loop", "tag": "promo", "engagements": []},
        },
        # an aggregated row: 40 plays, 600 s in all; Engagements read out of its JSON string
        {
            "screenId": "Lobby 2",
            "creativeId": "autumn-sale.mp4",
            "playedAt": "2025-10-26T02:10:00.000Z",
            "durationMs": 600000,
            "playCount": 40,
            "context": {"layout": "Autumn Loop", "engagements": [{"tag": "tap", "count": 3}]},
        },
    ],
    [
        (9, "Display (screenId): required, but the record has no value for it"),  # "Not Found" is a null
        (
            10,
            "FromDT (playedAt): expected a timestamp like '%Y-%m-%d %H:%M:%S', got '2025-10-26 26:00:00'; "
            "ToDT (endedAt): expected a timestamp like '%Y-%m-%d %H:%M:%S', got '2025-10-26 26:00:15'",
        ),
    ],
    ("screenId", "creativeId", "playedAt"),
    lines=10,
)

BROADSIGN = Expected(
    "broadsign-rt-pop-1",
    "broadsign-realtime-pop.ndjson",
    "ndjson",
    (6, 3, 3, 0),
    [
        # ends 03:00:10 EDT, 15 s long: started 01:59:55 EST (computed in UTC, across the change)
        {
            "screenId": "4456",
            "campaignId": "5002",
            "creativeId": "5001",
            "playedAt": "2025-03-09T06:59:55.000Z",
            "durationMs": 15000,
            "impressions": {"ageBuckets": {"total": 2.0}},
            "context": BROADSIGN_CONTEXT,
            "device": {"playerId": "12345"},
        },
        {
            "screenId": "4456",
            "campaignId": "5002",
            "creativeId": "5010",
            "playedAt": "2025-03-09T07:00:10.500Z",
            "durationMs": 30000,
            "impressions": {"ageBuckets": {"total": 3.5}},
            "context": {**BROADSIGN_CONTEXT, "interactions": 1, "ext1": "bmb", "ext2": "3451"},
            "device": {"playerId": "12345"},
        },
        # Vancouver's repeated 01:30: the first one (PDT)
        {
            "screenId": "7781",
            "campaignId": "6002",
            "creativeId": "6001",
            "playedAt": "2025-11-02T08:30:00.000Z",
            "durationMs": 15000,
            "impressions": {"ageBuckets": {"total": 10.0}},
            "context": {"frameId": 7782, "n_screens": 2, "schedule_id": 6003, "interactions": 0},
            "device": {"playerId": "12346"},
        },
    ],
    [
        (2, "pop[1]: ad_copy_id (creativeId): required, but the record has no value for it"),
        (3, "records 'pop': pop is missing"),
        (
            4,
            "pop[0]: end_time (endedAt): '2025-06-01T12:00:00.000' has no time zone; give one in the mapping "
            "(timezone), the ingest (metadata.timezone) or per record (timezone_field, timezone_lookup)",
        ),
    ],
    ("screenId", "creativeId", "playedAt"),
    lines=5,
)

DV360 = Expected(
    "dv360-ooh-adplays-1",
    "dv360-adplays-batchcreate.ndjson",
    "ndjson",
    (4, 2, 2, 0),
    [
        {
            "screenId": "9001",
            "campaignId": "321",
            "creativeId": "77",
            "playedAt": "2025-03-30T00:59:50.000Z",
            "durationMs": 15000,
            "impressions": {"ageBuckets": {"total": 12.5}},
        },
        # external ids (no resource path); nanoseconds read to the millisecond
        {
            "screenId": "screen-ext-9002",
            "campaignId": "L-321",
            "creativeId": "cr-ext-78",
            "playedAt": "2025-03-30T01:30:00.123Z",
            "durationMs": 15000,
            "impressions": {"ageBuckets": {"total": 3.0}},
        },
    ],
    [
        (2, "requests[0].adPlay: endTime (endedAt): is before startTime (playedAt)"),
        (2, "requests[1].adPlay: adUnit (screenId): required, but the record has no value for it"),
    ],
    ("screenId", "creativeId", "campaignId", "playedAt"),
    lines=2,
)

ALL = [XIBO, BROADSIGN, DV360]
