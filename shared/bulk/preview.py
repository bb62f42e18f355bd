"""What a mapping makes of a sample file, ingesting nothing: the canonical events and the row errors.

The same framing (`shared.bulk.formats`) and mapping (`CompiledMapping.to_event`) as the worker, on
bytes in memory instead of a chunk of an object, so a preview shows exactly what a job would do.
Raises `formats.FileInvalid` when the sample cannot be framed at all (the file would be `invalid`).
"""

from __future__ import annotations

import io
from typing import Any

from pydantic import BaseModel

from shared.bulk import formats
from shared.bulk.models import RowError
from shared.bulk.schemas import SchemaMapping
from shared.platform.settings import get_settings


class Preview(BaseModel):
    events: list[dict[str, Any]]
    errors: list[RowError]
    totalRows: int
    processedRows: int
    errorRows: int
    skippedRows: int = 0


def preview(mapping: SchemaMapping, data: bytes, fmt: str, metadata: dict | None = None) -> Preview:
    """Frame, map and validate every row of `data` (a whole file in format `fmt`)."""
    del metadata  # the v1 mapping language reads nothing from the ingest's metadata
    max_row_bytes = get_settings().max_row_bytes
    plan = formats.plan_file(io.BytesIO(data), fmt, chunk_rows=len(data) + 1, max_row_bytes=max_row_bytes)
    compiled = mapping.compiled(fmt)
    events: list[dict[str, Any]] = []
    errors = list(plan.errors)
    for chunk in plan.chunks:
        stream = io.BytesIO(data)
        stream.seek(chunk.start)
        for row, record, error in formats.iter_rows(stream, fmt, chunk, max_row_bytes, plan.header):
            event = None
            if error is None:
                event, error = compiled.to_event(record)
            if error is None:
                events.append(event.model_dump(mode="json", exclude_none=True))
            else:
                errors.append(RowError(row=row, error=error))
    errors.sort(key=lambda e: e.row)
    return Preview(events=events, errors=errors, totalRows=plan.total_rows, processedRows=len(events),
                   errorRows=len(errors))
