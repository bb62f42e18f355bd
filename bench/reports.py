"""Benchmark of GET /coatro/v1/pop/reports/delivery over 1,000,000 events in the local stack.

  python -m bench.reports [--events 1000000] [--days 30] [--queries 40] [--screens 10000]

Starts its own local stack on free ports, then:
  1. loads the events into the real events table (the BigQuery emulator's, made from the one schema
     file) with load jobs of NDJSON written as the BigQuery subscription writes rows — metadata
     columns included, and 1% of the events delivered twice, so every report deduplicates;
  2. asks for reports through the gateway and the reports function, as a caller would (windows of 1,
     7, 30 and 92 days; groupBy date,campaignId / screenId / date,siteId,creativeId; first and later
     pages), and prints p50/p99 latency and the CPU per report of the function and of the emulator;
  2b. the screens join: the same report queries run straight on the emulator with the screens table
     joined (10,000 registered screens, a tenth with a second version, every one with a 7 x 24
     schedule) and without it (shared.reports.delivery.sql(screens=False)), alternately, and prints
     the median of each and their ratio (the target: at most 1.5x);
  3. sends single events over the API and polls a report until each is counted: the time from
     publish to visible in a report (events endpoint -> pop-events -> BigQuery subscription stand-in
     -> table -> report), p50 and max;
  4. rollups at scale (`--rollup-sizes`, 1,000,000 and 10,000,000 events by default; `--only-rollups`
     runs this part alone): for each size, a tenant of its own whose events are generated inside the
     emulator by one INSERT ... SELECT FROM UNNEST(GENERATE_ARRAY(...)) per million (a load job of
     10,000,000 NDJSON rows would take most of an hour; the rows are those the subscription writes,
     1% delivered twice), 50 registered screens playing 7 campaigns over 30 days; one roll of every
     hour (shared.reports.rollups.roll); then the same reports from the rollups and from raw events
     (delivery_report with and without the watermark), alternately, median latency of each, the rows
     each reads, and the rollups' row count against the raw table's.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from google.cloud import bigquery
from werkzeug.datastructures import MultiDict

from bench import cpu
from local.stack import Ports, Stack
from shared.auth import api_keys
from shared.platform import clients
from shared.platform.settings import get_settings
from shared.records.screens import ScreenRecord
from shared.reports import delivery, rollups
from shared.reports.params import DeliveryQuery, parse
from shared.screens.dimension import bigquery_row

REPORT = "/coatro/v1/pop/reports/delivery"
FIRST_DAY = datetime(2025, 1, 1, tzinfo=UTC)
LOAD_BATCH = 100_000


def rows(tenant: str, count: int, days: int, duplicates: float, screens: int, seed: int = 7):
    """The rows the subscription would have written for `count` events (plus redeliveries)."""
    rng = random.Random(seed)
    published = "2025-01-01T00:00:00.000000Z"
    for i in range(count):
        played = FIRST_DAY + timedelta(seconds=rng.randrange(days * 86400))
        row = {
            "tenantId": tenant,
            "eventId": f"bench-{i}",
            "source": "api",
            "screenId": f"screen-{rng.randrange(screens):05d}",
            "siteId": f"site-{rng.randrange(50):03d}",
            "campaignId": f"campaign-{rng.randrange(20)}",
            "creativeId": f"creative-{rng.randrange(100)}",
            "playedAt": played.isoformat().replace("+00:00", "Z"),
            "durationMs": 15000 + rng.randrange(30000),
            "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
            "ingestedAt": published,
            "subscription_name": "bench",
            "message_id": str(i),
            "publish_time": published,
            "attributes": {"tenantId": tenant, "eventId": f"bench-{i}", "source": "api"},
        }
        yield row
        if rng.random() < duplicates:
            yield {**row, "message_id": f"{i}-again"}


def load(tenant: str, count: int, days: int, screens: int) -> int:
    """Load jobs of NDJSON into the events table; the number of rows written."""
    client = clients.bigquery()
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    written, batch = 0, []

    def flush():
        nonlocal written, batch
        data = io.BytesIO("\n".join(json.dumps(r) for r in batch).encode())
        client.load_table_from_file(data, clients.events_table(), job_config=config).result(timeout=3600)
        written += len(batch)
        batch = []
        print(f"  loaded {written:,} rows", flush=True)

    for row in rows(tenant, count, days, duplicates=0.01, screens=screens):
        batch.append(row)
        if len(batch) == LOAD_BATCH:
            flush()
    if batch:
        flush()
    return written


def load_screens(tenant: str, count: int, seed: int = 11) -> int:
    """`count` registered screens in the screens table, as the registry's mirror writes them: zones
    around the world, venue types, markets, a schedule each; every tenth has a second version."""
    rng = random.Random(seed)
    zones = ["Europe/London", "America/Toronto", "Australia/Sydney", "Asia/Tokyo", "America/Los_Angeles"]
    lines = []
    for i in range(count):
        for version in (1, 2) if i % 10 == 0 else (1,):
            fields = {
                "timeZone": rng.choice(zones),
                "venueType": rng.choice([10101, 10102, 20101, 30101]),
                "market": f"market-{rng.randrange(50)}",
                "country": rng.choice(["GB", "CA", "AU", "JP", "US"]),
                "screens": 1 + rng.randrange(3),
                "audience": {
                    "impressionSchedule": [[rng.randrange(400) / 4 for _ in range(24)] for _ in range(7)]
                },
                "qualification": {"minDurationMs": 1000 * version},
            }
            record = ScreenRecord(
                tenantId=tenant,
                screenId=f"screen-{i:05d}",
                version=version,
                validFrom=(FIRST_DAY + timedelta(days=10 * (version - 1))).isoformat(),
                updatedAt=FIRST_DAY.isoformat(),
                fields=fields,
            )
            lines.append(json.dumps(bigquery_row(record, written_at=FIRST_DAY.isoformat())))
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    data = io.BytesIO("\n".join(lines).encode())
    clients.bigquery().load_table_from_file(data, clients.screens_table(), job_config=config).result(
        timeout=3600
    )
    return len(lines)


def join_cost(tenant: str, shapes: list[dict], rounds: int) -> list[tuple[dict, float, float]]:
    """(shape, median seconds with the screens join, median without) for each shape, the two run
    alternately on the emulator so the machine's noise falls on both."""
    client = clients.bigquery()
    out = []
    for shape in shapes:
        query = parse(MultiDict({k: str(v) for k, v in shape.items()}))
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for screens in (True, False):
                t0 = time.perf_counter()
                list(
                    client.query_and_wait(
                        delivery.sql(query, screens=screens), job_config=delivery.config(tenant, query, True)
                    )
                )
                times[screens].append(time.perf_counter() - t0)
        out.append((shape, statistics.median(times[True]), statistics.median(times[False])))
    return out


def report_queries(days: int) -> list[dict]:
    def window(n: int, start: int = 0) -> dict:
        first = (FIRST_DAY + timedelta(days=start)).date()
        return {"filter[from]": first.isoformat(), "filter[to]": (first + timedelta(days=n - 1)).isoformat()}

    return [
        {"filter[date]": (FIRST_DAY + timedelta(days=3)).date().isoformat()},
        {**window(7), "groupBy": "date,campaignId"},
        {**window(min(days, 30)), "groupBy": "date,campaignId"},
        {**window(min(days, 30)), "groupBy": "screenId", "per_page": 200, "page": 2},
        {**window(min(days, 30)), "groupBy": "date,siteId,creativeId", "per_page": 200, "page": 7},
        {
            **window(min(days, 30)),
            "groupBy": "campaignId",
            "filter[campaignId]": "campaign-3",
            "timezone": "America/New_York",
        },
        {**window(92), "groupBy": "campaignId"},
        {**window(min(days, 30)), "groupBy": "date,venueType", "timezone": "screen"},
    ]


SCALE_SCREENS = 50
SCALE_CAMPAIGNS = 7
SCALE_DAYS = 30
SCALE_CHUNK = 1_000_000
SCALE_CUTOFF = FIRST_DAY + timedelta(days=60)  # every generated row is published before it

# The rows the BigQuery subscription would write, generated in the emulator: event i plays on screen
# i x 7919 mod 50 (its site: one per screen), campaign (and creative) i mod 7, at second
# i x 104729 mod 30 days (104729 is prime: every second at most once per 2,592,000 events).
_GENERATE = """
INSERT INTO `{events}` (tenantId, eventId, source, screenId, siteId, campaignId, creativeId, playedAt,
  durationMs, impressions, ingestedAt, subscription_name, message_id, publish_time)
SELECT @tenant, CONCAT('e-', CAST(i AS STRING)), 'api',
  CONCAT('screen-', LPAD(CAST(MOD(i * 7919, {screens}) AS STRING), 5, '0')),
  CONCAT('site-', CAST(MOD(i * 7919, {screens}) AS STRING)),
  CONCAT('campaign-', CAST(MOD(i, {campaigns}) AS STRING)),
  CONCAT('creative-', CAST(MOD(i, {campaigns}) AS STRING)),
  TIMESTAMP_ADD(@start, INTERVAL MOD(i * 104729, {seconds}) SECOND),
  15000 + MOD(i * 31, 30000),
  STRUCT(STRUCT(150.0 AS total, 80.0 AS male, 70.0 AS female) AS ageBuckets),
  @published, 'bench', CONCAT(CAST(i AS STRING), @suffix), @published
FROM UNNEST(GENERATE_ARRAY(@first, @last)) AS i
WHERE MOD(i, @every) = 0
"""


def generate(tenant: str, count: int, screens: int, campaigns: int) -> int:
    """`count` events (and 1% again, as redeliveries) for `tenant`, generated in the emulator."""
    client = clients.bigquery()
    sql = _GENERATE.format(
        events=clients.events_table(),
        screens=screens,
        campaigns=campaigns,
        seconds=SCALE_DAYS * 86400,
    )
    written = 0
    for first in range(1, count + 1, SCALE_CHUNK):
        last = min(first + SCALE_CHUNK - 1, count)
        for every, suffix, published in (
            (1, "", FIRST_DAY + timedelta(days=31)),
            (100, "-again", FIRST_DAY + timedelta(days=32)),
        ):
            parameters = [
                bigquery.ScalarQueryParameter("tenant", "STRING", tenant),
                bigquery.ScalarQueryParameter("start", "TIMESTAMP", FIRST_DAY),
                bigquery.ScalarQueryParameter("published", "TIMESTAMP", published),
                bigquery.ScalarQueryParameter("suffix", "STRING", suffix),
                bigquery.ScalarQueryParameter("first", "INT64", first),
                bigquery.ScalarQueryParameter("last", "INT64", last),
                bigquery.ScalarQueryParameter("every", "INT64", every),
            ]
            client.query_and_wait(sql, job_config=bigquery.QueryJobConfig(query_parameters=parameters))
            written += (last - first + 1) // every
        print(f"  generated {last:,} events", flush=True)
    return written


def count_rows(sql: str, **values: Any) -> int:
    parameters = [
        bigquery.ScalarQueryParameter(name, "TIMESTAMP" if isinstance(v, datetime) else "STRING", v)
        for name, v in values.items()
    ]
    [row] = clients.bigquery().query_and_wait(
        sql, job_config=bigquery.QueryJobConfig(query_parameters=parameters)
    )
    return int(list(row.values())[0])


def rows_read(tenant: str, query, chosen: delivery.Plan) -> int:
    """Rows of the two tables the report's query reads: the rollups of its closed hours, and the
    events of its raw hours with the dedup horizon either side (where copies are looked for)."""
    start, end = query.window()
    total = 0
    if chosen.rolled_end is not None:
        total += count_rows(
            f"SELECT COUNT(*) FROM `{clients.rollups_table()}` WHERE tenantId = @t AND hour >= @s AND hour < @e",
            t=tenant,
            s=start,
            e=chosen.rolled_end,
        )
    if chosen.raw_start is not None:
        horizon = timedelta(days=get_settings().dedup_horizon_days)
        total += count_rows(
            f"SELECT COUNT(*) FROM `{clients.events_table()}` WHERE tenantId = @t AND playedAt > @s AND playedAt < @e",
            t=tenant,
            s=chosen.raw_start - horizon,
            e=end + horizon,
        )
    return total


def scale_queries() -> list[DeliveryQuery]:
    first = FIRST_DAY.date()
    last = first + timedelta(days=SCALE_DAYS - 1)
    return [
        DeliveryQuery(first, last, "UTC", ("date", "campaignId"), per_page=200),
        DeliveryQuery(first, last, "screen", ("screenId", "venueType"), per_page=200),
        DeliveryQuery(
            first + timedelta(days=3),
            first + timedelta(days=9),
            "Europe/London",
            ("date", "hour"),
            per_page=200,
        ),
    ]


def print_size(size: int, result: tuple) -> None:
    written, _, hours, rolled, rollup_rows, raw_rows, shapes = result
    print(
        f"  {size:,} events ({written:,} rows): rollups table {rollup_rows:,} rows, raw {raw_rows:,} "
        f"({rollup_rows / raw_rows:.4f} of raw); one full roll of {hours:,} hours: {rolled:.0f} s"
    )
    for query, took, read in shapes:
        label = f"{query.first_day}..{query.last_day} {query.timezone} by {','.join(query.group_by)}"
        print(
            f"    {took['rollups'] * 1000:>8.0f} ms rollups ({read['rollups']:>10,} rows read)"
            f"  {took['raw'] * 1000:>8.0f} ms raw ({read['raw']:>11,} rows read)"
            f"  {took['raw'] / took['rollups']:5.1f}x faster   {label}"
        )
    sys.stdout.flush()


def rollups_at_scale(
    sizes: list[int],
    rounds: int,
    raw_rounds: int,
    screens: int = SCALE_SCREENS,
    campaigns: int = SCALE_CAMPAIGNS,
) -> None:
    results = {}
    for size in sizes:
        tenant = f"scale-{size}-{uuid.uuid4().hex[:6]}"
        print(f"rollups at {size:,} events: generating...", flush=True)
        t0 = time.perf_counter()
        written = generate(tenant, size, screens, campaigns)
        generated = time.perf_counter() - t0
        load_screens(tenant, screens)
        t0 = time.perf_counter()
        hours = rollups.roll(None, SCALE_CUTOFF, tenant)
        rolled = time.perf_counter() - t0
        rollup_rows = count_rows(
            f"SELECT COUNT(*) FROM `{clients.rollups_table()}` WHERE tenantId = @t", t=tenant
        )
        raw_rows = count_rows(
            f"SELECT COUNT(*) FROM `{clients.events_table()}` WHERE tenantId = @t", t=tenant
        )
        print(
            f"  {written:,} rows generated in {generated:.0f} s; {hours:,} hours rolled in {rolled:.0f} s; "
            f"rollups {rollup_rows:,} rows against {raw_rows:,} raw rows ({raw_rows / max(rollup_rows, 1):.1f}x fewer)",
            flush=True,
        )
        shapes = []
        for query in scale_queries():
            timing: dict[str, list[float]] = {"rollups": [], "raw": []}
            answers = {}
            for n in range(max(rounds, raw_rounds)):
                for path, through in (("rollups", SCALE_CUTOFF), ("raw", None)):
                    if n >= (rounds if path == "rollups" else raw_rounds):
                        continue
                    t0 = time.perf_counter()
                    answers[path] = delivery.delivery_report(tenant, query, rolled_through=through)
                    timing[path].append(time.perf_counter() - t0)
            assert answers["rollups"] == answers["raw"], f"the two paths differ on {query}"
            read = {
                "rollups": rows_read(tenant, query, delivery.plan(query, SCALE_CUTOFF)),
                "raw": rows_read(tenant, query, delivery.plan(query, None)),
            }
            shapes.append((query, {p: statistics.median(t) for p, t in timing.items()}, read))
        results[size] = (written, generated, hours, rolled, rollup_rows, raw_rows, shapes)
        print_size(size, results[size])
    print(
        f"\nrollups against raw events: {screens} screens, {campaigns} campaigns, {SCALE_DAYS} days; "
        f"reports straight on the emulator (delivery_report), median of {rounds} (rollups) / {raw_rounds} (raw) runs; "
        "both paths' answers equal"
    )
    for size in results:
        print_size(size, results[size])
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(f"  latency {large:,} / {small:,} events, per shape:")
        for (q, small_took, _), (_, large_took, _) in zip(results[small][6], results[large][6], strict=True):
            print(
                f"    rollups {large_took['rollups'] / small_took['rollups']:4.2f}x (target: at most 1.5x)"
                f"   raw {large_took['raw'] / small_took['raw']:5.2f}x   by {','.join(q.group_by)}"
            )
        total = {s: sum(t["rollups"] for _, t, _ in results[s][6]) for s in (small, large)}
        print(f"    all shapes, rollups: {total[large] / total[small]:.2f}x (target: at most 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30, help="the events are spread over this many days")
    parser.add_argument("--queries", type=int, default=42, help="reports timed (cycling through 7 shapes)")
    parser.add_argument("--visibility-samples", type=int, default=10)
    parser.add_argument("--screens", type=int, default=10_000, help="registered screens the events play on")
    parser.add_argument(
        "--join-rounds", type=int, default=3, help="runs of each query with and without the join"
    )
    parser.add_argument(
        "--rollup-sizes",
        default="1000000,10000000",
        help="events of each rollups-at-scale tenant, comma-separated (empty: skip that part)",
    )
    parser.add_argument("--rollup-rounds", type=int, default=3, help="runs of each report on rollups")
    parser.add_argument("--raw-rounds", type=int, default=2, help="runs of each report on raw events")
    parser.add_argument(
        "--rollup-screens", type=int, default=SCALE_SCREENS, help="screens of the rollups-at-scale tenants"
    )
    parser.add_argument("--rollup-campaigns", type=int, default=SCALE_CAMPAIGNS, help="campaigns they play")
    parser.add_argument("--only-rollups", action="store_true", help="run only the rollups-at-scale part")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rollup_sizes.split(",") if n.strip()]

    # No scheduled ticks: a sweep or a roll at a random moment would run beside what is measured (and
    # a roll would move the reports measured through the gateway onto rollups mid-run); the rollups
    # part rolls once itself.
    stack = Stack(ports=Ports.free(), settings_env={"COATRO_SWEEP_INTERVAL_SECONDS": "86400"})
    print("starting a local stack on free ports...", flush=True)
    stack.start()
    try:
        clients.reset()
        if args.only_rollups:
            rollups_at_scale(
                sizes, args.rollup_rounds, args.raw_rounds, args.rollup_screens, args.rollup_campaigns
            )
            return
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        key = api_keys.create_key(tenant, label="benchmark")
        headers = {"X-API-Key": key}
        session = requests.Session()
        started = time.perf_counter()
        written = load(tenant, args.events, args.days, args.screens)
        load_seconds = time.perf_counter() - started
        versions = load_screens(tenant, args.screens)

        shapes = report_queries(args.days)
        expected = session.get(
            stack.gateway_url + REPORT, params=shapes[2], headers=headers, timeout=600
        ).json()
        plays = sum(r["plays"] for r in expected["result"])
        latencies: dict[int, list[float]] = {i: [] for i in range(len(shapes))}
        before = cpu.cpu_seconds(stack)
        for n in range(args.queries):
            params = shapes[n % len(shapes)]
            t0 = time.perf_counter()
            response = session.get(stack.gateway_url + REPORT, params=params, headers=headers, timeout=600)
            latencies[n % len(shapes)].append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
        used = cpu.spent(before, cpu.cpu_seconds(stack))
        everything = sorted(t for ts in latencies.values() for t in ts)
        q = statistics.quantiles(everything, n=100)

        join_shapes = [s for s in shapes if s.get("timezone") != "screen"]  # no screen time without screens
        joins = join_cost(tenant, join_shapes, args.join_rounds)

        # Publish -> visible: one event at a time over the API; poll the table for its row, then a
        # report on its own day until it counts it.
        in_table, in_report = [], []
        client = clients.bigquery()
        for n in range(args.visibility_samples):
            day = (FIRST_DAY + timedelta(days=400 + n)).date().isoformat()
            event_id = f"visible-{n}"
            event = {
                "eventId": event_id,
                "playedAt": f"{day}T12:00:00Z",
                "campaignId": "probe",
                "durationMs": 1,
            }
            lookup = bigquery.QueryJobConfig(
                query_parameters=[
                    bigquery.ScalarQueryParameter("tenant", "STRING", tenant),
                    bigquery.ScalarQueryParameter("event", "STRING", event_id),
                ]
            )
            t0 = time.perf_counter()
            response = session.post(
                stack.gateway_url + "/coatro/v1/pop/events",
                json={"events": [event]},
                headers=headers,
                timeout=30,
            )
            assert response.status_code == 202, response.text
            while not list(
                client.query_and_wait(
                    f"SELECT 1 FROM `{clients.events_table()}` WHERE tenantId = @tenant AND eventId = @event",
                    job_config=lookup,
                )
            ):
                if time.perf_counter() - t0 > 120:
                    raise SystemExit(f"event {event_id} not in the table after 120 s")
                time.sleep(0.05)
            in_table.append(time.perf_counter() - t0)
            while not session.get(
                stack.gateway_url + REPORT, params={"filter[date]": day}, headers=headers, timeout=60
            ).json()["result"]:
                time.sleep(0.05)
            in_report.append(time.perf_counter() - t0)

        print(
            f"\n{args.events:,} events over {args.days} days ({written:,} rows with 1% redelivered), "
            f"loaded in {load_seconds:.0f} s ({written / load_seconds:,.0f} rows/s)"
        )
        print(f"  check: the 30-day report's first page counts {plays:,} plays")
        print(
            f"  report latency through the gateway ({args.queries} reports): "
            f"p50 {q[49] * 1000:.0f} ms   p99 {q[98] * 1000:.0f} ms"
        )
        for i, shape in enumerate(shapes):
            ts = latencies[i]
            if ts:
                print(f"    {statistics.median(ts) * 1000:>7.0f} ms median  {json.dumps(shape)}")
        print(
            "  "
            + cpu.report(used, args.queries, "report", ["fn-reports", "bigquery", "gateway", "firestore"])
        )
        print(
            f"  the screens join ({args.screens:,} screens, {versions:,} versions), straight on the emulator, "
            f"median of {args.join_rounds} alternate runs:"
        )
        for shape, joined, alone in joins:
            print(
                f"    {joined * 1000:>7.0f} ms joined  {alone * 1000:>7.0f} ms without  {joined / alone:4.2f}x  {json.dumps(shape)}"
            )
        total_joined, total_alone = sum(j for _, j, _ in joins), sum(a for _, _, a in joins)
        print(f"    all shapes: {total_joined / total_alone:.2f}x (target: at most 1.5x)")
        print(
            f"  publish -> row in the table ({len(in_table)} events, polled every 50 ms): "
            f"p50 {statistics.median(in_table) * 1000:.0f} ms   max {max(in_table) * 1000:.0f} ms"
        )
        print(
            f"  publish -> counted in a report: p50 {statistics.median(in_report) * 1000:.0f} ms   "
            f"max {max(in_report) * 1000:.0f} ms"
        )
        if sizes:
            rollups_at_scale(
                sizes, args.rollup_rounds, args.raw_rounds, args.rollup_screens, args.rollup_campaigns
            )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
