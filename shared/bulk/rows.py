"""One chunk's records through framing, mapping and validation: what the worker publishes and what a
preview shows come from this one loop, so they cannot disagree."""

from __future__ import annotations

from typing import Iterator

from shared.bulk import formats
from shared.bulk.mapping.compiled import CompiledMapping
from shared.bulk.models import ChunkSpec
from shared.events.models import PopEvent

RowOutcome = tuple[int, PopEvent | None, str | None]
"""(row, event, None) for an event; (row, None, error) for a row error; (row, None, None) for a
record the mapping's filters skipped. An envelope yields one outcome per record inside it."""


def mapped_rows(
    stream, fmt: str, chunk: ChunkSpec, max_row_bytes: int, header: list[str] | None, compiled: CompiledMapping
) -> Iterator[RowOutcome]:
    """The outcomes of a chunk's records; the caller has seeked `stream` to `chunk.start`."""
    # Rows of the canonical schema in JSON are validated from their bytes (one pass, no dict).
    direct = compiled.direct and fmt != "csv"
    envelopes = compiled.records is not None
    arrays = envelopes or compiled.columns is not None
    for row, record, error in formats.iter_rows(stream, fmt, chunk, max_row_bytes, header, parse=not direct, arrays=arrays):
        if error is not None:
            yield row, None, error
            continue
        if direct:
            event = compiled.validate_json(record)
            if event is not None:
                yield row, event, None
                continue
            record, error = formats.parse_record(fmt, record, header)
            if error is not None:
                yield row, None, error
                continue
        if envelopes:
            for _place, event, error in compiled.outcomes(record):
                yield row, event, error
        else:
            yield row, *compiled.one(record)
