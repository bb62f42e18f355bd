"""The bulk pipeline: split an upload, fan a job out into chunks, process chunks, end the job.

Every step is safe to run twice (Eventarc and Pub/Sub deliver at least once):
- a finalize event for a generation already planned (or older than the one recorded) changes nothing;
- the fan-out is claimed in a Firestore transaction, so one of `ingest`, `splitter` and the sweep
  publishes the chunks; a claim whose publishing failed is released, and one left by a dead
  instance goes stale and is retaken by the sweep (`sweep_jobs`, every minute): no job depends on a
  client calling ingest again;
- a chunk result is created once (`create` fails if it exists): that write is the chunk's commit point;
- every path that may have recorded the last chunk result (including a skipped redelivery, and the
  sweep) checks whether the job is done; its final state is set in a transaction, once.

Counter invariant at the end of every job: processedRows + errorRows + skippedRows == totalRows, where
a row is a record: a line of NDJSON, an element of a JSON array or a CSV record, or, with a mapping
whose `records` path looks inside envelopes, each record inside one (an envelope that cannot be read
is one error row). The plan's count of lines / elements is the job's totalRows until it ends.

Every log line of a job's work carries its `jobId` and `fileId` (`logs.context`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions

from shared import store
from shared.bulk import formats, rows, schema_registry
from shared.bulk.models import (
    FILE_ID,
    FINAL_STATES,
    ChunkMessage,
    ChunkResult,
    ChunkSpec,
    FilePlan,
    FileRecord,
    JobRecord,
    RowError,
    SweepRequest,
)
from shared.bulk.schemas import compile_mapping
from shared.events.publishing import MessageEncoder, publish
from shared.platform import clients, logs
from shared.platform.cloudevents import StorageObject
from shared.platform.encoding import utc_now
from shared.platform.pubsub import publish_and_wait
from shared.platform.settings import get_settings

UPLOAD_PREFIX = "uploads/"
MAX_PLAN_CHUNKS = 5_000  # about 90 bytes each: the plan stays well inside one Firestore document
MIN_ROW_BYTES = 2  # "1\n" or "a\n": the smallest row, so a file of N bytes has at most N/2 rows
MAX_ERROR_CHARS = 500  # one row's message; keeps a chunk result far below Firestore's 1 MiB
# Range-read size of the splitter and the worker. Measured (one 306 MB NDJSON after a 30 MB one, each
# planned in its own thread as gunicorn does): 8 MiB reads left the process's peak RSS 26 MiB higher
# after the big file (freed buffers stay in the thread's malloc arena); 1 MiB reads: +1 MiB, for the
# same CPU (2.0-2.3 s against 2.4-2.5 s for the 306 MB file).
READ_CHUNK_BYTES = 1024 * 1024
PUBLISH_BATCH = 1_000  # events published (and awaited) at a time by a worker: bounds memory
PUBLISH_BATCH_BYTES = 16 << 20  # ... and so do their bytes, however large a mapping makes each event
REPLACED = "the file was replaced or deleted after it was planned; upload it again and start a new ingest"
UNFINISHED_STATES = ("queued", "processing")


def job_id_for(file_id: str) -> str:
    """One job per file: the id is derived, so a repeated ingest finds the same job.
    file-dynamic-X -> job-dynamic-pop-X, file-bulk-X -> job-bulk-pop-X."""
    endpoints, rest = file_id.removeprefix("file-").split("-", 1)
    return f"job-{endpoints}-pop-{rest}"


def expire_at() -> datetime:
    return datetime.now(UTC) + timedelta(days=get_settings().retention_days)


def chunk_rows_for(size: int) -> int:
    """Rows per chunk: the setting, raised for huge files of tiny rows so the plan stays bounded.

    A chunk ends at this many rows or once it spans the `chunk_bytes` setting, so every chunk but the
    last takes at least m = min(2 x rows, chunk_bytes) bytes of the file with the separator after it
    (a row is at least MIN_ROW_BYTES with its line end or comma) and the last at least one: n chunks
    of a `size`-byte file have (n - 1) x m < size. Rows >= size / 2 / MAX_PLAN_CHUNKS here and chunk_bytes >= max_file_bytes /
    MAX_PLAN_CHUNKS (settings) make m >= size / MAX_PLAN_CHUNKS, so n <= MAX_PLAN_CHUNKS for every
    file the splitter plans.
    """
    return max(get_settings().chunk_rows, math.ceil(size / MIN_ROW_BYTES / MAX_PLAN_CHUNKS))


# -- splitter -------------------------------------------------------------------------------------


def split_upload(obj: StorageObject) -> None:
    """Handle a finalized object: plan the file it belongs to, then fan out if its job is waiting."""
    settings = get_settings()
    parts = obj.name.split("/")
    if (
        obj.bucket != settings.uploads_bucket
        or len(parts) != 3
        or not obj.name.startswith(UPLOAD_PREFIX)
        or not FILE_ID.fullmatch(parts[2])
    ):
        logs.warning("ignoring an object that is not an upload", bucket=obj.bucket, object=obj.name)
        return
    tenant_id, file_id = parts[1], parts[2]
    with logs.context(fileId=file_id):
        record = store.get_file(file_id)
        if record is None or record.tenantId != tenant_id or record.objectName != obj.name:
            logs.warning("ignoring an object with no file record", object=obj.name)
            return
        with logs.context(jobId=record.jobId):
            _split(record, obj)


def _split(record: FileRecord, obj: StorageObject) -> None:
    settings = get_settings()
    file_id, job_id, planned, status = record.fileId, record.jobId, record.generation, record.status
    generation = obj.generation
    if planned is not None and generation < planned:
        logs.info("stale finalize event for an older generation", generation=generation)
        return
    if planned == generation and status in ("ready", "invalid"):
        logs.info("duplicate finalize event", generation=generation)
        if job_id:
            fan_out(job_id)  # in case the first delivery died before its fan-out finished
        return
    if job_id and status in ("ready", "invalid"):
        job = store.get_job(job_id)
        if job is not None and job.fanOut:
            logs.warning(
                "object replaced after its job started; the job keeps the planned generation",
                planned=planned,
                new=generation,
            )
            return
    store.update_file(file_id, status="uploaded", generation=generation, size=obj.size, crc32c=obj.crc32c)

    if obj.size > settings.max_file_bytes:
        outcome = {
            "status": "invalid",
            "invalidReason": f"The file is {obj.size} bytes; the limit is {settings.max_file_bytes} bytes.",
        }
    else:
        blob = clients.storage().bucket(obj.bucket).get_blob(obj.name)
        if blob is None or blob.generation != generation:
            logs.info("a newer generation replaced this one; its own event will plan it", object=obj.name)
            return
        try:
            with blob.open("rb", chunk_size=READ_CHUNK_BYTES) as stream:  # reads this generation only
                plan = formats.plan_file(
                    stream, record.format, chunk_rows_for(obj.size), settings.max_row_bytes
                )
            outcome = {"status": "ready", "totalRows": plan.total_rows, "plan": plan}
        except formats.FileInvalid as exc:
            outcome = {"status": "invalid", "invalidReason": str(exc)}
        except exceptions.NotFound:
            logs.info("object replaced while it was read; its own event will plan it", object=obj.name)
            return

    job_id = _record_plan(file_id, generation, outcome)
    logs.info(
        "file planned", generation=generation, status=outcome["status"], totalRows=outcome.get("totalRows")
    )
    if job_id:
        fan_out(job_id)


def _record_plan(file_id: str, generation: int, outcome: dict) -> str | None:
    """Store the plan if the file still has this generation; return the file's jobId as of that write."""

    def write(transaction):
        current = store.get_file(file_id, transaction)
        if current is None or current.generation != generation:
            return None
        store.update_file(file_id, transaction, **outcome)
        return current.jobId

    return store.in_transaction(write)


# -- ingest and fan-out ---------------------------------------------------------------------------


def create_job(tenant_id: str, file_id: str, schema_version: str, metadata: dict | None) -> tuple[str, bool]:
    """Create the file's job (or find it). Returns (jobId, created).

    The job document is created by one write that fails if it exists, so concurrent ingests of a
    file cannot contend: one creates it, the others find it. No transaction is needed with the
    splitter either: each side writes its half (the job and the file's jobId here, the plan there)
    and then calls fan_out, which reads both in a transaction, so whichever comes second fans out.
    """
    job_id = job_id_for(file_id)
    with logs.context(jobId=job_id, fileId=file_id):
        created = store.create_job(
            JobRecord(
                jobId=job_id,
                tenantId=tenant_id,
                fileId=file_id,
                schemaVersion=schema_version,
                metadata=metadata,
                createdAt=utc_now(),
                expireAt=expire_at(),
            )
        )
        if (
            created
        ):  # (if its creator died right here, the file has no jobId: the sweep still fans the job out)
            store.update_file(file_id, jobId=job_id)
        try:
            fan_out(job_id)
        except (FanOutInProgress, store.Contention):
            pass  # someone else is publishing this job's chunks; if they died, the sweep retakes the claim
        return job_id, created


class FanOutInProgress(Exception):
    """Another instance claimed the fan-out moments ago; it is retaken only once the claim is stale."""


def fan_out(job_id: str) -> None:
    """Publish one pop-chunks message per chunk once the job exists and its file is planned.

    Raises FanOutInProgress when another instance holds a fresh claim. A claim older than
    `stale_claim_seconds` means its claimer died while publishing: it is retaken and the chunks are
    published again (workers skip chunks already recorded).
    """
    stale = timedelta(seconds=get_settings().stale_claim_seconds)

    def claim(transaction):
        job = store.get_job(job_id, transaction)
        # The file is read outside the transaction: a plan, once written, never changes for a job,
        # and a plan written just after this read is followed by the splitter's own fan_out.
        # Locking the file here would make concurrent ingests and the splitter contend for it.
        record = store.get_file(job.fileId)
        if job.status in FINAL_STATES or job.fanOut == "done":
            return None
        if record.status == "invalid":
            store.update_job(job_id, transaction, **_failed_fields(job, record.invalidReason))
            return None
        if record.status != "ready":
            return None
        now = datetime.now(UTC)
        if job.fanOut == "claimed" and job.fanOutClaimedAt > now - stale:
            return "in progress"
        plan = record.plan
        header, first_row, problem = _csv_layout(job, plan)
        if problem:
            store.update_job(job_id, transaction, **_failed_fields(job, problem))
            return None
        expected = len(plan.chunks) + (1 if plan.errors else 0) + (1 if first_row else 0)
        store.update_job(
            job_id,
            transaction,
            fanOut="claimed",
            fanOutClaimedAt=now,
            totalRows=plan.total_rows + (1 if first_row else 0),
            expectedChunks=expected,
        )
        return job, record.objectName, record.generation, plan, header, first_row

    with logs.context(jobId=job_id):
        claimed = store.in_transaction(claim)
        if claimed == "in progress":
            raise FanOutInProgress(job_id)
        if claimed is None:
            return
        job, object_name, generation, plan, header, first_row = claimed
        with logs.context(fileId=job.fileId):
            _publish_chunks(job, object_name, generation, plan, header, first_row)
            store.update_job(job_id, fanOut="done")
            logs.info("job fanned out", chunks=len(plan.chunks), totalRows=plan.total_rows)
            finish_if_done(job_id)


def _csv_layout(job: JobRecord, plan: FilePlan) -> tuple[list[str] | None, ChunkSpec | None, str | None]:
    """How the job's mapping reads a CSV file: (column names, the chunk of a headerless file's first
    row, or why the file cannot be read); the splitter planned it not knowing the mapping."""
    mapping = schema_registry.lookup(job.tenantId, job.schemaVersion) if plan.format == "csv" else None
    if mapping is None:  # not CSV; or a version gone since ingest, which the worker reports per chunk
        return plan.header, None, None
    header, problem = rows.csv_header(mapping, plan)
    return header, rows.first_row_chunk(mapping, plan, len(plan.chunks) + (1 if plan.errors else 0)), problem


def _publish_chunks(
    job: JobRecord,
    object_name: str,
    generation: int,
    plan: FilePlan,
    header: list[str] | None,
    first_row: ChunkSpec | None,
) -> None:
    per_chunk = stored_errors_per_chunk(len(plan.chunks) + 1)
    if plan.errors:  # rows the splitter already knows are bad (a truncated JSON tail) get their own result
        _record_chunk(job.jobId, len(plan.chunks), 0, list(plan.errors), per_chunk)
    messages = (
        ChunkMessage(
            jobId=job.jobId,
            tenantId=job.tenantId,
            fileId=job.fileId,
            objectName=object_name,
            generation=generation,
            format=plan.format,
            schemaVersion=job.schemaVersion,
            timezone=ingest_timezone(job.metadata),
            header=header,
            chunk=chunk,
            storedErrorsPerChunk=per_chunk,
        )
        for chunk in plan.chunks + ([first_row] if first_row else [])
    )
    try:
        publish_and_wait(
            get_settings().chunks_topic,
            ((m.model_dump_json().encode(), {"jobId": m.jobId}) for m in messages),
        )
    except Exception:
        store.update_job(job.jobId, fanOut=None)  # release the claim so a retry publishes at once
        raise


def ingest_timezone(metadata: dict | None) -> str | None:
    """The ingest's `metadata.timezone` (checked by the ingest endpoint), carried to every chunk."""
    zone = (metadata or {}).get("timezone")
    return zone if isinstance(zone, str) else None


def stored_errors_per_chunk(chunks: int) -> int:
    # Bounded per job (max_stored_errors) and per document (a chunk result stays far below 1 MiB).
    return min(1_000, max(1, get_settings().max_stored_errors // max(1, chunks)))


# -- worker ---------------------------------------------------------------------------------------


def process_chunk(message: ChunkMessage) -> None:
    """Map, validate and publish one chunk's rows, then record its result (the commit point).

    Raises only for failures worth retrying (publish, storage or database errors); Pub/Sub redelivers.
    """
    with logs.context(jobId=message.jobId, fileId=message.fileId, chunk=message.chunk.index):
        _process_chunk(message)


def _process_chunk(message: ChunkMessage) -> None:
    settings = get_settings()
    spec = message.chunk
    if store.chunk_recorded(message.jobId, spec.index):
        logs.info("chunk already recorded")
        finish_if_done(message.jobId)  # the first delivery may have died right after recording it
        return
    job = store.get_job(message.jobId)
    if job is None:
        logs.warning("chunk of an unknown job")
        return
    if job.status == "queued":
        _mark_processing(message.jobId)

    mapping = schema_registry.lookup(message.tenantId, message.schemaVersion)
    blob = clients.storage().bucket(settings.uploads_bucket).get_blob(message.objectName)
    if mapping is None or blob is None or blob.generation != message.generation:
        reason = f"schema version {message.schemaVersion} no longer exists" if mapping is None else REPLACED
        _record_chunk(
            message.jobId,
            spec.index,
            0,
            [RowError(row=spec.first_row, error=reason)],
            message.storedErrorsPerChunk,
            error_rows=spec.row_count,
        )
        finish_if_done(message.jobId)
        return

    compiled = compile_mapping(mapping, message.format, message.timezone)
    encode = MessageEncoder(message.tenantId, "bulk", utc_now(), message.jobId).encode
    keep = message.storedErrorsPerChunk
    try:
        with blob.open(
            "rb", chunk_size=READ_CHUNK_BYTES
        ) as stream:  # the blob carries the planned generation
            stream.seek(spec.start)
            outcome = map_chunk(
                stream,
                message.format,
                spec,
                settings.max_row_bytes,
                message.header,
                compiled,
                encode,
                keep,
                publish,
            )
    except (formats.FileInvalid, exceptions.NotFound) as exc:  # the object changed under us: permanent
        _record_chunk(
            message.jobId,
            spec.index,
            0,
            [RowError(row=spec.first_row, error=f"{REPLACED}: {exc}")],
            keep,
            error_rows=spec.row_count,
        )
        finish_if_done(message.jobId)
        return
    _record_chunk(
        message.jobId,
        spec.index,
        outcome.processed,
        outcome.errors,
        keep,
        error_rows=outcome.error_rows,
        skipped=outcome.skipped,
    )
    finish_if_done(message.jobId)


@dataclass
class ChunkOutcome:
    processed: int  # events published
    skipped: int
    error_rows: int
    errors: list[RowError]  # the first `keep` of them, in row order


def map_chunk(
    stream,
    fmt: str,
    spec: ChunkSpec,
    max_row_bytes: int,
    header: list[str] | None,
    compiled,
    encode,
    keep: int,
    publish,
) -> ChunkOutcome:
    """A chunk's records (from `stream`, seeked to its start) mapped, encoded and published in batches
    bounded by count and bytes; `publish(batch)` returns how many it published.

    Every record's outcome is its own (rows.encoded_rows never raises for what a record holds): only
    reading the stream or publishing can raise, failing this delivery so that Pub/Sub retries it.
    Only the first `keep` row errors are held (rows come in order): a chunk of 2 million bad records
    does not hold 2 million errors.
    """
    out = ChunkOutcome(0, 0, 0, [])
    batch: list = []
    batch_bytes = 0
    for row, _event, encoded, error in rows.encoded_rows(
        stream, fmt, spec, max_row_bytes, header, compiled, encode
    ):
        if encoded is None:
            if error is None:
                out.skipped += 1
            else:
                out.error_rows += 1
                if len(out.errors) < keep:
                    out.errors.append(RowError(row=row, error=error))
            continue
        batch.append(encoded)
        batch_bytes += len(encoded[0])
        if len(batch) >= PUBLISH_BATCH or batch_bytes >= PUBLISH_BATCH_BYTES:
            out.processed += publish(batch)
            batch, batch_bytes = [], 0
    if batch:
        out.processed += publish(batch)
    return out


def _mark_processing(job_id: str) -> None:
    def mark(transaction):
        job = store.get_job(job_id, transaction)
        if job is not None and job.status == "queued":
            store.update_job(job_id, transaction, status="processing", startedAt=utc_now())

    store.in_transaction(mark)


def _record_chunk(
    job_id: str,
    index: int,
    processed: int,
    errors: list[RowError],
    keep: int,
    error_rows: int | None = None,
    dead_lettered: bool = False,
    skipped: int = 0,
) -> None:
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
    if not store.record_chunk(job_id, result):
        logs.info("chunk recorded by another delivery", chunk=index)


def dead_letter_chunk(message: ChunkMessage) -> None:
    """A chunk that kept failing: count its rows as errors so the job still ends."""
    spec = message.chunk
    with logs.context(jobId=message.jobId, fileId=message.fileId, chunk=spec.index):
        if store.chunk_recorded(message.jobId, spec.index):
            finish_if_done(message.jobId)
            return
        if store.get_job(message.jobId) is None:
            return
        _mark_processing(message.jobId)
        error = RowError(
            row=spec.first_row,
            error=f"This row and the {spec.row_count - 1} rows after it (one chunk) could not be processed "
            "after repeated attempts; send them again.",
        )
        _record_chunk(
            message.jobId,
            spec.index,
            0,
            [error],
            message.storedErrorsPerChunk,
            error_rows=spec.row_count,
            dead_lettered=True,
        )
        logs.error("chunk dead-lettered", rows=spec.row_count)
        finish_if_done(message.jobId)


# -- completion and status ------------------------------------------------------------------------


def _final_fields(
    status: str, processed: int, errors: int, reason: str | None = None, skipped: int = 0
) -> dict:
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
    }


def _failed_fields(job: JobRecord, reason: str | None) -> dict:
    """A job that failed as a whole (its file is invalid or gone): no rows, so the counters still add up."""
    fields = _final_fields("failed", 0, 0, reason)
    return {**fields, "totalRows": 0, "startedAt": job.startedAt or fields["completedAt"]}


def finish_if_done(job_id: str) -> None:
    job = store.get_job(job_id)
    # expectedChunks is set when the fan-out is claimed
    if job is None or job.status in FINAL_STATES or job.expectedChunks is None:
        return
    totals = store.chunk_totals(job_id)
    if totals.chunks < job.expectedChunks:
        return
    processed, errors, skipped = totals.processed_rows, totals.error_rows, totals.skipped_rows
    status = "completed" if errors == 0 else ("failed" if processed == 0 else "partially_completed")

    def finish(transaction):
        current = store.get_job(job_id, transaction)
        if current.status in FINAL_STATES:
            return
        fields = _final_fields(
            status, processed, errors, "every row failed" if status == "failed" else None, skipped
        )
        if not current.startedAt:
            fields["startedAt"] = fields["completedAt"]
        store.update_job(job_id, transaction, **fields)

    store.in_transaction(finish)
    logs.info(
        "job finished",
        jobId=job_id,
        status=status,
        processedRows=processed,
        errorRows=errors,
        skippedRows=skipped,
    )


def _fail_job(job_id: str, reason: str) -> None:
    def fail(transaction):
        current = store.get_job(job_id, transaction)
        if current.status in FINAL_STATES:
            return
        store.update_job(job_id, transaction, **_failed_fields(current, reason))

    store.in_transaction(fail)
    logs.error("job failed", reason=reason)


def stored_errors(
    job_id: str, position: tuple[str, int] | None, limit: int
) -> tuple[list[RowError], tuple[str, int] | None]:
    """Up to `limit` stored per-row errors in row order, from a position (chunk id, offset in its
    errors); returns the page and the position after it, None at the end."""
    page: list[RowError] = []
    skip = position[1] if position else 0
    # each chunk read holds at least one error, so limit + 1 chunks are enough for a page and its successor
    for chunk_id, result in store.chunks_with_errors(job_id, position[0] if position else None, limit + 1):
        if len(page) == limit:
            return page, (chunk_id, 0)
        take = result.errors[skip : skip + limit - len(page)]
        page.extend(take)
        if skip + len(take) < len(result.errors):
            return page, (chunk_id, skip + len(take))
        skip = 0
    return page, None


# -- the sweep ------------------------------------------------------------------------------------


def sweep_jobs(_request: SweepRequest | None = None) -> int:
    """Move every unfinished job on, whatever died on its way (run every minute; idempotent).

    - a queued job whose file is planned: fan out (a stale claim is retaken; a fresh one is left);
    - a queued job whose file is not planned `replan_after_seconds` after ingest: plan it again from
      the object (its finalize event was lost or kept failing), or fail it if the object is gone;
    - a job with every chunk recorded but no final state: finish it.
    Returns how many jobs it looked at.
    """
    settings = get_settings()
    jobs = store.jobs_in_states(UNFINISHED_STATES, settings.sweep_batch)
    for job in jobs:
        with logs.context(jobId=job.jobId, fileId=job.fileId):
            try:
                _sweep(job)
            except Exception as exc:  # one job's trouble must not stop the others; the next sweep retries
                logs.exception("sweeping a job failed", exc)
    logs.info("sweep done", jobs=len(jobs))
    return len(jobs)


def _sweep(job: JobRecord) -> None:
    settings = get_settings()
    if job.status == "processing" or job.fanOut == "done":
        finish_if_done(job.jobId)
        return
    record = store.get_file(job.fileId)
    if record is None:
        _fail_job(job.jobId, "the file record no longer exists")
        return
    if record.status in ("ready", "invalid"):
        try:
            fan_out(job.jobId)
        except FanOutInProgress:
            logs.info("fan-out in progress; left to its claimer until the claim is stale")
        return
    age = datetime.now(UTC) - datetime.fromisoformat(job.createdAt)
    if age < timedelta(seconds=settings.replan_after_seconds):
        return  # the splitter may still be reading the file
    blob = clients.storage().bucket(settings.uploads_bucket).get_blob(record.objectName)
    if blob is None:
        _fail_job(job.jobId, "the uploaded file no longer exists; upload it again and start a new ingest")
        return
    logs.warning("file still not planned; planning it again", fileStatus=record.status)
    split_upload(
        StorageObject(
            bucket=settings.uploads_bucket,
            name=record.objectName,
            generation=blob.generation,
            size=blob.size,
            crc32c=blob.crc32c,
        )
    )
