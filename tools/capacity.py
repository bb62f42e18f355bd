"""Capacity and cost on paper (docs/capacity.md): instances, quota use and cost per million events at
given sustained rates, from the CPU per event the benchmarks measure and cited quotas and list prices.

  python -m tools.capacity [--events BENCH_EVENTS.txt] [--bulk BENCH_BULK.txt] [--rates 10000,100000,1000000]
                           [--constants tools/capacity_constants.json] [--measure-message]

--events / --bulk are the printed output of `make bench-events` / `make bench-bulk` (saved with `| tee`):
the last "CPU per event: ..." / "CPU per row: ..." line of each gives the CPU µs per event of each
process (bench/cpu.py). Without them, the figures in the constants file's `measured_defaults` (the
last run in docs/testing.md) are used. Quotas, prices and assumptions (message size, batch size,
target CPU use) are in tools/capacity_constants.json, each with its source. --measure-message
recomputes the billable size of one pop-events message from the canonical encoder.

Two ingestion paths are modelled separately, each carrying the whole rate: the events API
(API Gateway -> events function -> Pub/Sub) and bulk files (splitter -> worker -> Pub/Sub); both
end in the BigQuery subscription.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

CONSTANTS = Path(__file__).with_name("capacity_constants.json")
TIB = 2**40
GIB = 2**30
_CPU_LINE = re.compile(r"CPU per (?:event|row): (fn-.+)")  # not the "floor, in-process CPU per ..." lines
_CPU_ITEM = re.compile(r"([\w-]+) ([\d,.]+) µs")


def parse_cpu(text: str) -> dict[str, float]:
    """CPU µs per event of each process, from the last 'CPU per event/row:' line of a benchmark's output."""
    found = _CPU_LINE.findall(text)
    if not found:
        raise ValueError("no 'CPU per event:' or 'CPU per row:' line in the benchmark output")
    return {name: float(value.replace(",", "")) for name, value in _CPU_ITEM.findall(found[-1])}


@dataclass
class Limit:
    name: str
    rate: float  # events/s at which the default quota or limit is reached
    path: str  # "api", "bulk" or "both"
    change: str  # what would change there


def load(path: Path = CONSTANTS) -> dict:
    loaded: dict = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _q(c: dict, name: str) -> float:
    return float(c["quotas"][name]["value"])


def _p(c: dict, name: str) -> float:
    return float(c["prices"][name]["value"])


def limits(cpu: dict[str, float], c: dict) -> list[Limit]:
    """Every limit as the sustained event rate that reaches it, lowest first."""
    a = c["assumptions"]
    util, per_request = a["cpu_utilization"], a["events_per_request"]
    max_inst = a["max_instances_default"]
    out = [
        Limit(
            "Pub/Sub publisher throughput, small region (50 MB/s)",
            _q(c, "pubsub_publish_mb_s_small_region") * 1e6 / a["message_bytes"],
            "both",
            "deploy in a large region (europe-west1, us-central1, us-east1) or request more quota",
        ),
        Limit(
            "Pub/Sub publisher throughput, large region (200 MB/s)",
            _q(c, "pubsub_publish_mb_s_large_region") * 1e6 / a["message_bytes"],
            "both",
            "request a quota increase; smaller messages (fewer attributes) raise the event rate per MB",
        ),
        Limit(
            "BigQuery Storage Write API, regional dataset (300 MB/s)",
            _q(c, "bigquery_write_api_mb_s_region") * 1e6 / a["bigquery_row_bytes"],
            "both",
            "a US/EU multi-region dataset (3 GB/s) or a quota increase",
        ),
        Limit(
            f"events function at max_instances = {max_inst}",
            max_inst * util / (cpu["fn-events"] / 1e6),
            "api",
            "raise var.max_instances (up to 1,000) and the region's Cloud Run CPU quota",
        ),
        Limit(
            f"bulk worker at max_instances = {max_inst}",
            max_inst * util / (cpu["fn-worker"] / 1e6),
            "bulk",
            "raise var.max_instances for the worker",
        ),
        Limit(
            "API Gateway quota units (about 2 per call)",
            _q(c, "api_gateway_quota_units_s") / 2 * per_request,
            "api",
            "larger batches per request, or a quota increase",
        ),
        Limit(
            "Firestore sequential chunk ids in one job (500 writes/s)",
            _q(c, "firestore_sequential_writes_s") * a["chunk_rows"],
            "bulk",
            "scatter chunk ids (hash prefix) instead of 000001, 000002, ...",
        ),
    ]
    return sorted(out, key=lambda limit: limit.rate)


def instances(cpu_us: float, rate: float, util: float) -> int:
    """1-vCPU instances to run `rate` events/s at `cpu_us` each, at `util` CPU use."""
    return max(1, math.ceil(rate * cpu_us / 1e6 / util))


def at_rate(cpu: dict[str, float], c: dict, rate: float) -> dict[str, float]:
    a = c["assumptions"]
    util = a["cpu_utilization"]
    calls = rate / a["events_per_request"]
    return {
        "events instances": instances(cpu["fn-events"], rate, util),
        "worker instances": instances(cpu["fn-worker"], rate, util),
        "splitter instances": instances(cpu.get("fn-splitter", 0.0), rate, util),
        "gateway calls/s": calls,
        "gateway quota %": 100 * 2 * calls / _q(c, "api_gateway_quota_units_s"),
        "pubsub MB/s": rate * a["message_bytes"] / 1e6,
        "pubsub quota % (large region)": 100
        * rate
        * a["message_bytes"]
        / 1e6
        / _q(c, "pubsub_publish_mb_s_large_region"),
        "bigquery MB/s": rate * a["bigquery_row_bytes"] / 1e6,
        "bigquery quota % (region)": 100
        * rate
        * a["bigquery_row_bytes"]
        / 1e6
        / _q(c, "bigquery_write_api_mb_s_region"),
        "firestore chunk writes/s": rate / a["chunk_rows"],
    }


def cost_per_million(cpu: dict[str, float], c: dict) -> dict[str, float]:
    """USD per million events, per component."""
    a = c["assumptions"]
    util, mem = a["cpu_utilization"], a["memory_gib_per_instance"]

    def run(name: str, requests: float) -> float:
        vcpu_s = cpu.get(name, 0.0) / util  # 1e6 events x µs / 1e6, at the target utilization
        return (
            vcpu_s * _p(c, "run_vcpu_second")
            + vcpu_s * mem[name] * _p(c, "run_gib_second")
            + requests / 1e6 * _p(c, "run_per_million_requests")
        )

    message_tib = 1e6 * a["message_bytes"] / TIB
    chunks = 1e6 / a["chunk_rows"]
    return {
        "API Gateway (API path)": 1e6
        / a["events_per_request"]
        / 1e6
        * _p(c, "api_gateway_per_million_calls"),
        "events function (API path)": run("fn-events", 1e6 / a["events_per_request"]),
        "splitter (bulk path)": run("fn-splitter", 1.0),
        "worker (bulk path)": run("fn-worker", chunks),
        "Firestore chunk results (bulk path)": chunks
        * (1 * _p(c, "firestore_per_100k_writes") + 3 * _p(c, "firestore_per_100k_reads"))
        / 1e5,
        "Pub/Sub publish": message_tib * _p(c, "pubsub_per_tib"),
        "Pub/Sub BigQuery subscription": message_tib * _p(c, "pubsub_bigquery_subscription_per_tib"),
        "BigQuery storage, per month kept": 1e6
        * a["bigquery_row_bytes"]
        / GIB
        * _p(c, "bigquery_active_storage_gib_month"),
    }


def report(cpu: dict[str, float], c: dict, rates: list[float]) -> str:
    lines = ["CPU µs per event: " + ", ".join(f"{k} {v:g}" for k, v in sorted(cpu.items())), ""]
    rows = {r: at_rate(cpu, c, r) for r in rates}
    lines.append("| | " + " | ".join(f"{r:,.0f} events/s" for r in rates) + " |")
    lines.append("|---|" + "---|" * len(rates))
    for key in rows[rates[0]]:
        cells = []
        for r in rates:
            v = rows[r][key]
            cells.append(f"{v:,.0f}" if key.endswith("instances") or v >= 100 else f"{v:,.1f}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += ["", "| cost per million events | USD |", "|---|---|"]
    costs = cost_per_million(cpu, c)
    for key, value in costs.items():
        lines.append(f"| {key} | {value:.4f} |")
    api = sum(v for k, v in costs.items() if "bulk path" not in k and "per month" not in k)
    bulk = sum(v for k, v in costs.items() if "API path" not in k and "per month" not in k)
    lines.append(f"| total, API path (without storage) | {api:.4f} |")
    lines.append(f"| total, bulk path (without storage) | {bulk:.4f} |")
    lines += [
        "",
        "| limit (default quota) | reached at events/s | path | what would change |",
        "|---|---|---|---|",
    ]
    for limit in limits(cpu, c):
        lines.append(f"| {limit.name} | {limit.rate:,.0f} | {limit.path} | {limit.change} |")
    return "\n".join(lines)


def measure_message_bytes() -> float:
    """The billable size of one pop-events message for the event bench.events sends (data, attributes,
    the 20-byte publish time and a 16-byte message id)."""
    from shared.canonical.messages import messages
    from shared.events.api import parse_body

    event = {
        "eventId": "bench-0123abcd-0-0",
        "screenId": "screen-0001",
        "siteId": "site-001",
        "campaignId": "campaign-1",
        "creativeId": "creative-1",
        "playedAt": "2025-01-27T10:00:00Z",
        "durationMs": 15001,
        "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
        "context": {"weather": "sunny"},
        "device": {"model": "player-x"},
    }
    events = parse_body(json.dumps({"events": [event]}).encode())
    items = list(messages("tenant-0123456789", events, "api", "2026-12-04T16:00:00.000000Z"))
    sizes = [len(d) + sum(len(k) + len(v) for k, v in attrs.items()) + 20 + 16 for d, attrs in items]
    return sum(sizes) / len(sizes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=Path, help="saved output of make bench-events")
    parser.add_argument("--bulk", type=Path, help="saved output of make bench-bulk")
    parser.add_argument("--constants", type=Path, default=CONSTANTS)
    parser.add_argument("--rates", default="10000,100000,1000000")
    parser.add_argument("--measure-message", action="store_true")
    args = parser.parse_args(argv)
    c = load(args.constants)
    if args.measure_message:
        print(f"pop-events message: {measure_message_bytes():.0f} billable bytes")
        return
    cpu = {k: float(v) for k, v in c["measured_defaults"].items() if not k.startswith("_")}
    if args.events:
        cpu.update(
            {
                k: v
                for k, v in parse_cpu(args.events.read_text(encoding="utf-8")).items()
                if k in ("fn-events", "gateway")
            }
        )
    if args.bulk:
        cpu.update(
            {
                k: v
                for k, v in parse_cpu(args.bulk.read_text(encoding="utf-8")).items()
                if k in ("fn-splitter", "fn-worker")
            }
        )
    print(report(cpu, c, [float(r) for r in args.rates.split(",")]))


if __name__ == "__main__":
    main()
