"""What Firestore holds of a bulk job: the file record with its plan, the job, and each chunk's result.

Plain records (no behaviour): `shared.storage.firestore` reads and writes them, the bulk stages
(`shared.bulk.pipeline`) and the bulk API decide what goes in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

FileFormat = Literal["ndjson", "json", "csv"]
FileStatus = Literal["awaiting_upload", "uploaded", "ready", "invalid"]
JobState = Literal["queued", "processing", "completed", "partially_completed", "failed"]
FINAL_STATES = ("completed", "partially_completed", "failed")  # a job in one of these never changes again


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
    plan: FilePlan | None = None  # bounded: see shared.bulk.pipeline.splitter.MAX_PLAN_CHUNKS
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
    # The outbox of the job's webhook event (job.completed|partially_completed|failed): set in the
    # transaction that gives the job its final state, cleared once the event is published; the sweep
    # publishes any left set (a finisher that died between its commit and its publish).
    noticePending: bool = False


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


@dataclass(frozen=True)
class ChunkTotals:
    """Sums over a job's chunk results: what ends the job."""

    chunks: int
    processed_rows: int
    error_rows: int
    skipped_rows: int = 0
