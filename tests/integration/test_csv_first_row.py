"""A CSV file whose first row is longer than the row size limit (1 MiB), through the pipeline's functions.

The splitter reads the first row as the header, not knowing the mapping. Too long to be a header,
it no longer makes the file invalid: a mapping without a header row gets it as row 1's error and the
rest of the file ingested, as the same row anywhere else would be; a mapping with a header row
cannot read its column names, which the ingest refuses (or the job fails with) by name.
"""

from __future__ import annotations

from shared.bulk import schema_registry
from shared.bulk.schemas import load_mapping
from tests.integration.conftest import assert_counts

LIMIT = 1024 * 1024  # the default max_row_bytes
LONG_ROW = b"s-0," + b"9" * LIMIT + b"\n"  # one byte more than 1 MiB without its line end


def test_headerless_file_whose_first_row_is_too_long_has_that_row_as_one_error(bulk, events_sink):
    assert schema_registry.register(
        bulk.tenant_id,
        load_mapping(
            {
                "version": "nohead-long",
                "header": False,
                "columns": ["scr", "ms"],
                "fields": {"scr": "screenId", "ms": {"to": "durationMs", "unit": "s"}},
            }
        ),
    )
    content = LONG_ROW + b"".join(f"s-{i},{i % 7}\n".encode() for i in range(1, 60))
    job_id = bulk.start("csv", content, "nohead-long")
    messages = bulk.run_all()
    assert messages[-1].chunk.first_row == 1 and messages[-1].chunk.row_count == 1
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 60, 59, 1)
    assert status["errors"] == [{"row": 1, "error": f"Row is {LIMIT + 4} bytes; the limit is {LIMIT} bytes"}]
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 59)
    assert sorted(m["data"]["row"] for m in got) == list(range(2, 61))


def test_file_whose_header_row_is_too_long_is_refused_at_ingest_or_fails_the_job(bulk):
    content = LONG_ROW + b"1,2\n"
    reason = (
        f"The CSV header row cannot be read: it is {LIMIT + 4} bytes, longer than the row size limit "
        f"({LIMIT} bytes)"
    )
    file_id = bulk.upload("csv", content)
    response = bulk.ingest(file_id)  # 1.0 reads a header row
    assert response.status_code == 400
    assert response.get_json()["detail"] == f"File {file_id} cannot be ingested: {reason}"
    later = bulk.upload("csv", content, split=False)
    job_id = bulk.ingest(later).get_json()["jobId"]
    bulk.split(later)
    status = bulk.status(job_id)
    assert (status["status"], status["failureReason"], status["totalRows"]) == ("failed", reason, 0)
