"""Firestore collection `exports`: one document per play export, `exports/{exportId}`
(`shared.records.exports.ExportRecord`), keyed by an id the server derives (never the caller's), read
only together with its tenant (a record of another tenant reads as absent). Firestore's TTL deletes
it at `expireAt` (infra/firestore.tf), when its files are gone from the bucket too.

Every state change is a transaction that reads the record first, so a redelivered or late exporter
call cannot move an export back out of a final state, nor record a part twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.api_core import exceptions

from shared.platform import clients
from shared.records.exports import ExportRecord
from shared.storage.firestore import bounded, in_transaction, read

EXPORTS = "exports"


def _ref(export_id: str) -> Any:
    return clients.firestore().collection(EXPORTS).document(export_id)


def create_export(record: ExportRecord) -> bool:
    """Create the record; False when it already exists (the same request made again)."""
    try:
        _ref(record.exportId).create(record.model_dump(), **bounded())
    except exceptions.Conflict:
        return False
    return True


def get_export(tenant_id: str, export_id: str) -> ExportRecord | None:
    record = read(_ref(export_id), ExportRecord)
    return record if record is not None and record.tenantId == tenant_id else None


def change_export(
    export_id: str, change: Callable[[ExportRecord], dict[str, Any] | None]
) -> ExportRecord | None:
    """Apply `change(record)` (the fields to set, or None for nothing) in a transaction; the record
    as it then is (None when there is none)."""

    def work(transaction: Any) -> ExportRecord | None:
        ref = _ref(export_id)
        record = read(ref, ExportRecord, transaction)
        if record is None:
            return None
        changes = change(record)
        if not changes:
            return record
        transaction.update(ref, changes)
        return ExportRecord.model_validate({**record.model_dump(), **changes})

    return in_transaction(work)
