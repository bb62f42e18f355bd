"""A booking's history, as the screen registry keeps one (shared/screens/history.py): type-2 versions.

Every change closes the current version (its `validTo`) and opens the next (`validFrom`, the same
instant, `version` one higher): a PUT whose fields differ from the current version's, a PUT of a
cancelled booking (it is in force again), a DELETE of a booking in force (the new version carries
`cancelledAt`). A PUT of the current fields of a booking in force, and a DELETE of a cancelled one,
change nothing. `shared.storage.bookings.change_booking` applies a Transition in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.records.bookings import BookingRecord


@dataclass(frozen=True)
class Transition:
    """What a change writes: the current version closed (None for a new booking) and the next one."""

    closed: BookingRecord | None
    opened: BookingRecord


def _open(
    tenant_id: str, booking_id: str, version: int, at: str, fields: dict[str, Any], cancelled: str | None
) -> BookingRecord:
    return BookingRecord(
        tenantId=tenant_id,
        bookingId=booking_id,
        version=version,
        validFrom=at,
        cancelledAt=cancelled,
        updatedAt=at,
        fields=fields,
        campaignId=fields["campaignId"],
        active=cancelled is None,
    )


def _instant(current: BookingRecord | None, now: str) -> str:
    # Never before the current version began (another instance's clock may be behind).
    return max(now, current.validFrom) if current is not None else now


def _closed(current: BookingRecord | None, at: str) -> BookingRecord | None:
    return current.model_copy(update={"validTo": at}) if current is not None else None


def put(
    current: BookingRecord | None, tenant_id: str, booking_id: str, fields: dict[str, Any], now: str
) -> Transition | None:
    """Create or replace; None when the booking is in force with exactly these fields."""
    if current is not None and current.cancelledAt is None and current.fields == fields:
        return None
    at = _instant(current, now)
    opened = _open(tenant_id, booking_id, current.version + 1 if current else 1, at, fields, None)
    return Transition(_closed(current, at), opened)


def cancel(current: BookingRecord, now: str) -> Transition | None:
    """Cancel a booking in force (the new version holds cancelledAt); None if it is cancelled already."""
    if current.cancelledAt is not None:
        return None
    at = _instant(current, now)
    opened = _open(current.tenantId, current.bookingId, current.version + 1, at, current.fields, at)
    return Transition(_closed(current, at), opened)
