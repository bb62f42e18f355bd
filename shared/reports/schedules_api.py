"""Report schedules over the API, tenant-scoped (docs/report-drops.md):

    PUT    /coatro/v1/pop/report-schedules/{scheduleId}        create (201) or replace (200)
    GET    /coatro/v1/pop/report-schedules/{scheduleId}        the schedule and its last run
    DELETE /coatro/v1/pop/report-schedules/{scheduleId}        delete it and its run records; 200, the schedule deleted
    GET    /coatro/v1/pop/report-schedules                     the tenant's schedules, a page at a time
    GET    /coatro/v1/pop/report-schedules/{scheduleId}/runs   its runs, newest first: state, attempts, error
    GET    /coatro/v1/pop/report-schedules/{scheduleId}/files  its runs' files with signed download URLs

Another tenant's schedule is answered exactly as an unknown one (404). Managing schedules needs
`reports:write` (each one is recurring BigQuery work and bucket writes, which a read-only token for a
dashboard should not be able to start), reading them and their files `reports:read`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Request, Response
from pydantic import BaseModel

from shared.auth import callers
from shared.platform import pages
from shared.platform.encoding import iso_utc
from shared.platform.http import json_response, read_json_document
from shared.platform.problems import (
    Problem,
    bad_request,
    field_error,
    invalid,
    method_not_allowed,
    not_found,
    validation_failed,
)
from shared.platform.settings import get_settings
from shared.records.report_schedules import ReportRunRecord, ReportScheduleRecord
from shared.reports import schedules
from shared.storage import drops as bucket
from shared.storage import report_schedules as store
from shared.storage.firestore import unstorable

BASE = "/coatro/v1/pop/report-schedules"
MAX_BODY_BYTES = 16 * 1024
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
# A page of files holds the files of this many runs: each file's URL is one signature (in the cloud,
# one IAM signBlob call), so a page stays a few dozen calls at most.
DEFAULT_FILE_RUNS, MAX_FILE_RUNS = 10, 25
PAGE_PARAMETERS = ("pageSize", "pageToken")
_PATH = re.compile(r"^(?:/(?P<id>[^/]+)(?:/(?P<sub>files|runs))?)?/?$")
_RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z")


class ScheduleList(BaseModel):
    schedules: list[dict[str, Any]]
    nextPageToken: str | None


class RunList(BaseModel):
    scheduleId: str
    runs: list[dict[str, Any]]
    nextPageToken: str | None


class FileList(BaseModel):
    scheduleId: str
    files: list[dict[str, Any]]
    nextPageToken: str | None


def now() -> datetime:
    return datetime.now(UTC)


def handle(request: Request) -> Response:
    """Route a request under BASE to its operation."""
    match = _PATH.match(request.path.removeprefix(BASE)) if request.path.startswith(BASE) else None
    if match is None:
        raise not_found(f"No API path {request.path}.")
    schedule_id, sub = match["id"], match["sub"]
    if schedule_id is None:
        operations = {"GET": lambda: list_schedules(request)}
    elif sub == "files":
        operations = {"GET": lambda: list_files(request, schedule_id)}
    elif sub == "runs":
        operations = {"GET": lambda: list_runs(request, schedule_id)}
    else:
        operations = {
            "GET": lambda: get_schedule(request, schedule_id),
            "PUT": lambda: put_schedule(request, schedule_id),
            "DELETE": lambda: delete_schedule(request, schedule_id),
        }
    if request.method not in operations:
        raise method_not_allowed(list(operations))
    return operations[request.method]()


def document(record: ReportScheduleRecord, last_run: ReportRunRecord | None = None) -> dict[str, Any]:
    return {
        "scheduleId": record.scheduleId,
        "report": record.report,
        "parameters": record.parameters,
        "schedule": record.schedule.model_dump(exclude_none=True),
        "window": record.window,
        "formats": record.formats,
        "createdAt": record.createdAt,
        "updatedAt": record.updatedAt,
        "nextRunAt": record.nextRunAt,
        "lastRun": run_document(last_run) if last_run else None,
    }


def run_document(run: ReportRunRecord) -> dict[str, Any]:
    return {
        "runId": run.runId,
        "scheduledAt": run.scheduledAt,
        "state": run.state,
        "attempts": run.attempts,
        "error": run.error,
        "firstDay": run.firstDay,
        "lastDay": run.lastDay,
        "startedAt": run.startedAt,
        "finishedAt": run.finishedAt,
        "nextAttemptAt": run.retryAt if run.state in ("pending", "retrying") else None,
        "files": [f.model_dump() for f in run.files],
    }


def _check_id(schedule_id: str) -> None:
    if not schedules.SCHEDULE_ID.fullmatch(schedule_id):
        raise validation_failed(
            "The scheduleId is not valid.",
            [field_error("scheduleId", "1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")],
        )


def put_schedule(request: Request, schedule_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_WRITE)
    _check_id(schedule_id)
    body = read_json_document(request, MAX_BODY_BYTES)
    if found := unstorable(body, ""):
        where, why = found  # as sent: what is checked is what is stored (a lone surrogate is not text)
        said = f"{where or 'the schedule'} {why}"
        raise validation_failed(
            f"The schedule cannot be stored as sent: {said}.", [field_error(where or None, said)]
        )
    at = now()
    spec = schedules.parse_schedule(body, at)
    if isinstance(spec, list):
        raise invalid("The schedule", spec)
    if store.get_schedule(tenant_id, schedule_id) is None:
        limit = get_settings().max_report_schedules
        if store.count_schedules(tenant_id) >= limit:
            raise bad_request(
                f"This tenant has {limit} report schedules, the most it may have; delete one first.",
                slug="too-many-schedules",
            )

    def change(current: ReportScheduleRecord | None) -> ReportScheduleRecord | None:
        stamp = iso_utc(at)
        fields = {
            "report": spec.report,
            "parameters": spec.parameters,
            "schedule": spec.timing,
            "window": spec.window,
            "formats": spec.formats,
        }
        if current is None:
            return ReportScheduleRecord(
                tenantId=tenant_id,
                scheduleId=schedule_id,
                createdAt=stamp,
                updatedAt=stamp,
                nextRunAt=iso_utc(schedules.next_run(spec.timing, at)),
                **fields,
            )
        if all(getattr(current, k) == v for k, v in fields.items()):
            return None  # the same schedule again: nothing changes, not even its next run
        # A new timing takes effect at its next occurrence; otherwise a run already due stays due.
        next_run = (
            current.nextRunAt
            if current.schedule == spec.timing
            else iso_utc(schedules.next_run(spec.timing, at))
        )
        return current.model_copy(update={**fields, "updatedAt": stamp, "nextRunAt": next_run})

    before, written = store.change_schedule(tenant_id, schedule_id, change)
    record = written or before
    assert record is not None
    if before is None:
        return json_response(201, document(record), headers={"Location": f"{BASE}/{schedule_id}"})
    return json_response(200, document(record, _last_run(record)))


def get_schedule(request: Request, schedule_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_READ)
    record = _current(tenant_id, schedule_id)
    return json_response(200, document(record, _last_run(record)))


def delete_schedule(request: Request, schedule_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_WRITE)
    record = _current(tenant_id, schedule_id)
    if not store.delete_schedule(tenant_id, schedule_id):  # deleted meanwhile
        raise _unknown(schedule_id)
    return json_response(200, document(record))


def list_schedules(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.REPORTS_READ)
    size, after = _page(request)
    if after is not None and not schedules.SCHEDULE_ID.fullmatch(after):
        raise _bad_token()
    page = store.list_schedules(tenant_id, after, size + 1)
    token = pages.token_for(page[size - 1].scheduleId) if len(page) > size else None
    return json_response(200, ScheduleList(schedules=[document(r) for r in page[:size]], nextPageToken=token))


def _runs_page(
    request: Request, schedule_id: str, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> tuple[list[ReportRunRecord], str | None]:
    tenant_id = callers.tenant_for(request, callers.REPORTS_READ)
    size, before = _page(request, default, maximum)
    if before is not None and not _RUN_ID.fullmatch(before):
        raise _bad_token()
    _current(tenant_id, schedule_id)
    page = store.list_runs(tenant_id, schedule_id, before, size + 1)
    token = pages.token_for(page[size - 1].runId) if len(page) > size else None
    return page[:size], token


def list_runs(request: Request, schedule_id: str) -> Response:
    runs, token = _runs_page(request, schedule_id)
    return json_response(
        200, RunList(scheduleId=schedule_id, runs=[run_document(r) for r in runs], nextPageToken=token)
    )


def list_files(request: Request, schedule_id: str) -> Response:
    """The files of the page's runs that succeeded, newest first, each with a signed GET URL."""
    runs, token = _runs_page(request, schedule_id, DEFAULT_FILE_RUNS, MAX_FILE_RUNS)
    seconds = get_settings().report_drop_url_seconds
    expires = iso_utc(now() + timedelta(seconds=seconds))
    files = [
        {
            "runId": run.runId,
            "scheduledAt": run.scheduledAt,
            "firstDay": run.firstDay,
            "lastDay": run.lastDay,
            **file.model_dump(),
            "url": bucket.signed_get_url(file.name, seconds),
            "urlExpiresAt": expires,
        }
        for run in runs
        if run.state == "succeeded"
        for file in run.files
    ]
    return json_response(200, FileList(scheduleId=schedule_id, files=files, nextPageToken=token))


def _last_run(record: ReportScheduleRecord) -> ReportRunRecord | None:
    if record.lastRunId is None:
        return None
    return store.get_run(record.tenantId, record.scheduleId, record.lastRunId)


def _current(tenant_id: str, schedule_id: str) -> ReportScheduleRecord:
    record = (
        store.get_schedule(tenant_id, schedule_id) if schedules.SCHEDULE_ID.fullmatch(schedule_id) else None
    )
    if record is None:  # the same answer for another tenant's schedule
        raise _unknown(schedule_id)
    return record


def _unknown(schedule_id: str) -> Problem:
    return not_found(f"No report schedule {schedule_id[:64]!r} exists for this API key; see GET {BASE}.")


def _page(
    request: Request, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> tuple[int, str | None]:
    unknown = sorted(
        k for k in request.args if k not in PAGE_PARAMETERS and k not in callers.CREDENTIAL_PARAMETERS
    )
    errors = [field_error(k, f"Unknown parameter; use {', '.join(PAGE_PARAMETERS)}") for k in unknown]
    size = pages.page_size(request.args.get("pageSize"), default, maximum)
    if size is None:
        errors.append(field_error("pageSize", f"pageSize must be an integer from 1 to {maximum}"))
    if errors:
        raise validation_failed(
            "Invalid query parameter(s): " + ", ".join(str(e["field"]) for e in errors) + ".", errors
        )
    token = request.args.get("pageToken")
    if token is None:
        return size or default, None
    position = pages.position_of(token)
    if position is None:
        raise _bad_token()
    return size or default, position


def _bad_token() -> Problem:
    return validation_failed(
        "pageToken is not one this API returned.",
        [field_error("pageToken", "pageToken is not one this API returned")],
    )
