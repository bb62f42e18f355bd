"""A screen version as a row of the BigQuery `screens` table (infra/bigquery/screens.schema.json).

The table is the registry's type-2 history, mirrored for reports to join: one row per version,
appended once the version is committed in Firestore, never updated. A version ends where the next one
begins, so readers compute `validTo` with `LEAD(validFrom)`; a row written twice (a retried write)
is the same row, and readers keep one per (tenantId, screenId, version).

The 7 x 24 impression schedule is one array of 168 multipliers, Monday 00:00 first: the multiplier of
weekday d (Monday 0) and hour h is element `ORDINAL(d * 24 + h + 1)`. Readers index it with ORDINAL,
1-based, which the local emulator reads as BigQuery does (it reads `OFFSET(expression)` one off).
"""

from __future__ import annotations

from typing import Any

from shared.records.screens import ScreenRecord


def schedule_values(schedule: list[list[float]] | None) -> list[float]:
    """The 168 multipliers of a 7 x 24 schedule (Monday first), in slot order; [] without one."""
    if not schedule:
        return []
    return [float(value) for hours in schedule for value in hours]


def bigquery_row(record: ScreenRecord, written_at: str) -> dict[str, Any]:
    """The `screens` table row of one version (JSON, as insertAll or a load job takes it)."""
    fields = record.fields
    location = fields.get("location") or {}
    audience = fields.get("audience") or {}
    qualification = fields.get("qualification") or {}
    return {
        "tenantId": record.tenantId,
        "screenId": record.screenId,
        "version": record.version,
        "validFrom": record.validFrom,
        "activeTo": record.activeTo,
        "name": fields.get("name"),
        "timeZone": fields["timeZone"],
        "venueType": fields.get("venueType"),
        "lat": location.get("lat"),
        "lon": location.get("lon"),
        "address": fields.get("address"),
        "city": fields.get("city"),
        "region": fields.get("region"),
        "country": fields.get("country"),
        "market": fields.get("market"),
        "screens": fields.get("screens", 1),
        "impressionSchedule": schedule_values(audience.get("impressionSchedule")),
        "sourceType": audience.get("sourceType"),
        "vendor": audience.get("vendor"),
        "minDurationMs": qualification.get("minDurationMs", 1000),
        "minShareOfPlanned": qualification.get("minShareOfPlanned"),
        "updatedAt": record.updatedAt,
        "writtenAt": written_at,
    }
