"""Bookings' pure parts: the fields (every bad field named), the type-2 history, and the scheduled
checks' event ids."""

from __future__ import annotations

import pytest

from shared.bookings import history
from shared.bookings.model import BookingFields, parse_booking
from shared.reports.checks import MAX_EVENT_ID, event_id

BOOKING = {
    "campaignId": "c-1",
    "advertiser": "Acme",
    "flight": {"start": "2026-01-01", "end": "2026-01-10", "timeZone": "Europe/London"},
    "targets": {"screenIds": ["s-1", "s-2"]},
    "goal": {"metric": "qualifiedPlays", "quantity": 10_000},
}


def errors(body, booking_id="b-1") -> dict[str | None, str]:
    parsed = parse_booking(booking_id, body)
    assert isinstance(parsed, list), parsed
    return {e["field"]: e["message"] for e in parsed}


def test_a_booking_parses_with_its_defaults():
    parsed = parse_booking("b-1", BOOKING)
    assert isinstance(parsed, BookingFields)
    stored = parsed.stored()
    assert (
        stored["underdeliveryThreshold"] == 0.9 and "bookingId" not in stored and "creativeIds" not in stored
    )
    selector = {**BOOKING, "targets": {"selector": {"market": "London", "country": "GB"}}, "flight": {**BOOKING["flight"], "timeZone": "screen"}}  # fmt: skip
    assert isinstance(parse_booking("b-1", selector), BookingFields)


@pytest.mark.parametrize(
    "change,field,words",
    [
        ({"campaignId": 3}, "campaignId", "string"),
        ({"advertiser": ""}, "advertiser", "at least 1"),
        (
            {"flight": {"start": "2026-1-1", "end": "2026-01-10", "timeZone": "UTC"}},
            "flight.start",
            "YYYY-MM-DD",
        ),
        ({"flight": {"start": "2026-01-10", "end": "2026-01-01", "timeZone": "UTC"}}, "flight", "before"),
        ({"flight": {"start": "2026-01-01", "end": "2027-06-01", "timeZone": "UTC"}}, "flight", "366"),
        (
            {"flight": {"start": "2026-01-01", "end": "2026-01-02", "timeZone": "Mars/Base"}},
            "flight.timeZone",
            "IANA",
        ),
        ({"targets": {}}, "targets", "either"),
        ({"targets": {"screenIds": ["a"], "selector": {"market": "x"}}}, "targets", "either"),
        ({"targets": {"screenIds": ["a", "a"]}}, "targets.screenIds", "at most once"),
        ({"targets": {"screenIds": []}}, "targets.screenIds", "at least 1"),
        ({"targets": {"selector": {}}}, "targets.selector", "venueType, market or country"),
        ({"targets": {"selector": {"country": "UK"}}}, "targets.selector.country", "ISO 3166-1"),
        ({"goal": {"metric": "views", "quantity": 1}}, "goal.metric", "plays"),
        ({"goal": {"metric": "plays", "quantity": 0}}, "goal.quantity", "greater than or equal to 1"),
        ({"goal": {"metric": "plays", "quantity": "5"}}, "goal.quantity", "integer"),
        ({"goal": {"metric": "plays", "quantity": 100, "dailyCap": 5}}, "goal.dailyCap", "never be reached"),
        ({"underdeliveryThreshold": 0}, "underdeliveryThreshold", "greater than 0"),
        ({"underdeliveryThreshold": 1.5}, "underdeliveryThreshold", "less than or equal to 1"),
        ({"creativeIds": ["x", "x"]}, "creativeIds", "at most once"),
        ({"bookingId": "other"}, "bookingId", "not the path's"),
        ({"version": 3}, "version", "set by the server"),
        ({"colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_each_bad_field_is_named(change, field, words):
    found = errors({**BOOKING, **change})
    assert field in found, found
    assert words in found[field], found[field]


def test_every_bad_field_at_once():
    found = errors({"advertiser": 1, "goal": {"metric": "x"}, "targets": {"screenIds": "a"}, "x": 1})
    assert {
        "campaignId",
        "advertiser",
        "flight",
        "goal.metric",
        "goal.quantity",
        "targets.screenIds",
        "x",
    } <= set(found)
    assert errors([BOOKING]) == {None: "The booking must be a JSON object"}


def test_history_versions_changes_and_cancellations():
    fields = parse_booking("b", BOOKING).stored()
    first = history.put(None, "t", "b", fields, "2026-01-01T00:00:00Z")
    assert first.closed is None and first.opened.version == 1 and first.opened.campaignId == "c-1"
    assert history.put(first.opened, "t", "b", fields, "2026-01-02T00:00:00Z") is None  # the same again
    changed = history.put(first.opened, "t", "b", {**fields, "advertiser": "Other"}, "2026-01-02T00:00:00Z")
    assert changed.closed.validTo == changed.opened.validFrom == "2026-01-02T00:00:00Z"
    cancelled = history.cancel(changed.opened, "2026-01-03T00:00:00Z")
    assert cancelled.opened.cancelledAt == "2026-01-03T00:00:00Z" and cancelled.opened.active is False
    assert history.cancel(cancelled.opened, "2026-01-04T00:00:00Z") is None
    again = history.put(cancelled.opened, "t", "b", cancelled.opened.fields, "2026-01-05T00:00:00Z")
    assert again.opened.version == 4 and again.opened.active  # in force again
    # An instance whose clock is behind never opens a version before the current one began.
    assert (
        history.put(again.opened, "t", "b", fields, "2025-01-01T00:00:00Z").opened.validFrom
        == "2026-01-05T00:00:00Z"
    )


def test_event_ids_are_deterministic_and_bounded():
    assert (
        event_id("booking", "t", "b", "underdelivering", "2026120415")
        == "evt_booking_t_b_underdelivering_2026120415"
    )
    long = event_id("screen", "t" * 128, "s" * 128, "dark", "never")
    assert len(long) <= MAX_EVENT_ID and long == event_id("screen", "t" * 128, "s" * 128, "dark", "never")
    assert long != event_id("screen", "t" * 128, "s" * 127, "dark", "never")
