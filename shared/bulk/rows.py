"""One chunk's records through framing, mapping, validation and encoding: what the worker publishes
and what a preview shows come from this one loop (`encoded_rows`), so they cannot disagree.

Whatever a record holds and whatever a tenant's mapping does with it, the outcome is that record's:
an event, a row error or a skip. Nothing a record can contain makes this loop raise; only the
stream (storage) can, and only that, or publishing, retries a chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

from shared.bulk import formats
from shared.bulk.formats import delimited
from shared.bulk.mapping.compiled import CompiledMapping, compile_mapping, unexpected_error
from shared.bulk.mapping.model import SchemaMapping
from shared.canonical.event import PopEvent
from shared.canonical.messages import Unpublishable
from shared.records.jobs import ChunkSpec, FilePlan

Message = tuple[bytes, dict[str, str]]

RowOutcome = tuple[int, PopEvent | None, str | None]
"""(row, event, None) for an event; (row, None, error) for a row error; (row, None, None) for a
record the mapping's filters skipped. An envelope yields one outcome per record inside it."""


def mapped_rows(
    stream: IO[bytes],
    fmt: str,
    chunk: ChunkSpec,
    max_row_bytes: int,
    header: list[str] | None,
    compiled: CompiledMapping,
) -> Iterator[RowOutcome]:
    """The outcomes of a chunk's records; the caller has seeked `stream` to `chunk.start`.

    The rows of a JSON document's array member (`chunk.member`) are read with the mapping's records
    path inside each element; a mapping that cannot read them (ingest refuses it, but a file may be
    planned after its ingest) makes each of those rows the error that says why."""
    member = chunk.member
    problem = compiled.document_problem(member) if member is not None else None
    # Rows of the canonical schema in JSON are validated from their bytes (one pass, no dict).
    direct = compiled.direct and fmt != "csv" and member is None
    envelopes = compiled.records is not None
    arrays = envelopes or compiled.columns is not None
    delimiter = compiled.delimiter
    for row, record, error in formats.iter_rows(
        stream, fmt, chunk, max_row_bytes, header, parse=not direct, arrays=arrays, delimiter=delimiter
    ):
        if error is not None or problem is not None:
            yield row, None, error or problem
            continue
        value: Any = record  # the record as the mapping reads it (a dict, or a list of positional values)
        if direct:
            raw: bytes = record  # type: ignore[assignment]  # parse=False: the row's bytes (no check per row)
            try:
                event = compiled.validate_json(raw)
            except MemoryError:
                raise
            except Exception:  # noqa: BLE001 - the full path below words what this one cannot read
                event = None
            if event is not None:
                yield row, event, None
                continue
            value, error = formats.parse_record(fmt, raw, header)
            if error is not None:
                yield row, None, error
                continue
        if envelopes:
            for _place, event, error in compiled.outcomes(value, member, row):
                yield row, event, error
        else:
            yield row, *compiled.one(value)


def encoded_rows(
    stream: IO[bytes],
    fmt: str,
    chunk: ChunkSpec,
    max_row_bytes: int,
    header: list[str] | None,
    compiled: CompiledMapping,
    encode: Callable[[PopEvent, int], Message],
) -> Iterator[tuple[int, PopEvent | None, Message | None, str | None]]:
    """`mapped_rows` with each event encoded as its pop-events message: (row, event, message, None),
    (row, None, None, error), or (row, None, None, None) for a skipped record. An event that
    validates but cannot be a message (too large, too deep, not text) is its row's error."""
    for row, event, error in mapped_rows(stream, fmt, chunk, max_row_bytes, header, compiled):
        if event is None:
            yield row, None, None, error
            continue
        try:
            yield row, event, encode(event, row), None
        except Unpublishable as exc:
            yield row, None, None, f"Row cannot be stored: {exc}"
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a record's event, whatever it holds, is the record's
            yield row, None, None, f"Row cannot be stored: {unexpected_error(exc)}"


def csv_header(mapping: SchemaMapping, plan: FilePlan) -> tuple[list[str] | None, str | None]:
    """The column names of a CSV file as this mapping reads it, or why it cannot be read: the
    splitter reads the first row with commas, not knowing the mapping (it may have none yet)."""
    if not mapping.header:
        return mapping.columns, None
    if mapping.delimiter == "," or delimited.HeaderUnreadable.marks(plan.header_problem):
        return plan.header, plan.header_problem
    if plan.header_text is None:
        return None, "The CSV header row is too long to be read again with the mapping's delimiter"
    try:
        return delimited.header_names(plan.header_text, mapping.delimiter), None
    except delimited.HeaderProblem as exc:
        return None, str(exc)


def json_document_problem(mapping: SchemaMapping, plan: FilePlan) -> str | None:
    """Why this mapping cannot read the records of a JSON file that is one document whose rows are
    the elements of its array member (`plan.member`), or None: the splitter planned it not knowing
    the mapping."""
    if plan.format != "json" or plan.member is None:
        return None
    return compile_mapping(mapping, "json").document_problem(plan.member)


def first_row_chunk(mapping: SchemaMapping, plan: FilePlan, index: int) -> ChunkSpec | None:
    """For a CSV file without a header row (`header: false`), its first row, which the plan set
    apart as the header, as one more chunk; None otherwise. A first row over the row size limit is
    such a chunk too: the worker reports it as that row's error, as it would anywhere else."""
    if (
        plan.format != "csv"
        or mapping.header
        or plan.header_end is None
        or plan.header_start is None
        or plan.header_row is None
    ):
        return None
    return ChunkSpec(
        index=index, start=plan.header_start, end=plan.header_end, first_row=plan.header_row, row_count=1
    )
