"""The scheduled booking checks: once an hour, every booking in flight is measured as the performance
report measures it, and what needs saying is published as webhook events (shared.storage.notices):

- `booking.underdelivering`: pacing below the booking's underdeliveryThreshold. At most once an hour
  per booking: its id is `evt_booking_<tenant>_<booking>_underdelivering_<YYYYMMDDHH>` (UTC hour of
  the check), so a check run twice in one hour publishes the same id, and receivers deduplicate.
- `screen.dark`: a targeted screen without any play for DARK_AFTER_HOURS hours, once per dark spell:
  the spell is named by the screen's last play (`evt_screen_<tenant>_<screen>_dark_<YYYYMMDDHHMMSS>`,
  `never` when no play was seen in the window read), and `darkScreens/{tenant}:{screen}` remembers the
  spell announced, written after the publish (a publish that fails is retried by the next check, with
  the same id).

`run_hourly` is what the sweeper calls on every tick: a Firestore marker (`bookingChecks/hourly`)
makes the checks run at most once per UTC hour whatever the sweep interval. A tick spends at most
TIME_BUDGET_SECONDS on them (the sweeper has 540 s and other work), and the next tick of the same
hour goes on after the last booking checked; a failed check is retried from there at the next tick.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.platform import logs
from shared.platform.encoding import iso_utc
from shared.records.bookings import BookingRecord, DarkScreenRecord
from shared.records.notify import WebhookEvent
from shared.reports import performance
from shared.storage import bookings as bookings_storage
from shared.storage import notices

DARK_AFTER_HOURS = performance.DEFAULT_DARK_AFTER_HOURS
PAGE = 100
TIME_BUDGET_SECONDS = 240.0
MAX_EVENT_ID = 200
# Any zone's local day lies within [00:00 - 14 h, 24:00 + 12 h) UTC of its date (shared/reports/params.py).
_EAST, _WEST = timedelta(hours=14), timedelta(hours=12)


@dataclass
class CheckOutcome:
    bookings_checked: int = 0
    events: list[WebhookEvent] = field(default_factory=list)
    stopped_after: str | None = None  # the last booking document looked at, when the budget ran out


def event_id(*parts: str) -> str:
    """`evt_` and the parts joined by `_`; a digest of them when that would be longer than an event id
    may be (tenant and object ids are up to 128 characters each). Deterministic either way."""
    text = "evt_" + "_".join(parts)
    if len(text) <= MAX_EVENT_ID:
        return text
    return f"evt_{parts[-2] if len(parts) > 1 else 'x'}_" + hashlib.sha256(text.encode()).hexdigest()


def _maybe_in_flight(booking: BookingRecord, now: datetime) -> bool:
    """A cheap test before the query: `now` within the flight's dates in some zone."""
    flight = booking.fields["flight"]
    first = datetime.fromisoformat(flight["start"]).replace(tzinfo=UTC) - _EAST
    end = datetime.fromisoformat(flight["end"]).replace(tzinfo=UTC) + timedelta(days=1) + _WEST
    return first <= now < end


def _underdelivering(booking: BookingRecord, report: dict[str, Any], now: datetime) -> WebhookEvent:
    hour = now.strftime("%Y%m%d%H")
    return WebhookEvent(
        id=event_id("booking", booking.tenantId, booking.bookingId, "underdelivering", hour),
        type="booking.underdelivering",
        tenantId=booking.tenantId,
        timestamp=iso_utc(now),
        data={
            key: report[key]
            for key in (
                "bookingId",
                "campaignId",
                "metric",
                "contracted",
                "delivered",
                "expected",
                "pacing",
                "underdeliveryThreshold",
                "projected",
                "asOf",
            )
        },
    )


def _spell(last_played_at: str | None) -> str:
    if last_played_at is None:
        return "never"
    return datetime.fromisoformat(last_played_at.replace("Z", "+00:00")).strftime("%Y%m%d%H%M%S")


def check_bookings(
    now: datetime,
    dark_after_hours: int = DARK_AFTER_HOURS,
    after: str | None = None,
    budget_seconds: float | None = None,
) -> CheckOutcome:
    """Check every booking in force whose flight is on at `now` (after the booking document `after`),
    and publish what needs saying. With a budget, stop once it is spent (after at least one booking)
    and say where (`stopped_after`)."""
    outcome = CheckOutcome()
    dark: dict[tuple[str, str], dict[str, Any]] = {}
    started = time.monotonic()
    while True:
        page, next_page = bookings_storage.active_bookings(after, PAGE)
        for booking in page:
            after = bookings_storage.booking_document_id(booking)
            if _maybe_in_flight(booking, now):
                report = performance.report(booking.tenantId, booking, now, dark_after_hours)
                outcome.bookings_checked += 1
                if report["underdelivering"]:
                    outcome.events.append(_underdelivering(booking, report, now))
                for screen in report["darkScreens"]:
                    key = (booking.tenantId, screen["screenId"])
                    seen = dark.setdefault(key, {**screen, "bookingIds": []})
                    seen["bookingIds"].append(booking.bookingId)
            if budget_seconds is not None and time.monotonic() - started >= budget_seconds:
                outcome.stopped_after = after
                break
        if outcome.stopped_after is not None or next_page is None:
            break
        after = next_page
    announced = []
    for (tenant_id, screen_id), screen in sorted(dark.items()):
        before = bookings_storage.get_dark_screen(tenant_id, screen_id)
        if before is not None and before.lastPlayedAt == screen["lastPlayedAt"]:
            continue  # this spell was announced already
        outcome.events.append(
            WebhookEvent(
                id=event_id("screen", tenant_id, screen_id, "dark", _spell(screen["lastPlayedAt"])),
                type="screen.dark",
                tenantId=tenant_id,
                timestamp=iso_utc(now),
                data={
                    "screenId": screen_id,
                    "lastPlayedAt": screen["lastPlayedAt"],
                    "darkHours": screen["darkHours"],
                    "darkAfterHours": dark_after_hours,
                    "bookingIds": screen["bookingIds"],
                },
            )
        )
        announced.append(
            DarkScreenRecord(
                tenantId=tenant_id,
                screenId=screen_id,
                lastPlayedAt=screen["lastPlayedAt"],
                announcedAt=iso_utc(now),
            )
        )
    if outcome.events:
        notices.publish(outcome.events)
    for record in announced:  # after the publish: a failed publish is announced again next time
        bookings_storage.put_dark_screen(record)
    return outcome


def run_hourly(now: datetime, budget_seconds: float = TIME_BUDGET_SECONDS) -> CheckOutcome | None:
    """This hour's checks, or what is left of them (None: done already this hour). Never raises: a
    failure is logged, and the next tick goes on from where the last run stopped."""
    hour = now.strftime("%Y%m%d%H")
    work_left, after = bookings_storage.claim_hour(hour, iso_utc(now))
    if not work_left:
        return None
    try:
        outcome = check_bookings(now, after=after, budget_seconds=budget_seconds)
    except Exception as exc:  # the sweep's own work is done; the next tick retries the checks
        logs.exception("the booking checks failed; the next sweep goes on with them", exc)
        return None
    done = outcome.stopped_after is None
    bookings_storage.save_progress(hour, outcome.stopped_after, done, iso_utc(now))
    logs.info(
        "booking checks done" if done else "booking checks paused until the next tick",
        bookings=outcome.bookings_checked,
        events=len(outcome.events),
    )
    return outcome
