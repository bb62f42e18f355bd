"""Models of the bulk path: API bodies, the file plan, Firestore documents and Pub/Sub messages.

One model system: the plan (`FilePlan`, its `ChunkSpec`s and plan-level `RowError`s) is embedded as
is in the file record and the chunk message; `shared.store` reads and writes these models.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FileFormat = Literal["ndjson", "json", "csv"]
FileStatus = Literal["awaiting_upload", "uploaded", "ready", "invalid"]
JobState = Literal["queued", "processing", "completed", "partially_completed", "failed"]
FINAL_STATES = ("completed", "partially_completed", "failed")  # a job in one of these never changes again

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


class RowError(BaseModel):
    """A row that could not become an event: its row number as a person sees it, and why."""

    row: int
    error: str


class ChunkSpec(BaseModel):
    """One chunk of a file: records `first_row` .. (`row_count` of them) in bytes [start, end)."""

    index: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    first_row: int = Field(ge=1)
    row_count: int = Field(ge=0)
    # JSON: the member of a one-document file whose array elements these rows are (`requests`), so a
    # worker, which reads only its chunk, reads the mapping's `records` path from the element; None:
    # rows of a top-level array, of `events`, of NDJSON or CSV. (At most 64 characters: one per chunk.)
    member: str | None = None


class FilePlan(BaseModel):
    """How a file is cut into chunks, made by the splitter from one read of the object."""

    format: FileFormat
    total_rows: int = 0
    chunks: list[ChunkSpec] = Field(default_factory=list)
    header: list[str] | None = None  # CSV column names, from the header row read with commas
    header_problem: str | None = None  # why the header row names no columns (commas); see header_text
    header_text: str | None = None  # the header row as written (up to 64 KiB), for another delimiter
    header_row: int | None = None  # where the header row is: a file without one has a data row there
    header_start: int | None = None
    header_end: int | None = None
    errors: list[RowError] = Field(default_factory=list)  # rows the plan already knows are bad (JSON)
    member: str | None = None  # JSON: the document's array member holding the rows (see ChunkSpec.member)


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


class JobErrorsPage(BaseModel):
    jobId: str
    errors: list[RowError]
    nextPageToken: str | None
    totalErrors: int


class FileRecord(BaseModel):
    """`files/{fileId}`."""

    fileId: str
    tenantId: str
    fileName: str
    format: FileFormat
    objectName: str
    status: FileStatus = "awaiting_upload"
    createdAt: str
    expireAt: Any = None  # Firestore TTL (a datetime)
    uploadExpiresAt: str
    jobId: str | None = None
    generation: int | None = None
    size: int | None = None
    crc32c: str | None = None
    totalRows: int | None = None
    plan: FilePlan | None = None  # bounded: see pipeline.MAX_PLAN_CHUNKS
    invalidReason: str | None = None


class JobRecord(BaseModel):
    """`jobs/{jobId}`. Counters are final values, written once when the job ends."""

    jobId: str
    tenantId: str
    fileId: str
    schemaVersion: str
    metadata: dict[str, Any] | None = None
    status: JobState = "queued"
    createdAt: str
    expireAt: Any = None
    startedAt: str | None = None
    completedAt: str | None = None
    totalRows: int | None = None
    expectedChunks: int | None = (
        None  # chunk results that end the job (chunks, plus one for plan-level errors)
    )
    fanOut: Literal["claimed", "done"] | None = None
    fanOutClaimedAt: datetime | None = None
    processedRows: int | None = None
    errorRows: int | None = None
    skippedRows: int | None = None
    failureReason: str | None = None


class ChunkResult(BaseModel):
    """`jobs/{jobId}/chunks/{index}`: written once, in one write; the commit point of a chunk."""

    index: int
    processedRows: int
    errorRows: int
    skippedRows: int = 0
    hasErrors: bool
    errors: list[RowError]
    recordedAt: str
    deadLettered: bool = False
    expireAt: Any = None  # Firestore TTL, like its job's


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
