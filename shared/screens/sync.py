"""The BigQuery mirror of the registry: every screen version as a row of the `screens` table.

Consistent without a distributed transaction (an outbox): the transaction that writes a version also
marks it `exportPending` (shared/storage/firestore.py); after it commits, the API exports the opened
version (`export_versions`) and removes the mark. If BigQuery fails, the write still succeeds and the
mark stays: the sweeper (every minute) exports every version still marked (`export_pending`). A row
is written at least once, never lost; one written twice is the same version, with the same insert id
(BigQuery's best-effort dedup) and the same (tenantId, screenId, version), which readers dedupe on.
A closed version's row does not change (readers compute validTo with LEAD(validFrom)), so a change
exports one row: the opened version's.

An import batch (up to 150 screens in one transaction) does not mark its versions: the transaction
writes one `screenExports` document naming them all; after the commit the import exports the batch's
rows and deletes that document (`export_batch`: one insert, one delete, however many versions). The
sweeper exports the versions of every such document still there (`export_pending`) as it does marked ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from shared.platform import clients, logs
from shared.platform.encoding import utc_now
from shared.records.screens import ScreenRecord
from shared.screens.dimension import bigquery_row
from shared.storage import firestore

MAX_INSERT_ROWS = 500  # rows of one insertAll request (BigQuery recommends at most 500)
# A version written less than this long ago is left to the write that made it (it exports right
# after its commit); the sweep takes it over once older. Exporting it twice would be harmless.
PENDING_AGE_SECONDS = 60.0
PENDING_PAGE = 500
EXPORT_BUDGET_SECONDS = 120.0
# One insertAll, retries included, is bounded: the API answers within its function's 60 s even when
# BigQuery does not (the default retry would wait up to 600 s), and the sweep moves on.
INSERT_TIMEOUT_SECONDS = 10.0


def row_id(record: ScreenRecord) -> str:
    """The insert id of a version's row: one per (tenantId, screenId, version), however often sent."""
    return f"{record.tenantId}:{record.screenId}:{record.version}"


def export_versions(records: Sequence[ScreenRecord]) -> int:
    """Append these versions' rows to the `screens` table, then remove their export marks; returns
    how many were written. Never raises: a batch BigQuery refuses (or a mark that cannot be removed) is
    logged as a warning and stays marked, for the sweeper to export again."""
    written = 0
    for start in range(0, len(records), MAX_INSERT_ROWS):
        batch = list(records[start : start + MAX_INSERT_ROWS])
        done = _insert(batch)
        if not done:
            continue
        try:
            firestore.screen_versions_exported(done)
        except Exception as exc:  # the rows are in: exported again later, a duplicate readers drop
            logs.warning(
                "screen versions exported but still marked; they will be exported again",
                versions=len(done),
                error=f"{type(exc).__name__}: {exc}",
            )
        written += len(done)
    return written


def export_batch(export_id: str, records: Sequence[ScreenRecord]) -> int:
    """Append the rows of the versions an import batch opened (`records`, named by the `screenExports`
    document `export_id`), then delete that document; returns how many rows were written. Never
    raises: unless BigQuery took every row, the document stays (logged as a warning), for the sweeper
    to export them all again (a row written twice is the same version's)."""
    return _export_together([(export_id, list(records))])


class BatchExporter:
    """`export_batch` for the batches of one import, gathered: an `importing.OnCommitted` that keeps
    committed batches until the next would take them past MAX_INSERT_ROWS rows, then exports them
    together (one insert, one batched delete of their outbox documents), in the calling thread;
    `flush` exports the rest. Thread-safe (the import's batches commit in parallel). Never raises: a
    group BigQuery does not wholly take keeps its outbox documents for the sweeper."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[str, list[ScreenRecord]]] = []
        self._rows = 0

    def __call__(self, export_id: str, records: Sequence[ScreenRecord]) -> None:
        with self._lock:
            taken = self._take() if self._rows + len(records) > MAX_INSERT_ROWS else []
            self._pending.append((export_id, list(records)))
            self._rows += len(records)
        _export_together(taken)

    def flush(self) -> None:
        with self._lock:
            taken = self._take()
        _export_together(taken)

    def _take(self) -> list[tuple[str, list[ScreenRecord]]]:
        taken, self._pending, self._rows = self._pending, [], 0
        return taken


def _export_together(batches: list[tuple[str, list[ScreenRecord]]]) -> int:
    """Insert the rows of these import batches, then delete their outbox documents; rows written."""
    if not batches:
        return 0
    records = [record for _, batch in batches for record in batch]
    written = 0
    for start in range(0, len(records), MAX_INSERT_ROWS):
        written += len(_insert(records[start : start + MAX_INSERT_ROWS]))
    if written < len(records):
        return written
    try:
        firestore.screen_exports_done([export_id for export_id, _ in batches])
    except Exception as exc:  # the rows are in: exported again later, a duplicate readers drop
        logs.warning(
            "screen versions exported but their outbox documents are still there; they will be exported again",
            exports=len(batches),
            versions=len(records),
            error=f"{type(exc).__name__}: {exc}",
        )
    return written


def _insert(batch: list[ScreenRecord]) -> list[ScreenRecord]:
    """Insert a batch's rows; the versions whose rows BigQuery took."""
    from google.cloud.bigquery import DEFAULT_RETRY

    written_at = utc_now()
    try:
        errors = clients.bigquery().insert_rows_json(
            clients.screens_table(),
            [bigquery_row(record, written_at) for record in batch],
            row_ids=[row_id(record) for record in batch],
            retry=DEFAULT_RETRY.with_timeout(INSERT_TIMEOUT_SECONDS),
            timeout=INSERT_TIMEOUT_SECONDS,
        )
    except Exception as exc:  # BigQuery down, refused, timed out: the marks stay, the sweeper retries
        logs.warning(
            "screen versions not written to BigQuery; the sweeper retries them",
            versions=len(batch),
            first=row_id(batch[0]),
            error=f"{type(exc).__name__}: {exc}",
        )
        return []
    refused = {error.get("index") for error in errors}
    if errors:
        logs.warning(
            "BigQuery refused rows of screen versions; the sweeper retries them",
            versions=len(errors),
            errors=errors[:3],
        )
    if None in refused:  # an error about no one row: none is known to be in
        return []
    return [record for index, record in enumerate(batch) if index not in refused]


def export_pending(
    budget_seconds: float = EXPORT_BUDGET_SECONDS,
    page: int = PENDING_PAGE,
    min_age_seconds: float | None = None,
) -> int:
    """Export, of every tenant, the versions of every import batch's `screenExports` document, then
    every version still marked, written at least `min_age_seconds` (default PENDING_AGE_SECONDS) ago,
    a page at a time, until done or `budget_seconds` have passed (the next sweep goes on); returns
    how many rows were written. Stops early when BigQuery fails (the next sweep retries)."""
    deadline = time.monotonic() + budget_seconds
    age = PENDING_AGE_SECONDS if min_age_seconds is None else min_age_seconds
    written_before = datetime.now(UTC) - timedelta(seconds=age)
    written, failed = _export_batches(deadline, page, written_before)
    if not failed and time.monotonic() <= deadline:
        written += _export_marked(deadline, page, written_before)
    if written:
        logs.info("screen versions exported to BigQuery", versions=written)
    return written


def _export_batches(deadline: float, page: int, written_before: datetime) -> tuple[int, bool]:
    """The import batches' outbox documents, a page at a time: (rows written, whether BigQuery failed)."""
    written, after = 0, None
    while True:
        exports, after = firestore.screen_exports_to_retry(page, written_before, after)
        for export in exports:
            records = firestore.screen_export_versions(export)
            exported = export_batch(export.export_id, records)
            written += exported
            if exported < len(records):
                logs.warning(
                    "screen export stopped: BigQuery failed; the next sweep retries", written=written
                )
                return written, True
            if time.monotonic() > deadline:
                logs.warning(
                    "screen export stopped at its time budget; the next sweep goes on", written=written
                )
                return written, True
        if after is None:
            return written, False


def _export_marked(deadline: float, page: int, written_before: datetime) -> int:
    """The versions still marked, a page at a time; rows written."""
    written, after = 0, None
    while True:
        records, after = firestore.screen_versions_to_export(page, after, written_before)
        exported = export_versions(records)
        written += exported
        if exported < len(records):
            logs.warning("screen export stopped: BigQuery failed; the next sweep retries", written=written)
            break
        if after is None:
            break
        if time.monotonic() > deadline:
            logs.warning("screen export stopped at its time budget; the next sweep goes on", written=written)
            break
    return written
