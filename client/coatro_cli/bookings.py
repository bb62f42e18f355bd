"""Bookings and their performance: a booking file read, bookings listed as a table, and a performance
report shown as a summary table (the CSV and HTML renderings come from the server as they are)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from coatro_cli.screens import write_table

TABLE_COLUMNS = (
    "bookingId",
    "version",
    "campaignId",
    "advertiser",
    "start",
    "end",
    "metric",
    "quantity",
    "active",
)
SUMMARY = (
    ("contracted", "contracted"),
    ("delivered", "delivered"),
    ("% delivered", "percentDelivered"),
    ("expected by now", "expected"),
    ("pacing", "pacing"),
    ("projected", "projected"),
    ("underdelivering", "underdelivering"),
    ("as of", "asOf"),
)


class BookingFileError(ValueError):
    pass


def read_booking(path: Path) -> tuple[str, dict[str, Any]]:
    """(bookingId, the booking) from a JSON file holding one booking object with its bookingId."""
    try:
        booking = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BookingFileError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise BookingFileError(f"{path} is not JSON: {exc}") from None
    if not isinstance(booking, dict):
        raise BookingFileError(f"{path} must hold one booking, a JSON object")
    booking_id = booking.get("bookingId")
    if not isinstance(booking_id, str) or not booking_id:
        raise BookingFileError(f"{path}: the booking needs its bookingId")
    return booking_id, booking


def row(booking: dict[str, Any]) -> dict[str, Any]:
    flight, goal = booking.get("flight") or {}, booking.get("goal") or {}
    return {
        **booking,
        "start": flight.get("start"),
        "end": flight.get("end"),
        "metric": goal.get("metric"),
        "quantity": goal.get("quantity"),
        "active": booking.get("cancelledAt") is None,
    }


def write_summary(report: dict[str, Any], out: TextIO) -> None:
    """The headline figures, then the daily series and the dark screens, as text tables."""
    flight = report.get("flight") or {}
    out.write(
        f"booking {report.get('bookingId')}: campaign {report.get('campaignId')}, "
        f"{report.get('metric')}, flight {flight.get('start')} to {flight.get('end')} ({flight.get('timeZone')})\n\n"
    )
    write_table(
        [{"figure": label, "value": report.get(key)} for label, key in SUMMARY], ("figure", "value"), out
    )
    out.write("\n")
    write_table(
        report.get("daily") or [],
        ("date", "plays", "qualifiedPlays", "impressions", "cumulative", "planned"),
        out,
    )
    outside = report.get("outside") or {}
    out.write(
        f"\noutside the booking (not counted): untargeted screens "
        f"{(outside.get('untargetedScreens') or {}).get('delivered')}, outside the flight "
        f"{(outside.get('outsideFlight') or {}).get('delivered')}\n"
    )
    dark = report.get("darkScreens") or []
    if dark:
        out.write(f"\ndark screens (no play for {report.get('darkAfterHours')} hours):\n")
        write_table(dark, ("screenId", "lastPlayedAt", "darkHours"), out)
