"""Benchmark of the bulk path on the local stack, with its ceilings and the memory of its functions.

  python -m bench.bulk [--rows 1000000] [--small-rows 100000]

Starts a local stack on free ports, generates NDJSON files, and runs each through the contract's
workflow over HTTP (upload-url, PUT, ingest, poll the job until it ends). Prints, in one run:
  - for the small file, then the large one: wall time from ingest to `completed`, rows/s, and the
    peak RSS (VmHWM) of the splitter's and the worker's processes so far — if memory is bounded,
    the large file does not raise it;
  - ceiling 1: rows/s of framing + mapping + validation alone, in one process; and the CPU time of
    the same file with a v2 mapping (a zone, a filter, a unit transform) against the 1.0 mapping,
    measured alternately in this run (target: at most 1.5x);
  - ceiling 2: the Pub/Sub emulator's raw publish rate for messages of the same size.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import requests

from bench import cpu
from local.stack import Ports, Stack
from shared.auth import api_keys
from shared.bulk import formats
from shared.bulk import rows as bulk_rows
from shared.bulk.schemas import BUILTIN, compile_mapping, load_mapping
from shared.canonical.messages import messages, publish
from shared.platform import clients, pubsub
from shared.platform.settings import get_settings
from shared.records.jobs import FINAL_STATES

BULK = "/coatro/v1/pop/dynamic/bulk"


def generate(path: Path, rows: int, tag: str) -> None:
    with path.open("w") as out:
        for i in range(rows):
            out.write(
                json.dumps(
                    {
                        "eventId": f"{tag}-{i}",
                        "screenId": f"screen-{i % 997:04d}",
                        "siteId": f"site-{i % 97:03d}",
                        "campaignId": f"campaign-{i % 31}",
                        "creativeId": f"creative-{i % 101}",
                        "playedAt": "2025-01-27T10:00:00Z",
                        "durationMs": 15000 + i % 30000,
                        "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
                        "context": {"weather": "sunny"},
                    }
                )
                + "\n"
            )


def peak_rss_mib(stack: Stack, name: str) -> float:
    """Sum of VmHWM over the function's processes (the functions-framework master and its worker)."""
    group = stack.procs[f"fn-{name}"].pid
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != group:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return total / 1024


def run_file(stack: Stack, key: str, path: Path) -> tuple[float, dict]:
    headers = {"X-API-Key": key}
    upload = requests.post(
        f"{stack.gateway_url}{BULK}/upload-url",
        json={"fileName": path.name, "format": "ndjson"},
        headers=headers,
        timeout=30,
    ).json()
    with path.open("rb") as body:
        requests.put(
            upload["uploadUrl"], data=body, headers={"Content-Type": upload["contentType"]}, timeout=600
        ).raise_for_status()
    started = time.monotonic()
    job = requests.post(
        f"{stack.gateway_url}{BULK}/ingest",
        json={"fileId": upload["fileId"], "schemaVersion": "1.0"},
        headers=headers,
        timeout=30,
    ).json()
    while True:
        status = requests.get(
            f"{stack.gateway_url}{BULK}/jobs/{job['jobId']}", headers=headers, timeout=30
        ).json()
        if status["status"] in FINAL_STATES:
            return time.monotonic() - started, status
        time.sleep(0.5)


def floor_cpu_per_row(path: Path, rows: int) -> tuple[float, float]:
    """In-process CPU µs per row of the worker's work short of sending: (frame + validate, and that
    + writing each message + building and serializing the publish requests), as the worker does it."""
    with path.open("rb") as stream:
        plan = formats.plan_file(stream, "ndjson", rows, 1024 * 1024)
    compiled = compile_mapping(BUILTIN["1.0"], "ndjson")
    topic = clients.topic_path("pop-events")
    list(pubsub.publish_requests(topic, [(b"{}", {})]))  # warm up (imports)
    results = []
    for with_messages in (False, True):
        started, n = time.process_time(), 0
        with path.open("rb") as stream:
            for chunk in plan.chunks:
                stream.seek(chunk.start)
                events, numbers = [], []
                for row, payload, _ in formats.iter_rows(
                    stream, "ndjson", chunk, 1024 * 1024, None, parse=False
                ):
                    events.append(compiled.validate_json(payload))
                    numbers.append(row)
                n += len(events)
                if with_messages:
                    items = messages("bench", events, "bulk", "now", "job-bench", numbers)
                    for request in pubsub.publish_requests(topic, items):
                        request.SerializeToString()
        results.append((time.process_time() - started) / n * 1e6)
    return results[0], results[1]


# A v2 mapping of the benchmark's canonical NDJSON: a zone (zone-less timestamps would be read in it),
# a filter and a unit transform; every row still becomes one event.
V2_MAPPING = load_mapping(
    {
        "version": "bench-v2",
        "unmapped": "reject",
        "timezone": "Europe/London",
        "where": [{"field": "screenId", "present": True}],
        "fields": {"durationMs": {"to": "durationMs", "unit": "ms"}},
    }
)


def mapping_cpu_per_row(path: Path, rows: int, rounds: int = 5) -> tuple[float, float]:
    """In-process CPU µs per row of frame + map + validate through the worker's loop
    (`shared.bulk.rows.mapped_rows`) with the 1.0 mapping and with V2_MAPPING: the best of `rounds`,
    the two measured alternately so both see the same machine."""
    with path.open("rb") as stream:
        plan = formats.plan_file(stream, "ndjson", rows, 1024 * 1024)

    def once(mapping) -> float:
        compiled = compile_mapping(mapping, "ndjson")
        started, n = time.process_time(), 0
        with path.open("rb") as stream:
            for chunk in plan.chunks:
                stream.seek(chunk.start)
                for _row, event, error in bulk_rows.mapped_rows(
                    stream, "ndjson", chunk, 1024 * 1024, None, compiled
                ):
                    assert event is not None, error
                    n += 1
        return (time.process_time() - started) / n * 1e6

    once(V2_MAPPING)  # warm up
    best = {"1.0": float("inf"), "v2": float("inf")}
    for _ in range(rounds):
        best["1.0"] = min(best["1.0"], once(BUILTIN["1.0"]))
        best["v2"] = min(best["v2"], once(V2_MAPPING))
    return best["1.0"], best["v2"]


def splitter_rates(rows: int, rounds: int = 5) -> list[tuple[str, float, float, float]]:
    """For each format: (format, MB, MB/s of reading the object, MB/s of planning it), in this
    process, through the storage client the splitter uses, from the same object: the best of `rounds`
    reads and plans, measured alternately so both see the same machine (issue 21: plan >= 0.5x read)."""
    from tests import bulk_files

    bucket = clients.storage().bucket(get_settings().uploads_bucket)
    out = []
    for fmt, make in (
        ("ndjson", bulk_files.ndjson),
        ("json", bulk_files.json_array),
        ("csv", bulk_files.csv_file),
    ):
        blob = bucket.blob(f"bench/{uuid.uuid4().hex}.{fmt}")
        data = make(rows, "rate")
        blob.upload_from_string(data)
        blob.reload()
        read_s = plan_s = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            with blob.open("rb", chunk_size=8 * 1024 * 1024) as stream:
                while stream.read(1 << 20):
                    pass
            read_s = min(read_s, time.perf_counter() - started)
            started = time.perf_counter()
            with blob.open("rb", chunk_size=8 * 1024 * 1024) as stream:
                formats.plan_file(stream, fmt, 5000, 1024 * 1024)
            plan_s = min(plan_s, time.perf_counter() - started)
        mb = len(data) / 1e6
        out.append((fmt, mb, mb / read_s, mb / plan_s))
        blob.delete()
    return out


def ceiling_publish(path: Path, count: int) -> float:
    compiled = compile_mapping(BUILTIN["1.0"], "ndjson")
    with path.open("rb") as f:
        events = [compiled.validate_json(next(f).strip()) for _ in range(count)]
    started = time.perf_counter()
    for i in range(0, len(events), 1000):
        publish(
            list(
                messages("bench", events[i : i + 1000], "bulk", "now", "job-bench", list(range(i, i + 1000)))
            )
        )
    return len(events) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=100_000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="coatro-bench-"))
    stack = Stack(
        ports=Ports.free(), workdir=workdir / "stack", reports=False
    )  # ingestion only (see Stack.reports)
    print(f"generating {args.small_rows:,} and {args.rows:,} row NDJSON files...", flush=True)
    files = []
    for rows in (args.small_rows, args.rows):
        path = workdir / f"pop-{rows}.ndjson"
        generate(path, rows, uuid.uuid4().hex[:8])
        files.append((rows, path))
    print("starting a local stack on free ports...", flush=True)
    stack.start()
    try:
        clients.reset()
        key = api_keys.create_key(f"bench-{uuid.uuid4().hex[:6]}", label="benchmark")
        results = []
        cpu_lines = []
        for rows, path in files:
            before = cpu.cpu_seconds(stack)
            elapsed, status = run_file(stack, key, path)
            used = cpu.spent(before, cpu.cpu_seconds(stack))
            results.append(
                (
                    rows,
                    path.stat().st_size,
                    elapsed,
                    status,
                    peak_rss_mib(stack, "splitter"),
                    peak_rss_mib(stack, "worker"),
                )
            )
            print(f"  {rows:,} rows: {status['status']} in {elapsed:.1f}s", flush=True)
            worker_cpu = used["fn-worker"] / rows * 1e6
            cpu_lines.append(
                f"  {rows:,} rows, "
                + cpu.report(
                    used,
                    rows,
                    "row",
                    ["fn-splitter", "fn-worker", "pubsub", "firestore", "storage", "fn-sweeper"],
                )
            )
        validate_floor, floor = floor_cpu_per_row(files[0][1], 5000)
        v1_cpu, v2_cpu = mapping_cpu_per_row(files[0][1], 5000)
        split_rates = splitter_rates(min(200_000, files[0][0]))
        publish_rate = ceiling_publish(files[0][1], min(100_000, files[0][0]))

        print(
            f"\nbulk NDJSON through the local stack (chunks of {os.environ.get('COATRO_CHUNK_ROWS', '5000')} rows)"
        )
        print(
            f"  {'rows':>10} {'MB':>7} {'status':>10} {'to completed':>13} {'rows/s':>9} {'splitter RSS':>13} {'worker RSS':>11}"
        )
        for rows, size, elapsed, status, split_rss, work_rss in results:
            assert status["processedRows"] == rows, status
            print(
                f"  {rows:>10,} {size / 1e6:>7.0f} {status['status']:>10} {elapsed:>12.1f}s {rows / elapsed:>9,.0f}"
                f" {split_rss:>10.0f} MiB {work_rss:>7.0f} MiB"
            )
        print("\n".join(cpu_lines))
        print(
            f"  floor, in-process CPU per row: frame + validate {validate_floor:.1f} µs; "
            f"+ messages + publish requests {floor:.1f} µs"
        )
        print(
            f"  ceiling, frame + map + validate CPU per row: 1.0 {v1_cpu:.1f} µs; v2 (zone, filter, unit) "
            f"{v2_cpu:.1f} µs; ratio {v2_cpu / v1_cpu:.2f}x  (target: <= 1.5x)"
        )
        print(
            f"  worker CPU / floor (large file)                {worker_cpu / floor:>9.1f}x  (target: <= 40 µs per row)"
        )
        for fmt, mb, read_rate, plan_rate in split_rates:
            print(
                f"  splitter {fmt:>6} ({mb:.0f} MB): plans {plan_rate:,.0f} MB/s; reading the same object {read_rate:,.0f} MB/s;"
                f" plan/read {plan_rate / read_rate:.2f}x  (target: >= 0.5x)"
            )
        print(f"  ceiling: raw publish to the Pub/Sub emulator    {publish_rate:>9,.0f} messages/s")
        big = results[-1]
        print(f"  large file rows/s / raw publish rate             {big[0] / big[2] / publish_rate:>9.0%}")
        print(
            f"  peak RSS growth small -> large file: splitter {big[4] - results[0][4]:+.0f} MiB, "
            f"worker {big[5] - results[0][5]:+.0f} MiB (for {big[0] / results[0][0]:.0f}x the rows)"
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
