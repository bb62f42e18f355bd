"""Memory of the splitter planning one large JSON document (a DV360 `adPlays:batchCreate` body).

  python -m bench.json_document [--sizes-mb 64,256,1024]

For each size, a fresh process plans a generated document of that many MB (never written to disk,
never whole in memory: `tests.bulk_files.BatchCreateDocument`) with the splitter's settings
(`pipeline.splitter.chunk_rows_for`, the chunk-bytes and row-size settings) and prints the requests framed,
the chunks, the time, the process's RSS before planning (after imports) and its peak while planning,
sampled with psutil every 10 ms and read as VmHWM at the end. Memory is bounded if the peak does not
grow with the document.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import psutil

MB = 1_000_000


def _child(size: int) -> None:
    from shared.bulk import formats
    from shared.bulk.pipeline.splitter import chunk_rows_for
    from shared.platform.settings import get_settings
    from tests.bulk_files import BatchCreateDocument

    settings = get_settings()
    document = BatchCreateDocument(size)
    rss_before = psutil.Process().memory_info().rss
    print(json.dumps({"ready": True, "rss_before": rss_before}), flush=True)
    started = time.perf_counter()
    plan = formats.plan_file(
        document, "json", chunk_rows_for(size), settings.max_row_bytes, settings.chunk_bytes
    )
    seconds = time.perf_counter() - started
    hwm = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    assert plan.member == "requests" and plan.total_rows == document.requests and not plan.errors
    print(
        json.dumps(
            {
                "rows": plan.total_rows,
                "chunks": len(plan.chunks),
                "seconds": seconds,
                "hwm": hwm,
                "bytes": size,
            }
        ),
        flush=True,
    )


def run(size: int) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.json_document", "--child", str(size)], stdout=subprocess.PIPE, text=True
    )
    watched = psutil.Process(proc.pid)
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    result = json.loads(proc.stdout.readline())
    proc.wait()
    return {**ready, **result, "peak_sampled": peak}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes-mb", default="64,256,1024", help="document sizes in MB (10^6 bytes)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child)
        return
    print(
        f"{'document':>10} {'requests':>11} {'chunks':>7} {'time':>7} {'MB/s':>6} {'RSS before':>11} {'peak RSS':>9} {'growth':>7}"
    )
    for size in (int(s) * MB for s in args.sizes_mb.split(",")):
        r = run(size)
        peak = max(r["peak_sampled"], r["hwm"])
        print(
            f"{size / MB:>7,.0f} MB {r['rows']:>11,} {r['chunks']:>7,} {r['seconds']:>6.1f}s "
            f"{size / MB / r['seconds']:>6.1f} {r['rss_before'] / 2**20:>7.1f} MiB {peak / 2**20:>5.1f} MiB "
            f"{(peak - r['rss_before']) / 2**20:>+5.1f} MiB"
        )


if __name__ == "__main__":
    main()
