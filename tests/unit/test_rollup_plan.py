"""Which hours a report reads from rollups and which from raw events (shared.reports.delivery.plan),
and how a roll batches its hours (shared.reports.rollups.batches): no emulator needed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.reports.delivery import Plan, plan
from shared.reports.params import DeliveryQuery
from shared.reports.rollups import BATCH_HOURS, BATCH_SPAN, batches

MARCH = DeliveryQuery(date(2025, 3, 1), date(2025, 3, 31), "UTC", ("date",))


def test_without_a_watermark_everything_is_raw():
    assert plan(MARCH, None) == Plan(raw_start=datetime(2025, 3, 1, tzinfo=UTC))


def test_closed_hours_from_rollups_the_rest_and_the_late_tail_raw():
    through = datetime(2025, 3, 10, 7, 42, 10, tzinfo=UTC)
    closed = datetime(2025, 3, 10, 7, tzinfo=UTC)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    assert plan(MARCH, through) == Plan(rolled_end=closed, raw_start=start, rolled_through=through)
    later = datetime(2025, 6, 1, tzinfo=UTC)
    assert plan(MARCH, later) == Plan(
        rolled_end=datetime(2025, 4, 1, tzinfo=UTC), raw_start=start, rolled_through=later
    )
    assert plan(MARCH, datetime(2025, 3, 1, 0, 59, tzinfo=UTC)).rolled_end is None


def test_a_zone_of_whole_hours_reads_rollups_across_its_dst_change():
    london = DeliveryQuery(date(2025, 3, 29), date(2025, 3, 31), "Europe/London", ("date", "hour"))
    chosen = plan(london, datetime(2025, 6, 1, tzinfo=UTC))
    assert chosen.rolled_end == datetime(2025, 3, 31, 23, tzinfo=UTC)  # midnight BST


def test_a_zone_off_whole_hours_reads_raw_events_only():
    for zone in ("Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide"):
        query = DeliveryQuery(date(2025, 3, 1), date(2025, 3, 2), zone, ("date", "hour"))
        assert plan(query, datetime(2025, 6, 1, tzinfo=UTC)).rolled_end is None, zone
    # Lord Howe is +11 in March (daylight saving) but +10:30 from 6 April 2025.
    whole = DeliveryQuery(date(2025, 3, 1), date(2025, 3, 2), "Australia/Lord_Howe", ("date",))
    half = DeliveryQuery(date(2025, 4, 1), date(2025, 4, 10), "Australia/Lord_Howe", ("date",))
    assert plan(whole, datetime(2025, 6, 1, tzinfo=UTC)).rolled_end is not None
    assert plan(half, datetime(2025, 6, 1, tzinfo=UTC)).rolled_end is None


def test_screen_time_reads_rollups_in_any_zone():
    query = DeliveryQuery(date(2025, 3, 1), date(2025, 3, 2), "screen", ("date", "hour"))
    assert plan(query, datetime(2025, 6, 1, tzinfo=UTC)).rolled_end == query.window()[1]


def test_a_roll_batches_its_hours_by_week():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(400)] + [start + timedelta(days=300)]
    cut = batches([*hours, hours[5]])  # a repeated hour is rolled once
    assert [len(b) for b in cut] == [BATCH_HOURS, BATCH_HOURS, 400 - 2 * BATCH_HOURS, 1]
    assert all(b[-1] - b[0] < BATCH_SPAN for b in cut)
