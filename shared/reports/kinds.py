"""The reports a schedule can drop, by name: each is its endpoint's own parameter check and a renderer
of every row as CSV and JSON bytes (docs/report-drops.md).

A kind is what the report's endpoint already does, reused: `parse` is the endpoint's validation of its
query string (a 400 problem naming every bad parameter), `rows` reads every row in the endpoint's
order with the endpoint's query. A drop therefore holds what walking the endpoint's pages returns.
Adding a report (say `performance`) is one `ReportKind(...)` entry in `KINDS`.

The files are the CLI's (`coatro report --format csv|json`, client/coatro_cli/report.py): CSV with
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
from typing import IO, Any

from werkzeug.datastructures import MultiDict

from shared.reports import delivery, params

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
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


@dataclass(frozen=True)
class ReportKind:
    """One report a schedule can drop.

    - `parse(args)`: the endpoint's check of its query parameters, returning its query object or
      raising the endpoint's 400 Problem (its `errors` name the parameters).
    - `rows(tenant_id, query, limit)`: every row, in the endpoint's order, at most `limit`.
    - `columns(query)`: the CSV header; `flatten(row)`: a row as CSV cells by column.
    - `days`: the parameters a run sets to its first and last day (from the schedule's window), or
      None for a report that takes no days; `reserved`: parameters a schedule may not set."""

    parse: Callable[[MultiDict[str, str]], Any]
    rows: Callable[[str, Any, int], Iterable[dict[str, Any]]]
    columns: Callable[[Any], list[str]]
    flatten: Callable[[dict[str, Any]], dict[str, Any]]
    days: tuple[str, str] | None
    reserved: tuple[str, ...]


def _spread_impressions(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "impressions"}
    for k, v in (row.get("impressions") or {}).items():
        out[f"impressions.{k}"] = v
    return out


KINDS: dict[str, ReportKind] = {
    "delivery": ReportKind(
        parse=params.parse,
        rows=delivery.report_rows,
        columns=lambda query: [*query.group_by, *DELIVERY_MEASURES],
        flatten=_spread_impressions,
        days=("filter[from]", "filter[to]"),
        reserved=("filter[date]", "filter[from]", "filter[to]", "page", "per_page"),
    ),
}


def _safe(cell: Any) -> Any:
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def render(
    kind: ReportKind, tenant_id: str, query: Any, outputs: Mapping[str, IO[bytes]], max_rows: int
) -> int:
    """Write the report into each format's output (`csv`, `json`) in one pass over its rows; the
    number of rows. TooManyRows past `max_rows`."""
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
            csv_writer.writerow([_safe(cells.get(c)) for c in columns])
        if "json" in texts:
            texts["json"].write(("," if count > 1 else "") + "\n  " + json.dumps(row, ensure_ascii=False))
    if "json" in texts:
        texts["json"].write("\n]\n" if count else "]\n")
    for text in texts.values():
        text.flush()
        text.detach()  # the caller's file stays open
    return count
