"""The delivery report: one parameterized BigQuery query over the events table.

Each event counts once per (tenantId, eventId) however often it was delivered: the first row
published wins, as in the `events` view. The tenant and the `playedAt` window are applied inside the
deduplication, so BigQuery reads only the window's day partitions (and, the table being clustered on
tenantId, mostly the caller's blocks); the id filters are applied to the deduplicated events, so a
report filtered on a campaign agrees with the same report grouped by campaign. Values are always
query parameters; the only names written into the SQL are column names from a fixed list.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from google.cloud import bigquery

from shared.platform import clients
from shared.platform.encoding import iso_utc
from shared.platform.settings import get_settings
from shared.reports.params import DIMENSIONS, DeliveryQuery

_DEDUPLICATED = """
WITH events AS (
  SELECT {dimensions}, playedAt, playCount, durationMs, impressions
  FROM `{table}`
  WHERE tenantId = @tenantId AND playedAt >= @windowStart AND playedAt < @windowEnd
  QUALIFY ROW_NUMBER() OVER (PARTITION BY eventId ORDER BY publish_time, message_id) = 1
),
report AS (
  SELECT
    {keys},
    SUM(COALESCE(playCount, 1)) AS plays,
    COALESCE(SUM(durationMs), 0) AS durationMs,
    COALESCE(SUM(impressions.ageBuckets.total), 0) AS impressionsTotal,
    COALESCE(SUM(impressions.ageBuckets.male), 0) AS impressionsMale,
    COALESCE(SUM(impressions.ageBuckets.female), 0) AS impressionsFemale,
    MIN(playedAt) AS firstPlayedAt,
    MAX(playedAt) AS lastPlayedAt
  FROM events
  WHERE {filters}
  GROUP BY {group_by}
)
"""
_PAGE = "SELECT *, COUNT(*) OVER () AS groupCount FROM report ORDER BY {order} LIMIT @limit OFFSET @offset"
_COUNT = "SELECT COUNT(*) AS groupCount FROM report"


def _sql(query: DeliveryQuery, final: str) -> str:
    keys = ["DATE(playedAt, @timezone) AS date" if k == "date" else k for k in query.group_by]
    filters = [f"{d} = @{d}" for d in DIMENSIONS if d in query.filters]
    order = ", ".join(f"{k} ASC NULLS FIRST" for k in query.group_by)
    return _DEDUPLICATED.format(
        dimensions=", ".join(DIMENSIONS),
        table=clients.events_table(),
        keys=",\n    ".join(keys),
        filters=" AND ".join(filters) or "TRUE",
        group_by=", ".join(query.group_by),
    ) + final.format(order=order)


def _config(tenant_id: str, query: DeliveryQuery, paged: bool) -> bigquery.QueryJobConfig:
    start, end = query.window()
    parameters = [
        bigquery.ScalarQueryParameter("tenantId", "STRING", tenant_id),
        bigquery.ScalarQueryParameter("windowStart", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("windowEnd", "TIMESTAMP", end),
    ]
    if "date" in query.group_by:
        parameters.append(bigquery.ScalarQueryParameter("timezone", "STRING", query.timezone))
    parameters += [bigquery.ScalarQueryParameter(d, "STRING", v) for d, v in query.filters.items()]
    if paged:
        parameters += [
            bigquery.ScalarQueryParameter("limit", "INT64", query.per_page),
            bigquery.ScalarQueryParameter("offset", "INT64", query.offset),
        ]
    return bigquery.QueryJobConfig(
        query_parameters=parameters, maximum_bytes_billed=get_settings().report_max_bytes_billed
    )


def _row(group_by: tuple[str, ...], r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in group_by:
        value = r[key]
        out[key] = value.isoformat() if isinstance(value, date) else value
    out["plays"] = int(r["plays"])
    out["durationMs"] = int(r["durationMs"])
    out["impressions"] = {
        "total": float(r["impressionsTotal"]),
        "male": float(r["impressionsMale"]),
        "female": float(r["impressionsFemale"]),
    }
    out["firstPlayedAt"] = _timestamp(r["firstPlayedAt"])
    out["lastPlayedAt"] = _timestamp(r["lastPlayedAt"])
    return out


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def delivery_report(tenant_id: str, query: DeliveryQuery) -> tuple[list[dict[str, Any]], int]:
    """(this page's rows, the number of rows over all pages) of the tenant's delivery report."""
    client = clients.bigquery()
    rows = list(client.query_and_wait(_sql(query, _PAGE), job_config=_config(tenant_id, query, True)))
    if rows:
        return [_row(query.group_by, r) for r in rows], int(rows[0]["groupCount"])
    if query.page == 1:
        return [], 0
    # Past the last page: the window count came back with no row, so count alone.
    [count] = client.query_and_wait(_sql(query, _COUNT), job_config=_config(tenant_id, query, False))
    return [], int(count["groupCount"])
