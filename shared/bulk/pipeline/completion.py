"""Completion: a chunk's result is recorded once (its commit point), and the job ends once every
chunk's result is in, with counters that add up: processedRows + errorRows + skippedRows == totalRows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.bulk.pipeline.backends import Backends
from shared.platform import logs
from shared.platform.encoding import utc_now
from shared.platform.settings import get_settings
from shared.records.jobs import FINAL_STATES, ChunkResult, JobRecord, RowError
from shared.records.notify import WebhookEvent

MAX_ERROR_CHARS = 500  # one row's message; keeps a chunk result far below Firestore's 1 MiB


def expire_at() -> datetime:
    """When a job's documents expire (Firestore TTL)."""
    return datetime.now(UTC) + timedelta(days=get_settings().retention_days)


def stored_errors_per_chunk(chunks: int) -> int:
    """Row errors a chunk result keeps: bounded per job (max_stored_errors) and per document."""
    return min(1_000, max(1, get_settings().max_stored_errors // max(1, chunks)))


def record_chunk(
    b: Backends,
    job_id: str,
    index: int,
    processed: int,
    errors: list[RowError],
    keep: int,
    error_rows: int | None = None,
    dead_lettered: bool = False,
    skipped: int = 0,
) -> None:
    """Write chunk `index`'s result once, keeping its first `keep` errors in row order, each message
    cut at MAX_ERROR_CHARS; `error_rows` counts every bad row (default: the errors given)."""
    errors.sort(key=lambda e: e.row)
    kept = [
        e
        if len(e.error) <= MAX_ERROR_CHARS
        else RowError(row=e.row, error=e.error[: MAX_ERROR_CHARS - 1] + "…")
        for e in errors[:keep]
    ]
    result = ChunkResult(
        index=index,
        processedRows=processed,
        errorRows=len(errors) if error_rows is None else error_rows,
        skippedRows=skipped,
        hasErrors=bool(errors),
        errors=kept,
        recordedAt=utc_now(),
        deadLettered=dead_lettered,
        expireAt=expire_at(),
    )
    if not b.store.record_chunk(job_id, result):
        logs.info("chunk recorded by another delivery", chunk=index)


def mark_processing(b: Backends, job_id: str) -> None:
    """A queued job starts processing (once: its startedAt is the first chunk's)."""

    def mark(transaction: Any) -> None:
        job = b.store.get_job(job_id, transaction)
        if job is not None and job.status == "queued":
            b.store.update_job(job_id, transaction, status="processing", startedAt=utc_now())

    b.store.in_transaction(mark)


def final_fields(
    status: str, processed: int, errors: int, reason: str | None = None, skipped: int = 0
) -> dict[str, Any]:
    # totalRows is what the rows became: with records inside envelopes (a mapping's `records`) a
    # row is a record, and the file's line / element count the plan knows is replaced by this.
    return {
        "status": status,
        "processedRows": processed,
        "errorRows": errors,
        "skippedRows": skipped,
        "totalRows": processed + errors + skipped,
        "completedAt": utc_now(),
        "failureReason": reason,
        "noticePending": True,  # the outbox of the job's webhook event: see announce
    }


def failed_fields(job: JobRecord, reason: str | None) -> dict[str, Any]:
    """A job that failed as a whole (its file is invalid or gone): no rows, so the counters still add up."""
    fields = final_fields("failed", 0, 0, reason)
    return {**fields, "totalRows": 0, "startedAt": job.startedAt or fields["completedAt"]}


def finish_if_done(b: Backends, job_id: str) -> None:
    """End the job if every chunk result it expects is recorded (idempotent: the final state is set
    in a transaction, once)."""
    job = b.store.get_job(job_id)
    # expectedChunks is set when the fan-out is claimed
    if job is None or job.status in FINAL_STATES or job.expectedChunks is None:
        return
    totals = b.store.chunk_totals(job_id)
    if totals.chunks < job.expectedChunks:
        return
    processed, errors, skipped = totals.processed_rows, totals.error_rows, totals.skipped_rows
    status = "completed" if errors == 0 else ("failed" if processed == 0 else "partially_completed")

    def finish(transaction: Any) -> None:
        current = b.store.get_job(job_id, transaction)
        if current is None or current.status in FINAL_STATES:
            return
        fields = final_fields(
            status, processed, errors, "every row failed" if status == "failed" else None, skipped
        )
        if not current.startedAt:
            fields["startedAt"] = fields["completedAt"]
        b.store.update_job(job_id, transaction, **fields)

    b.store.in_transaction(finish)
    logs.info(
        "job finished",
        jobId=job_id,
        status=status,
        processedRows=processed,
        errorRows=errors,
        skippedRows=skipped,
    )
    announce(b, job_id)


def fail_job(b: Backends, job_id: str, reason: str) -> None:
    """End an unfinished job as failed as a whole (its file is gone)."""

    def fail(transaction: Any) -> None:
        current = b.store.get_job(job_id, transaction)
        if current is None or current.status in FINAL_STATES:
            return
        b.store.update_job(job_id, transaction, **failed_fields(current, reason))

    b.store.in_transaction(fail)
    logs.error("job failed", reason=reason)
    announce(b, job_id)


def job_event(job: JobRecord) -> WebhookEvent:
    """The webhook event of a job in its final state. Its id is the job's, so however often it is
    published (a finisher and the sweep both) receivers see one `webhook-id`."""
    return WebhookEvent(
        id=f"evt_job_{job.jobId}",
        type=f"job.{job.status}",  # a final state: completed, partially_completed, failed
        tenantId=job.tenantId,
        timestamp=job.completedAt or utc_now(),
        data={
            "jobId": job.jobId,
            "fileId": job.fileId,
            "status": job.status,
            "schemaVersion": job.schemaVersion,
            "totalRows": job.totalRows,
            "processedRows": job.processedRows,
            "errorRows": job.errorRows,
            "skippedRows": job.skippedRows,
            "startedAt": job.startedAt,
            "completedAt": job.completedAt,
            "failureReason": job.failureReason,
        },
    )


def announce(b: Backends, job_id: str, job: JobRecord | None = None) -> bool:
    """Publish the webhook event of a job that ended and has not been announced (`noticePending`),
    then clear the mark; True if it published. A failure to publish is logged and left to the sweep
    (`announce_pending`), so it never fails the stage that ended the job."""
    job = job or b.store.get_job(job_id)
    if job is None or job.status not in FINAL_STATES or not job.noticePending:
        return False
    try:
        b.publish_notices([job_event(job)])
    except Exception as exc:
        logs.exception("job event not published; the sweep publishes it", exc, jobId=job_id)
        return False
    b.store.update_job(job_id, noticePending=False)
    logs.info("job event published", jobId=job_id, type=f"job.{job.status}")
    return True


def announce_pending(b: Backends, batch: int) -> int:
    """Publish every job event still waiting (its finisher died or could not publish); returns how many."""
    published, after = 0, None
    while True:
        jobs = b.store.jobs_to_announce(batch, after)
        for job in jobs:
            published += announce(b, job.jobId, job)
        if len(jobs) < batch:
            return published
        after = jobs[-1].jobId
