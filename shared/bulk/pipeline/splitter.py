"""The splitter: a finalized upload is read once and planned (its rows counted and cut into chunks),
then its job fans out if it is waiting. A finalize event for a generation already planned, or older
than the one recorded, changes nothing."""

from __future__ import annotations

import math
from typing import Any

from google.api_core import exceptions

from shared.bulk import formats
from shared.bulk.models import FILE_ID
from shared.bulk.pipeline import fan_out
from shared.bulk.pipeline.backends import Backends, cloud
from shared.platform import logs
from shared.platform.cloudevents import StorageObject
from shared.platform.settings import get_settings
from shared.records.jobs import FileRecord

UPLOAD_PREFIX = "uploads/"
MAX_PLAN_CHUNKS = 5_000  # about 90 bytes each: the plan stays well inside one Firestore document
MIN_ROW_BYTES = 2  # "1\n" or "a\n": the smallest row, so a file of N bytes has at most N/2 rows
# Range-read size of the splitter and the worker. Measured (one 306 MB NDJSON after a 30 MB one, each
# planned in its own thread as gunicorn does): 8 MiB reads left the process's peak RSS 26 MiB higher
# after the big file (freed buffers stay in the thread's malloc arena); 1 MiB reads: +1 MiB, for the
# same CPU (2.0-2.3 s against 2.4-2.5 s for the 306 MB file).
READ_CHUNK_BYTES = 1024 * 1024


def chunk_rows_for(size: int) -> int:
    """Rows per chunk: the setting, raised for huge files of tiny rows so the plan stays bounded.

    A chunk ends at this many rows or once it spans the `chunk_bytes` setting, so every chunk but the
    last takes at least m = min(2 x rows, chunk_bytes) bytes of the file with the separator after it
    (a row is at least MIN_ROW_BYTES with its line end or comma) and the last at least one: n chunks
    of a `size`-byte file have (n - 1) x m < size. Rows >= size / 2 / MAX_PLAN_CHUNKS here and
    chunk_bytes >= max_file_bytes / MAX_PLAN_CHUNKS (settings) make m >= size / MAX_PLAN_CHUNKS, so
    n <= MAX_PLAN_CHUNKS for every file the splitter plans.
    """
    return max(get_settings().chunk_rows, math.ceil(size / MIN_ROW_BYTES / MAX_PLAN_CHUNKS))


def split_upload(obj: StorageObject, b: Backends | None = None) -> None:
    """Handle a finalized object: plan the file it belongs to, then fan out if its job is waiting."""
    b = b or cloud()
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
        record = b.store.get_file(file_id)
        if record is None or record.tenantId != tenant_id or record.objectName != obj.name:
            logs.warning("ignoring an object with no file record", object=obj.name)
            return
        with logs.context(jobId=record.jobId):
            _split(b, record, obj)


def _split(b: Backends, record: FileRecord, obj: StorageObject) -> None:
    settings = get_settings()
    file_id, job_id, planned, status = record.fileId, record.jobId, record.generation, record.status
    generation = obj.generation
    if planned is not None and generation < planned:
        logs.info("stale finalize event for an older generation", generation=generation)
        return
    if planned == generation and status in ("ready", "invalid"):
        logs.info("duplicate finalize event", generation=generation)
        if job_id:
            fan_out.fan_out(job_id, b)  # in case the first delivery died before its fan-out finished
        return
    if job_id and status in ("ready", "invalid"):
        job = b.store.get_job(job_id)
        if job is not None and job.fanOut:
            logs.warning(
                "object replaced after its job started; the job keeps the planned generation",
                planned=planned,
                new=generation,
            )
            return
    b.store.update_file(file_id, status="uploaded", generation=generation, size=obj.size, crc32c=obj.crc32c)

    outcome: dict[str, Any]
    if obj.size > settings.max_file_bytes:
        outcome = {
            "status": "invalid",
            "invalidReason": f"The file is {obj.size} bytes; the limit is {settings.max_file_bytes} bytes.",
        }
    else:
        blob = b.uploads.get(obj.name)
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

    job_id = _record_plan(b, file_id, generation, outcome)
    logs.info(
        "file planned", generation=generation, status=outcome["status"], totalRows=outcome.get("totalRows")
    )
    if job_id:
        fan_out.fan_out(job_id, b)


def _record_plan(b: Backends, file_id: str, generation: int, outcome: dict[str, Any]) -> str | None:
    """Store the plan if the file still has this generation; return the file's jobId as of that write."""

    def write(transaction: Any) -> str | None:
        current = b.store.get_file(file_id, transaction)
        if current is None or current.generation != generation:
            return None
        b.store.update_file(file_id, transaction, **outcome)
        return current.jobId

    return b.store.in_transaction(write)
