"""Play exports: a tenant's plays (the cursor API's rows, `shared.reports.plays`) written as gzipped
NDJSON or CSV files to its folder of the exports bucket, `exports/<tenantId>/<exportId>/`, and
handed out as signed download URLs (docs/plays-export.md says why this path and not EXPORT DATA).

- `start_export` (POST .../exports/plays) checks the request, creates the record (queued) and
  publishes `{"exportId"}` to `pop-exports`.
- `run_export` (the `exporter` function, one message per call) reads the plays after the record's
  position from one query, a page of results at a time, and streams them through gzip into the
  bucket as parts of `export_part_rows` plays (a resumable upload: memory holds one results page and
  one upload chunk). After each part it records the part and the new position in one transaction;
  past `export_time_budget_seconds` it hands the rest to a new message. A redelivered message resumes
  at the recorded position and rewrites at most the part it was writing, under the same name with
  the same plays: the files never hold a play twice. A finished export ignores its messages.
- Every export reaches a final state: a failure that no retry can mend (a refused query) fails it
  at once; otherwise Pub/Sub redelivers, and an export still unfinished at its `deadline` (created +
  `export_deadline_seconds`) is failed by the next call that sees it (the exporter, or a GET).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from google.api_core import exceptions as google_errors
from pydantic import BaseModel, ConfigDict, Field

from shared.platform import clients, logs, pubsub
from shared.platform.encoding import iso_utc, utc_now
from shared.platform.problems import FieldError, field_error, not_found, validation_failed
from shared.platform.settings import get_settings
from shared.records.exports import FINAL_STATES, ExportPart, ExportRecord, ExportState
from shared.reports import plays
from shared.reports.params import FILTERS
from shared.storage import downloads
from shared.storage.exports import change_export, create_export, get_export

FORMATS = {"ndjson": "ndjson", "csv": "csv"}
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no space
_SAFE_TENANT = re.compile(r"[A-Za-z0-9._-]{1,128}")
UPLOAD_CHUNK = 8 * 1024 * 1024  # a multiple of 256 KiB, as resumable uploads require


class ExportMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    exportId: str = Field(min_length=1, max_length=64)


class ExportDownload(BaseModel):
    name: str
    rows: int
    bytes: int
    url: str | None


class ExportView(BaseModel):
    """What `GET .../exports/{exportId}` answers."""

    exportId: str
    state: ExportState
    format: str
    gzip: bool
    query: dict[str, Any]
    rows: int
    progress: float  # the share of the window's time written, 0 to 1
    createdAt: str
    updatedAt: str
    finishedAt: str | None
    error: str | None
    files: list[ExportDownload]
    urlsExpireAt: str | None


# ---- requests


def export_id_for(tenant_id: str, idempotency_key: str | None) -> str:
    """A new id; the same id for the same tenant and Idempotency-Key (a retried POST)."""
    if idempotency_key is None:
        return secrets.token_hex(16)
    return plays.sign("export-id", f"{tenant_id}\0{idempotency_key}".encode()).hex()[:32]


def _folder(tenant_id: str) -> str:
    """The tenant's folder: its id, or a digest of an id that is not a plain path segment."""
    if _SAFE_TENANT.fullmatch(tenant_id) and tenant_id not in (".", ".."):
        return tenant_id
    return "t-" + hashlib.sha256(tenant_id.encode()).hexdigest()[:32]


def part_name(record: ExportRecord, index: int) -> str:
    suffix = ("ndjson" if record.format == "ndjson" else "csv") + (".gz" if record.gzip else "")
    return f"exports/{_folder(record.tenantId)}/{record.exportId}/plays-{index:05d}.{suffix}"


def parse_request(body: Any, idempotency_key: str | None) -> tuple[plays.PlaysQuery, str, bool]:
    """(query, format, gzip) of a POST body, or a 400 naming every bad field."""
    errors: list[FieldError] = []
    if not isinstance(body, dict):
        raise validation_failed(
            "The body should be a JSON object.", [field_error(None, "Expected an object")]
        )
    values: dict[str, Any] = {}
    fmt, zipped = body.get("format", "ndjson"), body.get("gzip", True)
    if not isinstance(fmt, str) or fmt not in FORMATS:
        errors.append(field_error("format", "Input should be ndjson or csv"))
    if not isinstance(zipped, bool):
        errors.append(field_error("gzip", "Input should be true or false"))
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        errors.append(field_error("Idempotency-Key", "1 to 255 printable ASCII characters"))
    for name, value in body.items():
        if name in ("format", "gzip"):
            continue
        if name not in plays.PARAMETERS or name in ("limit", "cursor"):
            errors.append(field_error(name, "Unknown field"))
        else:
            values[name] = value
    values["filters"] = {FILTERS[n]: values.pop(n) for n in FILTERS if n in values}
    parameters = plays.check_parameters(values, errors)
    return parameters.query(), str(fmt), bool(zipped)


def start_export(tenant_id: str, body: Any, idempotency_key: str | None) -> tuple[ExportRecord, bool]:
    """(the export, whether it was created now) for a POST; a repeated Idempotency-Key returns the first."""
    query, fmt, zipped = parse_request(body, idempotency_key)
    settings = get_settings()
    now = datetime.now(UTC)
    record = ExportRecord(
        exportId=export_id_for(tenant_id, idempotency_key),
        tenantId=tenant_id,
        query=query.described(),
        format=fmt,
        gzip=zipped,
        createdAt=iso_utc(now),
        updatedAt=iso_utc(now),
        deadline=iso_utc(now + timedelta(seconds=settings.export_deadline_seconds)),
        expireAt=now + timedelta(days=settings.export_retention_days),
    )
    created = create_export(record)
    if not created:
        existing = get_export(tenant_id, record.exportId)
        if existing is None:  # only an id collision across tenants could do this: never reuse it
            raise not_found("No such export.")
        record = existing
    if record.state not in FINAL_STATES:
        _publish(record.exportId)  # again for a repeated POST: a lost first message is made up for
    return record, created


def _publish(export_id: str) -> None:
    data = ExportMessage(exportId=export_id).model_dump_json().encode()
    pubsub.publish_and_wait(get_settings().exports_topic, [(data, {"exportId": export_id})])


# ---- the state an export is in, and the view of it


def _past_deadline(record: ExportRecord) -> bool:
    return record.state not in FINAL_STATES and datetime.now(UTC) >= datetime.fromisoformat(
        record.deadline.replace("Z", "+00:00")
    )


def _fail(export_id: str, reason: str) -> ExportRecord | None:
    def change(record: ExportRecord) -> dict[str, Any] | None:
        if record.state in FINAL_STATES:
            return None
        now = utc_now()
        return {"state": ExportState.FAILED.value, "error": reason[:500], "finishedAt": now, "updatedAt": now}

    logs.error("export failed", exportId=export_id, reason=reason[:300])
    return change_export(export_id, change)


def _progress(record: ExportRecord) -> float:
    if record.state == ExportState.SUCCEEDED:
        return 1.0
    if record.position is None:
        return 0.0
    start, end = plays.PlaysQuery.from_described(record.query).window()
    at = datetime.fromtimestamp(record.position["playedAt"] / 1e6, UTC)
    return round(min(max((at - start) / (end - start), 0.0), 0.999), 3)


def export_view(tenant_id: str, export_id: str) -> ExportView:
    record = get_export(tenant_id, export_id)
    if record is None:
        raise not_found(f"No export {export_id} for this caller.")
    if _past_deadline(record):
        record = _fail(export_id, "The export did not finish before its deadline.") or record
    settings = get_settings()
    files, expires = [], None
    for part in record.parts:
        url = None
        if record.state == ExportState.SUCCEEDED:
            url = downloads.signed_get_url(
                settings.exports_bucket, part.name, settings.export_url_seconds, part.name.rsplit("/", 1)[-1]
            )
        files.append(
            ExportDownload(name=part.name.rsplit("/", 1)[-1], rows=part.rows, bytes=part.bytes, url=url)
        )
    if record.state == ExportState.SUCCEEDED:
        expires = iso_utc(datetime.now(UTC) + timedelta(seconds=settings.export_url_seconds))
    return ExportView(
        exportId=record.exportId,
        state=record.state,
        format=record.format,
        gzip=record.gzip,
        query=record.query,
        rows=record.rows,
        progress=_progress(record),
        createdAt=record.createdAt,
        updatedAt=record.updatedAt,
        finishedAt=record.finishedAt,
        error=record.error,
        files=files,
        urlsExpireAt=expires,
    )


# ---- the work


class _Part:
    """One file being written: text lines through gzip (or not) into a resumable upload."""

    def __init__(self, record: ExportRecord, index: int) -> None:
        self.name = part_name(record, index)
        blob = clients.storage().bucket(get_settings().exports_bucket).blob(self.name)
        content_type = (
            "application/gzip" if record.gzip else plays.NDJSON if record.format == "ndjson" else plays.CSV
        )
        self.upload: IO[bytes] = blob.open("wb", chunk_size=UPLOAD_CHUNK, content_type=content_type)
        self.counted = _Counting(self.upload)
        # mtime=0: the same plays make the same bytes, whichever call writes them.
        self.zipped = (
            gzip.GzipFile(fileobj=self.counted, mode="wb", mtime=0, compresslevel=6) if record.gzip else None
        )
        self.rows = 0
        self.csv = record.format == "csv"
        if self.csv:
            self._write(plays.csv_header().encode())

    def _write(self, data: bytes) -> None:
        if self.zipped is not None:
            self.zipped.write(data)
        else:
            self.counted.write(data)

    def write(self, play: dict[str, Any]) -> None:
        self._write((plays.csv_line(play) if self.csv else plays.ndjson_line(play)).encode())
        self.rows += 1

    def close(self) -> ExportPart:
        if self.zipped is not None:
            self.zipped.close()
        self.upload.close()
        return ExportPart(name=self.name, rows=self.rows, bytes=self.counted.size)


class _Counting:
    """A write-only file that counts the bytes it passes on."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.size = target, 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        pass


def _record_part(export_id: str, index: int, part: ExportPart, position: plays.Position | None) -> bool:
    """Record part `index` and the position after it, unless it is recorded already (another call
    wrote it) or the export is final; whether it was recorded now."""
    recorded = False

    def change(record: ExportRecord) -> dict[str, Any] | None:
        nonlocal recorded
        if record.state in FINAL_STATES or len(record.parts) != index:
            return None
        recorded = True
        return {
            "parts": [p.model_dump() for p in record.parts] + [part.model_dump()],
            "rows": record.rows + part.rows,
            "position": position.model_dump() if position else record.position,
            "updatedAt": utc_now(),
        }

    change_export(export_id, change)
    return recorded


def _begin(export_id: str) -> ExportRecord | None:
    def change(record: ExportRecord) -> dict[str, Any] | None:
        if record.state in FINAL_STATES:
            return None
        return {"state": ExportState.RUNNING.value, "attempt": record.attempt + 1, "updatedAt": utc_now()}

    return change_export(export_id, change)


def _succeed(export_id: str) -> None:
    def change(record: ExportRecord) -> dict[str, Any] | None:
        if record.state in FINAL_STATES:
            return None
        now = utc_now()
        return {"state": ExportState.SUCCEEDED.value, "finishedAt": now, "updatedAt": now}

    change_export(export_id, change)


def run_export(message: ExportMessage) -> None:
    """One exporter call: write parts from the recorded position until done or out of time."""
    started = time.monotonic()
    settings = get_settings()
    record = _begin(message.exportId)
    if record is None or record.state in FINAL_STATES:
        return  # unknown (expired) or finished: nothing to do, acknowledge
    if _past_deadline(record):
        _fail(record.exportId, "The export did not finish before its deadline.")
        return
    query = plays.PlaysQuery.from_described(record.query)
    after = plays.Position.model_validate(record.position) if record.position else None
    index = len(record.parts)
    part: _Part | None = None
    last: plays.Position | None = None
    try:
        for play, position in plays.all_plays(record.tenantId, query, after):
            if part is None:
                part = _Part(record, index)
            part.write(play)
            last = position
            if part.rows >= settings.export_part_rows:
                if not _record_part(record.exportId, index, part.close(), last):
                    return  # another call is ahead of this one, or the export ended
                index, part = index + 1, None
                if time.monotonic() - started > settings.export_time_budget_seconds:
                    _publish(record.exportId)  # the rest in a new call, from the recorded position
                    return
    except (google_errors.BadRequest, google_errors.Forbidden) as exc:
        # A query BigQuery refuses (over maximum_bytes_billed, a bad request) fails the same way again.
        _fail(record.exportId, f"The plays query was refused: {getattr(exc, 'message', exc)}")
        return
    if part is None and index == 0:
        part = _Part(record, 0)  # no plays at all: one empty file (a CSV with its header)
    if part is not None and not _record_part(record.exportId, index, part.close(), last):
        return
    _succeed(record.exportId)
