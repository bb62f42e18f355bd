"""Benchmark of a month's play export, and the check that its rows are the cursor API's.

  python -m bench.export [--events 1000000] [--part-rows 250000] [--page-size 10000]

Starts its own local stack on free ports, then:
  1. loads `--events` plays over January 2025 into the events table (load jobs of NDJSON written as
     the BigQuery subscription writes rows, 1% of them delivered twice, some redeliveries with
     another durationMs or playedAt: they must not appear);
  2. starts an export of the month (POST /coatro/v1/pop/exports/plays through the gateway, NDJSON,
     gzip), polls it to its end and prints its time, rows, files and the exporter process's peak RSS
     (VmHWM of its processes, which holds only if memory is bounded);
  3. downloads the files by their signed URLs and reads every play of the month through the cursor
     API (GET /coatro/v1/pop/reports/plays, NDJSON pages of `--page-size`), and compares: the same
     number of lines, the same lines in the same order (SHA-256 of each stream), and that number equal
     to the distinct events loaded (computed here, independently of either path).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from google.cloud import bigquery

from bench import cpu
from local.stack import Ports, Stack
from shared.auth import api_keys
from shared.platform import clients

PLAYS = "/coatro/v1/pop/reports/plays"
EXPORTS = "/coatro/v1/pop/exports"
MONTH_START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 31
LOAD_BATCH = 100_000


def rows(tenant: str, count: int, seed: int = 5):
    """(row, is a first delivery) for `count` plays of January 2025 and 1% redeliveries."""
    rng = random.Random(seed)
    published = MONTH_START + timedelta(days=40)
    for i in range(count):
        played = MONTH_START + timedelta(seconds=rng.randrange(DAYS * 86400))
        row = {
            "tenantId": tenant,
            "eventId": f"bench-{i}",
            "source": "api",
            "screenId": f"screen-{rng.randrange(5000):05d}",
            "siteId": f"site-{rng.randrange(50):03d}",
            "campaignId": f"campaign-{rng.randrange(20)}",
            "creativeId": f"creative-{rng.randrange(100)}",
            "playedAt": played.isoformat(),
            "durationMs": 15000 + rng.randrange(30000),
            "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
            "subscription_name": "bench",
            "message_id": str(i),
            "publish_time": published.isoformat(),
        }
        yield row
        if rng.random() < 0.01:
            again = {**row, "message_id": f"{i}-again", "durationMs": 1,
                     "publish_time": (published + timedelta(hours=1)).isoformat()}  # fmt: skip
            if rng.random() < 0.5:
                # Re-sent with another playedAt, still in the month: the first delivery still wins.
                again["playedAt"] = (MONTH_START + timedelta(seconds=rng.randrange(DAYS * 86400))).isoformat()
            yield again


def load(tenant: str, count: int) -> int:
    client = clients.bigquery()
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    written, batch = 0, []

    def flush() -> None:
        nonlocal written, batch
        data = io.BytesIO("\n".join(json.dumps(r) for r in batch).encode())
        client.load_table_from_file(data, clients.events_table(), job_config=config).result(timeout=3600)
        written += len(batch)
        batch = []
        print(f"  loaded {written:,} rows", flush=True)

    for row in rows(tenant, count):
        batch.append(row)
        if len(batch) == LOAD_BATCH:
            flush()
    if batch:
        flush()
    return written


def peak_rss_mib(stack: Stack, name: str) -> float:
    """The largest VmHWM among the function's processes (functions-framework's master and worker)."""
    group = stack.procs[f"fn-{name}"].pid
    peak = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != group:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ProcessLookupError):
            continue
    return peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--part-rows", type=int, default=250_000, help="plays per export file")
    parser.add_argument(
        "--page-size", type=int, default=10_000, help="plays per cursor page (at most 10,000)"
    )
    args = parser.parse_args()

    stack = Stack(ports=Ports.free(), settings_env={"COATRO_EXPORT_PART_ROWS": str(args.part_rows)})
    print("starting a local stack on free ports...", flush=True)
    stack.start()
    try:
        clients.reset()
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        headers = {"X-API-Key": api_keys.create_key(tenant, label="benchmark")}
        session = requests.Session()
        t0 = time.perf_counter()
        written = load(tenant, args.events)
        load_seconds = time.perf_counter() - t0
        rss_before = peak_rss_mib(stack, "exporter")
        window = {"filter[from]": "2025-01-01", "filter[to]": "2025-01-31"}

        # The export, as a caller would run it.
        before = cpu.cpu_seconds(stack)
        t0 = time.perf_counter()
        response = session.post(
            stack.gateway_url + f"{EXPORTS}/plays", json={**window, "format": "ndjson", "gzip": True},
            headers=headers, timeout=60,
        )  # fmt: skip
        assert response.status_code == 202, response.text
        location = stack.gateway_url + response.headers["Location"]
        last = None
        while True:
            view = session.get(location, headers=headers, timeout=60).json()
            if (view["state"], view["rows"]) != last:
                last = (view["state"], view["rows"])
                print(f"  {time.perf_counter() - t0:7.1f} s  {view['state']:<9} {view['rows']:>9,} plays  "
                      f"{view['progress'] * 100:5.1f}%", flush=True)  # fmt: skip
            if view["state"] in ("succeeded", "failed"):
                break
            time.sleep(1)
        export_seconds = time.perf_counter() - t0
        used = cpu.spent(before, cpu.cpu_seconds(stack))
        if view["state"] != "succeeded":
            raise SystemExit(f"the export failed: {view['error']}")
        exporter_rss = peak_rss_mib(stack, "exporter")

        export_hash, export_lines, export_bytes = hashlib.sha256(), 0, 0
        t0 = time.perf_counter()
        for f in view["files"]:
            data = requests.get(f["url"], timeout=600).content
            export_bytes += len(data)
            text = gzip.decompress(data)
            export_hash.update(text)
            export_lines += text.count(b"\n")
        download_seconds = time.perf_counter() - t0

        # The cursor API over the same month, NDJSON pages.
        cursor_hash, cursor_lines, pages, cursor = hashlib.sha256(), 0, 0, None
        t0 = time.perf_counter()
        while True:
            params = {**window, "limit": args.page_size, **({"cursor": cursor} if cursor else {})}
            page = session.get(stack.gateway_url + PLAYS, params=params, timeout=600,
                               headers={**headers, "Accept": "application/x-ndjson"})  # fmt: skip
            assert page.status_code == 200, page.text
            cursor_hash.update(page.content)
            cursor_lines += page.content.count(b"\n")
            pages += 1
            cursor = page.headers.get("Coatro-Next-Cursor")
            if not cursor:
                break
        cursor_seconds = time.perf_counter() - t0

        same = export_hash.digest() == cursor_hash.digest() and export_lines == cursor_lines
        print(
            f"\n{args.events:,} plays over January 2025 ({written:,} rows with ~1% redelivered), "
            f"loaded in {load_seconds:.0f} s"
        )
        print(
            f"  export (NDJSON, gzip): {view['rows']:,} plays in {len(view['files'])} files "
            f"({export_bytes / 1e6:.1f} MB gzipped) in {export_seconds:.1f} s "
            f"({view['rows'] / export_seconds:,.0f} plays/s), peak RSS of the exporter process "
            f"{exporter_rss:.0f} MiB (at start {rss_before:.0f} MiB)"
        )
        print("  " + cpu.report(used, max(view["rows"], 1), "play", ["fn-exporter", "bigquery", "storage"]))
        print(f"  download of the files: {download_seconds:.1f} s")
        print(
            f"  cursor API: {cursor_lines:,} plays in {pages} pages of up to {args.page_size:,} in "
            f"{cursor_seconds:.1f} s ({cursor_seconds / pages:.2f} s a page)"
        )
        print(
            f"  rows equal: {'yes' if same else 'NO'} (same {export_lines:,} lines in the same order, "
            f"SHA-256 {export_hash.hexdigest()[:16]}); distinct events loaded: {args.events:,} "
            f"({'equal' if export_lines == args.events else 'DIFFERENT'})"
        )
        if not same or export_lines != args.events:
            raise SystemExit(1)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
