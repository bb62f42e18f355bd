"""One chunk's records through framing, mapping, validation and encoding: what the worker publishes
and what a preview shows come from this one loop (`encoded_rows`), so they cannot disagree.

Whatever a record holds and whatever a tenant's mapping does with it, the outcome is that record's:
an event, a row error or a skip. Nothing a record can contain makes this loop raise; only the
stream (storage) can, and only that, or publishing, retries a chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, cast

from shared.bulk import formats
from shared.bulk.formats import delimited
from shared.bulk.mapping import screen_zones, timestamps
from shared.bulk.mapping.compiled import CompiledMapping, Pending, compile_mapping, unexpected_error
from shared.bulk.mapping.model import SchemaMapping
from shared.bulk.mapping.screen_zones import ZoneSpan
from shared.canonical.event import PopEvent
from shared.canonical.messages import Unpublishable
from shared.records.jobs import ChunkSpec, FilePlan
from shared.records.screens import ScreenRecord

Message = tuple[bytes, dict[str, str]]

RowOutcome = tuple[int, PopEvent | None, str | None]
"""(row, event, None) for an event; (row, None, error) for a row error; (row, None, None) for a
record the mapping's filters skipped. An envelope yields one outcome per record inside it."""


ScreenLookup = Callable[[list[str]], dict[str, list[ScreenRecord]]]
"""The tenant's screens by id, with the versions their zone history needs (one batched read; unknown
ids left out): `shared.storage.firestore.screen_zone_histories` with the job's tenant."""

# "timezone": "screen": records waiting for their screens are resolved this many at a time (one
# batched read of the screens not yet known), and a chunk reads at most MAX_SCREENS_PER_CHUNK distinct
# screens, its rows' own bound (5,000): a tenant's mapping cannot make one chunk read without end.
SCREEN_WINDOW = 1_000
MAX_SCREENS_PER_CHUNK = 5_000
NOT_REGISTERED = "is not a registered screen, so its local time zone is unknown (timezone: screen)"


class ScreenZones:
    """One chunk's screens and their zone histories, read in batches and kept for the chunk."""

    def __init__(self, lookup: ScreenLookup | None, limit: int | None = None):
        self.lookup, self.limit = lookup, limit or MAX_SCREENS_PER_CHUNK
        self.known: dict[str, tuple[ZoneSpan, ...] | str] = {}

    def read(self, screen_ids: Iterable[str]) -> None:
        """Read the screens of `screen_ids` not read yet (one batched lookup), as far as the bound allows."""
        missing = [s for s in dict.fromkeys(screen_ids) if s not in self.known]
        room = max(0, self.limit - len(self.known))
        if not missing or not room:
            return
        wanted = missing[:room]
        found = self.lookup(wanted) if self.lookup is not None else {}
        for screen_id in wanted:
            versions = found.get(screen_id)
            self.known[screen_id] = self._history(versions) if versions else NOT_REGISTERED

    @staticmethod
    def _history(versions: list[ScreenRecord]) -> tuple[ZoneSpan, ...] | str:
        try:
            return screen_zones.spans(  # oldest first: versions that start at one instant keep their order
                (str(v.fields.get("timeZone")), v.validFrom, v.validTo)
                for v in sorted(versions, key=lambda v: v.version)
            )
        except (timestamps.BadValue, ValueError):
            return "is registered with a time zone that cannot be read (timezone: screen)"

    def history(self, screen_id: Any) -> tuple[ZoneSpan, ...] | str:
        """The zone history of a screen `read` asked for, or why there is none."""
        if type(screen_id) is not str:
            return NOT_REGISTERED
        found = self.known.get(screen_id)
        if found is None:
            return (
                f"is one screen more than a chunk of a file reads ({self.limit:,} distinct screens); "
                "send fewer screens per file, or rows of fewer records"
            )
        return found


def mapped_rows(
    stream: IO[bytes],
    fmt: str,
    chunk: ChunkSpec,
    max_row_bytes: int,
    header: list[str] | None,
    compiled: CompiledMapping,
    screens: ScreenLookup | None = None,
) -> Iterator[RowOutcome]:
    """The outcomes of a chunk's records; the caller has seeked `stream` to `chunk.start`.

    The rows of a JSON document's array member (`chunk.member`) are read with the mapping's records
    path inside each element; a mapping that cannot read them (ingest refuses it, but a file may be
    planned after its ingest) makes each of those rows the error that says why.

    Under ``"timezone": "screen"``, records with local timestamps wait for their screens: every
    SCREEN_WINDOW of them, the screens not known yet are read at once (`screens`), the records
    finished, and the outcomes given in row order."""
    outcomes = _mapped_rows(stream, fmt, chunk, max_row_bytes, header, compiled)
    if not compiled.screen_zoned:
        # No record is ever Pending: the rows themselves, with no generator layered on the hot path.
        return cast(Iterator[RowOutcome], outcomes)
    return _screen_zoned(outcomes, compiled, ScreenZones(screens))


def _screen_zoned(
    outcomes: Iterator[tuple[int, PopEvent | Pending | None, str | None]],
    compiled: CompiledMapping,
    zones: ScreenZones,
) -> Iterator[RowOutcome]:
    """The outcomes in row order, the Pending ones finished once their window's screens are read."""
    window: list[tuple[int, PopEvent | Pending | None, str | None]] = []
    waiting = 0
    for outcome in outcomes:
        window.append(outcome)
        if type(outcome[1]) is Pending:
            waiting += 1
            if waiting >= SCREEN_WINDOW:
                yield from _resolved(window, compiled, zones)
                window, waiting = [], 0
    yield from _resolved(window, compiled, zones)


def _resolved(
    window: list[tuple[int, PopEvent | Pending | None, str | None]],
    compiled: CompiledMapping,
    zones: ScreenZones,
) -> Iterator[RowOutcome]:
    zones.read(p.screen_id for _, p, _ in window if type(p) is Pending and type(p.screen_id) is str)
    for row, event, error in window:
        if type(event) is Pending:
            yield row, *compiled.finish(event, zones.history(event.screen_id))
        else:
            yield row, cast(PopEvent | None, event), error


def _mapped_rows(
    stream: IO[bytes],
    fmt: str,
    chunk: ChunkSpec,
    max_row_bytes: int,
    header: list[str] | None,
    compiled: CompiledMapping,
) -> Iterator[tuple[int, PopEvent | Pending | None, str | None]]:
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
            for _place, found, error in compiled.outcomes(value, member, row):
                yield row, found, error
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
    screens: ScreenLookup | None = None,
) -> Iterator[tuple[int, PopEvent | None, Message | None, str | None]]:
    """`mapped_rows` with each event encoded as its pop-events message: (row, event, message, None),
    (row, None, None, error), or (row, None, None, None) for a skipped record. An event that
    validates but cannot be a message (too large, too deep, not text) is its row's error."""
    for row, event, error in mapped_rows(stream, fmt, chunk, max_row_bytes, header, compiled, screens):
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
