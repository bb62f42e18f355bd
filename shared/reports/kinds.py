"""The reports a schedule can drop, by name: each is its endpoint's own parameter check and a renderer
of every row as CSV and JSON bytes (docs/report-drops.md).

A kind is what the report's endpoint already does, reused: `parse` is the endpoint's validation of its
query string (a 400 problem naming every bad parameter), `rows` reads every row in the endpoint's
order with the endpoint's query. A drop therefore holds what walking the endpoint's pages returns.
Adding a report is one `ReportKind(...)` entry in `KINDS`.

A report that is one document rather than rows (`performance`: one booking's report) has a `whole`
instead: it reads the report once, as of the run's instant, and each format's file is the endpoint's
own body for that format (`rendering.to_csv`, the JSON the endpoint answers).

The row-based files are the CLI's (`coatro report --format csv|json`, client/coatro_cli/report.py): CSV with
a header of the group keys then the measures, `impressions` spread into `impressions.<name>` columns,
RFC 4180 (CRLF), every text cell spreadsheet-safe (a leading = + - @ tab CR or NUL gets a `'`, as
OWASP's CSV injection advice says); JSON, one array of the rows as the endpoint returns them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from werkzeug.datastructures import MultiDict

from shared.platform.problems import Problem, field_error, validation_failed
from shared.reports import delivery, params, performance, rendering
from shared.storage import bookings as bookings_storage

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
DELIVERY_MEASURES = (
    "plays",
    "qualifiedPlays",
    "durationMs",
    "impressions.measured",
    "impressions.scheduled",
    "impressions.total",
    "impressions.male",
    "impressions.female",
    "firstPlayedAt",
    "lastPlayedAt",
)


class TooManyRows(Exception):
    """The report has more rows than a drop may hold."""


class Unavailable(Exception):
    """The report cannot be read any more (its booking is gone): no retry helps."""


@dataclass(frozen=True)
class Whole:
    """A report that is one document: `read(tenant_id, query, now)` reads it as of `now`; `files`
    renders it per format (the endpoint's body for that format); `rows(report)` is the count a
    drop's files record."""

    read: Callable[[str, Any, datetime], Any]
    files: Mapping[str, Callable[[Any], bytes]]
    rows: Callable[[Any], int]


@dataclass(frozen=True)
class ReportKind:
    """One report a schedule can drop.

    - `parse(args)`: the endpoint's check of its query parameters, returning its query object or
      raising the endpoint's 400 Problem (its `errors` name the parameters).
    - `days`: the parameters a run sets to its first and last day (from the schedule's window), or
      None for a report that takes no days (a schedule of it has no window); `reserved`:
      parameters a schedule may not set.
    - Row-based reports: `rows(tenant_id, query, limit)`: every row, in the endpoint's order, at
      most `limit`; `columns(query)`: the CSV header; `flatten(row)`: a row as CSV cells by column.
    - A one-document report has `whole` instead (and no rows/columns/flatten)."""

    parse: Callable[[MultiDict[str, str]], Any]
    days: tuple[str, str] | None
    reserved: tuple[str, ...]
    rows: Callable[[str, Any, int], Iterable[dict[str, Any]]] | None = None
    columns: Callable[[Any], list[str]] | None = None
    flatten: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    whole: Whole | None = None


def _spread_impressions(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "impressions"}
    for k, v in (row.get("impressions") or {}).items():
        out[f"impressions.{k}"] = v
    return out


def parse_performance_drop(args: MultiDict[str, str]) -> params.PerformanceQuery:
    """The endpoint's check, and a drop's own rule: it reports on one booking (`bookingId`)."""
    try:
        query = params.parse_performance(args)
    except Problem as problem:
        errors = list(problem.errors or [])
    else:
        if query.booking_id is not None:
            return query
        errors = []
    if args.get("bookingId") is None:
        errors.append(field_error("bookingId", "Required: a drop reports on one booking"))
    names = ", ".join(dict.fromkeys(str(e["field"]) for e in errors))
    raise validation_failed(f"Invalid query parameter(s): {names}.", errors)


def read_performance(tenant_id: str, query: params.PerformanceQuery, now: datetime) -> dict[str, Any]:
    """The booking's report as the endpoint answers it (`?bookingId=`), as of `now`."""
    assert query.booking_id is not None
    booking = bookings_storage.get_booking(tenant_id, query.booking_id)
    if booking is None:
        raise Unavailable(f"no booking {query.booking_id!r} (deleted since the schedule was saved)")
    return performance.report(tenant_id, booking, now, query.dark_after_hours)


KINDS: dict[str, ReportKind] = {
    "delivery": ReportKind(
        parse=params.parse,
        rows=delivery.report_rows,
        columns=lambda query: [*query.group_by, *DELIVERY_MEASURES],
        flatten=_spread_impressions,
        days=("filter[from]", "filter[to]"),
        reserved=("filter[date]", "filter[from]", "filter[to]", "page", "per_page"),
    ),
    "performance": ReportKind(
        parse=parse_performance_drop,
        days=None,
        reserved=("format", "pageSize", "pageToken"),
        whole=Whole(
            read=read_performance,
            files={
                # The endpoint's bodies: `format=csv`, and its JSON (shared.platform.http.json_response).
                "csv": lambda report: rendering.to_csv([report]).encode(),
                "json": lambda report: json.dumps(report).encode(),
            },
            rows=lambda report: len(rendering.csv_rows(report)),
        ),
    ),
}


def render(
    kind: ReportKind,
    tenant_id: str,
    query: Any,
    outputs: Mapping[str, IO[bytes]],
    max_rows: int,
    now: datetime | None = None,
) -> int:
    """Write the report into each format's output (`csv`, `json`) in one pass over its rows (a
    one-document report: read once as of `now`); the number of rows. TooManyRows past `max_rows`."""
    if kind.whole is not None:
        assert now is not None, "a one-document report is read as of an instant"
        report = kind.whole.read(tenant_id, query, now)
        count = kind.whole.rows(report)
        if count > max_rows:
            raise TooManyRows(f"the report has more than {max_rows} rows, the most a drop holds")
        for fmt, out in outputs.items():
            out.write(kind.whole.files[fmt](report))
        return count
    assert kind.rows is not None and kind.columns is not None and kind.flatten is not None
    texts = {fmt: io.TextIOWrapper(out, encoding="utf-8", newline="") for fmt, out in outputs.items()}
    csv_writer = None
    columns = kind.columns(query)
    if "csv" in texts:
        csv_writer = csv.writer(texts["csv"], lineterminator="\r\n")
        csv_writer.writerow(columns)
    if "json" in texts:
        texts["json"].write("[")
    count = 0
    rows: Iterator[dict[str, Any]] = iter(kind.rows(tenant_id, query, max_rows + 1))
    for row in rows:
        count += 1
        if count > max_rows:
            raise TooManyRows(f"the report has more than {max_rows} rows, the most a drop holds")
        if csv_writer is not None:
            cells = kind.flatten(row)
            csv_writer.writerow([rendering.spreadsheet_safe(cells.get(c)) for c in columns])
        if "json" in texts:
            texts["json"].write(("," if count > 1 else "") + "\n  " + json.dumps(row, ensure_ascii=False))
    if "json" in texts:
        texts["json"].write("\n]\n" if count else "]\n")
    for text in texts.values():
        text.flush()
        text.detach()  # the caller's file stays open
    return count
