"""The document of a play export (`exports/{exportId}`): plain record, no behaviour. `shared.storage.exports`
reads and writes it, `shared.reports.exports` decides what goes in it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class ExportState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINAL_STATES = (ExportState.SUCCEEDED, ExportState.FAILED)


class ExportPart(BaseModel):
    """One written file of an export: its object name in the exports bucket, its plays and bytes."""

    name: str
    rows: int
    bytes: int


class ExportRecord(BaseModel):
    """An export of a tenant's plays. `query` is `shared.reports.plays.PlaysQuery.described()`;
    `position` the last play of the last part written (`{"playedAt": micros, "eventId": ...}`), where
    the next part starts; `attempt` counts the exporter calls that worked on it."""

    exportId: str
    tenantId: str
    state: ExportState = ExportState.QUEUED
    query: dict[str, Any]
    format: str  # ndjson | csv
    gzip: bool = True
    createdAt: str
    updatedAt: str
    deadline: str  # failed by then if not finished (ISO 8601 UTC)
    rows: int = 0
    parts: list[ExportPart] = []
    position: dict[str, Any] | None = None
    attempt: int = 0
    error: str | None = None
    finishedAt: str | None = None
    expireAt: Any = None  # Firestore TTL (a datetime)
