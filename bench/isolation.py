"""Benchmark of issue 16: what one tenant's mapping can cost, and whether another tenant notices.

  python -m bench.isolation [--requests 40] [--hostile-threads 2]

In one run:
  1. offline, in this process: CPU per record of a mapping whose `extract` is ^(a+)+$ against a
     10,000-character value that does not match (RE2: linear), next to a plain mapping; Python's `re`
     on the same pattern against 24 characters, for scale (it doubles with each character);
  2. offline: CPU per record of `where ... in` a list of 30,000 values against a plain mapping;
  3. the local stack: another tenant's `GET .../schemas` latency alone, then while `hostile-threads`
     loops preview that pattern against 90 records of 10,000 characters each (a sample under the 1 MiB limit) through the gateway;
     p50 / p99 of both and their ratio, and the schemas function's CPU per hostile record (psutil).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time

import requests

from bench import cpu
from local.stack import Ports, Stack
from shared.auth import api_keys
from shared.bulk.schemas import compile_mapping, load_mapping

SCHEMAS = "/coatro/v1/pop/dynamic/schemas"
VALID = {"screenId": "scr-1", "playedAt": "2025-01-27T10:00:00Z", "durationMs": 15000}
EVIL = {"version": "evil-1", "fields": {"u": {"to": "context.code", "extract": "^(a+)+$"}}}
HOSTILE_VALUE = "a" * 10_000 + "!"
HOSTILE_RECORDS = 90  # a sample under the preview's 1 MiB limit


def cpu_per_record(mapping_body: dict, record: dict, n: int) -> float:
    """CPU µs per record of `one` (best of 5 runs of n)."""
    compiled = compile_mapping(load_mapping(mapping_body), "ndjson")
    best = float("inf")
    for _ in range(5):
        records = [dict(record) for _ in range(n)]
        started = time.process_time()
        for r in records:
            compiled.one(r)
        best = min(best, time.process_time() - started)
    return best / n * 1e6


def python_re_seconds(chars: int) -> float:
    started = time.process_time()
    re.compile("^(a+)+$").search("a" * chars + "!")
    return time.process_time() - started


def latencies(session: requests.Session, url: str, key: str, count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, headers={"X-API-Key": key}, timeout=120)
        out.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return out


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--hostile-threads", type=int, default=2)
    args = parser.parse_args(argv)

    plain = cpu_per_record({"version": "plain-1"}, {**VALID, "u": HOSTILE_VALUE}, 2_000)
    evil = cpu_per_record(EVIL, {**VALID, "u": HOSTILE_VALUE}, 2_000)
    print(
        f"1. extract ^(a+)+$ against 10,000 characters (RE2): {evil:,.0f} µs CPU per record "
        f"(a plain mapping of the same record: {plain:,.0f} µs; target < 1,000 µs)"
    )
    print(
        "   Python's re, the same pattern against 20 / 22 / 24 characters: "
        + " / ".join(f"{python_re_seconds(n) * 1e3:,.0f} ms" for n in (20, 22, 24))
        + " (x2 per character)"
    )
    values = [f"scr-{i}" for i in range(30_000)]
    listed = cpu_per_record({"version": "in-1", "where": [{"field": "screenId", "in": values}]}, VALID, 2_000)
    base = cpu_per_record({"version": "plain-2"}, VALID, 2_000)
    print(
        f"2. where screenId in 30,000 values: {listed:,.1f} µs CPU per record, a plain mapping {base:,.1f} µs "
        f"({listed / base:.2f}x)"
    )

    stack = Stack(ports=Ports.free(), reports=False).start()
    try:
        url = stack.gateway_url + SCHEMAS
        victim_key = api_keys.create_key("bench-victim", label="bench")
        hostile_key = api_keys.create_key("bench-hostile", label="bench")
        session = requests.Session()
        latencies(session, url, victim_key, 5)  # warm up
        alone = latencies(session, url, victim_key, args.requests)

        sample = "".join(json.dumps({**VALID, "u": HOSTILE_VALUE}) + "\n" for _ in range(HOSTILE_RECORDS))
        body = {"mapping": EVIL, "format": "ndjson", "sample": sample}
        stop, previews = threading.Event(), [0]

        def hostile() -> None:
            with requests.Session() as own:
                while not stop.is_set():
                    response = own.post(
                        url + "/preview", json=body, headers={"X-API-Key": hostile_key}, timeout=600
                    )
                    assert response.status_code == 200 and response.json()["errorRows"] == HOSTILE_RECORDS, (
                        response.text[:300]
                    )
                    previews[0] += 1

        threads = [threading.Thread(target=hostile, daemon=True) for _ in range(args.hostile_threads)]
        before = cpu.cpu_seconds(stack)
        for t in threads:
            t.start()
        time.sleep(1.0)
        during = latencies(session, url, victim_key, args.requests)
        stop.set()
        for t in threads:
            t.join()
        spent = cpu.spent(before, cpu.cpu_seconds(stack))
        (a50, a99), (d50, d99) = summary(alone), summary(during)
        print(
            f"3. another tenant's GET {SCHEMAS} through the gateway: alone p50 {a50 * 1e3:,.1f} ms / p99 "
            f"{a99 * 1e3:,.1f} ms; while {args.hostile_threads} loops preview ^(a+)+$ against {HOSTILE_RECORDS} records of "
            f"10,000 characters ({previews[0]} previews): p50 {d50 * 1e3:,.1f} ms / p99 {d99 * 1e3:,.1f} ms "
            f"(p50 x{d50 / a50:.2f})"
        )
        print(
            "   "
            + cpu.report(
                spent, max(1, previews[0] * HOSTILE_RECORDS), "hostile record", ["fn-schemas", "gateway"]
            )
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
