"""The splitter cuts chunks by bytes as well as rows (`chunk_bytes`), so lines that a mapping's
envelope turns into many records are spread over several worker calls."""

from __future__ import annotations

import json
import os

from shared.bulk import schema_registry
from shared.bulk.schemas import load_mapping
from shared.platform import clients
from tests.integration.conftest import assert_counts


def test_lines_of_many_records_are_cut_into_chunks_by_bytes(bulk):
    os.environ["COATRO_CHUNK_BYTES"] = "20000"
    os.environ["COATRO_MAX_FILE_BYTES"] = str(20_000 * 5_000)  # a plan holds at most 5,000 chunks
    clients.reset()  # the functions read the settings again
    assert schema_registry.register(
        bulk.tenant_id, load_mapping({"version": "pops-1", "records": "pop", "fields": {"s": "screenId"}})
    )
    line = json.dumps({"pop": [{"s": f"s-{i}"} for i in range(500)]}).encode() + b"\n"  # ~7 KB, 500 records
    job_id = bulk.start("ndjson", line * 20, "pops-1")  # 20 lines: one chunk of chunk_rows (25) lines
    messages = bulk.run_all()
    assert [m.chunk.row_count for m in messages] == [3] * 6 + [2]  # a chunk ends once it spans 20,000 bytes
    assert all(m.chunk.end - m.chunk.start < 20_000 + len(line) for m in messages)
    assert_counts(bulk.status(job_id), "completed", 10_000, 10_000, 0)
