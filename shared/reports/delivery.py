"""The delivery report: one parameterized BigQuery query over the events table, joined to the screens
table (the registry's versions) as each play's screen was when it played.

Counting (docs/reports.md):
- Each event counts once per (tenantId, eventId) however often it was delivered: the first row
  published wins, as in the `events` view. The tenant and the `playedAt` window are applied inside the
  deduplication, so BigQuery reads only the window's day partitions (and, the table being clustered on
  tenantId, mostly the caller's blocks); the id filters are applied to the deduplicated events, so a
  report filtered on a campaign agrees with the same report grouped by campaign.
- A play joins the version of its screen valid at `playedAt` (validFrom <= playedAt < the next
  version's validFrom). A play before the screen's first version takes the first version: a screen
  registered today describes last month's plays too. A play whose screen is not registered stays in
  the report, with null screen attributes, the default qualification and no scheduled impressions.
- `qualifiedPlays`: plays with durationMs >= the version's minDurationMs (1000 when unknown) and, when
  the version sets minShareOfPlanned, durationMs >= minShareOfPlanned x plannedDurationMs (a play
  without durationMs, or without plannedDurationMs under that rule, does not qualify).
- Impressions: `measured` sums what the events carried (impressions.ageBuckets.total); `scheduled`
  is plays x the multiplier of the play's weekday and hour in its screen's zone, from the version
  valid then, x the version's `screens`; `total` takes measured where an event has it, else
  scheduled. The sums are exact in the query (FLOAT64, never rounded per play) and rounded once, at
  the end, to 3 decimals, half to even (`rounded`).
- `timezone=screen` cuts days and hours in each play's own screen zone (UTC for an unregistered
  screen); the scanned window is widened by the zones' largest offsets and the days are then chosen
  by local date.

Values are always query parameters; the only names written into the SQL are column names from a
fixed list. Result columns are read case-insensitively: the BigQuery emulator lower-cases them in a
query that uses AT TIME ZONE.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from google.cloud import bigquery

from shared.platform import clients
from shared.platform.encoding import iso_utc
from shared.platform.settings import get_settings
from shared.reports.params import DIMENSIONS, SCREEN_ZONE, DeliveryQuery

IMPRESSION_DECIMALS = Decimal("0.001")

_EVENTS = """
WITH events AS (
  SELECT {dimensions}, playedAt, playCount, durationMs, plannedDurationMs, impressions
  FROM `{events}`
  WHERE tenantId = @tenantId AND playedAt >= @windowStart AND playedAt < @windowEnd
  QUALIFY ROW_NUMBER() OVER (PARTITION BY eventId ORDER BY publish_time, message_id) = 1
),"""

# One row per version (a row written twice by a retried export is kept once), with the instants it
# is valid between; the first version reaches back before its validFrom.
_SCREENS = """
screen_rows AS (
  SELECT screenId, version, validFrom, timeZone, venueType, market, country, screens,
    minDurationMs, minShareOfPlanned, impressionSchedule
  FROM `{screens}`
  WHERE tenantId = @tenantId
  QUALIFY ROW_NUMBER() OVER (PARTITION BY screenId, version ORDER BY writtenAt DESC) = 1
),
versions AS (
  SELECT screenId, version, timeZone, venueType, market, country, screens, minDurationMs,
    minShareOfPlanned, impressionSchedule,
    IF(ROW_NUMBER() OVER (PARTITION BY screenId ORDER BY version) = 1,
       TIMESTAMP '0001-01-01 00:00:00+00', validFrom) AS validFrom,
    LEAD(validFrom) OVER (PARTITION BY screenId ORDER BY version) AS validTo
  FROM screen_rows
),
plays AS (
  SELECT e.*, v.timeZone AS screenZone, v.venueType AS venueType,
    v.market AS market, v.country AS country, v.screens AS faces,
    COALESCE(v.minDurationMs, 1000) AS minDurationMs, v.minShareOfPlanned AS minShareOfPlanned,
    v.impressionSchedule AS schedule,
    UNIX_SECONDS(e.playedAt) + 2209593600 AS sinceBase  -- seconds since 1899-12-25 00:00 UTC
  FROM events AS e
  LEFT JOIN versions AS v ON v.screenId = e.screenId
  -- The range as a filter after an equality join (a screen's versions cover all time, so exactly
  -- one matches): the emulator's engine joined a range condition in the ON clause ~15x slower.
  WHERE v.screenId IS NULL OR (e.playedAt >= v.validFrom AND (v.validTo IS NULL OR e.playedAt < v.validTo))
),
-- Screen-local time without a time zone conversion per play: each zone's UTC offset is looked up
-- once per quarter hour that has plays (every zone's offset is a whole number of quarter hours, and
-- changes only at the start of a UTC quarter hour), then local time is arithmetic on seconds since
-- Monday 1899-12-25 00:00 UTC (before any day a report may cover, so never negative).
quarters AS (
  -- The first play of each zone and quarter hour that has plays.
  SELECT screenZone AS zoneName, DIV(sinceBase, 900) AS quarter, MIN(playedAt) AS instant,
    MIN(sinceBase) AS instantSince
  FROM plays
  WHERE screenZone IS NOT NULL
  GROUP BY zoneName, quarter
),
quarter_clocks AS (
  -- Its wall clock in the zone: the local date, and the seconds since local midnight by the clock.
  -- (DATE and TIME with a zone: the local emulator misreads EXTRACT(... AT TIME ZONE) on a
  -- computed value, and DATETIME(timestamp, zone).)
  SELECT q.zoneName AS zoneName, q.quarter AS quarter, q.instantSince AS instantSince,
    DATE(q.instant, q.zoneName) AS wallDate,
    TIME_DIFF(TIME(q.instant, q.zoneName), TIME '00:00:00', SECOND) AS wallSeconds
  FROM quarters AS q
),
offsets AS (
  -- Its wall clock as seconds since the base, minus its seconds since the base: the zone's offset
  -- for the whole quarter.
  SELECT zoneName, quarter,
    DATE_DIFF(wallDate, DATE '1899-12-25', DAY) * 86400 + wallSeconds - instantSince AS offsetSeconds
  FROM quarter_clocks
),
local_seconds AS (
  SELECT p.*, p.sinceBase + COALESCE(o.offsetSeconds, 0) AS localSince
  FROM plays AS p
  LEFT JOIN offsets AS o ON o.zoneName = p.screenZone AND o.quarter = DIV(p.sinceBase, 900)
),
placed AS (
  SELECT p.*, DIV(p.localSince, 86400) AS screenDay, MOD(DIV(p.localSince, 3600), 24) AS screenHour
  FROM local_seconds AS p
),
scored AS (
  SELECT p.*, COALESCE(p.playCount, 1) AS playsHere,
    {local_date} AS localDate,
    {local_hour} AS localHour,
    -- The multiplier of the local weekday (screenDay counts from a Monday) and hour.
    COALESCE(p.playCount, 1) * p.schedule[SAFE_ORDINAL(MOD(p.screenDay, 7) * 24 + p.screenHour + 1)]
      * p.faces AS scheduled,
    p.durationMs IS NOT NULL AND p.durationMs >= p.minDurationMs
      AND (p.minShareOfPlanned IS NULL
           OR (p.plannedDurationMs IS NOT NULL AND p.durationMs >= p.minShareOfPlanned * p.plannedDurationMs))
      AS qualified
  FROM placed AS p
),"""

# Without the screens table (bench.reports measures the join against this).
_NO_SCREENS = """
scored AS (
  SELECT e.*, COALESCE(e.playCount, 1) AS playsHere,
    EXTRACT(DATE FROM e.playedAt AT TIME ZONE {zone}) AS localDate,
    EXTRACT(HOUR FROM e.playedAt AT TIME ZONE {zone}) AS localHour,
    CAST(NULL AS FLOAT64) AS scheduled, CAST(NULL AS INT64) AS venueType,
    CAST(NULL AS STRING) AS market, CAST(NULL AS STRING) AS country,
    e.durationMs IS NOT NULL AND e.durationMs >= 1000 AS qualified
  FROM events AS e
),"""

_REPORT = """
report AS (
  SELECT
    {keys},
    SUM(playsHere) AS plays,
    SUM(IF(qualified, playsHere, 0)) AS qualifiedPlays,
    COALESCE(SUM(durationMs), 0) AS durationMs,
    COALESCE(SUM(impressions.ageBuckets.total), 0) AS impressionsMeasured,
    COALESCE(SUM(scheduled), 0) AS impressionsScheduled,
    COALESCE(SUM(COALESCE(impressions.ageBuckets.total, scheduled)), 0) AS impressionsTotal,
    COALESCE(SUM(impressions.ageBuckets.male), 0) AS impressionsMale,
    COALESCE(SUM(impressions.ageBuckets.female), 0) AS impressionsFemale,
    MIN(playedAt) AS firstPlayedAt,
    MAX(playedAt) AS lastPlayedAt
  FROM scored
  WHERE localDate >= @firstDay AND localDate <= @lastDay AND {filters}
  GROUP BY {group_by}
)
"""
_PAGE = "SELECT *, COUNT(*) OVER () AS groupCount FROM report ORDER BY {order} LIMIT @limit OFFSET @offset"
_COUNT = "SELECT COUNT(*) AS groupCount FROM report"
_KEY_SQL = {"date": "localDate AS date", "hour": "localHour AS hour"}


def scored_plays_sql(timezone: str, screens: bool = True) -> str:
    """The report's building block, shared with the performance report (shared/reports/performance.py):
    `WITH ... scored AS (...),`, each of the tenant's plays in [@windowStart, @windowEnd) once
    (deduplicated), with its screen's version then (venueType, market, country), `playsHere`,
    `qualified`, `scheduled` impressions, and its `localDate` and `localHour` in `timezone` (the
    @timezone parameter) or, for `screen`, in its screen's zone. `screens=False` leaves out the
    screens table (for comparison only: no screen attributes, qualification or scheduled impressions)."""
    if timezone == SCREEN_ZONE:
        local_date, local_hour = "DATE_ADD(DATE '1899-12-25', INTERVAL p.screenDay DAY)", "p.screenHour"
    else:
        local_date = "EXTRACT(DATE FROM p.playedAt AT TIME ZONE @timezone)"
        local_hour = "EXTRACT(HOUR FROM p.playedAt AT TIME ZONE @timezone)"
    if screens:
        middle = _SCREENS.format(
            screens=clients.screens_table(), local_date=local_date, local_hour=local_hour
        )
    else:
        middle = _NO_SCREENS.format(zone="'UTC'" if timezone == SCREEN_ZONE else "@timezone")
    return _EVENTS.format(dimensions=", ".join(DIMENSIONS), events=clients.events_table()) + middle


def sql(query: DeliveryQuery, final: str = _PAGE, screens: bool = True) -> str:
    """The report's SQL; `screens=False` leaves out the screens table (for comparison only: no
    screen attributes, qualification or scheduled impressions)."""
    keys = [_KEY_SQL.get(k, k) for k in query.group_by]
    filters = [f"{d} = @{d}" for d in DIMENSIONS if d in query.filters]
    order = ", ".join(f"{k} ASC NULLS FIRST" for k in query.group_by)
    return (
        scored_plays_sql(query.timezone, screens)
        + _REPORT.format(
            keys=",\n    ".join(keys),
            filters=" AND ".join(filters) or "TRUE",
            group_by=", ".join(query.group_by),
        )
        + final.format(order=order)
    )


def config(tenant_id: str, query: DeliveryQuery, paged: bool) -> bigquery.QueryJobConfig:
    start, end = query.window()
    parameters = [
        bigquery.ScalarQueryParameter("tenantId", "STRING", tenant_id),
        bigquery.ScalarQueryParameter("windowStart", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("windowEnd", "TIMESTAMP", end),
        bigquery.ScalarQueryParameter("firstDay", "DATE", query.first_day),
        bigquery.ScalarQueryParameter("lastDay", "DATE", query.last_day),
    ]
    if query.timezone != SCREEN_ZONE:
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


def rounded(value: Any) -> float:
    """The one rounding of impressions: the exact sum, to 3 decimals, half to even."""
    return float(Decimal(repr(float(value))).quantize(IMPRESSION_DECIMALS, rounding=ROUND_HALF_EVEN))


def columns(result: Any) -> dict[str, Any]:
    """A result row by lower-cased column name (the emulator lower-cases them; BigQuery does not)."""
    return {name.lower(): value for name, value in result.items()}


def _row(group_by: tuple[str, ...], r: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in group_by:
        value = r[key.lower()]
        out[key] = value.isoformat() if isinstance(value, date) else value
    out["plays"] = int(r["plays"])
    out["qualifiedPlays"] = int(r["qualifiedplays"])
    out["durationMs"] = int(r["durationms"])
    out["impressions"] = {
        "measured": rounded(r["impressionsmeasured"]),
        "scheduled": rounded(r["impressionsscheduled"]),
        "total": rounded(r["impressionstotal"]),
        "male": rounded(r["impressionsmale"]),
        "female": rounded(r["impressionsfemale"]),
    }
    out["firstPlayedAt"] = _timestamp(r["firstplayedat"])
    out["lastPlayedAt"] = _timestamp(r["lastplayedat"])
    return out


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def delivery_report(tenant_id: str, query: DeliveryQuery) -> tuple[list[dict[str, Any]], int]:
    """(this page's rows, the number of rows over all pages) of the tenant's delivery report."""
    client = clients.bigquery()
    rows = [columns(r) for r in client.query_and_wait(sql(query), job_config=config(tenant_id, query, True))]
    if rows:
        return [_row(query.group_by, r) for r in rows], int(rows[0]["groupcount"])
    if query.page == 1:
        return [], 0
    # Past the last page: the window count came back with no row, so count alone.
    [count] = client.query_and_wait(sql(query, _COUNT), job_config=config(tenant_id, query, False))
    return [], int(columns(count)["groupcount"])
