"""Preview: what a mapping makes of a small sample, ingesting nothing.

The sample goes through the splitter's framing (`formats.plan_file`) and the worker's loop
(`rows.encoded_rows`, the encoding into pop-events messages included): the counts, events and row
errors are the ones an ingest of the same bytes would record (except ids derived from the tenant:
an event without `eventId` shows none here). The response lists at most `MAX_PREVIEW_EVENTS`
events and `MAX_PREVIEW_ERRORS` errors (the first, in row order) and says when it left some out;
its counts are always whole.
"""

from __future__ import annotations

import io
from typing import Any

from pydantic import BaseModel

from shared.bulk import formats, rows
from shared.bulk.mapping import timestamps
from shared.bulk.pipeline.fan_out import ingest_timezone
from shared.bulk.schemas import SchemaMapping, compile_mapping
from shared.canonical.messages import MessageEncoder
from shared.platform.encoding import utc_now
from shared.records.jobs import RowError

MAX_PREVIEW_ROW_BYTES = 1 << 20
MAX_PREVIEW_EVENTS = 1_000
MAX_PREVIEW_ERRORS = 1_000


class PreviewRefused(ValueError):
    """The sample would be refused as a whole (what ingest answers with a 400)."""


class Preview(BaseModel):
    events: list[dict[str, Any]]  # canonical events, JSON-ready, canonical field names, no nulls
    errors: list[RowError]
    totalRows: int
    processedRows: int
    errorRows: int
    skippedRows: int
    truncated: bool = False  # True when events or errors list fewer than processedRows / errorRows


def preview(
    mapping: SchemaMapping,
    data: bytes,
    fmt: str,
    metadata: dict[str, Any] | None = None,
    screens: rows.ScreenLookup | None = None,
) -> Preview:
    """Map and validate `data` (a whole small file in format `fmt`) as an ingest with `metadata` would.
    `screens` reads the tenant's screens (``"timezone": "screen"``; without it no screen is registered).

    Raises PreviewRefused (a ValueError; the message is for the user) when an ingest would be refused
    as a whole: the file cannot be framed, the mapping cannot read its CSV header or the records
    of its JSON document, or metadata.timezone is not a zone.
    """
    try:
        plan = formats.plan_file(io.BytesIO(data), fmt, max(1, len(data)), MAX_PREVIEW_ROW_BYTES)
        compiled = compile_mapping(mapping, fmt, ingest_timezone(metadata))
    except formats.FileInvalid as exc:
        raise PreviewRefused(str(exc)) from None
    except timestamps.BadValue as exc:
        raise PreviewRefused(f"metadata.timezone: {exc}") from None
    header, problem = (
        rows.csv_header(mapping, plan) if fmt == "csv" and plan.header_end is not None else (None, None)
    )
    problem = problem or rows.json_document_problem(mapping, plan)
    if problem:
        raise PreviewRefused(problem)
    first_row = rows.first_row_chunk(mapping, plan, len(plan.chunks))
    encode = MessageEncoder("preview", "bulk", utc_now(), "preview").encode
    events: list[dict[str, Any]] = []
    errors: list[RowError] = list(plan.errors)
    processed = skipped = 0
    for chunk in ([first_row] if first_row else []) + plan.chunks:
        stream = io.BytesIO(data)
        stream.seek(chunk.start)
        for row, event, _message, error in rows.encoded_rows(
            stream, fmt, chunk, MAX_PREVIEW_ROW_BYTES, header, compiled, encode, screens
        ):
            if event is not None:
                processed += 1
                if len(events) < MAX_PREVIEW_EVENTS:  # (an event that was encoded can be dumped)
                    events.append(event.model_dump(mode="json", exclude_none=True))
            elif error is not None:
                errors.append(RowError(row=row, error=error))
            else:
                skipped += 1
    errors.sort(key=lambda e: e.row)
    error_rows = len(errors)
    return Preview(
        events=events,
        errors=errors[:MAX_PREVIEW_ERRORS],
        totalRows=processed + error_rows + skipped,
        processedRows=processed,
        errorRows=error_rows,
        skippedRows=skipped,
        truncated=processed > len(events) or error_rows > MAX_PREVIEW_ERRORS,
    )
