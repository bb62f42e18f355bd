"""Documents of scheduled report drops: a tenant's report schedules and each scheduled run.

Plain records (no behaviour): `shared.storage.report_schedules` reads and writes them,
`shared.reports.schedules` and `shared.reports.drops` decide what goes in them (docs/report-drops.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Frequency = Literal["daily", "weekly"]
RunState = Literal["pending", "running", "retrying", "succeeded", "failed"]
FINAL_RUN_STATES: tuple[RunState, ...] = ("succeeded", "failed")


class Timing(BaseModel):
    """When a schedule runs: every day, or every `weekday` (monday..sunday), at the local `time`
    (HH:MM) in the IANA zone `timeZone`."""

    frequency: Frequency
    time: str
    timeZone: str
    weekday: str | None = None


class ReportScheduleRecord(BaseModel):
    """`reportSchedules/{tenantId}:{scheduleId}`. `parameters` are the report's query parameters as
    its endpoint takes them, but the days (set at each run from `window`) and paging. `nextRunAt` is
    the next scheduled instant (ISO 8601 UTC, milliseconds: such strings sort as the instants do);
    the tick runs every schedule whose `nextRunAt` has passed."""

    tenantId: str
    scheduleId: str
    report: str
    parameters: dict[str, str]
    schedule: Timing
    window: str | None  # None: a report without days (performance)
    formats: list[str]
    createdAt: str
    updatedAt: str
    nextRunAt: str
    lastRunId: str | None = None


class DropFile(BaseModel):
    """One file a run wrote: `name` is its object in the drops bucket."""

    format: str
    name: str
    contentType: str
    bytes: int
    rows: int


class ReportRunRecord(BaseModel):
    """`reportRuns/{tenantId}:{scheduleId}:{runId}`, created once per scheduled instant (`runId` is
        that instant, `YYYYMMDDTHHMMSSZ`). `firstDay`/`lastDay` are the report's days (for a report
    without days, the run's local date). `retryAt` is set
        while the run is not final: when a tick may (re)take it (a running attempt's lease, a failed
        attempt's backoff); None once it succeeded or failed, which takes it out of the tick's query.
        `expireAt` (a timestamp) is its Firestore TTL."""

    tenantId: str
    scheduleId: str
    runId: str
    scheduledAt: str
    report: str
    parameters: dict[str, str]
    formats: list[str]
    firstDay: str
    lastDay: str
    state: RunState = "pending"
    attempts: int = 0
    error: str | None = None
    createdAt: str
    startedAt: str | None = None
    finishedAt: str | None = None
    retryAt: str | None = None
    files: list[DropFile] = []
    eventId: str
    expireAt: Any = None  # Firestore TTL (a datetime)
