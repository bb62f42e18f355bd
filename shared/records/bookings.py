"""Documents of bookings (what was sold) and of the booking checks (shared.reports.checks).

Plain records (no behaviour): `shared.storage.bookings` reads and writes them, `shared.bookings`
decides what goes in a booking, and the reports domain reads bookings through storage (domains never
import each other).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class BookingRecord(BaseModel):
    """One version of a booking: `bookings/{tenantId}:{bookingId}` holds the current one,
    `bookings/{tenantId}:{bookingId}/versions/{version:06d}` every one (the current one too).

    `fields` is the booking as registered (`shared.bookings.model.BookingFields`, dumped as JSON). A
    version is valid from `validFrom` until `validTo` (None: the current version); `cancelledAt` is when
    the booking was cancelled (DELETE; None: in force). `campaignId` and `active` repeat what the
    listing and the scheduled checks filter on."""

    tenantId: str
    bookingId: str
    version: int
    validFrom: str
    validTo: str | None = None
    cancelledAt: str | None = None
    updatedAt: str
    fields: dict[str, Any]
    campaignId: str
    active: bool = True


class DarkScreenRecord(BaseModel):
    """`darkScreens/{tenantId}:{screenId}`: the dark spell of a screen last announced as `screen.dark`
    (its last play before going dark; None: no play seen in the window looked at)."""

    tenantId: str
    screenId: str
    lastPlayedAt: str | None
    announcedAt: str
