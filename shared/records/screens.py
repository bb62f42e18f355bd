"""Documents of the screen registry: each screen's current version and its history (type-2 versions).

Plain records (no behaviour): `shared.storage.firestore` reads and writes them, `shared.screens`
decides what goes in them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ScreenRecord(BaseModel):
    """One version of a screen: `screens/{tenantId}:{screenId}` holds the current one,
    `screens/{tenantId}:{screenId}/versions/{version:06d}` every one (the current one too).

    `fields` is the screen as registered (`shared.screens.model.ScreenFields`, dumped as JSON); a
    version is valid from `validFrom` until `validTo` (None: the current version). `activeTo` is when
    the screen was retired (None: active). `venueType`, `market`, `country` and `active` repeat what the
    listing filters on."""

    tenantId: str
    screenId: str
    version: int
    validFrom: str
    validTo: str | None = None
    activeTo: str | None = None
    updatedAt: str
    fields: dict[str, Any]
    venueType: int | None = None
    market: str | None = None
    country: str | None = None
    active: bool = True
