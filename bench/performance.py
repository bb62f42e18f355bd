"""Benchmark of GET /coatro/v1/pop/reports/performance next to the delivery report, on the same data,
in one run (issue 19: 1,000,000 events and 100 bookings).

  python -m bench.performance [--events 1000000] [--days 30] [--bookings 100] [--screens 10000]

Starts its own local stack on free ports, loads the events and the screens as bench.reports does
(load jobs of NDJSON as the BigQuery subscription writes rows, 1% delivered twice; screens with
schedules, a tenth with a second version), records `--bookings` bookings in Firestore (each a
campaign, a 10-day flight inside the data, 200 targeted screens or a market selector, every goal
metric and a daily cap on some), then asks the gateway, alternately, for each booking's performance
report and for the delivery report a caller would ask for the same thing (the flight's days, the
campaign, grouped by date and screenId), and prints the median and p90 latency of each and their ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import timedelta

import requests

from bench.reports import FIRST_DAY, load, load_screens
from local.stack import Ports, Stack
from shared.auth import api_keys
from shared.bookings import history
from shared.bookings.model import parse_booking
from shared.platform import clients
from shared.storage import bookings as storage

PERFORMANCE = "/coatro/v1/pop/reports/performance"
DELIVERY = "/coatro/v1/pop/reports/delivery"


def bookings(count: int, days: int, screens: int, seed: int = 5) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        first = FIRST_DAY.date() + timedelta(days=rng.randrange(max(days - 10, 1)))
        metric = ("plays", "qualifiedPlays", "impressions")[i % 3]
        quantity = 1000 + rng.randrange(100_000)
        targets = (
            {"selector": {"market": f"market-{rng.randrange(50)}"}}
            if i % 4 == 0
            else {"screenIds": [f"screen-{s:05d}" for s in rng.sample(range(screens), min(200, screens))]}
        )
        goal = {"metric": metric, "quantity": quantity}
        if i % 5 == 0:
            goal["dailyCap"] = quantity // 5
        booking = {
            "campaignId": f"campaign-{i % 20}",
            "advertiser": f"Advertiser {i}",
            "flight": {
                "start": first.isoformat(),
                "end": (first + timedelta(days=9)).isoformat(),
                "timeZone": "screen" if i % 6 == 0 else "UTC",
            },
            "targets": targets,
            "goal": goal,
        }
        out.append((f"booking-{i:03d}", booking))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--screens", type=int, default=10_000)
    args = parser.parse_args()

    stack = Stack(ports=Ports.free())
    print("starting a local stack on free ports...", flush=True)
    stack.start()
    try:
        clients.reset()
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        headers = {"X-API-Key": api_keys.create_key(tenant, label="benchmark")}
        written = load(tenant, args.events, args.days, args.screens)
        load_screens(tenant, args.screens)
        made = bookings(args.bookings, args.days, args.screens)
        for booking_id, body in made:
            fields = parse_booking(booking_id, body)
            assert not isinstance(fields, list), fields
            stored = fields.stored()
            storage.change_booking(
                tenant,
                booking_id,
                lambda cur, b=booking_id, f=stored: history.put(cur, tenant, b, f, FIRST_DAY.isoformat()),
            )
        session = requests.Session()
        times: dict[str, list[float]] = {"performance": [], "delivery": []}
        for booking_id, body in made:
            flight = body["flight"]
            delivery_params = {
                "filter[from]": flight["start"],
                "filter[to]": flight["end"],
                "filter[campaignId]": body["campaignId"],
                "groupBy": "date,screenId",
                "timezone": flight["timeZone"],
                "per_page": 200,
            }
            for name, path, params in (
                ("performance", PERFORMANCE, {"bookingId": booking_id}),
                ("delivery", DELIVERY, delivery_params),
            ):
                t0 = time.perf_counter()
                response = session.get(stack.gateway_url + path, params=params, headers=headers, timeout=600)
                times[name].append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text
        print(
            f"\n{args.events:,} events ({written:,} rows), {args.screens:,} screens, {args.bookings} bookings"
        )
        for name, ts in times.items():
            q = statistics.quantiles(ts, n=10) if len(ts) > 1 else ts * 9
            print(f"  {name:<12} median {statistics.median(ts) * 1000:7.0f} ms   p90 {q[8] * 1000:7.0f} ms")
        ratio = statistics.median(times["performance"]) / statistics.median(times["delivery"])
        print(f"  performance / delivery (medians): {ratio:.2f}x")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
