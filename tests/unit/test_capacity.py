"""tools/capacity.py (docs/capacity.md) on a fixed benchmark output and the committed constants."""

from __future__ import annotations

import math

from tools import capacity

EVENTS_OUTPUT = """\
events through the local gateway (60 x 1,000 events)
  floor, in-process CPU per event: decode + validate 12.0 µs; + messages + publish requests 26.7 µs
  CPU per event: fn-events 40 µs, gateway 55 µs, pubsub 20 µs, firestore 0 µs
"""
BULK_OUTPUT = """\
  100,000 rows, CPU per row: fn-splitter 1 µs, fn-worker 30 µs, pubsub 18 µs, firestore 0 µs, storage 1 µs, fn-sweeper 0 µs
  1,000,000 rows, CPU per row: fn-splitter 0.5 µs, fn-worker 24 µs, pubsub 17 µs, firestore 0 µs, storage 1 µs, fn-sweeper 0 µs
  floor, in-process CPU per row: frame + validate 21.1 µs; + messages + publish requests 30.1 µs
"""


def test_cpu_figures_are_read_from_the_last_cpu_line_of_a_benchmark():
    assert capacity.parse_cpu(EVENTS_OUTPUT)["fn-events"] == 40.0
    bulk = capacity.parse_cpu(BULK_OUTPUT)
    assert (bulk["fn-splitter"], bulk["fn-worker"]) == (0.5, 24.0)


def test_the_table_follows_from_the_figures_and_the_constants(tmp_path):
    (tmp_path / "events.txt").write_text(EVENTS_OUTPUT, encoding="utf-8")
    (tmp_path / "bulk.txt").write_text(BULK_OUTPUT, encoding="utf-8")
    c = capacity.load()
    a = c["assumptions"]
    cpu = {"fn-events": 40.0, "fn-splitter": 0.5, "fn-worker": 24.0}
    row = capacity.at_rate(cpu, c, 1_000_000)
    assert row["events instances"] == math.ceil(1e6 * 40e-6 / a["cpu_utilization"])  # 67
    assert row["worker instances"] == math.ceil(1e6 * 24e-6 / a["cpu_utilization"])  # 40
    assert row["pubsub MB/s"] == 1e6 * a["message_bytes"] / 1e6
    assert row["firestore chunk writes/s"] == 1e6 / a["chunk_rows"]

    cost = capacity.cost_per_million(cpu, c)
    vcpu_s = 40 / a["cpu_utilization"]
    expected = vcpu_s * 0.000024 + vcpu_s * 1.0 * 0.0000025 + 1e6 / a["events_per_request"] / 1e6 * 0.40
    assert math.isclose(cost["events function (API path)"], expected)
    assert math.isclose(cost["Pub/Sub publish"], 1e6 * a["message_bytes"] / 2**40 * 40)

    first = capacity.limits(cpu, c)[0]
    assert first.name.startswith("Pub/Sub publisher throughput")
    assert math.isclose(first.rate, 50e6 / a["message_bytes"])

    out = capacity.report(cpu, c, [10_000, 100_000, 1_000_000])
    assert "| events instances | 1 | 7 | 67 |" in out


def test_the_script_reads_saved_benchmark_output(tmp_path, capsys):
    (tmp_path / "events.txt").write_text(EVENTS_OUTPUT, encoding="utf-8")
    (tmp_path / "bulk.txt").write_text(BULK_OUTPUT, encoding="utf-8")
    capacity.main(["--events", str(tmp_path / "events.txt"), "--bulk", str(tmp_path / "bulk.txt")])
    out = capsys.readouterr().out
    assert "fn-events 40" in out and "fn-worker 24" in out and "fn-splitter 0.5" in out


def test_every_quota_and_price_cites_its_source():
    c = capacity.load()
    for section in ("quotas", "prices"):
        for name, entry in c[section].items():
            assert entry["source"].startswith("https://cloud.google.com/"), name
