"""The contract's "Complete Example Workflow", steps 1-4, over HTTP on the local stack."""

from __future__ import annotations

import time

import pytest
import requests

from tests import bulk_files
from tests.conftest import unique


@pytest.mark.parametrize(
    "fmt, make",
    [("ndjson", bulk_files.ndjson), ("csv", bulk_files.csv_file), ("json", bulk_files.json_array)],
)
def test_ten_thousand_rows_complete_with_one_event_per_row(api, tenant, events_sink, fmt, make):
    tag = unique(fmt)
    job_id, status = api.run(fmt, make(10_000, tag))
    assert status["status"] == "completed", status
    assert status["totalRows"] == status["processedRows"] == 10_000
    assert status["errorRows"] == 0 and status["errors"] == []
    assert status["startedAt"] and status["completedAt"]
    got = events_sink.pull(
        tenant[0], until=lambda ms: len({m["attributes"]["eventId"] for m in ms}) >= 10_000, timeout=60
    )
    ids = {m["attributes"]["eventId"] for m in got}
    assert ids == {f"{tag}-{i}" for i in range(10_000)}
    assert len(got) == 10_000, "exactly one event per row"
    sample = next(m for m in got if m["attributes"]["eventId"] == f"{tag}-10")
    assert sample["attributes"]["source"] == "bulk"
    assert sample["data"]["jobId"] == job_id and sample["data"]["context"]["weather"]
    assert (
        sample["data"]["durationMs"] == 15010
        and sample["data"]["impressions"]["ageBuckets"]["total"] == 150.0
    )


def test_five_bad_rows_end_partially_completed_with_their_line_numbers(api):
    bad = {
        6: {"eventId": "x", "durationMs": "abc"},
        99: {"eventId": "y", "playedAt": "yesterday"},
        1000: {"eventId": "z", "impressions": {"ageBuckets": {"total": -1}}},
        5000: {"eventId": "w", "screenId": "s" * 500},
        9998: {"eventId": "v", "unknownField": 1},
    }
    job_id, status = api.run("ndjson", bulk_files.ndjson(10_000, unique("bad"), bad))
    assert status["status"] == "partially_completed", status
    assert status["totalRows"] == 10_000 and status["processedRows"] == 9_995 and status["errorRows"] == 5
    # Row numbers are NDJSON line numbers: row i (0-based) is line i + 1.
    assert [e["row"] for e in status["errors"]] == [7, 100, 1001, 5001, 9999]
    assert status["errors"][0]["error"] == "durationMs: Input should be a valid integer"


def test_upload_url_put_works_with_curl_as_written(api, tmp_path):
    import subprocess

    upload = api.upload_url("ndjson").json()
    path = tmp_path / "pop_2025-12-09.jsonl"
    path.write_bytes(bulk_files.ndjson(3, unique("curl")))
    result = subprocess.run(
        [
            "curl",
            "-sf",
            "-X",
            "PUT",
            upload["uploadUrl"],
            "-H",
            "Content-Type: application/x-ndjson",
            "--data-binary",
            f"@{path}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert api.ingest(upload["fileId"]).status_code == 202


def test_chunk_that_always_fails_goes_through_the_emulators_dead_letter_topic(api, stack, tenant):
    """Pub/Sub (the emulator) delivers a failing chunk 5 times, then to pop-chunks-dead; dead_letter ends the job."""
    from shared.bulk.models import ChunkMessage
    from shared.bulk.pipeline import fan_out
    from shared.platform import clients
    from shared.platform.encoding import utc_now
    from shared.records.jobs import ChunkSpec, JobRecord
    from shared.storage import firestore

    upload = api.upload_url("csv").json()
    requests.put(
        upload["uploadUrl"],
        data=bulk_files.csv_file(20, unique("dlq")),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    ).raise_for_status()
    file_id = upload["fileId"]
    deadline = time.monotonic() + 30
    while (record := firestore.get_file(file_id)).status != "ready":
        assert time.monotonic() < deadline, "the splitter did not plan the file"
        time.sleep(0.2)
    job_id = fan_out.job_id_for(file_id)
    assert firestore.create_job(
        JobRecord(
            jobId=job_id,
            tenantId=tenant[0],
            fileId=file_id,
            schemaVersion="1.0",
            createdAt=utc_now(),
            totalRows=20,
            expectedChunks=1,
            fanOut="done",
        )
    )
    # A chunk message that can never succeed: a CSV chunk without its header makes the worker raise.
    chunk = ChunkSpec(index=0, start=0, end=10, first_row=2, row_count=20)
    message = ChunkMessage(
        jobId=job_id,
        tenantId=tenant[0],
        fileId=file_id,
        objectName=record.objectName,
        generation=record.generation,
        format="csv",
        schemaVersion="1.0",
        header=None,
        chunk=chunk,
        storedErrorsPerChunk=100,
    )
    clients.publisher().publish(clients.topic_path("pop-chunks"), message.model_dump_json().encode()).result(
        30
    )
    status = api.wait(job_id, timeout=150)
    assert (status["status"], status["totalRows"], status["processedRows"], status["errorRows"]) == (
        "failed",
        20,
        0,
        20,
    )
    assert status["errors"][0]["row"] == 2 and "could not be processed" in status["errors"][0]["error"]
    attempts = stack.log_tail("fn-worker", 100000).count("a CSV chunk needs the header")
    assert attempts >= 5, f"the worker saw the chunk {attempts} times"
