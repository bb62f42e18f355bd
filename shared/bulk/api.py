"""The bulk HTTP endpoints: upload-url, ingest, job status and job errors."""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from flask import Request, Response
from pydantic import BaseModel, ValidationError

from shared import store
from shared.auth import callers
from shared.bulk import formats, pipeline, rows, schema_registry
from shared.bulk.mapping import timestamps
from shared.bulk.models import (
    FILE_ID, FINAL_STATES, JOB_ID, FileRecord, IngestRequest, IngestResponse, JobErrorsPage, JobRecord,
    JobStatus, UploadUrlRequest, UploadUrlResponse,
)
from shared.bulk.signing import signed_put_url
from shared.events.models import field_errors
from shared.platform import clients
from shared.platform.encoding import iso_utc, utc_now
from shared.platform.http import json_response, read_json
from shared.platform.problems import bad_request, not_found, unavailable, validation_failed
from shared.platform.pubsub import PublishFailed
from shared.platform.settings import get_settings

Body = TypeVar("Body", bound=BaseModel)
JOB_PATH = re.compile(r"^/coatro/v1/pop/dynamic/bulk/jobs/(?P<job>[^/]+)(?P<errors>/errors)?/?$")
STATUS_ERRORS = 100
MAX_PAGE_SIZE = 1_000


def _parse(model: type[Body], body) -> Body:
    if not isinstance(body, dict):
        raise validation_failed("The body must be a JSON object.", [{"index": None, "field": None, "message": "Input should be a JSON object"}])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_failed("The request is invalid.", field_errors(exc)) from None


def create_upload_url(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.POP_WRITE)
    body = _parse(UploadUrlRequest, read_json(request))
    now = datetime.now(timezone.utc)
    file_id = f"file-dynamic-{now:%Y%m%d}-{secrets.token_hex(8)}"
    # The object name is ours, never the caller's fileName.
    object_name = f"{pipeline.UPLOAD_PREFIX}{tenant_id}/{file_id}"
    content_type = formats.FORMATS[body.format]
    record = FileRecord(
        fileId=file_id, tenantId=tenant_id, fileName=body.fileName, format=body.format, objectName=object_name,
        createdAt=utc_now(), expireAt=pipeline.expire_at(),
        uploadExpiresAt=iso_utc(now + timedelta(seconds=body.expiresInSeconds), "seconds"),
    )
    store.create_file(record)
    url = signed_put_url(object_name, content_type, body.expiresInSeconds)
    return json_response(
        200,
        UploadUrlResponse(
            uploadUrl=url, fileId=file_id, contentType=content_type,
            uploadInstructions=(
                f"Use PUT method with Content-Type: {content_type} header within {body.expiresInSeconds} seconds. "
                "Then call POST /coatro/v1/pop/dynamic/bulk/ingest with fileId."
            ),
        ),
    )


def start_ingest(request: Request) -> Response:
    settings = get_settings()
    tenant_id = callers.tenant_for(request, callers.POP_WRITE)
    body = _parse(IngestRequest, read_json(request))
    if body.metadata is not None and len(json.dumps(body.metadata)) > settings.max_metadata_bytes:
        raise validation_failed(
            "The request is invalid.",
            [{"index": None, "field": "metadata", "message": f"metadata is limited to {settings.max_metadata_bytes} bytes of JSON"}],
        )
    zone = (body.metadata or {}).get("timezone")
    if zone is not None and not timestamps.is_zone(zone):
        raise validation_failed(
            "The request is invalid.",
            [{"index": None, "field": "metadata.timezone",
              "message": f"unknown time zone {zone!r}; use an IANA name such as Europe/London or UTC"}],
        )
    mapping = schema_registry.lookup(tenant_id, body.schemaVersion)
    if mapping is None:
        versions = ", ".join(schema_registry.available(tenant_id))
        raise bad_request(f"Unknown schemaVersion {body.schemaVersion!r}; available: {versions}.", slug="unknown-schema-version")
    record = store.get_file(body.fileId) if FILE_ID.fullmatch(body.fileId) else None
    if record is None or record.tenantId != tenant_id:
        raise bad_request(f"No file {body.fileId!r} exists for this API key; request an upload URL first.", slug="unknown-file")
    problem = record.invalidReason if record.status == "invalid" else None
    if record.status == "ready" and record.format == "csv":
        problem = rows.csv_header(mapping, record.plan)[1]  # the file's header as this mapping reads it
    if problem:
        raise bad_request(f"File {body.fileId} cannot be ingested: {problem}", slug="invalid-file")
    if record.status == "awaiting_upload" and not _object_exists(record.objectName):
        raise bad_request(
            f"File {body.fileId} has not been uploaded yet: PUT it to the uploadUrl, then call ingest.",
            slug="file-not-uploaded",
        )
    try:
        job_id, created = pipeline.create_job(tenant_id, body.fileId, body.schemaVersion, body.metadata)
    except PublishFailed:
        raise unavailable(
            "The job exists but its work could not be queued; retry the same request.", settings.retry_after_seconds
        ) from None
    return json_response(202, IngestResponse(jobId=job_id, message="Job queued" if created else "Job already exists for this file"))


def _object_exists(object_name: str) -> bool:
    # The upload may have landed before its finalize event reached the splitter.
    return clients.storage().bucket(get_settings().uploads_bucket).get_blob(object_name) is not None


def job_status(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.POP_WRITE)
    match = JOB_PATH.match(request.path)
    if not match:
        raise not_found("No such job.")
    job = _tenant_job(tenant_id, match["job"])
    if match["errors"]:
        return json_response(200, _errors_page(job, request.args.get("pageToken"), request.args.get("pageSize")))
    if job.status in FINAL_STATES:
        processed, errors, skipped = job.processedRows or 0, job.errorRows or 0, job.skippedRows or 0
    else:
        totals = store.chunk_totals(job.jobId)
        processed, errors, skipped = totals.processed_rows, totals.error_rows, totals.skipped_rows
    first, _ = pipeline.stored_errors(job.jobId, None, STATUS_ERRORS)
    return json_response(
        200,
        JobStatus(
            jobId=job.jobId, status=job.status, totalRows=job.totalRows, processedRows=processed, errorRows=errors,
            skippedRows=skipped, errors=first, startedAt=job.startedAt, completedAt=job.completedAt, fileId=job.fileId,
            schemaVersion=job.schemaVersion, createdAt=job.createdAt, failureReason=job.failureReason,
        ),
    )


def _tenant_job(tenant_id: str, job_id: str) -> JobRecord:
    job = store.get_job(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None or job.tenantId != tenant_id:
        raise not_found(f"No job {job_id!r} exists for this API key.")  # same answer for another tenant's job
    return job


def _errors_page(job: JobRecord, token: str | None, size: str | None) -> JobErrorsPage:
    try:
        page_size = int(size) if size is not None else 500
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError
    except ValueError:
        raise bad_request(f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}.") from None
    position = _decode_token(token) if token else None
    page, after = pipeline.stored_errors(job.jobId, position, page_size)
    total = job.errorRows if job.status in FINAL_STATES else store.chunk_totals(job.jobId).error_rows
    return JobErrorsPage(
        jobId=job.jobId, errors=page, totalErrors=total or 0,
        nextPageToken=base64.urlsafe_b64encode(f"{after[0]}:{after[1]}".encode()).decode() if after else None,
    )


def _decode_token(token: str) -> tuple[str, int]:
    try:
        chunk, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if not re.fullmatch(r"\d{6}", chunk) or not re.fullmatch(r"\d{1,6}", offset):
            raise ValueError
        return chunk, int(offset)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("pageToken is not one this API returned.") from None
