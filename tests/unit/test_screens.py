"""The screen registry's pure parts: the screen's fields (every bad field named, the 500 rule), the
reference lists, and the type-2 history."""

from __future__ import annotations

import pytest

from shared.screens import history, reference
from shared.screens.model import ScreenFields, parse_screen

SCHEDULE = [[1.0] * 24 for _ in range(7)]
SCREEN = {
    "name": "Lobby north",
    "timeZone": "Europe/London",
    "venueType": 10101,
    "location": {"lat": 51.47, "lon": -0.45},
    "address": "Terminal 5",
    "city": "London",
    "region": "England",
    "country": "GB",
    "market": "London",
    "screens": 2,
    "audience": {"impressionSchedule": SCHEDULE, "sourceType": 1, "vendor": "Geopath"},
    "qualification": {"minDurationMs": 5000, "minShareOfPlanned": 0.8},
}


def errors(body, screen_id="s-1") -> dict[str | None, str]:
    parsed = parse_screen(screen_id, body)
    assert isinstance(parsed, list), parsed
    return {e["field"]: e["message"] for e in parsed}


def test_a_full_screen_parses_and_is_stored_with_its_defaults():
    parsed = parse_screen("s-1", SCREEN)
    assert isinstance(parsed, ScreenFields)
    stored = parsed.stored()
    assert stored["venueType"] == 10101 and stored["audience"]["allowLarge"] is False
    assert "screenId" not in stored
    minimal = parse_screen("s-1", {"timeZone": "UTC"})
    assert isinstance(minimal, ScreenFields)
    assert minimal.stored()["screens"] == 1
    assert minimal.stored()["qualification"] == {"minDurationMs": 1000, "minShareOfPlanned": None}


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"timeZone": "Mars/Olympus"}, "timeZone", "unknown time zone"),
        ({"timeZone": "right/UTC"}, "timeZone", "unknown time zone"),
        ({"venueType": 99}, "venueType", "OpenOOH Venue Taxonomy 1.2.1"),
        ({"venueType": "101"}, "venueType", "integer"),
        ({"country": "gb"}, "country", "ISO 3166-1 alpha-2"),
        ({"country": "XX"}, "country", "ISO 3166-1 alpha-2"),
        ({"location": {"lat": 90.5, "lon": 0}}, "location.lat", "less than or equal to 90"),
        ({"location": {"lat": 0, "lon": -181}}, "location.lon", "greater than or equal to -180"),
        ({"location": {"lat": 0}}, "location.lon", "Field required"),
        ({"screens": 0}, "screens", "greater than or equal to 1"),
        ({"screens": 1.5}, "screens", "integer"),
        ({"name": ""}, "name", "at least 1 character"),
        ({"market": "m" * 257}, "market", "at most 256"),
        ({"audience": {"sourceType": 4}}, "audience.sourceType", "1, 2 or 3"),
        ({"audience": {"impressionSchedule": [[1.0] * 24] * 6}}, "audience.impressionSchedule", "7 items"),
        (
            {"audience": {"impressionSchedule": [[1.0] * 23] * 7}},
            "audience.impressionSchedule[0]",
            "24 items",
        ),
        (
            {"audience": {"impressionSchedule": [[*([1.0] * 23), -1]] + [[1.0] * 24] * 6}},
            "audience.impressionSchedule[0][23]",
            "greater than or equal to 0",
        ),
        ({"audience": {"allowLarge": "yes"}}, "audience.allowLarge", "boolean"),
        ({"qualification": {"minDurationMs": -1}}, "qualification.minDurationMs", "greater than or equal"),
        ({"qualification": {"minShareOfPlanned": 1.5}}, "qualification.minShareOfPlanned", "less than"),
        ({"colour": "red"}, "colour", "Unknown field"),
        ({"audience": {"multiplier": 2}}, "audience.multiplier", "Unknown field"),
        ({"version": 3}, "version", "set by the server"),
        ({"activeTo": "2026-01-01T00:00:00Z"}, "activeTo", "set by the server"),
        ({"screenId": "other"}, "screenId", "not the path's"),
    ],
)
def test_every_bad_field_is_named(change, field, says):
    found = errors({**SCREEN, **change})
    assert field in found, found
    assert says in found[field]


def test_time_zone_is_required_and_the_body_must_be_an_object():
    assert errors({"name": "x"}) == {"timeZone": "Field required"}
    assert errors([SCREEN]) == {None: "The screen must be a JSON object"}


def test_all_bad_fields_are_named_together():
    found = errors({"timeZone": "nowhere", "venueType": 7777, "country": "UK", "screens": 0, "x": 1})
    assert set(found) == {"timeZone", "venueType", "country", "screens", "x"}


def test_a_large_multiplier_is_refused_naming_its_weekday_and_hour_unless_allowed():
    schedule = [row[:] for row in SCHEDULE]
    schedule[2][14] = 612
    schedule[6][0] = 500
    found = errors({**SCREEN, "audience": {"impressionSchedule": schedule}, "country": "ZZ"})
    assert found["audience.impressionSchedule[2][14]"] == (
        "audience.impressionSchedule[2][14] (Wednesday 14:00) is 612; values of 500 or more need allowLarge"
    )
    assert "(Sunday 00:00) is 500;" in found["audience.impressionSchedule[6][0]"]
    assert "country" in found  # named with the other bad fields
    allowed = parse_screen(
        "s-1", {**SCREEN, "audience": {"impressionSchedule": schedule, "allowLarge": True}}
    )
    assert isinstance(allowed, ScreenFields)
    assert allowed.stored()["audience"]["impressionSchedule"][2][14] == 612
    schedule[2][14] = 499.99
    schedule[6][0] = 1
    assert isinstance(
        parse_screen("s-1", {**SCREEN, "audience": {"impressionSchedule": schedule}}), ScreenFields
    )


def test_reference_lists():
    venue_types = reference.venue_types()
    assert len(venue_types) == 210
    assert (
        venue_types[1] == "Transit" and venue_types[101] == "Airport" and venue_types[10101] == "Arrival Hall"
    )
    assert all(v // 100 in venue_types for v in venue_types if v >= 100)  # every parent is listed
    countries = reference.countries()
    assert len(countries) == 249 and {"GB", "US", "DE", "AQ"} <= countries and "UK" not in countries


FIELDS = {"timeZone": "UTC", "screens": 1}
T0, T1, T2 = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"


def test_history_put_opens_a_version_and_an_identical_put_writes_nothing():
    first = history.put(None, "t", "s", FIELDS, T0)
    assert first is not None and first.closed is None
    v1 = first.opened
    assert (v1.version, v1.validFrom, v1.validTo, v1.activeTo, v1.active) == (1, T0, None, None, True)
    assert history.put(v1, "t", "s", dict(FIELDS), T1) is None

    second = history.put(v1, "t", "s", {**FIELDS, "market": "Leeds"}, T1)
    assert second is not None and second.closed is not None
    assert (second.closed.version, second.closed.validFrom, second.closed.validTo) == (1, T0, T1)
    assert (second.opened.version, second.opened.validFrom, second.opened.market) == (2, T1, "Leeds")


def test_history_retire_closes_the_version_and_a_put_reactivates():
    v1 = history.put(None, "t", "s", FIELDS, T0).opened
    retired = history.retire(v1, T1)
    assert retired is not None and retired.closed is not None and retired.closed.validTo == T1
    v2 = retired.opened
    assert (v2.version, v2.activeTo, v2.active, v2.fields) == (2, T1, False, FIELDS)
    assert history.retire(v2, T2) is None  # retired already
    back = history.put(v2, "t", "s", FIELDS, T2)  # the same fields, but active again: a change
    assert back is not None and (back.opened.version, back.opened.activeTo, back.opened.active) == (
        3,
        None,
        True,
    )


def test_history_never_opens_a_version_before_the_current_one_began():
    v1 = history.put(None, "t", "s", FIELDS, T1).opened
    behind = history.put(v1, "t", "s", {**FIELDS, "city": "York"}, T0)  # another instance's clock is behind
    assert behind is not None and behind.opened.validFrom == T1 and behind.closed.validTo == T1
