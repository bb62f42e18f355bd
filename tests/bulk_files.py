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


class BatchCreateDocument:
    """A DV360 `adPlays:batchCreate` body of about `size` bytes, pretty-printed, generated as it is
    read: a stream of any size that is never whole in memory (a 1 GB document for `bench.json_document`,
    a smaller one for the unit tests). `requests` counts the requests written so far. With `pad`, each
    play also has a `name` that long (an output-only field of AdPlay): fewer, larger requests."""

    HEAD = b'{\n  "requests": [\n'
    TAIL = b"\n  ]\n}\n"
    _REQUEST = (
        '    {\n      "parent": "sellers/1234",\n      "adPlay": {\n%s'
        '        "startTime": "2025-06-02T%02d:%02d:%02dZ",\n'
        '        "endTime": "2025-06-02T%02d:%02d:%02d.500Z",\n'
        '        "impressionCount": %d.25,\n'
        '        "line": "sellers/1234/orders/55/lines/%d",\n'
        '        "adUnit": "sellers/1234/adUnits/%d",\n'
        '        "creativeAsset": "sellers/1234/creativeAssets/%d"\n      }\n    }'
    )

    def __init__(self, size: int, pad: int = 0):
        self.size = size
        self._name = f'        "name": "sellers/1234/adPlays/{"x" * pad}",\n' if pad else ""
        self._batch = max(1, 256_000 // (400 + pad))  # requests made at a time: about 256 KB
        self.requests = 0
        self._written = 0
        self._pending = self.HEAD
        self._done = False

    def _refill(self) -> None:
        if self._written >= self.size:
            self._pending, self._done = self.TAIL, True
            return
        parts = []
        for i in range(self.requests, self.requests + self._batch):
            h, m, s = (i // 3600) % 24, (i // 60) % 60, i % 60
            values = (self._name, h, m, s, h, m, s, i % 97, 300 + i % 7, 9000 + i % 500, i % 40)
            parts.append(self._REQUEST % values)
        self._pending = (",\n" if self.requests else "").encode() + ",\n".join(parts).encode()
        self.requests += self._batch

    def read(self, n: int = -1, /) -> bytes:
        if n is None or n < 0:
            raise ValueError("read the document in blocks")
        out = []
        while n > 0:
            if not self._pending:
                if self._done:
                    break
                self._refill()
            take, self._pending = self._pending[:n], self._pending[n:]
            out.append(take)
            n -= len(take)
            self._written += len(take)
        return b"".join(out)
