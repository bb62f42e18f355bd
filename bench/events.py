"""Benchmark of POST /coatro/v1/pop/events through the local gateway, with its ceilings and CPU costs.

  python -m bench.events [--batches 60] [--batch-size 1000] [--concurrency 4]

Starts its own local stack on free ports, then in one run measures:
  1. the floor: CPU per event, in this process, of what the function must do with the same bodies —
     decode + validate, write each message, build and serialize the publish requests — without sending;
  2. publish the same events straight to the Pub/Sub emulator through the same code (the storage ceiling);
  3. the batches sent over HTTP through the gateway and the events function (what a caller sees), with
     the CPU per event of each process (psutil): the events function, the gateway, the emulators.
Prints events/s, p50/p99 request latency, 3 as a ratio of 2, and the function's CPU as a multiple of the floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait

import requests

from bench import cpu
from local.stack import Ports, Stack
from shared.auth import api_keys
from shared.canonical.messages import messages, publish
from shared.events.api import parse_body
from shared.platform import clients, pubsub
from shared.platform.encoding import utc_now


def make_batches(count: int, size: int) -> list[bytes]:
    run = uuid.uuid4().hex[:8]
    return [
        json.dumps(
            {
                "events": [
                    {
                        "eventId": f"bench-{run}-{b}-{i}",
                        "screenId": f"screen-{i % 500:04d}",
                        "siteId": f"site-{i % 50:03d}",
                        "campaignId": f"campaign-{i % 20}",
                        "creativeId": f"creative-{i % 100}",
                        "playedAt": "2025-01-27T10:00:00Z",
                        "durationMs": 15000 + i % 30000,
                        "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
                        "context": {"weather": "sunny"},
                        "device": {"model": "player-x"},
                    }
                    for i in range(size)
                ]
            }
        ).encode()
        for b in range(count)
    ]


def floor_cpu_per_event(batches: list[bytes], tenant: str) -> tuple[float, float]:
    """(CPU µs per event for decode + validate only, CPU µs per event for everything short of sending)."""
    path = clients.topic_path("pop-events")
    list(
        pubsub.publish_requests(path, messages(tenant, parse_body(batches[0]), "api", utc_now()))
    )  # warm up (imports)
    started = time.process_time()
    n = sum(len(parse_body(body)) for body in batches)
    validate = (time.process_time() - started) / n * 1e6
    started = time.process_time()
    for body in batches:
        for request in pubsub.publish_requests(path, messages(tenant, parse_body(body), "api", utc_now())):
            request.SerializeToString()
    return validate, (time.process_time() - started) / n * 1e6


def ceiling_publish(batches: list[bytes], tenant: str, concurrency: int) -> float:
    parsed = [parse_body(b) for b in batches]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        wait([pool.submit(publish, list(messages(tenant, events, "api", utc_now()))) for events in parsed])
    return sum(map(len, parsed)) / (time.perf_counter() - started)


def through_gateway(url: str, key: str, batches: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    local = threading.local()

    def send(body: bytes) -> None:
        session = local.__dict__.setdefault("session", requests.Session())
        t0 = time.perf_counter()
        r = session.post(
            url, data=body, headers={"X-API-Key": key, "Content-Type": "application/json"}, timeout=120
        )
        latencies.append(time.perf_counter() - t0)
        if r.status_code != 202:
            raise RuntimeError(f"{r.status_code}: {r.text[:300]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(send, b) for b in batches]:
            f.result()
    elapsed = time.perf_counter() - started
    return len(batches) * len(json.loads(batches[0])["events"]) / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    stack = Stack(ports=Ports.free(), reports=False)  # ingestion only (see Stack.reports)
    print("starting a local stack on free ports...", flush=True)
    stack.start()
    try:
        clients.reset()
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        key = api_keys.create_key(tenant, label="benchmark")
        batches = make_batches(args.batches, args.batch_size)
        events = args.batches * args.batch_size
        url = stack.gateway_url + "/coatro/v1/pop/events"
        through_gateway(url, key, batches[:2], 2)  # warm up connections and the function's clients

        validate_floor, floor = floor_cpu_per_event(batches, tenant)
        publish_rate = ceiling_publish(batches, tenant, args.concurrency)
        before = cpu.cpu_seconds(stack)
        gateway_rate, latencies = through_gateway(url, key, batches, args.concurrency)
        used = cpu.spent(before, cpu.cpu_seconds(stack))
        function_cpu = used["fn-events"] / events * 1e6
        q = statistics.quantiles(latencies, n=100)
        print(
            f"\n{events} events in {args.batches} batches of {args.batch_size}, {args.concurrency} concurrent senders"
        )
        print(
            f"  floor, in-process CPU per event: decode + validate {validate_floor:.1f} µs; "
            f"+ messages + publish requests {floor:.1f} µs"
        )
        print(f"  ceiling: publish straight to emulator  {publish_rate:>10,.0f} events/s")
        print(f"  through gateway + events function      {gateway_rate:>10,.0f} events/s")
        print(
            f"  request latency (1,000-event batch)    p50 {q[49] * 1000:.0f} ms   p99 {q[98] * 1000:.0f} ms"
        )
        print(
            f"  gateway rate / direct publish rate     {gateway_rate / publish_rate:>10.0%}  (target >= 70%)"
        )
        print("  " + cpu.report(used, events, "event", ["fn-events", "gateway", "pubsub", "firestore"]))
        print(
            f"  events function CPU / floor            {function_cpu / floor:>10.1f}x  (target: <= 40 µs per event)"
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
