"""Hourly rollups: the delivery report's sums, kept per tenant x UTC hour x screen x campaign x
creative x site (and the screen version and screen-local hour the plays fell in), so that a report
over closed hours reads rollup rows instead of every raw event (docs/reports.md, "Rollups").

`run` (the `rollups` function, on a Cloud Scheduler tick) brings the table up to date:
1. cutoff = now - `rollup_lag_seconds` (rows published before it have had time to land);
2. the dirty (tenant, hour)s: the UTC hours (of `playedAt`) of every row published in
   (watermark, cutoff], and the rolled hours of every screen with a version written in that interval
   (from the version's validFrom on; a first version reaches back to every hour);
3. each dirty hour is re-rolled from scratch, by one MERGE per batch of hours (its rows become the
   sums of its deduplicated events published up to the cutoff, atomically: rows found again are
   updated, new ones inserted, the others deleted), so a re-roll replaces and a repeated roll
   changes nothing;
4. only then does the watermark (Firestore, shared/storage/rollups.py) move to the cutoff.

Counting is the report's, by the same SQL (`delivery.first_deliveries`, `delivery.screens_ctes`):
a row counts if it is the first delivery of its (tenantId, eventId) among the copies whose playedAt
is within the dedup horizon of its own. A copy published later never changes whether an earlier one
counts, so the rollups hold exactly the report over the rows published up to the cutoff.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.cloud import bigquery

from shared.platform import clients, logs
from shared.platform.settings import get_settings
from shared.reports import delivery
from shared.storage import rollups as rollup_state

BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
# Hours re-rolled in one statement: up to a week of them, within a week of the first (a statement
# reads its hours' events, and their ids the dedup horizon either side; a scheduled roll usually has
# an hour or two). A month in one statement rolled 1,000,000 events faster locally, but the emulator
# ran out of memory (19.5 GB) rolling 10,000,000 that way.
BATCH_HOURS = 7 * 24
BATCH_SPAN = timedelta(days=7)

_DIRTY_EVENTS = """
SELECT tenantId, TIMESTAMP_TRUNC(playedAt, HOUR) AS hour
FROM `{events}`
WHERE publish_time > @since AND publish_time <= @cutoff AND playedAt IS NOT NULL{tenant}
GROUP BY tenantId, hour
"""

# A screen version written in the interval changes the plays from its validFrom on (a first version:
# all of them); those are in the rollup rows of that screen from that hour on. Only the hours whose raw
# events are still kept (@rawKeptFrom, from event_retention_days): re-rolled from expired partitions,
# an hour would lose its plays, so older hours keep the screen as it was when they were rolled.
_DIRTY_SCREENS = """
WITH changed AS (
  SELECT tenantId, screenId,
    MIN(IF(version = 1, TIMESTAMP '0001-01-01 00:00:00+00', validFrom)) AS changedFrom
  FROM `{screens}`
  WHERE writtenAt > @since AND writtenAt <= @cutoff{tenant}
  GROUP BY tenantId, screenId
)
SELECT DISTINCT r.tenantId AS tenantId, r.hour AS hour
FROM `{rollups}` AS r
JOIN changed AS c ON c.tenantId = r.tenantId AND c.screenId = r.screenId
WHERE r.hour >= TIMESTAMP_TRUNC(c.changedFrom, HOUR) AND r.hour >= @rawKeptFrom
"""

COLUMNS = (
    "tenantId, hour, screenId, campaignId, creativeId, siteId, screenVersion, screenHour, venueType, "
    "market, country, plays, qualifiedPlays, durationMs, impressionsMeasured, impressionsScheduled, "
    "impressionsTotal, impressionsMale, impressionsFemale, firstPlayedAt, lastPlayedAt, eventCount, "
    "rolledThrough"
)

_SUMS = """
SELECT @tenantId AS tenantId, hour, screenId, campaignId, creativeId, siteId, screenVersion,
  screenHourIndex AS screenHour, venueType, market, country,
  SUM(playsHere) AS plays,
  SUM(IF(qualified, playsHere, 0)) AS qualifiedPlays,
  SUM(durationMs) AS durationMs,
  SUM(impressions.ageBuckets.total) AS impressionsMeasured,
  SUM(scheduled) AS impressionsScheduled,
  SUM(COALESCE(impressions.ageBuckets.total, scheduled)) AS impressionsTotal,
  SUM(impressions.ageBuckets.male) AS impressionsMale,
  SUM(impressions.ageBuckets.female) AS impressionsFemale,
  MIN(playedAt) AS firstPlayedAt,
  MAX(playedAt) AS lastPlayedAt,
  COUNT(*) AS eventCount,
  @cutoff AS rolledThrough
FROM (
  SELECT *, TIMESTAMP_TRUNC(playedAt, HOUR) AS hour, DIV(localSince, 3600) AS screenHourIndex
  FROM scored
)
GROUP BY hour, screenId, campaignId, creativeId, siteId, screenVersion, screenHourIndex, venueType,
  market, country
"""


# A rollup row's key (venueType, market and country follow from the version).
KEY = ("tenantId", "hour", "screenId", "campaignId", "creativeId", "siteId", "screenVersion", "screenHour")


def roll_sql() -> str:
    """One statement that replaces the hours' rows with their sums anew, atomically: a MERGE on the
    row key that updates the rows found again, inserts the new ones and deletes the hours' rows not
    found again (a null in the key matches nothing, so such a row is deleted and inserted: the same
    result). Not a DELETE and an INSERT in a transaction: the local emulator runs a script with query
    parameters as a no-op, silently. Not `ON FALSE` (BigQuery's idiom for replacing rows): DuckDB,
    the emulator's engine, joins a condition without equalities by comparing every pair of rows."""
    where = " AND TIMESTAMP_TRUNC(playedAt, HOUR) IN UNNEST(@hours) AND publish_time <= @cutoff"
    select = (
        "WITH"
        + delivery.first_deliveries(clients.events_table(), where)
        + delivery.screens_ctes("DATE_ADD(DATE '1899-12-25', INTERVAL p.screenDay DAY)", "p.screenHour")
        .rstrip()
        .rstrip(",")
        + _SUMS
    )
    columns = [c.strip() for c in COLUMNS.split(",")]
    on = " AND ".join(f"T.{k} = S.{k}" for k in KEY)
    updates = ", ".join(f"{c} = S.{c}" for c in columns if c not in KEY)
    values = ", ".join(f"S.{c}" for c in columns)
    return (
        f"MERGE `{clients.rollups_table()}` AS T\nUSING ({select}) AS S\nON {on}\n"
        f"WHEN MATCHED THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({COLUMNS}) VALUES ({values})\n"
        "WHEN NOT MATCHED BY SOURCE AND T.tenantId = @tenantId AND T.hour >= @rawStart"
        " AND T.hour < @rawEnd AND T.hour IN UNNEST(@hours) THEN DELETE"
    )


def batches(hours: list[datetime]) -> list[list[datetime]]:
    """The hours in order, cut into batches of at most BATCH_HOURS within BATCH_SPAN of their first."""
    out: list[list[datetime]] = []
    for hour in sorted(set(hours)):
        if out and len(out[-1]) < BATCH_HOURS and hour - out[-1][0] < BATCH_SPAN:
            out[-1].append(hour)
        else:
            out.append([hour])
    return out


def roll_hours(tenant_id: str, hours: list[datetime], cutoff: datetime) -> None:
    """Re-roll the tenant's UTC hours from the events published up to `cutoff`."""
    client = clients.bigquery()
    statement = roll_sql()
    for batch in batches(hours):
        start, end = batch[0], batch[-1] + timedelta(hours=1)
        parameters = [
            bigquery.ScalarQueryParameter("tenantId", "STRING", tenant_id),
            bigquery.ScalarQueryParameter("cutoff", "TIMESTAMP", cutoff),
            bigquery.ArrayQueryParameter("hours", "TIMESTAMP", batch),
            *delivery.raw_parameters(start, end),
        ]
        client.query_and_wait(statement, job_config=bigquery.QueryJobConfig(query_parameters=parameters))


def raw_kept_from(cutoff: datetime) -> datetime:
    """The first hour whose raw events are surely still kept: event_retention_days before the cutoff,
    a day later for the partition's own day (the beginning of time when events never expire)."""
    days = get_settings().event_retention_days
    if days == 0:
        return BEGINNING
    return cutoff - timedelta(days=days) + timedelta(days=1)


def dirty_hours(since: datetime, cutoff: datetime, tenant_id: str | None = None) -> dict[str, list[datetime]]:
    """tenant -> the UTC hours to re-roll for what was published in (since, cutoff]."""
    client = clients.bigquery()
    parameters: list[bigquery.ScalarQueryParameter] = [
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
        bigquery.ScalarQueryParameter("cutoff", "TIMESTAMP", cutoff),
        bigquery.ScalarQueryParameter("rawKeptFrom", "TIMESTAMP", raw_kept_from(cutoff)),
    ]
    tenant = ""
    if tenant_id is not None:
        tenant = " AND tenantId = @tenantId"
        parameters.append(bigquery.ScalarQueryParameter("tenantId", "STRING", tenant_id))
    job = bigquery.QueryJobConfig(query_parameters=parameters)
    found: dict[str, set[datetime]] = defaultdict(set)
    for statement in (
        _DIRTY_EVENTS.format(events=clients.events_table(), tenant=tenant),
        _DIRTY_SCREENS.format(
            screens=clients.screens_table(), rollups=clients.rollups_table(), tenant=tenant
        ),
    ):
        for row in client.query_and_wait(statement, job_config=job):
            found[row["tenantId"]].add(row["hour"].astimezone(UTC))
    return {t: sorted(h) for t, h in found.items()}


def roll(since: datetime | None, cutoff: datetime, tenant_id: str | None = None) -> int:
    """Re-roll every hour dirtied in (since, cutoff]; the number of (tenant, hour)s re-rolled."""
    dirty = dirty_hours(since or BEGINNING, cutoff, tenant_id)
    for tenant, hours in dirty.items():
        roll_hours(tenant, hours, cutoff)
    return sum(len(h) for h in dirty.values())


@dataclass(frozen=True)
class RollResult:
    since: datetime | None
    cutoff: datetime
    hours: int


def run(now: datetime | None = None) -> RollResult | None:
    """One scheduled roll: everything published since the watermark up to now - the lag, then the
    watermark moves (not if a statement failed: the next tick repeats the same interval)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=get_settings().rollup_lag_seconds)
    since = rollup_state.rolled_through()
    if since is not None and cutoff <= since:
        return None
    hours = roll(since, cutoff)
    rollup_state.advance(since, cutoff)
    logs.info("rolled up", since=since.isoformat() if since else None, cutoff=cutoff.isoformat(), hours=hours)
    return RollResult(since, cutoff, hours)
