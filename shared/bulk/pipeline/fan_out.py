"""Fan-out: once a job exists and its file is planned, publish one pop-chunks message per chunk.

`create_job` (ingest) and the splitter each write their half (the job and the file's jobId; the plan)
and then call `fan_out`, which reads both in a transaction, so whichever comes second fans out. The
fan-out is claimed in that transaction; a claim whose publishing failed is released, and one left by
a dead instance goes stale and is retaken (the sweep).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.bulk import rows, schema_registry
from shared.bulk.models import ChunkMessage
from shared.bulk.pipeline import completion
from shared.bulk.pipeline.backends import Backends, cloud
from shared.platform import logs
from shared.platform.encoding import utc_now
from shared.platform.settings import get_settings
from shared.records.jobs import FINAL_STATES, ChunkSpec, FilePlan, JobRecord
from shared.storage.protocols import Contention


def job_id_for(file_id: str) -> str:
    """One job per file: the id is derived, so a repeated ingest finds the same job.
    file-dynamic-X -> job-dynamic-pop-X, file-bulk-X -> job-bulk-pop-X."""
    endpoints, rest = file_id.removeprefix("file-").split("-", 1)
    return f"job-{endpoints}-pop-{rest}"


def ingest_timezone(metadata: dict[str, Any] | None) -> str | None:
    """The ingest's `metadata.timezone` (checked by the ingest endpoint), carried to every chunk."""
    zone = (metadata or {}).get("timezone")
    return zone if isinstance(zone, str) else None


def create_job(
    tenant_id: str,
    file_id: str,
    schema_version: str,
    metadata: dict[str, Any] | None,
    b: Backends | None = None,
) -> tuple[str, bool]:
    """Create the file's job (or find it). Returns (jobId, created).

    The job document is created by one write that fails if it exists, so concurrent ingests of a
    file cannot contend: one creates it, the others find it. No transaction is needed with the
    splitter either (see the module's docstring).
    """
    b = b or cloud()
    job_id = job_id_for(file_id)
    with logs.context(jobId=job_id, fileId=file_id):
        created = b.store.create_job(
            JobRecord(
                jobId=job_id,
                tenantId=tenant_id,
                fileId=file_id,
                schemaVersion=schema_version,
                metadata=metadata,
                createdAt=utc_now(),
                expireAt=completion.expire_at(),
            )
        )
        if created:  # (if its creator died right here, the file has no jobId: the sweep still fans it out)
            b.store.update_file(file_id, jobId=job_id)
        try:
            fan_out(job_id, b)
        except (FanOutInProgress, Contention):
            pass  # someone else is publishing this job's chunks; if they died, the sweep retakes the claim
        return job_id, created


class FanOutInProgress(Exception):
    """Another instance claimed the fan-out moments ago; it is retaken only once the claim is stale."""


@dataclass(frozen=True)
class FanOutClaim:
    """What the claimer publishes: the job, the object generation its plan was made from, the plan,
    the CSV column names the job's mapping reads, and the chunk of a headerless CSV's first row."""

    job: JobRecord
    object_name: str
    generation: int
    plan: FilePlan
    header: list[str] | None
    first_row: ChunkSpec | None


def fan_out(job_id: str, b: Backends | None = None) -> None:
    """Publish one pop-chunks message per chunk once the job exists and its file is planned.

    Raises FanOutInProgress when another instance holds a fresh claim. A claim older than
    `stale_claim_seconds` means its claimer died while publishing: it is retaken and the chunks are
    published again (workers skip chunks already recorded).
    """
    b = b or cloud()
    with logs.context(jobId=job_id):
        claimed = b.store.in_transaction(lambda transaction: _claim(b, job_id, transaction))
        if claimed is None:
            completion.announce(b, job_id)  # the claim may have failed the job (an invalid file)
            return
        with logs.context(fileId=claimed.job.fileId):
            _publish_chunks(b, claimed)
            b.store.update_job(job_id, fanOut="done")
            logs.info("job fanned out", chunks=len(claimed.plan.chunks), totalRows=claimed.plan.total_rows)
            completion.finish_if_done(b, job_id)


def _claim(b: Backends, job_id: str, transaction: Any) -> FanOutClaim | None:
    """Claim the fan-out in `transaction`: the claim, None when there is nothing to publish (yet, or
    any more), FanOutInProgress when another claim is fresh. A file that cannot be read fails the job."""
    job = b.store.get_job(job_id, transaction)
    if job is None:
        return None
    # The file is read outside the transaction: a plan, once written, never changes for a job,
    # and a plan written just after this read is followed by the splitter's own fan_out.
    # Locking the file here would make concurrent ingests and the splitter contend for it.
    record = b.store.get_file(job.fileId)
    if record is None or job.status in FINAL_STATES or job.fanOut == "done":
        return None
    if record.status == "invalid":
        b.store.update_job(job_id, transaction, **completion.failed_fields(job, record.invalidReason))
        return None
    if record.status != "ready" or record.plan is None or record.generation is None:
        return None
    now = datetime.now(UTC)
    stale = timedelta(seconds=get_settings().stale_claim_seconds)
    if job.fanOut == "claimed" and job.fanOutClaimedAt is not None and job.fanOutClaimedAt > now - stale:
        raise FanOutInProgress(job_id)
    plan = record.plan
    header, first_row, problem = _csv_layout(job, plan)
    if problem:
        b.store.update_job(job_id, transaction, **completion.failed_fields(job, problem))
        return None
    expected = len(plan.chunks) + (1 if plan.errors else 0) + (1 if first_row else 0)
    b.store.update_job(
        job_id,
        transaction,
        fanOut="claimed",
        fanOutClaimedAt=now,
        totalRows=plan.total_rows + (1 if first_row else 0),
        expectedChunks=expected,
    )
    return FanOutClaim(job, record.objectName, record.generation, plan, header, first_row)


def _csv_layout(job: JobRecord, plan: FilePlan) -> tuple[list[str] | None, ChunkSpec | None, str | None]:
    """How the job's mapping reads a CSV file or a JSON document: (column names, the chunk of a
    headerless CSV's first row, or why the file cannot be read, which fails the job as a whole); the
    splitter planned it not knowing the mapping."""
    readable = plan.format == "csv" or (plan.format == "json" and plan.member is not None)
    mapping = schema_registry.lookup(job.tenantId, job.schemaVersion) if readable else None
    # nothing to check; or a version gone since ingest, which the worker reports per chunk
    if mapping is None:
        return plan.header, None, None
    if plan.format == "json":  # one document: its records must be where the mapping reads them
        return None, None, rows.json_document_problem(mapping, plan)
    header, problem = rows.csv_header(mapping, plan)
    return header, rows.first_row_chunk(mapping, plan, len(plan.chunks) + (1 if plan.errors else 0)), problem


def _publish_chunks(b: Backends, claim: FanOutClaim) -> None:
    job, plan = claim.job, claim.plan
    per_chunk = completion.stored_errors_per_chunk(len(plan.chunks) + 1)
    if plan.errors:  # rows the splitter already knows are bad (a truncated JSON tail) get their own result
        completion.record_chunk(b, job.jobId, len(plan.chunks), 0, list(plan.errors), per_chunk)
    messages = (
        ChunkMessage(
            jobId=job.jobId,
            tenantId=job.tenantId,
            fileId=job.fileId,
            objectName=claim.object_name,
            generation=claim.generation,
            format=plan.format,
            schemaVersion=job.schemaVersion,
            timezone=ingest_timezone(job.metadata),
            header=claim.header,
            chunk=chunk,
            storedErrorsPerChunk=per_chunk,
        )
        for chunk in plan.chunks + ([claim.first_row] if claim.first_row else [])
    )
    try:
        b.publish_chunks((m.model_dump_json().encode(), {"jobId": m.jobId}) for m in messages)
    except Exception:
        b.store.update_job(job.jobId, fanOut=None)  # release the claim so a retry publishes at once
        raise
