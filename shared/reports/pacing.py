"""A booking's plan over time, as pure functions: what should have been delivered by an instant, the
pacing, the projection at the end of the flight, and the plan day by day (docs/bookings.md).

- The flight runs from `start` 00:00 to the midnight after `end`, local time in its zone (real hours:
  a day of a DST change has 23 or 25). With `screen` the flight is each targeted screen's own, so
  each figure of time below is the mean over the targeted screens (each screen carries an equal share
  of the goal).
- Expected by now, linear: quantity x elapsed hours / flight hours.
- Expected by now with a daily cap: the plan delivers the cap each local day until the goal is met,
  linear within the day: min(quantity, dailyCap x elapsed days), elapsed days counting the days gone
  and the hours gone of today (today's share of its own hours).
- Pacing: delivered / expected (None before the flight starts: nothing is expected yet).
- Projection at the end of the flight: the rate so far kept to the end. Linear: delivered x flight
  hours / elapsed hours. With a daily cap: delivered + min(delivered per elapsed day, dailyCap) x
  days left (the cap bounds what a day can add). After the flight: what was delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from shared.platform.timezones import iana_zone

PACING_DECIMALS = 4


@dataclass(frozen=True)
class Plan:
    start: date
    end: date  # inclusive
    zones: tuple[str, ...]  # the flight's zone, or the targeted screens' zones (one per screen)
    quantity: int
    daily_cap: int | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = iana_zone(zone)
    return (
        datetime.combine(day, time(), tz).astimezone(UTC),
        datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC),
    )


def flight_window(plan: Plan, zone: str) -> tuple[datetime, datetime]:
    """[first instant, end) of the flight in one zone, UTC."""
    return _bounds(plan.start, zone)[0], _bounds(plan.end, zone)[1]


def _elapsed_hours(plan: Plan, zone: str, now: datetime) -> tuple[float, float]:
    first, end = flight_window(plan, zone)
    total = (end - first).total_seconds() / 3600
    gone = min(max((now - first).total_seconds() / 3600, 0.0), total)
    return gone, total


def _elapsed_days(plan: Plan, zone: str, now: datetime) -> float:
    """Local days of the flight gone by `now`: whole days, plus today's share of its own hours."""
    first, end = flight_window(plan, zone)
    if now <= first:
        return 0.0
    if now >= end:
        return float(plan.days)
    today = now.astimezone(iana_zone(zone)).date()
    day_start, day_end = _bounds(today, zone)
    share = (now - day_start).total_seconds() / (day_end - day_start).total_seconds()
    return (today - plan.start).days + share


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def elapsed_fraction(plan: Plan, now: datetime) -> float:
    """Share of the flight's hours gone by `now` (the mean over the zones)."""
    return _mean([gone / total for gone, total in (_elapsed_hours(plan, z, now) for z in plan.zones)])


def elapsed_days(plan: Plan, now: datetime) -> float:
    return _mean([_elapsed_days(plan, z, now) for z in plan.zones])


def expected(plan: Plan, now: datetime) -> float:
    """What should have been delivered by `now`."""
    if plan.daily_cap is not None:
        return min(float(plan.quantity), plan.daily_cap * elapsed_days(plan, now))
    return plan.quantity * elapsed_fraction(plan, now)


def pacing(delivered: float, expected_now: float) -> float | None:
    if expected_now <= 0:
        return None
    return round(delivered / expected_now, PACING_DECIMALS)


def projection(plan: Plan, delivered: float, now: datetime) -> float | None:
    """What the flight will have delivered at its end at the rate so far (None before it starts)."""
    if plan.daily_cap is not None:
        gone = elapsed_days(plan, now)
        if gone <= 0:
            return None
        rate = min(delivered / gone, float(plan.daily_cap))
        return delivered + rate * (plan.days - gone)
    fraction = elapsed_fraction(plan, now)
    if fraction <= 0:
        return None
    return delivered / fraction


def planned_by_day(plan: Plan) -> list[float]:
    """The plan's cumulative figure at the end of each flight day, first day first."""
    out = []
    for i in range(plan.days):
        if plan.daily_cap is not None:
            out.append(min(float(plan.quantity), plan.daily_cap * (i + 1.0)))
        else:
            day_end = plan.start + timedelta(days=i)
            fractions = []
            for zone in plan.zones:
                first, end = flight_window(plan, zone)
                fractions.append((_bounds(day_end, zone)[1] - first) / (end - first))
            out.append(plan.quantity * _mean(fractions))
    return out


def in_flight(plan: Plan, now: datetime) -> bool:
    """Whether `now` is within the flight (in at least one of its zones)."""
    return any(a <= now < b for a, b in (flight_window(plan, z) for z in plan.zones))
