"""The contract's "Complete Example Workflow", steps 1-4, over HTTP on the local stack."""

from __future__ import annotations

import time

import pytest
import requests

from tests import bulk_files
from tests.conftest import unique

BULK = "/coatro/v1/pop/dynamic/bulk"


class Api:
    def __init__(self, base: str, key: str):
        self.base, self.headers = base, {"X-API-Key": key}

    def upload_url(self, fmt: str, **extra) -> requests.Response:
        return requests.post(f"{self.base}{BULK}/upload-url", json={"fileName": f"pop.{fmt}", "format": fmt, **extra},
                             headers=self.headers, timeout=30)

    def ingest(self, file_id: str, version: str = "1.0") -> requests.Response:
        return requests.post(f"{self.base}{BULK}/ingest", json={"fileId": file_id, "schemaVersion": version},
                             headers=self.headers, timeout=30)

    def job(self, job_id: str) -> requests.Response:
        return requests.get(f"{self.base}{BULK}/jobs/{job_id}", headers=self.headers, timeout=30)

    def run(self, fmt: str, content: bytes, version: str = "1.0") -> tuple[str, dict]:
        step1 = self.upload_url(fmt)
        assert step1.status_code == 200, step1.text
        upload = step1.json()
        step2 = requests.put(upload["uploadUrl"], data=content, headers={"Content-Type": upload["contentType"]}, timeout=60)
        assert step2.status_code == 200, step2.text
        step3 = self.ingest(upload["fileId"], version)
        assert step3.status_code == 202, step3.text
        job_id = step3.json()["jobId"]
        return job_id, self.wait(job_id)

    def wait(self, job_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.job(job_id).json()
            if status["status"] in ("completed", "partially_completed", "failed"):
                return status
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} did not end: {status}")


@pytest.fixture
def api(stack, tenant):
    return Api(stack.gateway_url, tenant[1])


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
    got = events_sink.pull(tenant[0], until=lambda ms: len({m["attributes"]["eventId"] for m in ms}) >= 10_000, timeout=60)
    ids = {m["attributes"]["eventId"] for m in got}
    assert ids == {f"{tag}-{i}" for i in range(10_000)}
    sample = next(m for m in got if m["attributes"]["eventId"] == f"{tag}-10")
    assert sample["attributes"]["source"] == "bulk"
    assert sample["data"]["jobId"] == job_id and sample["data"]["context"]["weather"]
    assert sample["data"]["durationMs"] == 15010 and sample["data"]["impressions"]["ageBuckets"]["total"] == 150.0


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
        ["curl", "-sf", "-X", "PUT", upload["uploadUrl"], "-H", "Content-Type: application/x-ndjson",
         "--data-binary", f"@{path}"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert api.ingest(upload["fileId"]).status_code == 202
