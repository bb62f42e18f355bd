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
    """README's rule for event_id: sha256 of the [name, value] pairs as compact JSON, first 32 hex
    digits; a dotted name (context.seller) is the value at that path."""

    def value(name: str):
        node = event
        for part in name.split("."):
            node = node[part]
        return node

    key = json.dumps([[n, value(n)] for n in names], separators=(",", ":"))
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
    rows: list[int] | None = None  # the row of each event, when the test checks it
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

# DV360 Out-of-Home Seller API, sellers.adPlays.batchCreate: the request body saved as one JSON
# document (sources, and what is guessed, in tests/data/exports/README.md:
# https://developers.google.com/display-video/out-of-home-seller/reference/rest/v1/sellers.adPlays/batchCreate
# and https://developers.google.com/display-video/out-of-home-seller/reference/rest/v1/sellers.adPlays).
# Each play: (row = position in "requests", screenId, campaignId, creativeId, playedAt, durationMs,
# impressionCount). Resource names give their last id; requests 4, 8, 14, 18, ... use external ids;
# 6, 14, 22, 30, 38 have nanosecond times, read to the millisecond.
DV360_BATCH_PLAYS = [
    (1, "9000", "310", "70", "2025-06-02T07:00:00.000Z", 15000, 12.5),
    (2, "9001", "311", "71", "2025-06-02T07:00:47.000Z", 10000, 3.0),
    (3, "9002", "312", "72", "2025-06-02T07:01:34.000Z", 30000, 7.25),
    (4, "screen-ext-9003", "L-310", "cr-ext-73", "2025-06-02T07:02:21.000Z", 15000, 0.5),
    (5, "9004", "311", "70", "2025-06-02T07:03:08.000Z", 20000, 40.0),
    (6, "9005", "312", "71", "2025-06-02T07:03:55.617Z", 15000, 12.5),
    (7, "9000", "310", "72", "2025-06-02T07:04:42.000Z", 10000, 3.0),
    (8, "screen-ext-9001", "L-311", "cr-ext-73", "2025-06-02T07:05:29.000Z", 30000, 7.25),
    (9, "9002", "312", "70", "2025-06-02T07:06:16.000Z", 15000, 0.5),
    (10, "9003", "310", "71", "2025-06-02T07:07:03.000Z", 20000, 40.0),
    (11, "9004", "311", "72", "2025-06-02T07:07:50.000Z", 15000, 12.5),
    (12, "9005", "312", "73", "2025-06-02T07:08:37.000Z", 10000, 3.0),
    (13, "9000", "310", "70", "2025-06-02T07:09:24.000Z", 30000, 7.25),
    (14, "screen-ext-9001", "L-311", "cr-ext-71", "2025-06-02T07:10:11.604Z", 15000, 0.5),
    (15, "9002", "312", "72", "2025-06-02T07:10:58.000Z", 20000, 40.0),
    (16, "9003", "310", "73", "2025-06-02T07:11:45.000Z", 15000, 12.5),
    (17, "9004", "311", "70", "2025-06-02T07:12:32.000Z", 10000, 3.0),
    (18, "screen-ext-9005", "L-312", "cr-ext-71", "2025-06-02T07:13:19.000Z", 30000, 7.25),
    (19, "9000", "310", "72", "2025-06-02T07:14:06.000Z", 15000, 0.5),
    (20, "9001", "311", "73", "2025-06-02T07:14:53.000Z", 20000, 40.0),
    (21, "9002", "312", "70", "2025-06-02T07:15:40.000Z", 15000, 12.5),
    (22, "9003", "310", "71", "2025-06-02T07:16:27.592Z", 10000, 3.0),
    (23, "9004", "311", "72", "2025-06-02T07:17:14.000Z", 30000, 7.25),
    (24, "screen-ext-9005", "L-312", "cr-ext-73", "2025-06-02T07:18:01.000Z", 15000, 0.5),
    (25, "9000", "310", "70", "2025-06-02T07:18:48.000Z", 20000, 40.0),
    (26, "9001", "311", "71", "2025-06-02T07:19:35.000Z", 15000, 12.5),
    (27, "9002", "312", "72", "2025-06-02T07:20:22.000Z", 10000, 3.0),
    (28, "screen-ext-9003", "L-310", "cr-ext-73", "2025-06-02T07:21:09.000Z", 30000, 7.25),
    (29, "9004", "311", "70", "2025-06-02T07:21:56.000Z", 15000, 0.5),
    (30, "9005", "312", "71", "2025-06-02T07:22:43.580Z", 20000, 40.0),
    (31, "9000", "310", "72", "2025-06-02T07:23:30.000Z", 15000, 12.5),
    (32, "9001", "311", "73", "2025-06-02T07:24:17.000Z", 10000, 3.0),
    (33, "9002", "312", "70", "2025-06-02T07:25:04.000Z", 30000, 7.25),
    (34, "screen-ext-9003", "L-310", "cr-ext-71", "2025-06-02T07:25:51.000Z", 15000, 0.5),
    (35, "9004", "311", "72", "2025-06-02T07:26:38.000Z", 20000, 40.0),
    (36, "9005", "312", "73", "2025-06-02T07:27:25.000Z", 15000, 12.5),
    (37, "9000", "310", "70", "2025-06-02T07:28:12.000Z", 10000, 3.0),
    (38, "screen-ext-9001", "L-311", "cr-ext-71", "2025-06-02T07:28:59.567Z", 30000, 7.25),
    (39, "9002", "312", "72", "2025-06-02T07:29:46.000Z", 15000, 0.5),
    (40, "9003", "310", "73", "2025-06-02T07:30:33.000Z", 20000, 40.0),
]


def _dv360_event(row, screen, campaign, creative, played, ms, impressions) -> dict:
    return {
        "screenId": screen,
        "campaignId": campaign,
        "creativeId": creative,
        "playedAt": played,
        "durationMs": ms,
        "impressions": {"ageBuckets": {"total": impressions}},
        "context": {"seller": "1234"},
    }


DV360_BATCH = Expected(
    "dv360-ooh-adplays-2",
    "dv360-adplays-batchcreate.json",
    "json",
    (40, 40, 0, 0),
    [_dv360_event(*play) for play in DV360_BATCH_PLAYS],
    [],
    ("context.seller", "screenId", "creativeId", "campaignId", "playedAt"),
    lines=40,
    rows=[play[0] for play in DV360_BATCH_PLAYS],
)

ALL = [XIBO, BROADSIGN, DV360, DV360_BATCH]


def dv360_batch_with_bad_requests() -> tuple[bytes, list[tuple[int, str]]]:
    """The DV360 batch with four bad requests, and the row errors naming their positions (row = position
    in "requests", from 1; the label is the record's JSON path, from 0)."""
    body = json.loads(DV360_BATCH.data)
    requests = body["requests"]
    requests[2]["adPlay"]["endTime"] = "2025-06-02T07:01:00Z"  # before its startTime (07:01:34)
    del requests[16]["adPlay"]["adUnit"]
    del requests[24]["adPlay"]
    requests[39]["adPlay"]["startTime"] = "2025-06-02 07:30"  # no zone: RFC 3339 UTC ends in Z
    errors = [
        (3, "requests[2].adPlay: endTime (endedAt): is before startTime (playedAt)"),
        (17, "requests[16].adPlay: adUnit (screenId): required, but the record has no value for it"),
        (25, "records 'requests[*].adPlay': requests[24].adPlay is missing"),
        (
            40,
            "requests[39].adPlay: startTime (playedAt): '2025-06-02 07:30' has no time zone; give one in the "
            "mapping (timezone), the ingest (metadata.timezone) or per record (timezone_field, timezone_lookup)",
        ),
    ]
    return json.dumps(body, indent=2).encode(), errors
