"""The performance report: delivery against a booking (docs/bookings.md).

The booking is read from Firestore through storage (`shared.storage.bookings.get_booking`): the
reports domain does not import the bookings domain, and a report reads one booking (or a page of
them), whose terms go into the query as parameters. Nothing is mirrored to BigQuery: the join a
booking needs (campaign, creatives, targeted screens, flight days) is a filter on parameters.

Counting is the delivery report's, from its own building block (`delivery.scored_plays_sql`): each
event once per (tenantId, eventId), the first delivery winning; each play joined to its screen's
version valid then; `qualifiedPlays` by that version's rule; impressions measured where the event
carried them, else scheduled. The play's day is cut in the flight's zone (or its screen's, for a
`screen` flight), exactly as a delivery report with that `timezone` cuts it, so the two agree.

A play of the booking's campaign (and creatives, when the booking names them) is:
- delivered when its screen is targeted (a listed screenId, or the screen's version at the time of
  the play matches the selector) and its local day is a flight day;
- outside the flight when its day is not a flight day (the OUTSIDE_DAYS days either side are read);
- on an untargeted screen when its day is a flight day but its screen is not targeted.
The last two are counted apart and never in `delivered`.

Dark screens: the screens targeted now (the listed ones, or the active screens matching the selector
in the registry, at most MAX_TARGETS) whose last play of any campaign is `darkAfterHours` or more
before now, while the flight is on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from google.cloud import bigquery

from shared.platform import clients
from shared.platform.encoding import iso_utc
from shared.platform.settings import get_settings
from shared.records.bookings import BookingRecord
from shared.reports import pacing, params
from shared.reports.delivery import columns, raw_parameters, rounded, scored_plays_sql
from shared.reports.params import EAST_MOST, SCREEN_ZONE, WEST_MOST
from shared.storage import firestore

OUTSIDE_DAYS = 7  # days before and after the flight read for delivery outside it
MAX_TARGETS = 5_000  # screens a selector resolves to for dark screens and zones
DEFAULT_DARK_AFTER_HOURS = params.DEFAULT_DARK_AFTER_HOURS
BREAKDOWNS = ("market", "venueType", "screenId", "creativeId")

_PERFORMANCE = """
classified AS (
  SELECT s.*,
    COALESCE(s.impressions.ageBuckets.total, s.scheduled) AS impressionsHere,
    (s.screenId IN UNNEST(@screenIds))
      OR (@bySelector AND (@venueType IS NULL OR s.venueType = @venueType)
          AND (@market IS NULL OR s.market = @market)
          AND (@country IS NULL OR s.country = @country)) AS targeted,
    s.localDate >= @firstDay AND s.localDate <= @lastDay AS inFlight,
    s.campaignId = @campaignId AND (NOT @byCreative OR s.creativeId IN UNNEST(@creativeIds)) AS booked
  FROM scored AS s
),
parts AS (
  SELECT *,
    CASE WHEN NOT inFlight THEN 'outsideFlight' WHEN targeted THEN 'delivered' ELSE 'untargetedScreens' END
      AS part
  FROM classified
  WHERE booked
),
delivered AS (SELECT * FROM parts WHERE part = 'delivered')
SELECT 'part' AS breakdown, part AS name, SUM(playsHere) AS plays,
  SUM(IF(qualified, playsHere, 0)) AS qualifiedPlays, COALESCE(SUM(impressionsHere), 0) AS impressions,
  MAX(playedAt) AS lastPlayedAt
FROM parts GROUP BY part
UNION ALL
SELECT 'date', CAST(localDate AS STRING), SUM(playsHere), SUM(IF(qualified, playsHere, 0)),
  COALESCE(SUM(impressionsHere), 0), MAX(playedAt)
FROM delivered GROUP BY localDate
UNION ALL
SELECT 'market', market, SUM(playsHere), SUM(IF(qualified, playsHere, 0)),
  COALESCE(SUM(impressionsHere), 0), MAX(playedAt)
FROM delivered GROUP BY market
UNION ALL
SELECT 'venueType', CAST(venueType AS STRING), SUM(playsHere), SUM(IF(qualified, playsHere, 0)),
  COALESCE(SUM(impressionsHere), 0), MAX(playedAt)
FROM delivered GROUP BY venueType
UNION ALL
SELECT 'screenId', screenId, SUM(playsHere), SUM(IF(qualified, playsHere, 0)),
  COALESCE(SUM(impressionsHere), 0), MAX(playedAt)
FROM delivered GROUP BY screenId
UNION ALL
SELECT 'creativeId', creativeId, SUM(playsHere), SUM(IF(qualified, playsHere, 0)),
  COALESCE(SUM(impressionsHere), 0), MAX(playedAt)
FROM delivered GROUP BY creativeId
UNION ALL
SELECT 'lastPlay', screenId, 0, 0, 0, MAX(playedAt)
FROM classified WHERE screenId IN UNNEST(@watched) GROUP BY screenId
"""


@dataclass(frozen=True)
class Target:
    screen_id: str
    zone: str  # the screen's zone now (UTC for an unregistered screen)


@dataclass(frozen=True)
class Figures:
    plays: int
    qualified_plays: int
    impressions: float
    last_played_at: datetime | None

    def of(self, metric: str) -> float:
        if metric == "plays":
            return self.plays
        if metric == "qualifiedPlays":
            return self.qualified_plays
        return self.impressions

    def body(self, metric: str) -> dict[str, Any]:
        return {
            "plays": self.plays,
            "qualifiedPlays": self.qualified_plays,
            "impressions": self.impressions,
            "delivered": self.of(metric),
        }


NOTHING = Figures(0, 0, 0.0, None)


def targets(tenant_id: str, fields: dict[str, Any]) -> list[Target]:
    """The screens a booking targets now, with their zones."""
    wanted = fields["targets"]
    if wanted.get("screenIds"):
        ids: list[str] = wanted["screenIds"]
        found = firestore.screen_zone_histories(tenant_id, ids)
        return [
            Target(s, str(found[s][0].fields.get("timeZone", "UTC")) if s in found else "UTC") for s in ids
        ]
    selector = {k: v for k, v in wanted["selector"].items() if v is not None}
    out: list[Target] = []
    after: str | None = None
    while len(out) < MAX_TARGETS:
        page = firestore.list_screens(tenant_id, {**selector, "active": True}, after, 500)
        out += [Target(r.screenId, str(r.fields.get("timeZone", "UTC"))) for r in page]
        if len(page) < 500:
            break
        after = page[-1].screenId
    return out[:MAX_TARGETS]


def plan_of(fields: dict[str, Any], screens: list[Target]) -> pacing.Plan:
    flight, goal = fields["flight"], fields["goal"]
    zone = flight["timeZone"]
    zones = (zone,) if zone != SCREEN_ZONE else tuple(t.zone for t in screens) or ("UTC",)
    return pacing.Plan(
        date.fromisoformat(flight["start"]),
        date.fromisoformat(flight["end"]),
        zones,
        int(goal["quantity"]),
        goal.get("dailyCap"),
    )


def _window(plan: pacing.Plan, zone: str) -> tuple[datetime, datetime]:
    margin = timedelta(days=OUTSIDE_DAYS)
    if zone == SCREEN_ZONE:
        return (
            datetime.combine(plan.start, time(), UTC) - EAST_MOST - margin,
            datetime.combine(plan.end + timedelta(days=1), time(), UTC) + WEST_MOST + margin,
        )
    first, end = pacing.flight_window(plan, zone)
    return first - margin, end + margin


def _config(
    tenant_id: str, fields: dict[str, Any], plan: pacing.Plan, watched: list[str]
) -> bigquery.QueryJobConfig:
    zone = fields["flight"]["timeZone"]
    start, end = _window(plan, zone)
    wanted = fields["targets"]
    selector = wanted.get("selector") or {}
    creatives = fields.get("creativeIds") or []
    parameters: list[Any] = [
        bigquery.ScalarQueryParameter("tenantId", "STRING", tenant_id),
        *raw_parameters(start, end),
        bigquery.ScalarQueryParameter("firstDay", "DATE", plan.start),
        bigquery.ScalarQueryParameter("lastDay", "DATE", plan.end),
        bigquery.ScalarQueryParameter("campaignId", "STRING", fields["campaignId"]),
        bigquery.ScalarQueryParameter("byCreative", "BOOL", bool(creatives)),
        bigquery.ArrayQueryParameter("creativeIds", "STRING", creatives),
        bigquery.ArrayQueryParameter("screenIds", "STRING", wanted.get("screenIds") or []),
        bigquery.ScalarQueryParameter("bySelector", "BOOL", bool(selector)),
        bigquery.ScalarQueryParameter("venueType", "INT64", selector.get("venueType")),
        bigquery.ScalarQueryParameter("market", "STRING", selector.get("market")),
        bigquery.ScalarQueryParameter("country", "STRING", selector.get("country")),
        bigquery.ArrayQueryParameter("watched", "STRING", watched),
    ]
    if zone != SCREEN_ZONE:
        parameters.append(bigquery.ScalarQueryParameter("timezone", "STRING", zone))
    return bigquery.QueryJobConfig(
        query_parameters=parameters, maximum_bytes_billed=get_settings().report_max_bytes_billed
    )


def sql(zone: str) -> str:
    return scored_plays_sql(zone) + _PERFORMANCE


def _figures(r: dict[str, Any]) -> Figures:
    last = r["lastplayedat"]
    return Figures(int(r["plays"] or 0), int(r["qualifiedplays"] or 0), rounded(r["impressions"] or 0), last)


@dataclass(frozen=True)
class Measured:
    """What the query found, by breakdown and name."""

    rows: dict[str, dict[str | None, Figures]]

    def get(self, breakdown: str, name: str | None) -> Figures:
        return self.rows.get(breakdown, {}).get(name, NOTHING)


def measure(tenant_id: str, fields: dict[str, Any], plan: pacing.Plan, watched: list[str]) -> Measured:
    zone = fields["flight"]["timeZone"]
    result = clients.bigquery().query_and_wait(
        sql(zone), job_config=_config(tenant_id, fields, plan, watched)
    )
    rows: dict[str, dict[str | None, Figures]] = defaultdict(dict)
    for row in result:
        r = columns(row)
        rows[str(r["breakdown"])][r["name"]] = _figures(r)
    return Measured(dict(rows))


def _number(value: float, metric: str) -> float | int:
    return int(round(value)) if metric != "impressions" and float(value).is_integer() else round(value, 3)


def _breakdown_rows(measured: Measured, key: str, metric: str) -> list[dict[str, Any]]:
    items = measured.rows.get(key, {})
    out = []
    for name, figures in sorted(items.items(), key=lambda kv: (kv[0] is not None, str(kv[0]))):
        value: Any = int(name) if key == "venueType" and name is not None else name
        out.append({key: value, **figures.body(metric)})
    return out


def dark_screens(
    screens: list[Target], measured: Measured, plan: pacing.Plan, now: datetime, after_hours: int
) -> list[dict[str, Any]]:
    """Targeted screens with no play of any campaign for `after_hours` hours, while the flight is on.
    A screen with no play in the window read is dark since the flight began."""
    if not pacing.in_flight(plan, now):
        return []
    began = min(pacing.flight_window(plan, z)[0] for z in plan.zones)
    out = []
    for target in screens:
        last = measured.get("lastPlay", target.screen_id).last_played_at
        since = last if last is not None else began
        hours = (now - since).total_seconds() / 3600
        if hours >= after_hours:
            out.append(
                {
                    "screenId": target.screen_id,
                    "lastPlayedAt": iso_utc(last) if last is not None else None,
                    "darkHours": round(hours, 1),
                }
            )
    return out


def report(
    tenant_id: str, booking: BookingRecord, now: datetime, dark_after_hours: int = DEFAULT_DARK_AFTER_HOURS
) -> dict[str, Any]:
    """One booking's performance at `now`."""
    fields = booking.fields
    metric = fields["goal"]["metric"]
    screens = targets(tenant_id, fields)
    plan = plan_of(fields, screens)
    measured = measure(tenant_id, fields, plan, [t.screen_id for t in screens])
    delivered_figures = measured.get("part", "delivered")
    delivered = delivered_figures.of(metric)
    expected = pacing.expected(plan, now)
    pace = pacing.pacing(delivered, expected)
    projected = pacing.projection(plan, delivered, now)
    threshold = float(fields.get("underdeliveryThreshold", 0.9))
    planned = pacing.planned_by_day(plan)
    daily = []
    cumulative = 0.0
    for i in range(plan.days):
        day = (plan.start + timedelta(days=i)).isoformat()
        figures = measured.get("date", day)
        cumulative += figures.of(metric)
        daily.append(
            {
                "date": day,
                **figures.body(metric),
                "cumulative": _number(cumulative, metric),
                "planned": round(planned[i], 3),
            }
        )
    return {
        "bookingId": booking.bookingId,
        "version": booking.version,
        "campaignId": fields["campaignId"],
        "creativeIds": fields.get("creativeIds"),
        "advertiser": fields["advertiser"],
        "flight": fields["flight"],
        "goal": fields["goal"],
        "cancelledAt": booking.cancelledAt,
        "asOf": iso_utc(now),
        "metric": metric,
        "contracted": fields["goal"]["quantity"],
        "delivered": _number(delivered, metric),
        "percentDelivered": round(100 * delivered / fields["goal"]["quantity"], 2),
        "expected": round(expected, 3),
        "pacing": pace,
        "projected": round(projected, 3) if projected is not None else None,
        "projectedPercent": (
            round(100 * projected / fields["goal"]["quantity"], 2) if projected is not None else None
        ),
        "underdeliveryThreshold": threshold,
        "underdelivering": pace is not None and pacing.in_flight(plan, now) and pace < threshold,
        "totals": delivered_figures.body(metric),
        "daily": daily,
        "breakdown": {key: _breakdown_rows(measured, key, metric) for key in BREAKDOWNS},
        "darkAfterHours": dark_after_hours,
        "darkScreens": dark_screens(screens, measured, plan, now, dark_after_hours),
        "outside": {
            "days": OUTSIDE_DAYS,
            "untargetedScreens": measured.get("part", "untargetedScreens").body(metric),
            "outsideFlight": measured.get("part", "outsideFlight").body(metric),
        },
    }
