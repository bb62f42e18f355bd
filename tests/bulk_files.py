"""Generated bulk files for the tests (never committed: a row count is all they need)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from shared.bulk.schemas import SchemaMapping

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "shared" / "bulk" / "schema_examples"


def shipped_examples() -> dict[str, SchemaMapping]:
    """The example mappings shipped in shared/bulk/schema_examples, by version."""
    out = {}
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        mapping = SchemaMapping.model_validate(json.loads(path.read_text(encoding="utf-8")))
        out[mapping.version] = mapping
    return out


def event_row(i: int, tag: str) -> dict:
    return {
        "eventId": f"{tag}-{i}",
        "screenId": f"screen-{i % 97:03d}",
        "siteId": f"site-{i % 13}",
        "campaignId": f"campaign-{i % 5}",
        "creativeId": f"creative-{i % 7}",
        "playedAt": "2025-01-27T10:00:00Z",
        "durationMs": 15000 + i,
        "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
        "context": {"weather": "sunny"},
    }


def ndjson(rows: int, tag: str, bad: dict[int, dict] | None = None) -> bytes:
    """NDJSON with `rows` events; `bad` replaces row i (0-based) with other content."""
    bad = bad or {}
    return "".join(json.dumps(bad.get(i, event_row(i, tag))) + "\n" for i in range(rows)).encode()


def json_array(rows: int, tag: str) -> bytes:
    return json.dumps([event_row(i, tag) for i in range(rows)], indent=1).encode()


CSV_COLUMNS = [
    "eventId",
    "screenId",
    "siteId",
    "campaignId",
    "creativeId",
    "playedAt",
    "durationMs",
    "impressions.ageBuckets.total",
    "impressions.ageBuckets.male",
    "impressions.ageBuckets.female",
    "context.weather",
]


def csv_file(rows: int, tag: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i in range(rows):
        e = event_row(i, tag)
        ab = e["impressions"]["ageBuckets"]
        # Every 10th row's weather has a quoted newline: the row numbers must still be right.
        weather = "sunny,\nthen rain" if i % 10 == 0 else "sunny"
        writer.writerow(
            [
                e["eventId"],
                e["screenId"],
                e["siteId"],
                e["campaignId"],
                e["creativeId"],
                e["playedAt"],
                e["durationMs"],
                ab["total"],
                ab["male"],
                ab["female"],
                weather,
            ]
        )
    return out.getvalue().encode()
