"""Reading timestamps: ISO 8601, epoch s/ms/µs, or a strptime pattern; zone-less ones in an IANA zone.

The rule for local wall times around a daylight-saving change (PEP 495, ``fold=0``):

- a **repeated** local time (the hour clocks go back over) is the **first** occurrence, the one
  still in summer time: ``2025-10-26 01:30`` in ``Europe/London`` is ``00:30Z``;
- a **non-existent** local time (the hour clocks skip) is read with the offset in force **before**
  the change, so it moves forward by the gap: ``2025-03-30 01:30`` in ``Europe/London`` is
  ``01:30Z`` (02:30 summer time).

Every result is an aware datetime in UTC (so derived times are computed in UTC); `iso_utc` writes it as the canonical RFC 3339 UTC string.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.platform import timezones

EPOCH_UNITS = {"epoch_seconds": 1, "epoch_millis": 1_000, "epoch_micros": 1_000_000}
EPOCH_NAMES = {
    "epoch_seconds": "epoch seconds",
    "epoch_millis": "epoch milliseconds",
    "epoch_micros": "epoch microseconds",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadValue(Exception):
    """A value that cannot be converted; the message says why, for a person."""


# A zone chosen per wall time: the aware instant of a zone-less datetime (the screen's zone valid at
# that instant, `shared.bulk.mapping.screen_zones`), or BadValue.
Localizer = Callable[[datetime], datetime]


def zone(name: Any) -> ZoneInfo:
    """The IANA zone called `name` (`shared.platform.timezones`), or BadValue."""
    try:
        return timezones.iana_zone(name)
    except timezones.UnknownZone as exc:
        raise BadValue(str(exc)) from None


def pattern_problem(pattern: str) -> str | None:
    """Why a strptime pattern is unusable, or None. A pattern must at least name the date and hour."""
    if "%" not in pattern:
        return "is not a timestamp format: use iso8601, epoch_seconds, epoch_millis, epoch_micros or a pattern such as %Y-%m-%d %H:%M:%S"
    probe = datetime(2025, 1, 27, 10, 11, 12, 345000, tzinfo=UTC)
    try:
        text = probe.strftime(pattern)
        back = datetime.strptime(text, pattern)
    except ValueError as exc:
        return f"is not a valid pattern: {exc}"
    if (back.year, back.month, back.day, back.hour, back.minute) != (2025, 1, 27, 10, 11):
        return "does not hold a whole date, hour and minute (e.g. %Y-%m-%d %H:%M)"
    return None


def is_local(value: Any, fmt: str) -> bool:
    """Whether `value` is a zone-less timestamp in `fmt` (one that needs a zone to be an instant);
    False for epochs, offsets, and what cannot be read (its error comes from `parse`)."""
    if fmt in EPOCH_UNITS or type(value) is not str:
        return False
    try:
        parsed = datetime.fromisoformat(value) if fmt == "iso8601" else datetime.strptime(value, fmt)
    except (ValueError, OverflowError):
        return False
    return parsed.tzinfo is None


def parse(value: Any, fmt: str, tz: ZoneInfo | Localizer | None) -> datetime:
    """An aware datetime from `value` written in `fmt`; zone-less values are read in `tz` (a zone, or
    a `Localizer` choosing the zone by the wall time)."""
    unit = EPOCH_UNITS.get(fmt)
    if unit is not None:
        return _epoch(value, fmt, unit)
    if type(value) is not str:
        raise BadValue(f"expected a timestamp string, got {repr(value)[:60]}")
    try:
        parsed = datetime.fromisoformat(value) if fmt == "iso8601" else datetime.strptime(value, fmt)
    except (ValueError, OverflowError):
        expected = "an ISO 8601 timestamp" if fmt == "iso8601" else f"a timestamp like {fmt!r}"
        raise BadValue(f"expected {expected}, got {value[:60]!r}") from None
    if parsed.tzinfo is None:
        if tz is None:
            raise BadValue(
                f"{value[:60]!r} has no time zone; give one in the mapping (timezone), the ingest (metadata.timezone) "
                "or per record (timezone_field, timezone_lookup)"
            )
        if isinstance(tz, ZoneInfo):
            parsed = parsed.replace(tzinfo=tz)  # fold=0: see the module's rule for DST edges
        else:
            try:
                parsed = tz(parsed)  # the same rule, in the zone it chooses
            except OverflowError:
                raise BadValue(
                    f"{value[:60]!r} is out of range: in UTC it falls outside the years 1 to 9999"
                ) from None
    # In UTC: arithmetic on an aware datetime in a zone is wall-clock arithmetic (03:00:10 EDT minus
    # 15 s would be 02:59:55 local, an hour that does not exist), and derived times must be exact.
    try:
        return parsed.astimezone(UTC)
    except (
        OverflowError
    ):  # 0001-01-01T00:00+01:00, 9999-12-31T23:59-01:00: the UTC time is outside years 1-9999
        raise BadValue(
            f"{value[:60]!r} is out of range: in UTC it falls outside the years 1 to 9999"
        ) from None


def _epoch(value: Any, fmt: str, unit: int) -> datetime:
    number = value
    if type(value) is str:
        try:
            number = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                number = None
    if type(number) not in (int, float) or number != number or number in (float("inf"), float("-inf")):
        raise BadValue(f"expected {EPOCH_NAMES[fmt]}, got {repr(value)[:60]}")
    try:
        if type(number) is int:
            return _EPOCH + timedelta(microseconds=number * (1_000_000 // unit))
        return _EPOCH + timedelta(seconds=number / unit)
    except OverflowError:
        raise BadValue(f"{EPOCH_NAMES[fmt]} value {value!r} is out of range") from None
