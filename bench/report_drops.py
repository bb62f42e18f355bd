"""What rendering one scheduled report drop costs, without BigQuery: CSV and JSON of N delivery rows
written in one pass (shared.reports.kinds.render) into the spooled files a run uploads.

  python -m bench.report_drops [--rows 10000,50000,200000]

For each N, prints the seconds, rows per second and the bytes of each file: what lands in the bucket
and, past 8 MiB, in /tmp, which is memory on Cloud Functions (the rows themselves come a BigQuery page
at a time). 200,000 rows is `report_drop_max_rows`, the most a drop holds: its files must fit
report_drops' 1 GiB with room.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from typing import Any

from shared.reports import kinds, schedules
from shared.reports.drops import SPOOL_BYTES


def _rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "date": "2026-12-03",
            "screenId": f"screen-{i:06d}",
            "campaignId": f"campaign-{i % 97:03d}",
            "plays": 100 + i % 50,
            "qualifiedPlays": 90 + i % 50,
            "durationMs": 1_500_000 + i,
            "impressions": {
                "measured": 1234.5,
                "scheduled": 98.765,
                "total": 1333.265,
                "male": 600.0,
                "female": 634.5,
            },
            "firstPlayedAt": "2026-12-03T00:01:02.345Z",
            "lastPlayedAt": "2026-12-03T23:58:59.999Z",
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,50000,200000")
    args = parser.parse_args()
    delivery = kinds.KINDS["delivery"]
    params = {"groupBy": "date,screenId,campaignId"}
    query = delivery.parse(schedules.report_arguments(delivery, params, date(2026, 12, 3), date(2026, 12, 3)))
    for count in (int(n) for n in args.rows.split(",")):
        rows = _rows(count)
        kind = kinds.ReportKind(
            parse=delivery.parse,
            rows=lambda tenant, q, limit, rows=rows: rows[:limit],
            columns=delivery.columns,
            flatten=delivery.flatten,
            days=delivery.days,
            reserved=delivery.reserved,
        )
        outputs = {fmt: tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) for fmt in ("csv", "json")}
        started = time.perf_counter()
        kinds.render(kind, "bench", query, outputs, max_rows=count)
        seconds = time.perf_counter() - started
        sizes = {fmt: out.seek(0, 2) for fmt, out in outputs.items()}
        print(
            f"{count:>8} rows: {seconds:6.2f} s ({count / seconds:,.0f} rows/s), "
            f"csv {sizes['csv'] / 1e6:6.1f} MB, json {sizes['json'] / 1e6:6.1f} MB"
        )
        for out in outputs.values():
            out.close()


if __name__ == "__main__":
    main()
