"""The worker: one pop-chunks message's rows are mapped, validated, published to pop-events and
recorded. Recording the chunk's result is its commit point: a redelivery of a recorded chunk only
checks whether the job is done. A chunk that kept failing reaches `dead_letter_chunk` instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from google.api_core import exceptions

from shared.bulk import formats, rows, schema_registry
from shared.bulk.mapping.compiled import CompiledMapping, compile_mapping
from shared.bulk.models import ChunkMessage
from shared.bulk.pipeline import completion
from shared.bulk.pipeline.backends import Backends, Message, cloud
from shared.bulk.pipeline.splitter import READ_CHUNK_BYTES
from shared.canonical.event import PopEvent
from shared.canonical.messages import MessageEncoder
from shared.platform import logs
from shared.platform.encoding import utc_now
from shared.platform.settings import get_settings
from shared.records.jobs import ChunkSpec, RowError
from shared.records.screens import ScreenRecord

PUBLISH_BATCH = 1_000  # events published (and awaited) at a time by a worker: bounds memory
PUBLISH_BATCH_BYTES = 16 << 20  # ... and so do their bytes, however large a mapping makes each event
REPLACED = "the file was replaced or deleted after it was planned; upload it again and start a new ingest"


def process_chunk(message: ChunkMessage, b: Backends | None = None) -> None:
    """Map, validate and publish one chunk's rows, then record its result (the commit point).

    Raises only for failures worth retrying (publish, storage or database errors); Pub/Sub redelivers.
    """
    with logs.context(jobId=message.jobId, fileId=message.fileId, chunk=message.chunk.index):
        _process_chunk(b or cloud(), message)


def _process_chunk(b: Backends, message: ChunkMessage) -> None:
    settings = get_settings()
    spec = message.chunk
    if b.store.chunk_recorded(message.jobId, spec.index):
        logs.info("chunk already recorded")
        completion.finish_if_done(
            b, message.jobId
        )  # the first delivery may have died right after recording it
        return
    job = b.store.get_job(message.jobId)
    if job is None:
        logs.warning("chunk of an unknown job")
        return
    if job.status == "queued":
        completion.mark_processing(b, message.jobId)

    mapping = schema_registry.lookup(message.tenantId, message.schemaVersion)
    blob = b.uploads.get(message.objectName)
    keep = message.storedErrorsPerChunk
    if mapping is None or blob is None or blob.generation != message.generation:
        reason = f"schema version {message.schemaVersion} no longer exists" if mapping is None else REPLACED
        _record_whole_chunk(b, message, reason)
        return

    compiled = compile_mapping(mapping, message.format, message.timezone)
    encode = MessageEncoder(message.tenantId, "bulk", utc_now(), message.jobId).encode
    tenant_id = message.tenantId

    def screens(screen_ids: list[str]) -> dict[str, list[ScreenRecord]]:  # the job's tenant's only
        return b.screens(tenant_id, screen_ids)

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
                b.publish_events,
                screens,
            )
    except (formats.FileInvalid, exceptions.NotFound) as exc:  # the object changed under us: permanent
        _record_whole_chunk(b, message, f"{REPLACED}: {exc}")
        return
    completion.record_chunk(
        b,
        message.jobId,
        spec.index,
        outcome.processed,
        outcome.errors,
        keep,
        error_rows=outcome.error_rows,
        skipped=outcome.skipped,
    )
    completion.finish_if_done(b, message.jobId)


def _record_whole_chunk(b: Backends, message: ChunkMessage, reason: str, dead_lettered: bool = False) -> None:
    """Every row of the chunk is an error for one reason, reported at its first row."""
    spec = message.chunk
    completion.record_chunk(
        b,
        message.jobId,
        spec.index,
        0,
        [RowError(row=spec.first_row, error=reason)],
        message.storedErrorsPerChunk,
        error_rows=spec.row_count,
        dead_lettered=dead_lettered,
    )
    completion.finish_if_done(b, message.jobId)


@dataclass
class ChunkOutcome:
    processed: int  # events published
    skipped: int
    error_rows: int
    errors: list[RowError]  # the first `keep` of them, in row order


def map_chunk(
    stream: IO[bytes],
    fmt: str,
    spec: ChunkSpec,
    max_row_bytes: int,
    header: list[str] | None,
    compiled: CompiledMapping,
    encode: Callable[[PopEvent, int], Message],
    keep: int,
    publish: Callable[[list[Message]], int],
    screens: rows.ScreenLookup | None = None,
) -> ChunkOutcome:
    """A chunk's records (from `stream`, seeked to its start) mapped, encoded and published in batches
    bounded by count and bytes; `publish(batch)` returns how many it published.

    Every record's outcome is its own (rows.encoded_rows never raises for what a record holds): only
    reading the stream or publishing can raise, failing this delivery so that Pub/Sub retries it.
    Only the first `keep` row errors are held (rows come in order): a chunk of 2 million bad records
    does not hold 2 million errors.
    """
    out = ChunkOutcome(0, 0, 0, [])
    batch: list[Message] = []
    batch_bytes = 0
    for row, _event, encoded, error in rows.encoded_rows(
        stream, fmt, spec, max_row_bytes, header, compiled, encode, screens
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


def dead_letter_chunk(message: ChunkMessage, b: Backends | None = None) -> None:
    """A chunk that kept failing: count its rows as errors so the job still ends."""
    b = b or cloud()
    spec = message.chunk
    with logs.context(jobId=message.jobId, fileId=message.fileId, chunk=spec.index):
        if b.store.chunk_recorded(message.jobId, spec.index):
            completion.finish_if_done(b, message.jobId)
            return
        if b.store.get_job(message.jobId) is None:
            return
        completion.mark_processing(b, message.jobId)
        reason = (
            f"This row and the {spec.row_count - 1} rows after it (one chunk) could not be processed "
            "after repeated attempts; send them again."
        )
        logs.error("chunk dead-lettered", rows=spec.row_count)
        _record_whole_chunk(b, message, reason, dead_lettered=True)
