"""Firestore: the watermark of the hourly rollups (shared/reports/rollups.py).

Documents:
- `rollupState/watermark`: `{rolledThrough, updatedAt}` (timestamps, UTC). Every event published at
  or before `rolledThrough` (by the BigQuery subscription's `publish_time`) is counted in the
  `rollups` table, as are the screen versions written by then. It moves only after the rollups'
  write succeeded (`advance`), and only forward from the value the roll started from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.platform import clients
from shared.storage.firestore import bounded, in_transaction

ROLLUP_STATE, WATERMARK = "rollupState", "watermark"


class WatermarkMoved(RuntimeError):
    """Another roll moved the watermark while this one ran; the watermark was set back to the older
    of the two, so the next roll repeats what either may have missed."""


def _ref() -> Any:
    return clients.firestore().collection(ROLLUP_STATE).document(WATERMARK)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def rolled_through() -> datetime | None:
    """Events published at or before this instant are in the rollups; None before the first roll."""
    snap = _ref().get(**bounded())
    return _utc(snap.to_dict().get("rolledThrough")) if snap.exists else None


def advance(started_from: datetime | None, to: datetime) -> None:
    """Set the watermark to `to` if it still is `started_from` (what the roll read before it began);
    otherwise set it back to the older of the two and raise WatermarkMoved."""

    def work(transaction: Any) -> bool:
        snap = _ref().get(transaction=transaction)
        current = _utc(snap.to_dict().get("rolledThrough")) if snap.exists else None
        now = datetime.now(UTC)
        if current == started_from:
            transaction.set(_ref(), {"rolledThrough": to, "updatedAt": now})
            return True
        older = min((t for t in (current, started_from) if t is not None), default=None)
        if older is None:
            transaction.delete(_ref())
        else:
            transaction.set(_ref(), {"rolledThrough": older, "updatedAt": now})
        return False

    if not in_transaction(work):
        raise WatermarkMoved(f"the watermark moved from {started_from} during a roll")


def clear() -> None:
    """Forget the watermark: the next roll re-rolls every hour (tests, and after a rollups table reset)."""
    _ref().delete(**bounded())
