"""The bulk HTTP endpoints: upload-url, ingest, job status and job errors, in two families.

- dynamic, under /coatro/v1/pop/dynamic/bulk/ (the contract): ingest names a `schemaVersion`;
- canonical, under /coatro/v1/pop/bulk/: the rows are canonical events, ingest takes no
  `schemaVersion` (it is always `1.0`).

The same functions serve both and the same pipeline runs their jobs. A file or job belongs to the
family it was created under, and its id says which (`file-dynamic-…` / `file-bulk-…`, `job-dynamic-pop-…`
/ `job-bulk-pop-…`): the other family answers it as unknown (400 at ingest, 404 for a job), with a
hint where it lives. Each family is the contract's four steps, whole; a job has one address.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from flask import Request, Response
from pydantic import BaseModel

from shared.auth import callers
from shared.bulk import formats, rows, schema_registry
from shared.bulk.bodies import check_metadata, parse_body
from shared.bulk.models import (
    FILE_ID,
    JOB_ID,
    CanonicalIngestRequest,
    IngestRequest,
    IngestResponse,
    JobErrorsPage,
    JobList,
    JobStatus,
    JobSummary,
    UploadUrlRequest,
    UploadUrlResponse,
)
from shared.bulk.pipeline.completion import expire_at
from shared.bulk.pipeline.fan_out import create_job
from shared.bulk.pipeline.splitter import UPLOAD_PREFIX
from shared.bulk.signing import signed_put_url
from shared.platform import clients, pages
from shared.platform.encoding import iso_utc, utc_now
from shared.platform.http import json_response, read_json_document
from shared.platform.problems import bad_request, field_error, not_found, unavailable, validation_failed
from shared.platform.pubsub import PublishFailed
from shared.platform.settings import get_settings
from shared.records.jobs import FINAL_STATES, JOB_STATES, FileRecord, JobRecord, JobState, RowError
from shared.storage import firestore, job_listing

Body = TypeVar("Body", bound=BaseModel)
JOB_PATH = re.compile(r"^/jobs/(?P<job>[^/]+)(?P<errors>/errors)?/?$")  # after the family's base path
JOBS_PATH = re.compile(r"^/jobs/?$")  # the list of the tenant's jobs
CANONICAL_SCHEMA = "1.0"
STATUS_ERRORS = 100
MAX_PAGE_SIZE = 1_000
JOBS_PAGE_SIZE, MAX_JOBS_PAGE_SIZE = 20, 100
# A list page reads the tenant's jobs of both families and keeps its own family's: it reads at most
# this many (in batches) before it answers with what it found and a token to go on from there.
MAX_JOBS_SCANNED = 1_000


@dataclass(frozen=True)
class BulkEndpoints:
    """One family of bulk endpoints."""

    base: str  # path prefix of its four operations
    ids: str  # the word in the ids of its files and jobs
    canonical: bool  # ingest takes no schemaVersion: the rows are canonical events

    def owns_file(self, file_id: str) -> bool:
        """The id is one these endpoints issue (anything else cannot exist here, and never reaches Firestore)."""
        return bool(FILE_ID.fullmatch(file_id)) and file_id.startswith(f"file-{self.ids}-")

    def owns_job(self, job_id: str) -> bool:
        return bool(JOB_ID.fullmatch(job_id)) and job_id.startswith(f"job-{self.ids}-pop-")


DYNAMIC = BulkEndpoints("/coatro/v1/pop/dynamic/bulk", "dynamic", canonical=False)
CANONICAL = BulkEndpoints("/coatro/v1/pop/bulk", "bulk", canonical=True)
FAMILIES = (DYNAMIC, CANONICAL)


def endpoints_of(request: Request) -> BulkEndpoints:
    for family in FAMILIES:
        if request.path.startswith(family.base + "/"):
            return family
    raise not_found(f"No API path {request.path}.")


def _elsewhere(endpoints: BulkEndpoints, owns: Callable[[BulkEndpoints, str], bool], ident: str) -> str:
    """A hint for an id the other family issues (told by its form alone, so it reveals nothing)."""
    for other in FAMILIES:
        if other is not endpoints and owns(other, ident):
            return f" Ids of this form belong to the endpoints under {other.base}/."
    return ""


def create_upload_url(request: Request) -> Response:
    endpoints = endpoints_of(request)
    tenant_id = callers.tenant_for(request, callers.POP_WRITE)
    body = parse_body(UploadUrlRequest, read_json_document(request))
    now = datetime.now(UTC)
    file_id = f"file-{endpoints.ids}-{now:%Y%m%d}-{secrets.token_hex(8)}"
    # The object name is ours, never the caller's fileName.
    object_name = f"{UPLOAD_PREFIX}{tenant_id}/{file_id}"
    content_type = formats.FORMATS[body.format]
    record = FileRecord(
        fileId=file_id,
        tenantId=tenant_id,
        fileName=body.fileName,
        format=body.format,
        objectName=object_name,
        createdAt=utc_now(),
        expireAt=expire_at(),
        uploadExpiresAt=iso_utc(now + timedelta(seconds=body.expiresInSeconds), "seconds"),
    )
    firestore.create_file(record)
    url = signed_put_url(object_name, content_type, body.expiresInSeconds)
    return json_response(
        200,
        UploadUrlResponse(
            uploadUrl=url,
            fileId=file_id,
            contentType=content_type,
            uploadInstructions=(
                f"Use PUT method with Content-Type: {content_type} header within {body.expiresInSeconds} seconds. "
                f"Then call POST {endpoints.base}/ingest with fileId."
            ),
        ),
    )


def start_ingest(request: Request) -> Response:
    settings = get_settings()
    endpoints = endpoints_of(request)
    tenant_id = callers.tenant_for(request, callers.POP_WRITE)
    body = _ingest_request(endpoints, read_json_document(request))
    check_metadata(body.metadata)
    mapping = schema_registry.lookup(tenant_id, body.schemaVersion)
    if mapping is None:
        versions = ", ".join(schema_registry.available(tenant_id))
        raise bad_request(
            f"Unknown schemaVersion {body.schemaVersion!r}; available: {versions}.",
            slug="unknown-schema-version",
        )
    record = firestore.get_file(body.fileId) if endpoints.owns_file(body.fileId) else None
    if record is None or record.tenantId != tenant_id:
        raise bad_request(
            f"No file {body.fileId!r} exists under {endpoints.base}/ for this API key; request an upload URL first."
            + _elsewhere(endpoints, BulkEndpoints.owns_file, body.fileId),
            slug="unknown-file",
        )
    problem = record.invalidReason if record.status == "invalid" else None
    if record.status == "ready" and record.format == "csv" and record.plan is not None:
        problem = rows.csv_header(mapping, record.plan)[1]  # the file's header as this mapping reads it
    elif record.status == "ready" and record.plan is not None:
        problem = rows.json_document_problem(mapping, record.plan)  # its records, as this mapping reads them
    if problem:
        raise bad_request(f"File {body.fileId} cannot be ingested: {problem}", slug="invalid-file")
    if record.status == "awaiting_upload" and not _object_exists(record.objectName):
        raise bad_request(
            f"File {body.fileId} has not been uploaded yet: PUT it to the uploadUrl, then call ingest.",
            slug="file-not-uploaded",
        )
    try:
        job_id, created = create_job(tenant_id, body.fileId, body.schemaVersion, body.metadata)
    except PublishFailed:
        raise unavailable(
            "The job exists but its work could not be queued; retry the same request.",
            settings.retry_after_seconds,
        ) from None
    return json_response(
        202,
        IngestResponse(jobId=job_id, message="Job queued" if created else "Job already exists for this file"),
    )


def _ingest_request(endpoints: BulkEndpoints, body: Any) -> IngestRequest:
    if not endpoints.canonical:
        return parse_body(IngestRequest, body)
    # schemaVersion may be left out, or be the one it means: "1.0".
    if isinstance(body, dict) and body.pop("schemaVersion", CANONICAL_SCHEMA) != CANONICAL_SCHEMA:
        raise validation_failed(
            "The request is invalid.",
            [
                field_error(
                    "schemaVersion",
                    f"The canonical endpoints ingest canonical events (schema {CANONICAL_SCHEMA}) only; "
                    f"for another schema version use POST {DYNAMIC.base}/ingest",
                )
            ],
        )
    canonical = parse_body(CanonicalIngestRequest, body)
    return IngestRequest(fileId=canonical.fileId, schemaVersion=CANONICAL_SCHEMA, metadata=canonical.metadata)


def _object_exists(object_name: str) -> bool:
    # The upload may have landed before its finalize event reached the splitter.
    return clients.storage().bucket(get_settings().uploads_bucket).get_blob(object_name) is not None


def job_status(request: Request) -> Response:
    endpoints = endpoints_of(request)
    tenant_id = callers.tenant_for(request, callers.POP_WRITE)
    if JOBS_PATH.match(request.path.removeprefix(endpoints.base)):
        return json_response(200, _jobs_page(endpoints, tenant_id, request.args))
    match = JOB_PATH.match(request.path.removeprefix(endpoints.base))
    if not match:
        raise not_found("No such job.")
    job = _tenant_job(endpoints, tenant_id, match["job"])
    if match["errors"]:
        return json_response(
            200, _errors_page(job, request.args.get("pageToken"), request.args.get("pageSize"))
        )
    if job.status in FINAL_STATES:
        processed, errors, skipped = job.processedRows or 0, job.errorRows or 0, job.skippedRows or 0
    else:
        totals = firestore.chunk_totals(job.jobId)
        processed, errors, skipped = totals.processed_rows, totals.error_rows, totals.skipped_rows
    first, _ = stored_errors(job.jobId, None, STATUS_ERRORS)
    return json_response(
        200,
        JobStatus(
            jobId=job.jobId,
            status=job.status,
            totalRows=job.totalRows,
            processedRows=processed,
            errorRows=errors,
            skippedRows=skipped,
            errors=first,
            startedAt=job.startedAt,
            completedAt=job.completedAt,
            fileId=job.fileId,
            schemaVersion=job.schemaVersion,
            createdAt=job.createdAt,
            failureReason=job.failureReason,
        ),
    )


def _jobs_page(endpoints: BulkEndpoints, tenant_id: str, args: Any) -> JobList:
    """A page of the tenant's jobs of this family, newest first (GET {base}/jobs)."""
    problems = []
    status = args.get("status")
    if status is not None and status not in JOB_STATES:
        problems.append(field_error("status", f"must be one of {', '.join(JOB_STATES)}"))
    size = pages.page_size(args.get("pageSize"), JOBS_PAGE_SIZE, MAX_JOBS_PAGE_SIZE)
    if size is None:
        problems.append(field_error("pageSize", f"must be an integer from 1 to {MAX_JOBS_PAGE_SIZE}"))
    token = args.get("pageToken")
    position = None
    if token is not None:
        found = re.fullmatch(r"([0-9TZ:.-]{1,40})\|([A-Za-z0-9-]{1,128})", pages.position_of(token) or "")
        if found is None:
            problems.append(field_error("pageToken", "is not one this API returned"))
        else:
            position = (found[1], found[2])
    if problems or size is None:
        raise validation_failed("The request is invalid.", problems)
    kept: list[JobRecord] = []
    scanned = 0
    more = True
    while len(kept) < size and scanned < MAX_JOBS_SCANNED and more:
        batch = min(MAX_JOBS_SCANNED - scanned, max(2 * (size - len(kept)), 20))
        read = job_listing.tenant_jobs(tenant_id, cast("JobState | None", status), position, batch)
        more = len(read) == batch
        for job in read:
            scanned += 1
            position = (job.createdAt, job.jobId)
            if endpoints.owns_job(job.jobId):
                kept.append(job)
                if len(kept) == size:
                    break
    go_on = position is not None and (more or len(kept) == size)
    next_token = pages.token_for(f"{position[0]}|{position[1]}") if position and go_on else None
    return JobList(tenantId=tenant_id, jobs=[_summary(job) for job in kept], nextPageToken=next_token)


def _summary(job: JobRecord) -> JobSummary:
    return JobSummary(
        jobId=job.jobId,
        status=job.status,
        fileId=job.fileId,
        schemaVersion=job.schemaVersion,
        createdAt=job.createdAt,
        startedAt=job.startedAt,
        completedAt=job.completedAt,
        totalRows=job.totalRows,
        processedRows=job.processedRows,
        errorRows=job.errorRows,
        skippedRows=job.skippedRows,
        failureReason=job.failureReason,
    )


def _tenant_job(endpoints: BulkEndpoints, tenant_id: str, job_id: str) -> JobRecord:
    job = firestore.get_job(job_id) if endpoints.owns_job(job_id) else None
    if job is None or job.tenantId != tenant_id:  # the same answer for another tenant's job
        raise not_found(
            f"No job {job_id!r} exists under {endpoints.base}/ for this API key."
            + _elsewhere(endpoints, BulkEndpoints.owns_job, job_id)
        )
    return job


def _errors_page(job: JobRecord, token: str | None, size: str | None) -> JobErrorsPage:
    page_size = pages.page_size(size, 500, MAX_PAGE_SIZE)
    if page_size is None:
        raise bad_request(f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}.")
    position = _decode_token(token) if token else None
    page, after = stored_errors(job.jobId, position, page_size)
    total = job.errorRows if job.status in FINAL_STATES else firestore.chunk_totals(job.jobId).error_rows
    return JobErrorsPage(
        jobId=job.jobId,
        errors=page,
        totalErrors=total or 0,
        nextPageToken=pages.token_for(f"{after[0]}:{after[1]}") if after else None,
    )


def _decode_token(token: str) -> tuple[str, int]:
    # ASCII digits only (\\d takes any script's): a chunk id and an offset in its errors
    found = re.fullmatch(r"([0-9]{6}):([0-9]{1,6})", pages.position_of(token) or "")
    if found is None:
        raise bad_request("pageToken is not one this API returned.")
    return found[1], int(found[2])


def stored_errors(
    job_id: str, position: tuple[str, int] | None, limit: int
) -> tuple[list[RowError], tuple[str, int] | None]:
    """The read side of job errors: up to `limit` stored per-row errors in row order, from a position
    (chunk id, offset in its errors); returns the page and the position after it, None at the end."""
    page: list[RowError] = []
    skip = position[1] if position else 0
    # each chunk read holds at least one error, so limit + 1 chunks are enough for a page and its successor
    for chunk_id, result in firestore.chunks_with_errors(
        job_id, position[0] if position else None, limit + 1
    ):
        if len(page) == limit:
            return page, (chunk_id, 0)
        take = result.errors[skip : skip + limit - len(page)]
        page.extend(take)
        if skip + len(take) < len(result.errors):
            return page, (chunk_id, skip + len(take))
        skip = 0
    return page, None
