"""Screen-local time in mappings ("timezone": "screen"): the resolution over a screen's zone history
(pure, in-memory versions), the mapping's option and its refusals, and the rows loop reading screens
in batches (a fake lookup), as the worker and the preview run it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.bulk import rows
from shared.bulk.mapping import screen_zones
from shared.bulk.preview import preview
from shared.bulk.schemas import compile_mapping, load_mapping, mapping_problems
from shared.records.screens import ScreenRecord

# A screen in London until Wednesday 2025-06-04 12:00Z, then in Sydney (moved mid-week).
CHANGE = "2025-06-04T12:00:00Z"
MOVED = screen_zones.spans(
    [("Europe/London", "2025-01-01T00:00:00Z", CHANGE), ("Australia/Sydney", CHANGE, None)]
)


def utc(wall: str, history) -> str:
    instant = screen_zones.local_instant(datetime.fromisoformat(wall), history)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("wall", "instant"),
    [
        ("2025-06-02T10:00:00", "2025-06-02T09:00:00Z"),  # Monday: London (BST)
        ("2025-06-04T12:30:00", "2025-06-04T11:30:00Z"),  # Wednesday, before the move (BST)
        ("2025-06-05T10:00:00", "2025-06-05T00:00:00Z"),  # Thursday: Sydney (AEST, +10)
        # 23:00 Wednesday: in Sydney 13:00Z (after the move), in London 22:00Z (also after): Sydney
        ("2025-06-04T23:00:00", "2025-06-04T13:00:00Z"),
        # 14:00 Wednesday: in Sydney 04:00Z (before the move), in London 13:00Z (after its end):
        # no version holds it, so the zone before the change (London), as a missing hour is read
        ("2025-06-04T14:00:00", "2025-06-04T13:00:00Z"),
        ("2024-12-31T23:00:00", "2024-12-31T23:00:00Z"),  # before version 1: version 1's zone (GMT)
        ("2020-07-01T12:00:00", "2020-07-01T11:00:00Z"),  # long before: still London (BST then)
    ],
)
def test_the_version_valid_at_the_instant_gives_the_zone(wall, instant):
    assert utc(wall, MOVED) == instant


def test_both_readings_valid_the_newer_version_wins():
    # Sydney -> London on 2025-06-04 12:00Z: 11:30 local is 01:30Z in Sydney (before the change, so
    # version 1 holds it) and 10:30Z in London (after it, so version 2 holds it too): the newer.
    back = screen_zones.spans(
        [("Australia/Sydney", "2025-01-01T00:00:00Z", CHANGE), ("Europe/London", CHANGE, None)]
    )
    assert utc("2025-06-04T13:30:00", back) == "2025-06-04T12:30:00Z"  # London: 12:30Z is after
    assert utc("2025-06-04T11:30:00", back) == "2025-06-04T01:30:00Z"  # London 10:30Z is before: Sydney


@pytest.mark.parametrize(
    ("wall", "instant"),
    [
        ("2025-10-26T01:30:00", "2025-10-26T00:30:00Z"),  # repeated hour: the first (BST)
        ("2025-03-30T01:30:00", "2025-03-30T01:30:00Z"),  # missing hour: the offset before (GMT)
        ("2025-04-06T02:30:00", "2025-04-05T15:30:00Z"),  # Sydney's repeated hour: the first (AEDT)
        ("2025-10-05T02:30:00", "2025-10-04T16:30:00Z"),  # Sydney's missing hour: AEST, moved on
    ],
)
def test_daylight_saving_edges_follow_the_mappings_rule(wall, instant):
    zone = "Europe/London" if wall.startswith(("2025-10-26", "2025-03-30")) else "Australia/Sydney"
    history = screen_zones.spans([(zone, "2020-01-01T00:00:00Z", None)])
    assert utc(wall, history) == instant
    # ... and the same in a screen whose history holds other zones before
    moved = screen_zones.spans(
        [("Asia/Tokyo", "2019-01-01T00:00:00Z", "2020-01-01T00:00:00Z"), (zone, "2020-01-01T00:00:00Z", None)]
    )
    assert utc(wall, moved) == instant


def test_versions_in_one_zone_are_one_span():
    history = screen_zones.spans(
        [
            ("Europe/London", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"),
            ("Europe/London", "2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z"),
            ("Europe/London", "2025-04-01T00:00:00Z", None),
        ]
    )
    assert [(s.zone.key, s.start, s.end) for s in history] == [
        ("Europe/London", datetime(2025, 1, 1, tzinfo=UTC), None)
    ]


# -- the mapping ---------------------------------------------------------------------------------------


def screen_mapping(**kw):
    return load_mapping(
        {"version": "scr-1", "fields": {"scr": "screenId", "t": "playedAt"}, "timezone": "screen", **kw}
    )


def problems(data) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        load_mapping({"version": "x", **data})
    return mapping_problems(caught.value)


def test_the_option_is_refused_with_the_other_zone_options():
    assert problems({"timezone": "screen", "timezone_field": "tz"}) == [
        "timezone: 'screen' reads each record's zone from its registered screen; it cannot be combined "
        "with timezone_field: use one or the other"
    ]
    lookup = {"field": "p", "zones": {"1": "UTC"}}
    assert "combined with timezone_lookup" in problems({"timezone": "screen", "timezone_lookup": lookup})[0]
    assert "or 'screen' for the zone of each record's screen" in problems({"timezone": "screens"})[0]


def record(
    screen_id: str, zone: str, version: int, valid_from: str, valid_to: str | None, tenant: str = "t1"
):
    return ScreenRecord(
        tenantId=tenant,
        screenId=screen_id,
        version=version,
        validFrom=valid_from,
        validTo=valid_to,
        updatedAt=valid_from,
        fields={"timeZone": zone},
    )


REGISTRY = {
    "lon": [record("lon", "Europe/London", 1, "2025-01-01T00:00:00Z", None)],
    "syd": [record("syd", "Australia/Sydney", 1, "2025-01-01T00:00:00Z", None)],
    "moved": [
        record("moved", "Australia/Sydney", 2, CHANGE, None),
        record("moved", "Europe/London", 1, "2025-01-01T00:00:00Z", CHANGE),
    ],
}


class Lookup:
    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, screen_ids):
        self.calls.append(list(screen_ids))
        return {s: REGISTRY[s] for s in screen_ids if s in REGISTRY}


SAMPLE = b"""{"scr": "lon", "t": "2025-07-01T10:00:00"}
{"scr": "syd", "t": "2025-07-01T10:00:00"}
{"scr": "moved", "t": "2025-06-02T10:00:00"}
{"scr": "moved", "t": "2025-06-05T10:00:00"}
{"scr": "ghost", "t": "2025-07-01T10:00:00"}
{"t": "2025-07-01T10:00:00"}
{"scr": "ghost", "t": "2025-07-01T10:00:00Z"}
{"scr": "lon", "t": "2025-07-01T10:00:00", "durationMs": "x"}
"""


def test_preview_reads_local_times_in_each_screens_zone_with_one_batched_read():
    lookup = Lookup()
    shown = preview(screen_mapping(), SAMPLE, "ndjson", {"timezone": "Asia/Tokyo"}, lookup)
    assert [(e["screenId"], e["playedAt"]) for e in shown.events] == [
        ("lon", "2025-07-01T09:00:00.000Z"),
        ("syd", "2025-07-01T00:00:00.000Z"),
        ("moved", "2025-06-02T09:00:00.000Z"),
        ("moved", "2025-06-05T00:00:00.000Z"),
        ("ghost", "2025-07-01T10:00:00.000Z"),  # an offset: no zone needed, no screen read
    ]
    assert [(e.row, e.error) for e in shown.errors] == [
        (
            5,
            "scr (screenId): 'ghost' is not a registered screen, so its local time zone is unknown (timezone: screen)",
        ),
        (
            6,
            "scr (screenId): required: the record's local timestamps are read in its screen's time zone (timezone: screen)",
        ),
        (8, "durationMs: Input should be a valid integer"),
    ]
    assert lookup.calls == [["lon", "syd", "moved", "ghost"]]  # one read, distinct ids, the one window


def test_without_a_registry_every_local_time_is_its_screens_error():
    shown = preview(screen_mapping(), b'{"scr": "lon", "t": "2025-07-01T10:00:00"}\n', "ndjson")
    assert shown.errors[0].error.startswith("scr (screenId): 'lon' is not a registered screen")


def test_envelope_records_wait_for_their_screens_and_errors_name_their_place():
    m = load_mapping(
        {
            "version": "scr-2",
            "records": "plays",
            "envelope_fields": ["scr"],
            "fields": {"scr": "screenId", "t": "playedAt", "e": "endedAt"},
            "timezone": "screen",
        }
    )
    body = b'{"scr": "syd", "plays": [{"t": "2025-07-01T10:00:00", "e": "2025-07-01T10:00:15"}, {"scr": "nope", "t": "2025-07-01T10:00:00"}]}\n'
    shown = preview(m, body, "ndjson", None, Lookup())
    assert [(e["playedAt"], e["durationMs"]) for e in shown.events] == [("2025-07-01T00:00:00.000Z", 15000)]
    assert shown.errors[0].error.startswith("plays[1]: scr (screenId): 'nope' is not a registered screen")


def test_screens_are_read_in_windows_and_each_once_per_chunk(monkeypatch):
    monkeypatch.setattr(rows, "SCREEN_WINDOW", 2)
    lookup = Lookup()
    body = b"".join(
        b'{"scr": "%s", "t": "2025-07-01T10:00:00"}\n' % s
        for s in [b"lon", b"syd", b"lon", b"moved", b"syd", b"lon"]
    )
    shown = preview(screen_mapping(), body, "ndjson", None, lookup)
    assert shown.processedRows == 6
    assert lookup.calls == [["lon", "syd"], ["moved"]]  # lon and syd kept for the chunk


def test_a_chunk_reads_at_most_its_bound_of_distinct_screens(monkeypatch):
    monkeypatch.setattr(rows, "MAX_SCREENS_PER_CHUNK", 2)
    lookup = Lookup()
    body = b"".join(
        b'{"scr": "%s", "t": "2025-07-01T10:00:00"}\n' % s for s in [b"lon", b"syd", b"moved", b"lon"]
    )
    shown = preview(screen_mapping(), body, "ndjson", None, lookup)
    assert shown.processedRows == 3 and lookup.calls == [["lon", "syd"]]
    assert (
        shown.errors[0].row == 3
        and "one screen more than a chunk of a file reads (2 distinct screens)" in shown.errors[0].error
    )


def test_a_zone_change_is_read_per_record_in_a_csv_with_a_pattern():
    m = screen_mapping(timestamp_format="%d/%m/%Y %H:%M")
    shown = preview(m, b"scr,t\nmoved,04/06/2025 14:00\nmoved,04/06/2025 23:00\n", "csv", None, Lookup())
    assert [e["playedAt"] for e in shown.events] == ["2025-06-04T13:00:00.000Z", "2025-06-04T13:00:00.000Z"]


def test_a_record_without_local_times_is_mapped_at_once():
    compiled = compile_mapping(screen_mapping(), "ndjson")
    event, error = compiled.one({"scr": "x", "t": "2025-07-01T10:00:00+02:00"})
    assert error is None and event.playedAt is not None
