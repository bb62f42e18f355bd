"""Scheduled report drops: what one tick of `pop-report-ticks` does (docs/report-drops.md).

1. **Claim** every schedule due (`nextRunAt <= now`): in one transaction, create its run document
   (`reportRuns/{tenant}:{schedule}:{runId}`, runId the scheduled instant: created once, so a tick
   delivered twice, or two ticks at once, claim it once) and move `nextRunAt` to the next occurrence.
   An occurrence more than MAX_LATENESS late (the service was down) is skipped, with a warning:
   the schedule moves on to its first occurrence within MAX_LATENESS of now.
2. **Run** every run whose `retryAt` has passed: take it (one transaction: attempts + 1, state
   running, `retryAt` a lease longer than the function's timeout, so a run whose instance died is
   taken again), read the report with its endpoint's own query (`shared.reports.kinds`), write each
   format to `<tenantId>/<scheduleId>/<runId>.<format>` in the drops bucket, publish `report.ready`
   (`evt_report_<tenant>_<schedule>_<runId>`: the same id however often a run is retried) and record
   the run succeeded with its files.
3. A failed attempt is recorded (`retrying`, its error, `retryAt` after a backoff) and taken again
   by a later tick, up to `report_drop_attempts`; then the run is `failed` with its error. A failure
   no retry can fix (the report has too many rows, its parameters are no longer valid) fails at once.
   So every run ends succeeded or failed, visible in the API; none ends silently.

A tick starts no run after `report_tick_budget_seconds`: what is still due waits for the next tick.
"""

from __future__ import annotations

import hashlib
import tempfile
import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import IO

from shared.platform import logs
from shared.platform.encoding import iso_utc
from shared.platform.problems import Problem
from shared.platform.settings import get_settings
from shared.records.notify import WebhookEvent
from shared.records.report_schedules import (
    FINAL_RUN_STATES,
    DropFile,
    ReportRunRecord,
    ReportScheduleRecord,
)
from shared.reports import schedules
from shared.reports.kinds import FORMATS, KINDS, TooManyRows, Unavailable, render
from shared.storage import drops as bucket
from shared.storage import notices
from shared.storage import report_schedules as store

MAX_LATENESS = timedelta(days=7)
LEASE = timedelta(minutes=15)  # longer than report_drops' 540 s timeout (infra/functions.tf)
FIRST_BACKOFF = timedelta(minutes=5)  # then 10, 20, ... minutes: a later tick (every 5 minutes) retakes it
BATCH = 100
MAX_EVENT_ID = 200  # WebhookEvent.id
FILES_PATH = "/coatro/v1/pop/report-schedules/{}/files"
SPOOL_BYTES = 8 * 1024 * 1024  # a file's bytes in memory; past this, on disk


class PermanentFailure(Exception):
    """A run no retry can fix."""


@dataclass
class TickOutcome:
    claimed: int = 0
    skipped: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: bool = False  # the budget ran out with runs still due


def run_id(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def event_id(tenant_id: str, schedule_id: str, run: str) -> str:
    """`evt_report_<tenant>_<schedule>_<runId>`; past 200 characters (a long tenant id), the same
    prefix and a SHA-256 of those three, deterministic either way."""
    plain = f"evt_report_{tenant_id}_{schedule_id}_{run}"
    if len(plain) <= MAX_EVENT_ID:
        return plain
    return "evt_report_" + hashlib.sha256(f"{tenant_id}\0{schedule_id}\0{run}".encode()).hexdigest()


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def tick(now: datetime) -> TickOutcome:
    """Claim the schedules due at `now`, then run what is due, within the tick's budget."""
    outcome = TickOutcome()
    deadline = clock.monotonic() + get_settings().report_tick_budget_seconds
    claim_due(now, outcome)
    take_due(now, outcome, deadline)
    logs.info("report tick", **vars(outcome))
    return outcome


def claim_due(now: datetime, outcome: TickOutcome) -> None:
    # Each round moves every schedule it reads past one occurrence, so a schedule that missed several
    # (at most MAX_LATENESS of them) has them all claimed in one tick.
    # One schedule that cannot be claimed (its transaction keeps failing) is logged and left for the
    # next tick; it never stops the others.
    broken: set[tuple[str, str]] = set()
    for _ in range(50):
        due = [
            s for s in store.due_schedules(iso_utc(now), BATCH) if (s.tenantId, s.scheduleId) not in broken
        ]
        if not due:
            return
        for schedule in due:
            try:
                claimed = store.claim_run(
                    schedule.tenantId, schedule.scheduleId, lambda s: _decide(s, now, outcome)
                )
            except Exception as exc:
                logs.exception(
                    "could not claim a report run",
                    exc,
                    tenantId=schedule.tenantId,
                    scheduleId=schedule.scheduleId,
                )
                broken.add((schedule.tenantId, schedule.scheduleId))
                continue
            if claimed:
                outcome.claimed += 1


def _decide(
    current: ReportScheduleRecord | None, now: datetime, outcome: TickOutcome
) -> tuple[ReportScheduleRecord, ReportRunRecord | None] | None:
    if current is None or current.nextRunAt > iso_utc(now):
        return None  # deleted, or claimed by another tick
    instant = _instant(current.nextRunAt)
    if instant < now - MAX_LATENESS:
        following = schedules.next_run(current.schedule, now - MAX_LATENESS)
        logs.warning(
            "report schedule occurrences skipped: too late",
            tenantId=current.tenantId,
            scheduleId=current.scheduleId,
            missedFrom=current.nextRunAt,
            resumesAt=iso_utc(following),
        )
        outcome.skipped += 1
        return current.model_copy(update={"nextRunAt": iso_utc(following)}), None
    rid = run_id(instant)
    first, last = schedules.window_days(current.window, schedules.run_date(current.schedule, instant))
    settings = get_settings()
    run = ReportRunRecord(
        tenantId=current.tenantId,
        scheduleId=current.scheduleId,
        runId=rid,
        scheduledAt=current.nextRunAt,
        report=current.report,
        parameters=current.parameters,
        formats=current.formats,
        firstDay=first.isoformat(),
        lastDay=last.isoformat(),
        createdAt=iso_utc(now),
        retryAt=iso_utc(now),
        eventId=event_id(current.tenantId, current.scheduleId, rid),
        expireAt=now + timedelta(days=settings.report_drop_retention_days),
    )
    following = schedules.next_run(current.schedule, instant)
    return current.model_copy(update={"nextRunAt": iso_utc(following), "lastRunId": rid}), run


def take_due(now: datetime, outcome: TickOutcome, deadline: float) -> None:
    broken: set[tuple[str, str, str]] = set()
    for _ in range(50):
        runs = [
            r
            for r in store.runs_to_take(iso_utc(now), BATCH)
            if (r.tenantId, r.scheduleId, r.runId) not in broken
        ]
        if not runs:
            return
        for run in runs:
            if clock.monotonic() > deadline:
                outcome.deferred = True
                return
            try:
                attempt(run, now, outcome)
            except Exception as exc:  # recording it failed (Firestore): its lease brings it back later
                logs.exception("could not record a report run", exc, tenantId=run.tenantId,
                               scheduleId=run.scheduleId, runId=run.runId)  # fmt: skip
                broken.add((run.tenantId, run.scheduleId, run.runId))


def attempt(run: ReportRunRecord, now: datetime, outcome: TickOutcome) -> ReportRunRecord | None:
    """One attempt at a run, if it is still to be taken; the run as recorded after it."""
    attempts = get_settings().report_drop_attempts

    def take(current: ReportRunRecord | None) -> ReportRunRecord | None:
        if current is None or current.state in FINAL_RUN_STATES or current.retryAt is None:
            return None
        if current.retryAt > iso_utc(now):
            return None  # taken by another tick meanwhile
        if current.attempts >= attempts:  # the last attempt's lease ran out: its instance stopped
            return current.model_copy(
                update={
                    "state": "failed",
                    "error": current.error
                    or f"the run did not finish in {attempts} attempts (its instance stopped or timed out)",
                    "finishedAt": iso_utc(now),
                    "retryAt": None,
                }
            )
        return current.model_copy(
            update={
                "state": "running",
                "attempts": current.attempts + 1,
                "startedAt": iso_utc(now),
                "retryAt": iso_utc(now + LEASE),
            }
        )

    _, taken = store.change_run(run.tenantId, run.scheduleId, run.runId, take)
    if taken is None:
        return None
    if taken.state == "failed":
        outcome.failed += 1
        return taken
    with logs.context(tenantId=run.tenantId, scheduleId=run.scheduleId, runId=run.runId):
        try:
            files = produce(taken)
            notices.publish([ready_event(taken, files, now)])
        except (PermanentFailure, TooManyRows, Unavailable) as exc:
            logs.warning("report run failed for good", error=str(exc))
            return _finish(taken, outcome, "failed", error=str(exc), now=now)
        except Exception as exc:  # anything else may pass: retry after a backoff, while attempts remain
            logs.exception("report run attempt failed", exc, attempt=taken.attempts)
            error = f"attempt {taken.attempts}: {type(exc).__name__}: {exc}"[:2000]
            if taken.attempts >= attempts:
                return _finish(taken, outcome, "failed", error=error, now=now)
            backoff = FIRST_BACKOFF * 2 ** (taken.attempts - 1)
            return _finish(taken, outcome, "retrying", error=error, now=now, retry_at=now + backoff)
        return _finish(taken, outcome, "succeeded", now=now, files=files)


def _finish(
    taken: ReportRunRecord,
    outcome: TickOutcome,
    state: str,
    now: datetime,
    error: str | None = None,
    retry_at: datetime | None = None,
    files: list[DropFile] | None = None,
) -> ReportRunRecord | None:
    update = {
        "state": state,
        "error": error,
        "retryAt": iso_utc(retry_at) if retry_at else None,
        "finishedAt": None if retry_at else iso_utc(now),
        "files": files or [],
    }

    def finish(current: ReportRunRecord | None) -> ReportRunRecord | None:
        if current is None or current.state != "running" or current.attempts != taken.attempts:
            return None  # retaken after this attempt's lease ran out: the newer attempt records
        return current.model_copy(update=update)

    _, written = store.change_run(taken.tenantId, taken.scheduleId, taken.runId, finish)
    if written is not None:
        setattr(outcome, state, getattr(outcome, state) + 1)
    return written


def produce(run: ReportRunRecord) -> list[DropFile]:
    """Write the run's files (those an earlier attempt did not) and describe them all."""
    kind = KINDS.get(run.report)
    if kind is None:
        raise PermanentFailure(f"no report {run.report!r}")
    args = schedules.report_arguments(
        kind, run.parameters, date.fromisoformat(run.firstDay), date.fromisoformat(run.lastDay)
    )
    try:
        query = kind.parse(args)
    except Problem as problem:  # checked when the schedule was saved; the rules may have changed since
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.errors or [])
        raise PermanentFailure(
            f"the report's parameters are not valid now: {fields or problem.detail}"
        ) from None
    names = {fmt: bucket.object_name(run.tenantId, run.scheduleId, run.runId, fmt) for fmt in run.formats}
    stored = {fmt: bucket.existing(name) for fmt, name in names.items()}
    missing = [fmt for fmt, found in stored.items() if found is None]
    if missing:
        outputs: dict[str, IO[bytes]] = {
            fmt: tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) for fmt in missing
        }
        try:
            rows = render(
                kind,
                run.tenantId,
                query,
                outputs,
                get_settings().report_drop_max_rows,
                _instant(run.scheduledAt),  # a report as of now is as of the scheduled instant
            )
            for fmt, out in outputs.items():
                stored[fmt] = bucket.create(names[fmt], out, FORMATS[fmt], rows)
        finally:
            for out in outputs.values():
                out.close()
    return [
        DropFile(format=fmt, name=names[fmt], contentType=FORMATS[fmt], bytes=found.bytes, rows=found.rows)
        for fmt, found in stored.items()
        if found is not None
    ]


def ready_event(run: ReportRunRecord, files: list[DropFile], now: datetime) -> WebhookEvent:
    return WebhookEvent(
        id=run.eventId,
        type="report.ready",
        tenantId=run.tenantId,
        timestamp=iso_utc(now),
        data={
            "scheduleId": run.scheduleId,
            "runId": run.runId,
            "scheduledAt": run.scheduledAt,
            "report": run.report,
            "firstDay": run.firstDay,
            "lastDay": run.lastDay,
            "files": [
                f.model_dump(include={"format", "name", "contentType", "bytes", "rows"}) for f in files
            ],
            "filesUrl": FILES_PATH.format(run.scheduleId),
        },
    )
