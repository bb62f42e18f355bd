"""The bulk pipeline: split an upload, fan a job out into chunks, process chunks, end the job.

Every step is safe to run twice (Eventarc and Pub/Sub deliver at least once):
- a finalize event for a generation already planned (or older than the one recorded) changes nothing;
- the fan-out is claimed in a Firestore transaction, so one of `ingest` and `splitter` publishes the
  chunks; a claim whose publishing failed is released, and one left by a dead instance expires;
- a chunk result is created once (`create` fails if it exists): that write is the chunk's commit point;
- every path that may have recorded the last chunk result (including a skipped redelivery) checks
  whether the job is done; its final state is set in a transaction, once.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

from google.api_core import exceptions
from google.cloud import firestore as fs
from google.cloud.firestore_v1.base_query import FieldFilter

from shared import clients, formats, logs, schema_registry
from shared.bulk_models import FINAL_STATES, ChunkMessage, ChunkResult, FileRecord, JobRecord, RowErrorOut
from shared.models import utc_now
from shared.publishing import publish_and_wait, publish_events
from shared.schemas import row_to_event
from shared.settings import get_settings

FILES, JOBS, CHUNKS = "files", "jobs", "chunks"
UPLOAD_PREFIX = "uploads/"
MAX_PLAN_CHUNKS = 5_000  # about 90 bytes each: the plan stays well inside one Firestore document
MIN_ROW_BYTES = 2  # "1\n" or "a\n": the smallest row, so a file of N bytes has at most N/2 rows
MAX_ERROR_CHARS = 500  # one row's message; keeps a chunk result far below Firestore's 1 MiB
PUBLISH_BATCH = 1_000  # events published (and awaited) at a time by a worker: bounds memory
FAN_OUT_RETRY_AFTER = timedelta(minutes=2)  # a claimed fan-out not done by then is published again
REPLACED = "the file was replaced or deleted after it was planned; upload it again and start a new ingest"


def file_ref(file_id: str):
    return clients.firestore().collection(FILES).document(file_id)


def job_ref(job_id: str):
    return clients.firestore().collection(JOBS).document(job_id)


def chunk_ref(job_id: str, index: int):
    return job_ref(job_id).collection(CHUNKS).document(f"{index:06d}")


def job_id_for(file_id: str) -> str:
    """One job per file: the id is derived, so a repeated ingest finds the same job."""
    return "job-dynamic-pop-" + file_id.removeprefix("file-dynamic-")


def expire_at() -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=get_settings().retention_days)


def chunk_rows_for(size: int) -> int:
    """Rows per chunk: the setting, raised for huge files of tiny rows so the plan stays bounded."""
    return max(get_settings().chunk_rows, math.ceil(size / MIN_ROW_BYTES / MAX_PLAN_CHUNKS))


# -- splitter -------------------------------------------------------------------------------------


def split_upload(bucket: str, name: str, generation: int, size: int, crc32c: str | None = None) -> None:
    """Handle a finalized object: plan the file it belongs to, then fan out if its job is waiting."""
    settings = get_settings()
    parts = name.split("/")
    if bucket != settings.uploads_bucket or len(parts) != 3 or not name.startswith(UPLOAD_PREFIX):
        logs.warning("ignoring an object that is not an upload", bucket=bucket, object=name)
        return
    tenant_id, file_id = parts[1], parts[2]
    snap = file_ref(file_id).get()
    record = FileRecord.model_validate(snap.to_dict()) if snap.exists else None
    if record is None or record.tenantId != tenant_id or record.objectName != name:
        logs.warning("ignoring an object with no file record", object=name)
        return
    if record.generation is not None and generation < record.generation:
        logs.info("stale finalize event for an older generation", fileId=file_id, generation=generation)
        return
    if record.generation == generation and record.status in ("ready", "invalid"):
        logs.info("duplicate finalize event", fileId=file_id, generation=generation)
        if record.jobId:
            fan_out(record.jobId)  # in case the first delivery died before its fan-out finished
        return
    if record.jobId and record.status in ("ready", "invalid"):
        job = job_ref(record.jobId).get()
        if job.exists and job.get("fanOut"):
            logs.warning(
                "object replaced after its job started; the job keeps the planned generation",
                fileId=file_id, planned=record.generation, new=generation,
            )
            return
    file_ref(file_id).update({"status": "uploaded", "generation": generation, "size": size, "crc32c": crc32c})

    if size > settings.max_file_bytes:
        outcome = {"status": "invalid", "invalidReason": f"The file is {size} bytes; the limit is {settings.max_file_bytes} bytes."}
    else:
        blob = clients.storage().bucket(bucket).get_blob(name)
        if blob is None or blob.generation != generation:
            logs.info("a newer generation replaced this one; its own event will plan it", object=name)
            return
        try:
            with blob.open("rb", chunk_size=8 * 1024 * 1024) as stream:  # reads this generation only
                plan = formats.plan_file(stream, record.format, chunk_rows_for(size), settings.max_row_bytes)
            outcome = {"status": "ready", "totalRows": plan.total_rows, "plan": json.dumps(plan.to_dict(), separators=(",", ":"))}
        except formats.FileInvalid as exc:
            outcome = {"status": "invalid", "invalidReason": str(exc)}
        except exceptions.NotFound:
            logs.info("object replaced while it was read; its own event will plan it", object=name)
            return

    job_id = _record_plan(file_id, generation, outcome)
    logs.info("file planned", fileId=file_id, generation=generation, status=outcome["status"], totalRows=outcome.get("totalRows"))
    if job_id:
        fan_out(job_id)


def _record_plan(file_id: str, generation: int, outcome: dict) -> str | None:
    """Store the plan if the file still has this generation; return the file's jobId as of that write."""

    @fs.transactional
    def write(transaction):
        snap = file_ref(file_id).get(transaction=transaction)
        if snap.get("generation") != generation:
            return None
        transaction.update(file_ref(file_id), outcome)
        return snap.get("jobId")

    return write(clients.firestore().transaction())


# -- ingest and fan-out ---------------------------------------------------------------------------


def create_job(tenant_id: str, file_id: str, schema_version: str, metadata: dict | None) -> tuple[str, bool]:
    """Create the file's job (or find it). Returns (jobId, created)."""
    job_id = job_id_for(file_id)

    @fs.transactional
    def create(transaction):
        if job_ref(job_id).get(transaction=transaction).exists:
            return False
        record = JobRecord(
            jobId=job_id, tenantId=tenant_id, fileId=file_id, schemaVersion=schema_version,
            metadata=metadata, createdAt=utc_now(), expireAt=expire_at(),
        )
        transaction.create(job_ref(job_id), record.model_dump())
        # Transactions on the file document serialize this with the splitter's plan write, so
        # whichever commits second sees both the job and the plan, and fans out.
        transaction.update(file_ref(file_id), {"jobId": job_id})
        return True

    created = create(clients.firestore().transaction())
    try:
        fan_out(job_id)
    except FanOutInProgress:
        pass  # the splitter is publishing this job's chunks right now; its event retries if it dies
    return job_id, created


class FanOutInProgress(Exception):
    """Another instance claimed the fan-out moments ago; retry later to make sure it finished."""


def fan_out(job_id: str) -> None:
    """Publish one pop-chunks message per chunk once the job exists and its file is planned.

    Raises FanOutInProgress when another instance holds a fresh claim: an event handler lets that
    fail the delivery, so its retry republishes if the claimer died (its claim then has expired).
    """

    @fs.transactional
    def claim(transaction):
        job = JobRecord.model_validate(job_ref(job_id).get(transaction=transaction).to_dict())
        record = FileRecord.model_validate(file_ref(job.fileId).get(transaction=transaction).to_dict())
        if job.status in FINAL_STATES or job.fanOut == "done":
            return None
        if record.status == "invalid":
            fields = _final_fields("failed", 0, 0, record.invalidReason)
            transaction.update(job_ref(job_id), {**fields, "totalRows": 0, "startedAt": fields["completedAt"]})
            return None
        if record.status != "ready":
            return None
        # A claim not marked done by now means the claimer died while publishing: publish again.
        if job.fanOut == "claimed" and job.fanOutClaimedAt > datetime.now(timezone.utc) - FAN_OUT_RETRY_AFTER:
            return "in progress"
        plan = formats.FilePlan.from_dict(json.loads(record.plan))
        expected = len(plan.chunks) + (1 if plan.errors else 0)
        transaction.update(
            job_ref(job_id),
            {"fanOut": "claimed", "fanOutClaimedAt": datetime.now(timezone.utc),
             "totalRows": plan.total_rows, "expectedChunks": expected},
        )
        return job, record, plan

    claimed = claim(clients.firestore().transaction())
    if claimed == "in progress":
        raise FanOutInProgress(job_id)
    if claimed is None:
        return
    job, record, plan = claimed
    per_chunk = stored_errors_per_chunk(len(plan.chunks) + 1)
    if plan.errors:  # rows the splitter already knows are bad (a truncated JSON tail) get their own result
        errors = [RowErrorOut(row=e.row, error=e.error) for e in plan.errors]
        _record_chunk(job_id, len(plan.chunks), 0, errors, per_chunk)
    messages = [
        ChunkMessage(
            jobId=job_id, tenantId=job.tenantId, fileId=job.fileId, objectName=record.objectName,
            generation=record.generation, format=record.format, schemaVersion=job.schemaVersion,
            header=plan.header, chunk=chunk.to_dict(), storedErrorsPerChunk=per_chunk,
        )
        for chunk in plan.chunks
    ]
    try:
        publish_and_wait(get_settings().chunks_topic, ((m.model_dump_json().encode(), {"jobId": m.jobId}) for m in messages))
    except Exception:
        job_ref(job_id).update({"fanOut": None})  # release the claim so a retry publishes at once
        raise
    job_ref(job_id).update({"fanOut": "done"})
    logs.info("job fanned out", jobId=job_id, chunks=len(messages), totalRows=plan.total_rows)
    finish_if_done(job_id)


def stored_errors_per_chunk(chunks: int) -> int:
    # Bounded per job (max_stored_errors) and per document (a chunk result stays far below 1 MiB).
    return min(1_000, max(1, get_settings().max_stored_errors // max(1, chunks)))


# -- worker ---------------------------------------------------------------------------------------


def process_chunk(message: ChunkMessage) -> None:
    """Map, validate and publish one chunk's rows, then record its result (the commit point).

    Raises only for failures worth retrying (publish, storage or database errors); Pub/Sub redelivers.
    """
    settings = get_settings()
    spec = formats.ChunkSpec.from_dict(message.chunk)
    if chunk_ref(message.jobId, spec.index).get().exists:
        logs.info("chunk already recorded", jobId=message.jobId, chunk=spec.index)
        finish_if_done(message.jobId)  # the first delivery may have died right after recording it
        return
    job_snap = job_ref(message.jobId).get()
    if not job_snap.exists:
        logs.warning("chunk of an unknown job", jobId=message.jobId)
        return
    if job_snap.get("status") == "queued":
        _mark_processing(message.jobId)

    mapping = schema_registry.lookup(message.tenantId, message.schemaVersion)
    blob = clients.storage().bucket(settings.uploads_bucket).get_blob(message.objectName)
    if mapping is None or blob is None or blob.generation != message.generation:
        reason = (
            f"schema version {message.schemaVersion} no longer exists" if mapping is None
            else REPLACED
        )
        _record_chunk(message.jobId, spec.index, 0, [RowErrorOut(row=spec.first_row, error=reason)],
                      message.storedErrorsPerChunk, error_rows=spec.row_count)
        finish_if_done(message.jobId)
        return

    processed, errors, batch, rows = 0, [], [], []
    try:
        with blob.open("rb", chunk_size=1024 * 1024) as stream:  # the blob carries the planned generation
            stream.seek(spec.start)
            for row, record, error in formats.iter_rows(stream, message.format, spec, settings.max_row_bytes, message.header):
                if error is None:
                    event, error = row_to_event(record, mapping, message.format)
                if error is not None:
                    errors.append(RowErrorOut(row=row, error=error))
                    continue
                batch.append(event)
                rows.append(row)
                if len(batch) >= PUBLISH_BATCH:
                    processed += _publish_rows(message, batch, rows)
                    batch, rows = [], []
    except (formats.FileInvalid, exceptions.NotFound) as exc:  # the object changed under us: permanent
        _record_chunk(message.jobId, spec.index, 0, [RowErrorOut(row=spec.first_row, error=f"{REPLACED}: {exc}")],
                      message.storedErrorsPerChunk, error_rows=spec.row_count)
        finish_if_done(message.jobId)
        return
    processed += _publish_rows(message, batch, rows)
    _record_chunk(message.jobId, spec.index, processed, errors, message.storedErrorsPerChunk)
    finish_if_done(message.jobId)


def _publish_rows(message: ChunkMessage, events: list, rows: list[int]) -> int:
    if events:
        publish_events(message.tenantId, events, source="bulk", job_id=message.jobId, rows=rows)
    return len(events)


def _mark_processing(job_id: str) -> None:
    @fs.transactional
    def mark(transaction):
        snap = job_ref(job_id).get(transaction=transaction)
        if snap.get("status") == "queued":
            transaction.update(job_ref(job_id), {"status": "processing", "startedAt": utc_now()})

    mark(clients.firestore().transaction())


def _record_chunk(job_id: str, index: int, processed: int, errors: list[RowErrorOut], keep: int,
                  error_rows: int | None = None, dead_lettered: bool = False) -> None:
    errors.sort(key=lambda e: e.row)
    for e in errors[:keep]:
        if len(e.error) > MAX_ERROR_CHARS:
            e.error = e.error[: MAX_ERROR_CHARS - 1] + "…"
    result = ChunkResult(
        index=index, processedRows=processed, errorRows=len(errors) if error_rows is None else error_rows,
        hasErrors=bool(errors), errors=errors[:keep], recordedAt=utc_now(), deadLettered=dead_lettered,
        expireAt=expire_at(),
    )
    try:
        chunk_ref(job_id, index).create(result.model_dump())
    except exceptions.AlreadyExists:
        logs.info("chunk recorded by another delivery", jobId=job_id, chunk=index)


def dead_letter_chunk(message: ChunkMessage) -> None:
    """A chunk that kept failing: count its rows as errors so the job still ends."""
    spec = formats.ChunkSpec.from_dict(message.chunk)
    if chunk_ref(message.jobId, spec.index).get().exists:
        finish_if_done(message.jobId)
        return
    if not job_ref(message.jobId).get().exists:
        return
    _mark_processing(message.jobId)
    error = RowErrorOut(
        row=spec.first_row,
        error=f"This row and the {spec.row_count - 1} rows after it (one chunk) could not be processed "
        "after repeated attempts; send them again.",
    )
    _record_chunk(message.jobId, spec.index, 0, [error], message.storedErrorsPerChunk,
                  error_rows=spec.row_count, dead_lettered=True)
    logs.error("chunk dead-lettered", jobId=message.jobId, chunk=spec.index, rows=spec.row_count)
    finish_if_done(message.jobId)


# -- completion and status ------------------------------------------------------------------------


def chunk_totals(job_id: str) -> tuple[int, int, int]:
    """(chunks recorded, processedRows, errorRows) summed over chunk results: no hot counter document."""
    agg = (
        job_ref(job_id).collection(CHUNKS)
        .count(alias="chunks").sum("processedRows", alias="processed").sum("errorRows", alias="errors")
    )
    values = {r.alias: r.value for r in agg.get()[0]}
    return int(values["chunks"]), int(values["processed"] or 0), int(values["errors"] or 0)


def _final_fields(status: str, processed: int, errors: int, reason: str | None = None) -> dict:
    return {"status": status, "processedRows": processed, "errorRows": errors,
            "completedAt": utc_now(), "failureReason": reason}


def finish_if_done(job_id: str) -> None:
    snap = job_ref(job_id).get()
    expected = snap.get("expectedChunks")  # set when the fan-out is claimed
    if snap.get("status") in FINAL_STATES or expected is None:
        return
    recorded, processed, errors = chunk_totals(job_id)
    if recorded < expected:
        return
    status = "completed" if errors == 0 else ("failed" if processed == 0 else "partially_completed")

    @fs.transactional
    def finish(transaction):
        current = job_ref(job_id).get(transaction=transaction)
        if current.get("status") in FINAL_STATES:
            return
        fields = _final_fields(status, processed, errors, "every row failed" if status == "failed" else None)
        if not current.get("startedAt"):
            fields["startedAt"] = fields["completedAt"]
        transaction.update(job_ref(job_id), fields)

    finish(clients.firestore().transaction())
    logs.info("job finished", jobId=job_id, status=status, processedRows=processed, errorRows=errors)


def stored_errors(job_id: str, position: tuple[str, int] | None, limit: int) -> tuple[list[RowErrorOut], tuple[str, int] | None]:
    """Up to `limit` stored per-row errors in row order, from a position (chunk id, offset in its
    errors); returns the page and the position after it, None at the end."""
    chunks = job_ref(job_id).collection(CHUNKS)
    query = chunks.where(filter=FieldFilter("hasErrors", "==", True)).order_by("__name__")
    if position:
        query = query.start_at({"__name__": chunks.document(position[0])})
    page: list[RowErrorOut] = []
    skip = position[1] if position else 0
    for snap in query.limit(limit + 1).stream():  # each chunk read holds at least one error
        if len(page) == limit:
            return page, (snap.id, 0)
        stored = snap.get("errors")
        take = stored[skip : skip + limit - len(page)]
        page.extend(RowErrorOut.model_validate(e) for e in take)
        if skip + len(take) < len(stored):
            return page, (snap.id, skip + len(take))
        skip = 0
    return page, None
