"""The plan of a booking over time (shared/reports/pacing.py): expected by now, pacing, projection, the
daily plan; linear over the flight's real hours, or by a daily cap; in one zone or the screens' own."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.reports import pacing
from shared.reports.pacing import Plan

TEN_DAYS = Plan(date(2026, 1, 1), date(2026, 1, 10), ("UTC",), 10_000)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_linear_expected_pacing_and_projection():
    now = at("2026-01-05T00:00:00")  # 4 days of 10
    assert pacing.expected(TEN_DAYS, now) == 4000
    assert pacing.pacing(3200, pacing.expected(TEN_DAYS, now)) == 0.8
    assert pacing.projection(TEN_DAYS, 3200, now) == pytest.approx(8000)
    assert pacing.expected(TEN_DAYS, at("2026-01-01T06:00:00")) == pytest.approx(250)  # 6 of 240 hours


def test_before_and_after_the_flight():
    before, after = at("2025-12-31T23:00:00"), at("2026-02-01T00:00:00")
    assert pacing.expected(TEN_DAYS, before) == 0
    assert pacing.pacing(5, 0) is None and pacing.projection(TEN_DAYS, 0, before) is None
    assert pacing.expected(TEN_DAYS, after) == 10_000 and pacing.projection(TEN_DAYS, 9000, after) == 9000
    assert not pacing.in_flight(TEN_DAYS, after) and pacing.in_flight(TEN_DAYS, at("2026-01-10T23:59:59"))


def test_the_flight_counts_real_hours_across_a_dst_change():
    """London springs forward on 29 March 2026: that day has 23 hours, the flight 71."""
    plan = Plan(date(2026, 3, 28), date(2026, 3, 30), ("Europe/London",), 71)
    assert pacing.expected(plan, at("2026-03-29T00:00:00")) == pytest.approx(24)  # GMT midnight
    assert pacing.planned_by_day(plan) == pytest.approx([24, 47, 71])


def test_a_daily_cap_plans_the_cap_each_day_until_the_goal():
    capped = Plan(date(2026, 1, 1), date(2026, 1, 10), ("UTC",), 10_000, daily_cap=2000)
    now = at("2026-01-03T12:00:00")  # 2.5 days gone
    assert pacing.expected(capped, now) == 5000
    assert pacing.expected(capped, at("2026-01-07T00:00:00")) == 10_000  # reached on day 5
    assert pacing.planned_by_day(capped)[:6] == [2000, 4000, 6000, 8000, 10_000, 10_000]
    # 3,000 in 2.5 days is 1,200 a day: 7.5 days left at that rate.
    assert pacing.projection(capped, 3000, now) == pytest.approx(3000 + 1200 * 7.5)
    # A rate above the cap is projected at the cap: a day cannot add more.
    assert pacing.projection(capped, 6000, at("2026-01-02T00:00:00")) == pytest.approx(6000 + 2000 * 9)


def test_screen_time_takes_the_mean_over_the_screens_zones():
    plan = Plan(date(2026, 1, 1), date(2026, 1, 10), ("Europe/London", "America/New_York"), 1000)
    now = at("2026-01-02T00:00:00")  # London 1 day in; New York (UTC-5) 19 hours in
    assert pacing.elapsed_fraction(plan, now) == pytest.approx((24 / 240 + 19 / 240) / 2)
    assert pacing.expected(plan, now) == pytest.approx(1000 * 43 / 480)
