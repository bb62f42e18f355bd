"""Models of the bulk path's API bodies and Pub/Sub messages.

What Firestore holds (the file record with its plan, the job, chunk results) is in
`shared.records.jobs`; a chunk message embeds a `ChunkSpec` of the plan as it is.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.records.jobs import ChunkSpec, FileFormat, JobState, RowError

# Not in a file name: C0 and C1 controls and DEL, the line and paragraph separators (they break a line
# in logs and listings), and the bidirectional embeddings, overrides and isolates (U+202E makes
# "invoice\u202efdp.exe" show as "invoiceexe.pdf").
_NOT_IN_FILE_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Ids we issue; anything else cannot exist, and never reaches Firestore as a document path.
# The word after file-/job- names the endpoints that issued it: `dynamic` (/coatro/v1/pop/dynamic/bulk)
# or `bulk` (the canonical /coatro/v1/pop/bulk); see shared.bulk.api.BulkEndpoints.
FILE_ID = re.compile(r"file-(?:dynamic|bulk)-\d{8}-[0-9a-f]{16}")
JOB_ID = re.compile(r"job-(?:dynamic|bulk)-pop-\d{8}-[0-9a-f]{16}")


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class UploadUrlRequest(_Request):
    fileName: str = Field(min_length=1, max_length=255)
    format: FileFormat
    expiresInSeconds: int = Field(3600, ge=1, le=86400)

    @field_validator("fileName")
    @classmethod
    def _printable(cls, value: str) -> str:
        if found := _NOT_IN_FILE_NAMES.search(value):
            char = found.group()
            kind = (
                "a line or paragraph separator"
                if char in "\u2028\u2029"
                else "a bidirectional text control"
                if char >= "\u202a"
                else "a control character"
            )
            raise ValueError(f"must not contain {kind}: U+{ord(char):04X} at character {found.start() + 1}")
        return value


class UploadUrlResponse(BaseModel):
    uploadUrl: str
    fileId: str
    contentType: str
    uploadInstructions: str


class IngestRequest(_Request):
    fileId: str = Field(min_length=1, max_length=128)
    schemaVersion: str = Field(min_length=1, max_length=32)
    metadata: dict[str, Any] | None = None


class CanonicalIngestRequest(_Request):
    """Ingest under the canonical endpoints: the rows are canonical events (schema 1.0)."""

    fileId: str = Field(min_length=1, max_length=128)
    metadata: dict[str, Any] | None = None


class IngestResponse(BaseModel):
    jobId: str
    message: str


class JobStatus(BaseModel):
    jobId: str
    status: JobState
    totalRows: int | None
    processedRows: int
    errorRows: int
    skippedRows: int  # records the mapping's filters (`where`) left out: neither events nor errors
    errors: list[RowError]
    startedAt: str | None
    completedAt: str | None
    fileId: str
    schemaVersion: str
    createdAt: str
    failureReason: str | None = None


class JobSummary(BaseModel):
    """A job in the list (GET .../bulk/jobs): its counters are the final ones, null while it runs
    (the job's own status gives them live)."""

    jobId: str
    status: JobState
    fileId: str
    schemaVersion: str
    createdAt: str
    startedAt: str | None
    completedAt: str | None
    totalRows: int | None
    processedRows: int | None
    errorRows: int | None
    skippedRows: int | None
    failureReason: str | None = None


class JobList(BaseModel):
    tenantId: str  # the caller's tenant (whose jobs these are)
    jobs: list[JobSummary]
    nextPageToken: str | None


class JobErrorsPage(BaseModel):
    jobId: str
    errors: list[RowError]
    nextPageToken: str | None
    totalErrors: int


class ChunkMessage(BaseModel):
    """The data of one `pop-chunks` message: everything a worker needs to process one chunk."""

    jobId: str
    tenantId: str
    fileId: str
    objectName: str
    generation: int
    format: FileFormat
    schemaVersion: str
    timezone: str | None = None  # the ingest's metadata.timezone: zone-less timestamps are read in it
    header: list[str] | None = None
    chunk: ChunkSpec
    storedErrorsPerChunk: int


class SweepRequest(BaseModel):
    """The data of one `pop-sweeps` message (Cloud Scheduler sends `{}`): look for stuck jobs now."""

    model_config = ConfigDict(extra="ignore")


# -- schema versions over the API (shared.bulk.schema_api) --------------------------------------


class SchemaSummary(BaseModel):
    version: str
    builtIn: bool


class SchemaList(BaseModel):
    schemas: list[SchemaSummary]


class SchemaDocument(BaseModel):
    """A schema version as the API shows it: `mapping` is what a PUT of that version takes."""

    version: str
    builtIn: bool
    mapping: dict[str, Any]


class PreviewRequest(_Request):
    """A sample to map with a registered schema version (`POST .../schemas/{version}/preview`)."""

    format: FileFormat
    sample: str  # the file's content as text (all formats are UTF-8)
    metadata: dict[str, Any] | None = None  # as ingest's: e.g. {"timezone": "Europe/London"}


class MappingPreviewRequest(PreviewRequest):
    """A sample and a mapping that need not be registered (`POST .../schemas/preview`)."""

    mapping: dict[str, Any]
