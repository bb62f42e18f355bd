"""Delivery reports: the parameters of GET /coatro/v1/pop/reports/delivery, and its rows as CSV or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from coatro_cli.bulk import write_csv, write_json_array

# The API's (shared/reports/params.py, from the canonical event's ids); the CLI is installed without
# shared/, so it keeps this copy, which tests/client/test_oauth_and_report.py checks against the API's.
GROUP_KEYS = (
    "date",
    "hour",
    "campaignId",
    "creativeId",
    "screenId",
    "siteId",
    "venueType",
    "market",
    "country",
)
MEASURES = (
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
FILTERS = {
    "campaign_id": "campaignId",
    "screen_id": "screenId",
    "site_id": "siteId",
    "creative_id": "creativeId",
}


def query(
    date: str | None,
    date_from: str | None,
    date_to: str | None,
    group_by: list[str],
    timezone: str | None,
    filters: dict[str, str | None],
) -> dict[str, str]:
    """The first page's query parameters, named as the API names them."""
    params: dict[str, str] = {}
    if date:
        params["filter[date]"] = date
    if date_from:
        params["filter[from]"] = date_from
    if date_to:
        params["filter[to]"] = date_to
    for option, name in FILTERS.items():
        if filters.get(option):
            params[f"filter[{name}]"] = filters[option]
    if group_by:
        params["groupBy"] = ",".join(group_by)
    if timezone:
        params["timezone"] = timezone
    return params


def rows(pages: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for page in pages:
        result = page.get("result")
        if not isinstance(result, list):
            raise ValueError(f"a report page without a result list: {json.dumps(page)[:300]}")
        yield from result


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row with `impressions` spread into impressions.measured / .scheduled / .total / ... columns."""
    out = {k: v for k, v in row.items() if k != "impressions"}
    for k, v in (row.get("impressions") or {}).items():
        out[f"impressions.{k}"] = v
    return out


def write(report_rows: Iterable[dict[str, Any]], out: TextIO, fmt: str, group_by: list[str]) -> int:
    """Write rows as they arrive (a long report is never held whole); returns how many."""
    if fmt == "json":
        return write_json_array(report_rows, out)
    # The same CSV as the errors export: group keys are the tenant's own ids, so formulas are defused.
    return write_csv(map(flat, report_rows), out, list(group_by or ["date", "campaignId"]) + list(MEASURES))
