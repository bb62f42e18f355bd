"""Screen-local time (``"timezone": "screen"``): a zone-less timestamp is read in the time zone of
the record's screen, as registered at that instant (the screen registry's type-2 history).

Which version applies depends on the instant, and the instant on the version's zone, so:

1. the wall time is read in each version's zone, newest version first, and the first version whose
   ``[validFrom, validTo)`` holds the resulting instant is the one (when a zone change makes a wall
   time fall in two versions, the newer wins);
2. a wall time that, read in the first version's zone, is before its ``validFrom`` uses the first
   version: the screen's earliest known zone (plays from before the screen was registered);
3. a wall time no version holds (a zone change moved the clock forward over it, as a daylight-saving
   change does) is read in the zone in force **before** the change, as the daylight-saving rule
   reads a non-existent local time (`shared.bulk.mapping.timestamps`).

Inside one zone, repeated and missing hours follow the daylight-saving rule of `timestamps` (fold=0).
Consecutive versions in the same zone are one span, so a screen that never changed zone is one
zone whatever its history (and most screens are). Pure functions of in-memory versions: reading the
registry is the caller's (`shared.bulk.rows`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.bulk.mapping import timestamps


@dataclass(frozen=True, slots=True)
class ZoneSpan:
    """A stretch of a screen's history in one zone: from `start` (None: since always) until `end`
    (None: still)."""

    zone: ZoneInfo
    start: datetime | None
    end: datetime | None

    def holds(self, instant: datetime) -> bool:
        return (self.start is None or self.start <= instant) and (self.end is None or instant < self.end)


def spans(versions: Iterable[tuple[str, str | None, str | None]]) -> tuple[ZoneSpan, ...]:
    """A screen's zone spans, oldest first, from its versions as (timeZone, validFrom, validTo), oldest
    version first (ISO 8601 instants; validTo None on the current version; sorted by validFrom, so
    versions starting at one instant keep the given order). Consecutive versions in the same zone are
    merged. Raises BadValue for a zone that is not an IANA name."""
    ordered = sorted(versions, key=lambda v: _instant(v[1]) or datetime.min.replace(tzinfo=UTC))
    out: list[ZoneSpan] = []
    for name, valid_from, valid_to in ordered:
        zone = timestamps.zone(name)
        start, end = _instant(valid_from), _instant(valid_to)
        if out and out[-1].zone.key == zone.key:
            out[-1] = ZoneSpan(zone, out[-1].start, end)
        else:
            out.append(ZoneSpan(zone, start, end))
    return tuple(out)


def local_instant(wall: datetime, history: Sequence[ZoneSpan]) -> datetime:
    """The UTC instant of the zone-less `wall` time on a screen with this history (oldest span first,
    at least one), by the rules of this module."""
    if len(history) == 1:
        return wall.replace(tzinfo=history[0].zone).astimezone(UTC)
    before_change: datetime | None = None
    instant = wall
    for span in reversed(history):
        instant = wall.replace(tzinfo=span.zone).astimezone(UTC)  # fold=0: the DST rule
        if span.holds(instant):
            return instant
        if before_change is None and span.end is not None and instant >= span.end:
            before_change = instant  # read in the zone of the newest span it is past the end of
    first = history[0]
    if first.start is not None and instant < first.start:  # (instant: read in the first span's zone)
        return instant
    if before_change is not None:
        return before_change
    return wall.replace(tzinfo=history[-1].zone).astimezone(UTC)


def localizer(history: Sequence[ZoneSpan]) -> timestamps.Localizer:
    """`local_instant` for one screen, as `timestamps.parse` takes it."""
    if len(history) == 1:
        zone = history[0].zone
        return lambda wall: wall.replace(tzinfo=zone).astimezone(UTC)
    return lambda wall: local_instant(wall, history)


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
