"""The delivery report: one parameterized BigQuery query over the events table, joined to the screens
table (the registry's versions) as each play's screen was when it played.

Counting (docs/reports.md, "Counting once"):
- Each event counts once per (tenantId, eventId): a row (one message; a message written twice is one)
  counts unless a copy of the same event was published before it (publish_time, then message_id)
  with a playedAt less than the dedup horizon (`dedup_horizon_days`, 7 by default) from its own. So
  the first delivery wins, and a copy re-sent days later with another playedAt does not count again;
  copies are looked for in the report's window widened by the horizon on both sides, so BigQuery
  reads only those day partitions (and, the table being clustered on tenantId, mostly the caller's
  blocks). The id filters are applied to the deduplicated events, so a report filtered on a campaign
  agrees with the same report grouped by campaign.
- Closed hours (before the hour of the rollups' watermark) come from the `rollups` table, which holds
  these same sums per hour (shared/reports/rollups.py); the hours after, and the rows of closed hours
  published after the roll that wrote them (late data, replays), from raw events (`plan`).
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

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from google.cloud import bigquery

from shared.platform import clients
from shared.platform.encoding import iso_utc
from shared.platform.settings import get_settings
from shared.platform.timezones import iana_zone
from shared.reports.params import DIMENSIONS, SCREEN_ZONE, DeliveryQuery
from shared.storage import rollups as rollup_state

IMPRESSION_DECIMALS = Decimal("0.001")

# The deduplicated events of [@rawStart, @rawEnd) (+ `{where}`): each row a message, once (a message the
# subscription wrote twice is one), and only a row with no copy of the same (tenantId, eventId)
# published before it (publish_time, then message_id) whose playedAt is less than the dedup horizon
# from its own. The copies are looked for in (@lookStart, @lookEnd): the rows' range widened by the
# horizon on both sides, so the partitions read stay bounded (docs/reports.md, "Counting once").
_FIRST_DELIVERIES = """{cutoffs}
candidates AS (
  SELECT eventId, COALESCE(message_id, '') AS messageId, publish_time, {dimensions}, playedAt,
    playCount, durationMs, plannedDurationMs, impressions{extra}
  FROM `{events}`
  WHERE tenantId = @tenantId AND playedAt >= @rawStart AND playedAt < @rawEnd{where}
  QUALIFY ROW_NUMBER() OVER (PARTITION BY eventId, messageId ORDER BY publish_time) = 1
),
copies AS (
  SELECT eventId, COALESCE(message_id, '') AS messageId, publish_time, playedAt
  FROM `{events}`
  WHERE tenantId = @tenantId AND playedAt > @lookStart AND playedAt < @lookEnd
    AND eventId IN (SELECT eventId FROM candidates)
),
repeated AS (
  SELECT DISTINCT c.eventId AS eventId, c.messageId AS messageId
  FROM candidates AS c
  JOIN copies AS s ON s.eventId = c.eventId
  WHERE (s.publish_time < c.publish_time OR (s.publish_time = c.publish_time AND s.messageId < c.messageId))
    AND ABS(UNIX_MICROS(s.playedAt) - UNIX_MICROS(c.playedAt)) < @horizonMicros
),
events AS (
  SELECT {c_dimensions}, c.playedAt AS playedAt, c.playCount AS playCount, c.durationMs AS durationMs,
    c.plannedDurationMs AS plannedDurationMs, c.impressions AS impressions{c_extra}
  FROM candidates AS c
  LEFT JOIN repeated AS r ON r.eventId = c.eventId AND r.messageId = c.messageId{cutoff_join}
  WHERE r.eventId IS NULL{tail}
),"""

# The late tail beside the rollups (`first_deliveries(..., late_tail=True)`): of the rows of hours the
# rollups hold (before @rolledEnd), only those published after the cutoff of the roll that wrote the
# hour (its rows' rolledThrough; an hour without rows: the watermark @rolledThrough). A roll writes an
# hour from the rows published up to its cutoff, so rollups and tail never count a row twice, nor
# miss one, even while a roll is half written.
_HOUR_CUTOFFS = """
hour_cutoffs AS (
  SELECT hour, MAX(rolledThrough) AS cutoff
  FROM `{rollups}`
  WHERE tenantId = @tenantId AND hour >= @windowStart AND hour < @rolledEnd
  GROUP BY hour
),"""
_CUTOFF_JOIN = "\n  LEFT JOIN hour_cutoffs AS h ON h.hour = TIMESTAMP_TRUNC(c.playedAt, HOUR)"
_TAIL = "\n    AND (c.playedAt >= @rolledEnd OR c.publish_time > COALESCE(h.cutoff, @rolledThrough))"
# Only rows published after the watermark can be in the tail (an hour's cutoff is the watermark or
# later, or earlier only when nothing of that hour was published since): the scan's first filter.
_TAIL_ROWS = " AND (playedAt >= @rolledEnd OR publish_time > @rolledThrough)"

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
  SELECT e.*, v.version AS screenVersion, v.timeZone AS screenZone, v.venueType AS venueType,
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
    CAST(NULL AS FLOAT64) AS scheduled, CAST(NULL AS INT64) AS venueType, CAST(NULL AS INT64) AS screenVersion,
    CAST(NULL AS STRING) AS market, CAST(NULL AS STRING) AS country,
    e.durationMs IS NOT NULL AND e.durationMs >= 1000 AS qualified
  FROM events AS e
),"""

# Each deduplicated play as the sums a report adds up (a rollup row holds the same sums of its plays).
_UNITS = """
units AS (
  SELECT {dimensions}, venueType, market, country, localDate, localHour,
    playsHere AS plays, IF(qualified, playsHere, 0) AS qualifiedPlays, durationMs,
    impressions.ageBuckets.total AS measured, scheduled,
    COALESCE(impressions.ageBuckets.total, scheduled) AS total,
    impressions.ageBuckets.male AS male, impressions.ageBuckets.female AS female,
    playedAt AS firstPlayedAt, playedAt AS lastPlayedAt
  FROM scored
),"""

# The rollups of the UTC hours [@windowStart, @rolledEnd), as units: the local day and hour of a row
# from its screen hour (timezone=screen) or from its UTC hour in a zone whose offset is whole hours.
_ROLLED = """
rolled_rows AS (
  SELECT *, DIV(screenHour, 24) AS screenDay, MOD(screenHour, 24) AS screenHourOfDay
  FROM `{rollups}`
  WHERE tenantId = @tenantId AND hour >= @windowStart AND hour < @rolledEnd
),
rolled AS (
  SELECT {dimensions}, venueType, market, country, {local_date} AS localDate, {local_hour} AS localHour,
    plays, qualifiedPlays, durationMs, impressionsMeasured AS measured,
    impressionsScheduled AS scheduled, impressionsTotal AS total,
    impressionsMale AS male, impressionsFemale AS female, firstPlayedAt, lastPlayedAt
  FROM rolled_rows
),"""
_ROLLED_SCREEN_DATE = "DATE_ADD(DATE '1899-12-25', INTERVAL screenDay DAY)"
_ROLLED_SCREEN_HOUR = "screenHourOfDay"
_ROLLED_ZONE_DATE = "EXTRACT(DATE FROM hour AT TIME ZONE @timezone)"
_ROLLED_ZONE_HOUR = "EXTRACT(HOUR FROM hour AT TIME ZONE @timezone)"

_REPORT = """
report AS (
  SELECT
    {keys},
    SUM(plays) AS plays,
    SUM(qualifiedPlays) AS qualifiedPlays,
    COALESCE(SUM(durationMs), 0) AS durationMs,
    COALESCE(SUM(measured), 0) AS impressionsMeasured,
    COALESCE(SUM(scheduled), 0) AS impressionsScheduled,
    COALESCE(SUM(total), 0) AS impressionsTotal,
    COALESCE(SUM(male), 0) AS impressionsMale,
    COALESCE(SUM(female), 0) AS impressionsFemale,
    MIN(firstPlayedAt) AS firstPlayedAt,
    MAX(lastPlayedAt) AS lastPlayedAt
  FROM {units}
  WHERE localDate >= @firstDay AND localDate <= @lastDay AND {filters}
  GROUP BY {group_by}
)
"""
_PAGE = "SELECT *, COUNT(*) OVER () AS groupCount FROM report ORDER BY {order} LIMIT @limit OFFSET @offset"
_COUNT = "SELECT COUNT(*) AS groupCount FROM report"
_KEY_SQL = {"date": "localDate AS date", "hour": "localHour AS hour"}


@dataclass(frozen=True)
class Plan:
    """Where a report's plays come from: the rollups of the UTC hours [window start, `rolled_end`),
    raw events from `raw_start` to the window's end (None: either not at all). With rollups, raw
    events are read from the window's start, of the rolled hours only the late tail: the rows
    published after the roll that wrote their hour (`rolled_through`: the watermark)."""

    rolled_end: datetime | None = None
    raw_start: datetime | None = None
    rolled_through: datetime | None = None


def _hour_floor(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _whole_hours(zone_name: str, start: datetime, end: datetime) -> bool:
    """Whether the zone's UTC offset is a whole number of hours throughout [start, end), so that its
    local days and hours are made of whole UTC hours (not Asia/Kolkata +5:30, Asia/Kathmandu +5:45,
    nor Australia/Lord_Howe, whose clock moves by 30 minutes). An offset changes at most once in an
    hour, so looking once an hour sees every offset."""
    zone = iana_zone(zone_name)
    at = start
    while at < end:
        offset = at.astimezone(zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        at += timedelta(hours=1)
    return True


def plan(query: DeliveryQuery, rolled_through: datetime | None) -> Plan:
    """Rollups for the window's hours that are closed (before the hour of the watermark), raw events
    for the rest. Rollups answer `timezone=screen` in any zone (a rollup row is one hour of its
    screen's own clock) and a report zone whose offset is whole hours over the window; a report in a
    zone such as Asia/Kolkata reads raw events only (docs/reports.md, "Rollups")."""
    start, end = query.window()
    if rolled_through is None:
        return Plan(raw_start=start)
    if query.timezone != SCREEN_ZONE and not _whole_hours(query.timezone, start, end):
        return Plan(raw_start=start)
    closed = _hour_floor(rolled_through)
    if closed <= start:
        return Plan(raw_start=start)
    return Plan(rolled_end=min(closed, end), raw_start=start, rolled_through=rolled_through)


def first_deliveries(
    events: str, where: str = "", extra: tuple[str, ...] = (), late_tail: bool = False
) -> str:
    """The CTEs (candidates, copies, repeated, events) of the deduplicated events in [@rawStart,
    @rawEnd), for the tenant, with `where` (an AND condition on the events table's columns) too;
    `extra` names more columns of the events table that `events` carries (the plays endpoint's).
    `late_tail`: of the hours before @rolledEnd, only the rows the rollups do not hold yet (_TAIL)."""
    return _FIRST_DELIVERIES.format(
        cutoffs=_HOUR_CUTOFFS.format(rollups=clients.rollups_table()) if late_tail else "",
        dimensions=", ".join(DIMENSIONS),
        c_dimensions=", ".join(f"c.{d} AS {d}" for d in DIMENSIONS),
        events=events,
        where=where + (_TAIL_ROWS if late_tail else ""),
        extra="".join(f", {column}" for column in extra),
        c_extra="".join(f", c.{column} AS {column}" for column in extra),
        cutoff_join=_CUTOFF_JOIN if late_tail else "",
        tail=_TAIL if late_tail else "",
    )


def screens_ctes(local_date: str, local_hour: str) -> str:
    """The CTEs from `events` to `scored`: each play joined to its screen version, placed in its
    screen's clock (`screenDay`, `screenHour`, `localSince`), scored (qualified, scheduled)."""
    return _SCREENS.format(screens=clients.screens_table(), local_date=local_date, local_hour=local_hour)


def local_clock(timezone: str) -> tuple[str, str]:
    """The SQL of a raw play's local date and hour in `timezone` (the @timezone parameter), or for
    `screen` in its screen's zone (from `screens_ctes`)."""
    if timezone == SCREEN_ZONE:
        return "DATE_ADD(DATE '1899-12-25', INTERVAL p.screenDay DAY)", "p.screenHour"
    return (
        "EXTRACT(DATE FROM p.playedAt AT TIME ZONE @timezone)",
        "EXTRACT(HOUR FROM p.playedAt AT TIME ZONE @timezone)",
    )


def scored_plays_sql(timezone: str) -> str:
    """The report's building block over raw events, shared with the performance report
    (shared/reports/performance.py): `WITH ... scored AS (...),`, each of the tenant's plays in
    [@rawStart, @rawEnd) once (`first_deliveries`; parameters from `raw_parameters`), with its
    screen's version then (venueType, market, country), `playsHere`, `qualified`, `scheduled`
    impressions, and its `localDate` and `localHour` in `timezone` (see `local_clock`)."""
    return "WITH" + first_deliveries(clients.events_table()) + screens_ctes(*local_clock(timezone))


def sql(query: DeliveryQuery, final: str = _PAGE, screens: bool = True, plan: Plan | None = None) -> str:
    """The report's SQL; `screens=False` leaves out the screens table (for comparison only: no
    screen attributes, qualification or scheduled impressions). `plan`: raw events only by default."""
    plan = plan or Plan(raw_start=query.window()[0])
    keys = [_KEY_SQL.get(k, k) for k in query.group_by]
    filters = [f"{d} = @{d}" for d in DIMENSIONS if d in query.filters]
    order = ", ".join(f"{k} ASC NULLS FIRST" for k in query.group_by)
    local_date, local_hour = local_clock(query.timezone)
    if query.timezone == SCREEN_ZONE:
        rolled_date, rolled_hour = _ROLLED_SCREEN_DATE, _ROLLED_SCREEN_HOUR
    else:
        rolled_date, rolled_hour = _ROLLED_ZONE_DATE, _ROLLED_ZONE_HOUR
    ctes, sources = [], []
    if plan.rolled_end is not None:
        ctes.append(
            _ROLLED.format(
                rollups=clients.rollups_table(),
                dimensions=", ".join(DIMENSIONS),
                local_date=rolled_date,
                local_hour=rolled_hour,
            )
        )
        sources.append("SELECT * FROM rolled")
    if plan.raw_start is not None:
        ctes.append(first_deliveries(clients.events_table(), late_tail=plan.rolled_through is not None))
        if screens:
            ctes.append(screens_ctes(local_date, local_hour))
        else:
            ctes.append(_NO_SCREENS.format(zone="'UTC'" if query.timezone == SCREEN_ZONE else "@timezone"))
        ctes.append(_UNITS.format(dimensions=", ".join(DIMENSIONS)))
        sources.append("SELECT * FROM units")
    units = (
        sources[0].removeprefix("SELECT * FROM ")
        if len(sources) == 1
        else ("(" + " UNION ALL ".join(sources) + ")")
    )
    return (
        "WITH"
        + "".join(ctes)
        + _REPORT.format(
            keys=",\n    ".join(keys),
            units=units,
            filters=" AND ".join(filters) or "TRUE",
            group_by=", ".join(query.group_by),
        )
        + final.format(order=order)
    )


def config(
    tenant_id: str, query: DeliveryQuery, paged: bool, plan: Plan | None = None
) -> bigquery.QueryJobConfig:
    start, end = query.window()
    plan = plan or Plan(raw_start=start)
    parameters = [
        bigquery.ScalarQueryParameter("tenantId", "STRING", tenant_id),
        bigquery.ScalarQueryParameter("firstDay", "DATE", query.first_day),
        bigquery.ScalarQueryParameter("lastDay", "DATE", query.last_day),
    ]
    if plan.rolled_end is not None:
        parameters += [
            bigquery.ScalarQueryParameter("windowStart", "TIMESTAMP", start),
            bigquery.ScalarQueryParameter("rolledEnd", "TIMESTAMP", plan.rolled_end),
        ]
    if plan.rolled_through is not None:
        parameters.append(bigquery.ScalarQueryParameter("rolledThrough", "TIMESTAMP", plan.rolled_through))
    if plan.raw_start is not None:
        parameters += raw_parameters(plan.raw_start, end)
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


def raw_parameters(start: datetime, end: datetime) -> list[bigquery.ScalarQueryParameter]:
    """The parameters of `first_deliveries` for the events of [start, end)."""
    horizon = timedelta(days=get_settings().dedup_horizon_days)
    return [
        bigquery.ScalarQueryParameter("rawStart", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("rawEnd", "TIMESTAMP", end),
        bigquery.ScalarQueryParameter("lookStart", "TIMESTAMP", start - horizon),
        bigquery.ScalarQueryParameter("lookEnd", "TIMESTAMP", end + horizon),
        bigquery.ScalarQueryParameter("horizonMicros", "INT64", horizon // timedelta(microseconds=1)),
    ]


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


def delivery_report(
    tenant_id: str, query: DeliveryQuery, rolled_through: datetime | None | Literal["stored"] = "stored"
) -> tuple[list[dict[str, Any]], int]:
    """(this page's rows, the number of rows over all pages) of the tenant's delivery report: from the
    rollups up to the watermark (`rolled_through`: the stored one by default; None reads raw events
    only), raw events after it."""
    if rolled_through == "stored":
        rolled_through = rollup_state.rolled_through()
    chosen = plan(query, rolled_through)
    client = clients.bigquery()
    rows = [
        columns(r)
        for r in client.query_and_wait(
            sql(query, plan=chosen), job_config=config(tenant_id, query, True, chosen)
        )
    ]
    if rows:
        return [_row(query.group_by, r) for r in rows], int(rows[0]["groupcount"])
    if query.page == 1:
        return [], 0
    # Past the last page: the window count came back with no row, so count alone.
    [count] = client.query_and_wait(
        sql(query, _COUNT, plan=chosen), job_config=config(tenant_id, query, False, chosen)
    )
    return [], int(columns(count)["groupcount"])


_ROWS = "SELECT * FROM report ORDER BY {order} LIMIT @limit"


def report_rows(tenant_id: str, query: DeliveryQuery, limit: int) -> Iterator[dict[str, Any]]:
    """Every row of the report, in the API's order (its pages' rows one after another), at most
    `limit`: the endpoint's query (rollups to the stored watermark, raw events after it) without its
    paging, read a page of results at a time (a scheduled drop, shared/reports/drops.py)."""
    chosen = plan(query, rollup_state.rolled_through())
    job_config = config(tenant_id, query, False, chosen)
    job_config.query_parameters = [
        *job_config.query_parameters,
        bigquery.ScalarQueryParameter("limit", "INT64", limit),
    ]
    results = clients.bigquery().query_and_wait(
        sql(query, _ROWS, plan=chosen), job_config=job_config, page_size=5_000
    )
    for result in results:
        yield _row(query.group_by, columns(result))
