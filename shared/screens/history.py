"""A screen's history as a slowly changing dimension of type 2, as pure functions.

Every change closes the current version (its `validTo`) and opens the next (`validFrom`, the same
instant, `version` one higher): a PUT whose fields differ from the current version's, a PUT of a
retired screen (it becomes active again), a DELETE of an active screen (the new version carries
`activeTo`). A PUT of the current fields of an active screen, and a DELETE of a retired one, change
nothing. `shared.storage.firestore.change_screen` applies a Transition in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.records.screens import ScreenRecord


@dataclass(frozen=True)
class Transition:
    """What a change writes: the current version closed (None for a new screen) and the next one."""

    closed: ScreenRecord | None
    opened: ScreenRecord


def _open(
    tenant_id: str, screen_id: str, version: int, at: str, fields: dict[str, Any], active_to: str | None
) -> ScreenRecord:
    return ScreenRecord(
        tenantId=tenant_id,
        screenId=screen_id,
        version=version,
        validFrom=at,
        activeTo=active_to,
        updatedAt=at,
        fields=fields,
        venueType=fields.get("venueType"),
        market=fields.get("market"),
        country=fields.get("country"),
        active=active_to is None,
    )


def _instant(current: ScreenRecord | None, now: str) -> str:
    # Never before the current version began (another instance's clock may be behind): validFrom <= validTo.
    return max(now, current.validFrom) if current is not None else now


def put(
    current: ScreenRecord | None, tenant_id: str, screen_id: str, fields: dict[str, Any], now: str
) -> Transition | None:
    """Create or replace; None when the screen is active with exactly these fields."""
    if current is not None and current.activeTo is None and current.fields == fields:
        return None
    at = _instant(current, now)
    opened = _open(tenant_id, screen_id, current.version + 1 if current else 1, at, fields, None)
    return Transition(_closed(current, at), opened)


def retire(current: ScreenRecord, now: str) -> Transition | None:
    """Retire an active screen (the new version holds activeTo); None if it is retired already."""
    if current.activeTo is not None:
        return None
    at = _instant(current, now)
    opened = _open(current.tenantId, current.screenId, current.version + 1, at, current.fields, at)
    return Transition(_closed(current, at), opened)


def _closed(current: ScreenRecord | None, at: str) -> ScreenRecord | None:
    return current.model_copy(update={"validTo": at}) if current is not None else None
