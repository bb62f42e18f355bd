"""Each shipped example mapping on its sample export (tests/data/exports, sources in its README),
through `shared.bulk.preview`: the splitter's framing and the worker's mapping loop."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from shared.bulk.preview import preview
from tests.bulk_files import shipped_examples

EXPORTS = Path(__file__).resolve().parent.parent / "data" / "exports"
EXAMPLES = shipped_examples()


def natural_id(*pairs) -> str:
    """README's rule for event_id: sha256 of the [name, value] pairs as compact JSON, first 32 hex digits."""
    key = json.dumps([list(p) for p in pairs], separators=(",", ":"))
    return "evt-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def run(version: str, sample: str, fmt: str, metadata: dict | None = None):
    return preview(EXAMPLES[version], (EXPORTS / sample).read_bytes(), fmt, metadata)


XIBO_EVENTS = [
    # 00:59:50 GMT, the last minute before the clocks go forward
    {"screenId": "Lobby 1", "creativeId": "spring-sale.mp4", "playedAt": "2025-03-30T00:59:50.000Z",
     "durationMs": 15000, "playCount": 1, "context": {"layout": "Spring Loop", "engagements": []}},
    # 01:30 does not exist in London that day: read with the offset before the change (GMT)
    {"screenId": "Lobby 1", "creativeId": "spring-sale.mp4", "playedAt": "2025-03-30T01:30:00.000Z",
     "durationMs": 15000, "playCount": 1, "context": {"layout": "Spring Loop", "engagements": []}},
    # 02:45 BST
    {"screenId": "Lobby 2", "creativeId": "spring-teaser.png", "playedAt": "2025-03-30T01:45:00.000Z",
     "durationMs": 10000, "playCount": 1, "context": {"layout": "Spring Loop", "engagements": []}},
    # 01:30 happens twice on 26 October: the first time (BST)
    {"screenId": "Lobby 1", "creativeId": "autumn-sale.mp4", "playedAt": "2025-10-26T00:30:00.000Z",
     "durationMs": 15000, "playCount": 1, "context": {"layout": "Autumn Loop", "tag": "promo", "engagements": []}},
    # an aggregated row: 40 plays, 600 s in all; Engagements read out of its JSON string
    {"screenId": "Lobby 2", "creativeId": "autumn-sale.mp4", "playedAt": "2025-10-26T02:10:00.000Z",
     "durationMs": 600000, "playCount": 40,
     "context": {"layout": "Autumn Loop", "engagements": [{"tag": "tap", "count": 3}]}},
]


def test_xibo_statistics_export():
    result = run("xibo-stats-1", "xibo-proof-of-play.csv", "csv")
    assert (result.totalRows, result.processedRows, result.errorRows, result.skippedRows) == (10, 5, 2, 3)
    for event in XIBO_EVENTS:
        event["eventId"] = natural_id(("screenId", event["screenId"]), ("creativeId", event["creativeId"]),
                                      ("playedAt", event["playedAt"]))
    assert result.events == [{"eventId": e.pop("eventId"), **e} for e in XIBO_EVENTS]
    assert [(e.row, e.error) for e in result.errors] == [
        (9, "Display (screenId): required, but the record has no value for it"),  # "Not Found" is a null
        (10, "FromDT (playedAt): expected a timestamp like '%Y-%m-%d %H:%M:%S', got '2025-10-26 26:00:00'; "
             "ToDT (endedAt): expected a timestamp like '%Y-%m-%d %H:%M:%S', got '2025-10-26 26:00:15'"),
    ]


def test_xibo_ingest_zone_overrides_the_mappings():
    result = run("xibo-stats-1", "xibo-proof-of-play.csv", "csv", {"timezone": "Europe/Paris", "source": "x"})
    # 00:59:50 in Paris (CET, UTC+1) on 30 March
    assert result.events[0]["playedAt"] == "2025-03-29T23:59:50.000Z"


BROADSIGN_CONTEXT = {"frameId": 4457, "n_screens": 1, "schedule_id": 5003, "interactions": 0}


def test_broadsign_realtime_pop_bodies():
    result = run("broadsign-rt-pop-1", "broadsign-realtime-pop.ndjson", "ndjson")
    assert (result.totalRows, result.processedRows, result.errorRows, result.skippedRows) == (6, 3, 3, 0)
    expected = [
        # ends 03:00:10 EDT, 15 s long: started 01:59:55 EST (computed in UTC, across the change)
        {"screenId": "4456", "campaignId": "5002", "creativeId": "5001", "playedAt": "2025-03-09T06:59:55.000Z",
         "durationMs": 15000, "impressions": {"ageBuckets": {"total": 2.0}}, "context": BROADSIGN_CONTEXT,
         "device": {"playerId": "12345"}},
        {"screenId": "4456", "campaignId": "5002", "creativeId": "5010", "playedAt": "2025-03-09T07:00:10.500Z",
         "durationMs": 30000, "impressions": {"ageBuckets": {"total": 3.5}},
         "context": {**BROADSIGN_CONTEXT, "interactions": 1, "ext1": "bmb", "ext2": "3451"},
         "device": {"playerId": "12345"}},
        # Vancouver's repeated 01:30: the first one (PDT)
        {"screenId": "7781", "campaignId": "6002", "creativeId": "6001", "playedAt": "2025-11-02T08:30:00.000Z",
         "durationMs": 15000, "impressions": {"ageBuckets": {"total": 10.0}},
         "context": {"frameId": 7782, "n_screens": 2, "schedule_id": 6003, "interactions": 0},
         "device": {"playerId": "12346"}},
    ]
    for event in expected:
        event["eventId"] = natural_id(("screenId", event["screenId"]), ("creativeId", event["creativeId"]),
                                      ("playedAt", event["playedAt"]))
    assert [{k: e[k] for k in sorted(e)} for e in result.events] == [{k: e[k] for k in sorted(e)} for e in expected]
    assert "bsk-3f9a0c7d" not in json.dumps(result.events)  # the envelope's api_key is never kept
    assert [(e.row, e.error) for e in result.errors] == [
        (2, "pop[1]: ad_copy_id (creativeId): required, but the record has no value for it"),
        (3, "records 'pop': pop is missing"),
        (4, "pop[0]: end_time (endedAt): '2025-06-01T12:00:00.000' has no time zone; give one in the mapping "
            "(timezone), the ingest (metadata.timezone) or per record (timezone_field, timezone_lookup)"),
    ]


def test_broadsign_player_without_a_zone_takes_the_ingest_zone():
    result = run("broadsign-rt-pop-1", "broadsign-realtime-pop.ndjson", "ndjson", {"timezone": "UTC"})
    assert result.errorRows == 2 and result.processedRows == 4
    assert result.events[-1]["playedAt"] == "2025-06-01T11:59:50.000Z"


def test_dv360_adplays_batch_create_bodies():
    result = run("dv360-ooh-adplays-1", "dv360-adplays-batchcreate.ndjson", "ndjson")
    assert (result.totalRows, result.processedRows, result.errorRows, result.skippedRows) == (4, 2, 2, 0)
    expected = [
        {"screenId": "9001", "campaignId": "321", "creativeId": "77", "playedAt": "2025-03-30T00:59:50.000Z",
         "durationMs": 15000, "impressions": {"ageBuckets": {"total": 12.5}}},
        # external ids (no resource path); nanoseconds read to the millisecond
        {"screenId": "screen-ext-9002", "campaignId": "L-321", "creativeId": "cr-ext-78",
         "playedAt": "2025-03-30T01:30:00.123Z", "durationMs": 15000, "impressions": {"ageBuckets": {"total": 3.0}}},
    ]
    for event in expected:
        event["eventId"] = natural_id(*((k, event[k]) for k in ("screenId", "creativeId", "campaignId", "playedAt")))
    assert [{k: e[k] for k in sorted(e)} for e in result.events] == [{k: e[k] for k in sorted(e)} for e in expected]
    assert [(e.row, e.error) for e in result.errors] == [
        (2, "requests[0].adPlay: endTime (endedAt): is before startTime (playedAt)"),
        (2, "requests[1].adPlay: adUnit (screenId): required, but the record has no value for it"),
    ]


@pytest.mark.parametrize("version", sorted(EXAMPLES))
def test_examples_survive_a_round_trip_through_storage(version):
    from shared.bulk.schemas import load_mapping

    mapping = EXAMPLES[version]
    assert load_mapping(mapping.model_dump(mode="json")) == mapping
