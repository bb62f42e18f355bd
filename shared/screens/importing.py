"""`POST /coatro/v1/pop/screens/import`: many screens at once, from CSV or NDJSON (docs/screens.md, "Import").

Each row is a screen, checked by `parse_screen` as a PUT's body is, and written as a PUT writes it
(`history.put`: created, replaced by a new version, or unchanged). A bad row (a bad field, a CSV
cell that is not of its field's type, a line that is not a JSON object, a screenId given on an
earlier row) is reported with its row number and never stops the others. The good rows are written
MAX_SCREENS_PER_TRANSACTION at a time, each batch in one Firestore transaction (one batched read,
one commit), a few batches at once. A batch's transaction also writes one outbox document naming the
versions it opened (`firestore.change_screens`); `on_committed` (the API's: `sync.export_batch`, which
writes their BigQuery rows and deletes it) is then told that document and those versions, in the
batch's own thread.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from shared.canonical.event import MAX_ID_LENGTH
from shared.platform import logs
from shared.platform.encoding import DOCUMENT_JSON, repeated_name, utc_now
from shared.platform.problems import FieldError, bad_request, field_error, too_large
from shared.records.screens import ScreenRecord
from shared.screens import history
from shared.screens.model import parse_screen
from shared.storage import firestore
from shared.storage.protocols import Contention

IMPORT = "import"  # the path's last segment: no screen may be called so
RESERVED_ID = (
    f"{IMPORT!r} is reserved (POST /coatro/v1/pop/screens/{IMPORT} is the import); choose another screenId"
)
MAX_ROWS = 100_000
MAX_BYTES = 32 * 1024 * 1024  # Cloud Functions' request limit
MAX_ERRORS = 1_000  # row errors in the answer; the counts cover every row
PARALLEL_BATCHES = 8  # transactions on distinct screens do not contend
CSV_TYPES = ("text/csv",)
NDJSON_TYPES = ("application/x-ndjson",)

# The CSV columns: a field path and how its cell is read. An empty cell is a field left out.
_TEXT, _INT, _FLOAT, _BOOL, _JSON = "text", "integer", "number", "boolean", "JSON"
COLUMNS: dict[str, str] = {
    "screenId": _TEXT,
    "name": _TEXT,
    "timeZone": _TEXT,
    "venueType": _INT,
    "location.lat": _FLOAT,
    "location.lon": _FLOAT,
    "address": _TEXT,
    "city": _TEXT,
    "region": _TEXT,
    "country": _TEXT,
    "market": _TEXT,
    "screens": _INT,
    "audience.impressionSchedule": _JSON,
    "audience.allowLarge": _BOOL,
    "audience.sourceType": _INT,
    "audience.vendor": _TEXT,
    "qualification.minDurationMs": _INT,
    "qualification.minShareOfPlanned": _FLOAT,
}
REQUIRED_COLUMNS = ("screenId", "timeZone")
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_BOOLEANS = {"true": True, "false": False}

# (the batch's outbox document, the versions it opened): called after each commit that opened some.
OnCommitted = Callable[[str, list[ScreenRecord]], object]


def no_op(export_id: str, opened: list[ScreenRecord]) -> None:
    """Export nothing now: the sweeper exports the batch's versions from its outbox document."""
    del export_id, opened


@dataclass
class Row:
    """One row of the file: its number as a person counts it (CSV: the line it starts on, the header
    being line 1; NDJSON: its line), its screenId if it has one, and its body or what is wrong."""

    row: int
    screen_id: str | None
    body: dict[str, Any] | None
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class Outcome:
    rows: int = 0
    created: int = 0
    replaced: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False

    def fail(self, row: int, screen_id: str | None, errors: list[FieldError]) -> None:
        self.failed += 1
        for error in errors:
            if len(self.errors) >= MAX_ERRORS:
                self.errors_truncated = True
                return
            self.errors.append(
                {"row": row, "screenId": screen_id, "field": error["field"], "message": error["message"]}
            )

    def body(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "errors": self.errors,
            "errorsTruncated": self.errors_truncated,
        }


# -- reading ----------------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_request(f"The file is not UTF-8 (byte {exc.start}).") from None


def csv_rows(data: bytes) -> Iterator[Row]:
    """The rows of a CSV file whose first line names the columns; a 400 for a bad header."""
    reader = csv.reader(io.StringIO(_text(data), newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise bad_request(f"The CSV header cannot be read: {exc}.") from None
    if not header or not any(h.strip() for h in header):
        raise bad_request("The CSV file has no header line naming its columns.")
    columns = [h.strip() for h in header]
    errors = [
        field_error(c, f"unknown column {c!r}; the columns are field paths: {', '.join(COLUMNS)}")
        for c in columns
        if c not in COLUMNS
    ]
    errors += [
        field_error(c, f"column {c!r} is given twice") for c in sorted(set(columns)) if columns.count(c) > 1
    ]
    errors += [field_error(c, f"the column {c} is required") for c in REQUIRED_COLUMNS if c not in columns]
    if errors:
        raise bad_request(
            "The CSV header is invalid: " + "; ".join(e["message"] for e in errors[:5]),
            errors,
            "invalid-header",
        )
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Row(start, None, None, [field_error(None, f"the CSV line cannot be read: {exc}")])
            return  # the reader cannot go on past a broken quote
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line
        yield _csv_row(start, columns, cells)


def _csv_row(row: int, columns: list[str], cells: list[str]) -> Row:
    at = columns.index("screenId")
    screen_id = cells[at] if at < len(cells) else None
    if len(cells) != len(columns):
        said = f"the row has {len(cells)} cells; the header names {len(columns)} columns"
        return Row(row, screen_id or None, None, [field_error(None, said)])
    body: dict[str, Any] = {}
    errors: list[FieldError] = []
    for column, cell in zip(columns, cells, strict=True):
        if cell == "":
            continue
        value, error = _cell(column, cell)
        if error is not None:
            errors.append(field_error(column, error))
            continue
        target = body
        *parents, last = column.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    return Row(row, screen_id or None, body, errors)


def _cell(column: str, cell: str) -> tuple[Any, str | None]:
    kind = COLUMNS[column]
    shown = repr(cell[:60])
    if kind == _TEXT:
        return cell, None
    if kind == _INT:
        text = cell.strip()
        return (int(text), None) if _INTEGER.fullmatch(text) else (None, f"{shown} is not an integer")
    if kind == _FLOAT:
        try:
            number = float(cell.strip())
        except ValueError:
            return None, f"{shown} is not a number"
        return (number, None) if math.isfinite(number) else (None, f"{shown} is not a finite number")
    if kind == _BOOL:
        value = _BOOLEANS.get(cell.strip().lower())
        return (value, None) if value is not None else (None, f"{shown} is not true or false")
    try:
        return json.loads(cell, parse_constant=_not_finite), None
    except ValueError as exc:
        return None, f"{column} is not JSON ({exc}); it holds the 7 x 24 schedule as a JSON array of arrays"


def _not_finite(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def ndjson_rows(data: bytes) -> Iterator[Row]:
    """The rows of an NDJSON file: one screen object (with its screenId) per line; blank lines skipped."""
    for number, line in enumerate(_text(data).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            body = DOCUMENT_JSON.decode(line.strip())
        except (ValueError, RecursionError) as exc:
            yield Row(number, None, None, [field_error(None, f"the line is not JSON: {exc}")])
            continue
        if not isinstance(body, dict):
            yield Row(number, None, None, [field_error(None, "the line must be a JSON object (a screen)")])
            continue
        screen_id = body.get("screenId") if isinstance(body.get("screenId"), str) else None
        if found := repeated_name(body):
            where, name = found
            said = f"{name!r} is given more than once in this object; send it once"
            yield Row(number, screen_id, None, [field_error(where, said)])
            continue
        yield Row(number, screen_id, body)


def too_many_rows(data: bytes, csv_format: bool) -> bool:
    """Whether a file has more than MAX_ROWS rows (blank lines do not count), found before anything
    is written: a file refused for its size writes nothing."""
    text = _text(data)
    if not csv_format:
        return sum(1 for line in text.split("\n") if line.strip()) > MAX_ROWS
    count = -1  # the header
    try:
        for cells in csv.reader(io.StringIO(text, newline="")):
            if cells and not (len(cells) == 1 and not cells[0].strip()):
                count += 1
                if count > MAX_ROWS:
                    return True
    except csv.Error:
        pass  # the row that breaks is reported by csv_rows
    return False


def check_size(data: bytes, csv_format: bool) -> None:
    if too_many_rows(data, csv_format):
        raise too_large(
            f"The file has more than {MAX_ROWS:,} rows; send it in parts of at most {MAX_ROWS:,}."
        )


# -- checking and writing ---------------------------------------------------------------------------


def _checked(row: Row, seen: dict[str, int]) -> tuple[str, dict[str, Any]] | list[FieldError]:
    """(screenId, the fields to store) of a good row, else what is wrong with it."""
    if row.screen_id is None:
        if row.errors or row.body is None:
            return row.errors
        return [field_error("screenId", "screenId is required (a string of 1 to 128 characters)")]
    screen_id = row.screen_id
    errors = list(row.errors)
    if len(screen_id) > MAX_ID_LENGTH or "/" in screen_id:
        errors.append(field_error("screenId", f"a screenId is 1 to {MAX_ID_LENGTH} characters, without '/'"))
    elif screen_id == IMPORT:
        errors.append(field_error("screenId", RESERVED_ID))
    elif screen_id in seen:
        errors.append(
            field_error(
                "screenId", f"screenId {screen_id!r} is given again; it is first on row {seen[screen_id]}"
            )
        )
    else:
        seen[screen_id] = row.row
    if row.body is None:
        return errors
    if found := firestore.screen_unstorable(row.body):
        where, why = found
        return [*errors, field_error(where or None, f"{where or 'the screen'} {why}")]
    # Every bad field is named: a cell that could not be read is left out of the body, so the
    # model's checks name the others.
    parsed = parse_screen(screen_id, row.body)
    if isinstance(parsed, list) or errors:
        return errors + (parsed if isinstance(parsed, list) else [])
    return screen_id, parsed.stored()


@dataclass
class _Batch:
    rows: list[int] = field(default_factory=list)
    screens: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def import_screens(tenant_id: str, rows: Iterator[Row], on_committed: OnCommitted = no_op) -> Outcome:
    """Check every row, write the good ones batch by batch; the counts and the row errors."""
    outcome = Outcome()
    seen: dict[str, int] = {}
    batch = _Batch()
    pending: dict[Future[firestore.ScreenChanges], _Batch] = {}

    def settle(done: set[Future[Any]]) -> None:
        for future in done:
            finished = pending.pop(future)
            try:
                results = future.result().results
            except Contention:
                for row, (screen_id, _) in zip(finished.rows, finished.screens, strict=True):
                    said = "this screen could not be written (others were writing it); import the row again"
                    outcome.fail(row, screen_id, [field_error(None, said)])
                continue
            for before, written in results:
                if written is None:
                    outcome.unchanged += 1
                elif before is None:
                    outcome.created += 1
                else:
                    outcome.replaced += 1

    with ThreadPoolExecutor(PARALLEL_BATCHES, thread_name_prefix="screens-import") as pool:

        def submit(full: _Batch) -> None:
            now = utc_now()
            changes = [
                (screen_id, _put(tenant_id, screen_id, fields, now)) for screen_id, fields in full.screens
            ]
            pending[pool.submit(_commit, tenant_id, changes, on_committed)] = full
            while len(pending) >= PARALLEL_BATCHES:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                settle(done)

        for row in rows:
            outcome.rows += 1
            checked = _checked(row, seen)
            if isinstance(checked, list):
                outcome.fail(row.row, row.screen_id, checked)
                continue
            batch.rows.append(row.row)
            batch.screens.append(checked)
            if len(batch.screens) >= firestore.MAX_SCREENS_PER_TRANSACTION:
                submit(batch)
                batch = _Batch()
        if batch.screens:
            submit(batch)
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            settle(done)
    return outcome


def _commit(
    tenant_id: str,
    changes: list[tuple[str, Callable[[ScreenRecord | None], history.Transition | None]]],
    on_committed: OnCommitted,
) -> firestore.ScreenChanges:
    """Write a batch in its transaction, then tell `on_committed` what it opened (in this worker
    thread, so batches export in parallel). Its failure is logged, never the batch's: the batch is
    committed, and its outbox document keeps its versions for the sweeper."""
    done = firestore.change_screens(tenant_id, changes)
    if done.export_id is not None:
        opened = [written.opened for _, written in done.results if written is not None]
        try:
            on_committed(done.export_id, opened)
        except Exception as exc:
            logs.warning(
                "an imported batch's export failed; the sweeper exports it",
                export=done.export_id,
                error=f"{type(exc).__name__}: {exc}",
            )
    return done


def _put(
    tenant_id: str, screen_id: str, fields: dict[str, Any], now: str
) -> Callable[[ScreenRecord | None], history.Transition | None]:
    return lambda current: history.put(current, tenant_id, screen_id, fields, now)
