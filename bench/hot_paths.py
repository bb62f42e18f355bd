"""CPU per row of the worker's per-row hot paths, in this process (no local stack needed).

  python -m bench.hot_paths [--rows 50000] [--rounds 7]

Prints, for each case, the best of `rounds` of CPU µs per row (process time, so a busy machine moves
it less than wall time), each case measured alternately with the others so all see the same machine:
  - csv framing: `formats.iter_rows` over a CSV file (the line framer and the record joiner);
  - csv mapped: framing + a mapping of renames and numeric strings (`rows.mapped_rows`: routes);
  - ndjson renamed: snake_case NDJSON through a mapping of renames, a unit and context (routes);
  - dv360 envelopes: `adPlays:batchCreate` bodies, 10 requests a line, through the shipped
    `dv360-ooh-adplays-1` mapping (records path, fallbacks, extract, event_id).
Use it before and after a change to a hot path; compare the figures of one machine only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

from shared.bulk import formats
from shared.bulk import rows as bulk_rows
from shared.bulk.schemas import SchemaMapping, compile_mapping, load_mapping

EXAMPLES = Path(__file__).resolve().parent.parent / "shared" / "bulk" / "schema_examples"
MAX_ROW = 1 << 20

RENAMES = load_mapping(
    {
        "version": "bench-renames",
        "fields": {
            "play_id": "eventId",
            "screen_id": "screenId",
            "creative": "creativeId",
            "started": "playedAt",
            "secs": {"to": "durationMs", "unit": "s"},
            "audience": "impressions.ageBuckets.total",
        },
    }
)


def _csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["play_id", "screen_id", "creative", "started", "secs", "audience", "venue"])
    for i in range(rows):
        venue = "mall,\nlevel 2" if i % 10 == 0 else "mall"  # a quoted newline every 10th row
        writer.writerow([f"p-{i}", f"s-{i % 97}", f"c-{i % 7}", "2025-01-27T10:00:00Z", 15, 12.5, venue])
    return out.getvalue().encode()


def _ndjson(rows: int) -> bytes:
    return b"".join(
        json.dumps(
            {
                "play_id": f"p-{i}",
                "screen_id": f"s-{i % 97}",
                "creative": f"c-{i % 7}",
                "started": "2025-01-27T10:00:00Z",
                "secs": 15,
                "audience": 12.5,
                "venue": "mall",
            }
        ).encode()
        + b"\n"
        for i in range(rows)
    )


def _dv360(plays: int) -> bytes:
    lines = []
    for n in range(0, plays, 10):
        requests = [
            {
                "parent": "sellers/1234",
                "adPlay": {
                    "startTime": f"2025-03-30T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                    "endTime": f"2025-03-30T10:{(i // 60) % 60:02d}:{i % 60:02d}.500Z",
                    "impressionCount": 2.5,
                    "line": "sellers/1234/orders/55/lines/321",
                    "adUnit": f"sellers/1234/adUnits/{9000 + i % 50}",
                    "creativeAsset": f"sellers/1234/creativeAssets/{i % 7}",
                },
            }
            for i in range(n, n + 10)
        ]
        lines.append(json.dumps({"requests": requests}))
    return ("\n".join(lines) + "\n").encode()


def _framing(data: bytes, fmt: str) -> Callable[[], int]:
    plan = formats.plan_file(io.BytesIO(data), fmt, 5000, MAX_ROW)

    def run() -> int:
        n = 0
        for chunk in plan.chunks:
            stream = io.BytesIO(data)
            stream.seek(chunk.start)
            for _row, _record, error in formats.iter_rows(stream, fmt, chunk, MAX_ROW, plan.header):
                assert error is None, error
                n += 1
        return n

    return run


def _mapped(data: bytes, fmt: str, mapping: SchemaMapping) -> Callable[[], int]:
    plan = formats.plan_file(io.BytesIO(data), fmt, 5000, MAX_ROW)
    compiled = compile_mapping(mapping, fmt)

    def run() -> int:
        n = 0
        for chunk in plan.chunks:
            stream = io.BytesIO(data)
            stream.seek(chunk.start)
            for _row, event, error in bulk_rows.mapped_rows(
                stream, fmt, chunk, MAX_ROW, plan.header, compiled
            ):
                assert event is not None, error
                n += 1
        return n

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    dv360 = SchemaMapping.model_validate_json((EXAMPLES / "dv360-ooh-adplays-1.json").read_text())
    csv_data = _csv(args.rows)
    cases = {
        "csv framing": _framing(csv_data, "csv"),
        "csv mapped": _mapped(csv_data, "csv", RENAMES),
        "ndjson renamed": _mapped(_ndjson(args.rows), "ndjson", RENAMES),
        "dv360 envelopes": _mapped(_dv360(args.rows), "ndjson", dv360),
    }
    for run in cases.values():
        run()  # warm up: caches, imports
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.rounds):
        for name, run in cases.items():
            started = time.process_time()
            n = run()
            best[name] = min(best[name], (time.process_time() - started) / n * 1e6)
    for name, us in best.items():
        print(f"{name:<16} {us:6.2f} µs CPU per row (best of {args.rounds}, {args.rows:,} rows)")


if __name__ == "__main__":
    main()
