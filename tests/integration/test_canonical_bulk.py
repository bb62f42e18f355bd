"""The canonical bulk endpoints (/coatro/v1/pop/bulk/): the same functions and pipeline as /dynamic/bulk/,
ingest without a schemaVersion, and files and jobs that belong to the endpoints that created them."""

from __future__ import annotations

import re

from tests import bulk_files
from tests.conftest import unique
from tests.integration.conftest import BULK, assert_counts

CANONICAL = "/coatro/v1/pop/bulk"


def upload(bulk, content: bytes, base: str = CANONICAL) -> dict:
    response = bulk.upload_url.post(
        f"{base}/upload-url", json={"fileName": "pop.ndjson", "format": "ndjson"}, headers=bulk.headers
    )
    assert response.status_code == 200, response.get_json()
    target = response.get_json()
    bulk.put(target, content)
    bulk.split(target["fileId"])
    return target


def ingest(bulk, body: dict, base: str = CANONICAL):
    return bulk.ingest_fn.post(f"{base}/ingest", json=body, headers=bulk.headers)


def test_the_four_steps_under_bulk_run_a_canonical_job(bulk, events_sink):
    content = bulk_files.ndjson(30, unique("canon"), bad={6: {"durationMs": "abc"}})  # row 7
    target = upload(bulk, content)
    assert re.fullmatch(r"file-bulk-\d{8}-[0-9a-f]{16}", target["fileId"])
    assert "POST /coatro/v1/pop/bulk/ingest" in target["uploadInstructions"]

    started = ingest(bulk, {"fileId": target["fileId"], "metadata": {"source": "daily_export"}})
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["jobId"]
    assert job_id == "job-bulk-pop-" + target["fileId"].removeprefix("file-bulk-")
    bulk.run_all()

    status = bulk.status_fn.get(f"{CANONICAL}/jobs/{job_id}", headers=bulk.headers)
    assert status.status_code == 200, status.get_json()
    assert_counts(status.get_json(), "partially_completed", 30, 29, 1)
    assert status.get_json()["schemaVersion"] == "1.0"
    errors = bulk.status_fn.get(f"{CANONICAL}/jobs/{job_id}/errors", headers=bulk.headers).get_json()
    assert [e["row"] for e in errors["errors"]] == [7] and errors["totalErrors"] == 1
    published = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 29)
    assert len(published) == 29 and {m["data"]["jobId"] for m in published} == {job_id}

    again = ingest(
        bulk, {"fileId": target["fileId"], "schemaVersion": "1.0"}
    )  # "1.0" is what it means anyway
    assert again.status_code == 202 and again.get_json()["jobId"] == job_id


def test_a_schema_version_other_than_1_0_is_a_400_naming_it(bulk):
    target = upload(bulk, bulk_files.ndjson(2, unique("v")))
    response = ingest(bulk, {"fileId": target["fileId"], "schemaVersion": "snake-epoch-ms-1"})
    assert response.status_code == 400
    (error,) = response.get_json()["errors"]
    assert error["field"] == "schemaVersion" and "/coatro/v1/pop/dynamic/bulk/ingest" in error["message"]
    missing = ingest(bulk, {"metadata": {}})
    assert missing.status_code == 400 and [e["field"] for e in missing.get_json()["errors"]] == ["fileId"]


def test_files_and_jobs_belong_to_the_endpoints_that_created_them(bulk):
    canonical = upload(bulk, bulk_files.ndjson(3, unique("c")))
    dynamic = upload(bulk, bulk_files.ndjson(3, unique("d")), base=BULK)
    assert dynamic["fileId"].startswith("file-dynamic-")

    crossed = ingest(bulk, {"fileId": canonical["fileId"], "schemaVersion": "1.0"}, base=BULK)
    assert crossed.status_code == 400 and crossed.get_json()["type"].endswith("/unknown-file")
    assert "/coatro/v1/pop/bulk/" in crossed.get_json()["detail"]  # where it lives (known from the id's form)
    crossed = ingest(bulk, {"fileId": dynamic["fileId"]})
    assert crossed.status_code == 400 and "/coatro/v1/pop/dynamic/bulk/" in crossed.get_json()["detail"]

    canonical_job = ingest(bulk, {"fileId": canonical["fileId"]}).get_json()["jobId"]
    dynamic_job = ingest(bulk, {"fileId": dynamic["fileId"], "schemaVersion": "1.0"}, base=BULK).get_json()[
        "jobId"
    ]
    for job_id, home, other in [(canonical_job, CANONICAL, BULK), (dynamic_job, BULK, CANONICAL)]:
        assert bulk.status_fn.get(f"{home}/jobs/{job_id}", headers=bulk.headers).status_code == 200
        for path in (f"{other}/jobs/{job_id}", f"{other}/jobs/{job_id}/errors"):
            elsewhere = bulk.status_fn.get(path, headers=bulk.headers)
            assert elsewhere.status_code == 404 and f"under {home}/" in elsewhere.get_json()["detail"]


def test_another_tenants_canonical_job_is_404_like_a_missing_one(bulk):
    from shared.auth import api_keys

    target = upload(bulk, bulk_files.ndjson(2, unique("t")))
    job_id = ingest(bulk, {"fileId": target["fileId"]}).get_json()["jobId"]
    other = {"X-API-Key": api_keys.create_key(unique("other-tenant"))}
    theirs = bulk.status_fn.get(f"{CANONICAL}/jobs/{job_id}", headers=other)
    missing = bulk.status_fn.get(
        f"{CANONICAL}/jobs/job-bulk-pop-20250101-0123456789abcdef", headers=bulk.headers
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json()["detail"].replace(job_id, "ID") == missing.get_json()["detail"].replace(
        "job-bulk-pop-20250101-0123456789abcdef", "ID"
    )
    malformed = bulk.status_fn.get(f"{CANONICAL}/jobs/job-bulk-pop-oops", headers=bulk.headers)
    assert (
        malformed.status_code == 404 and "belong to" not in malformed.get_json()["detail"]
    )  # no hint to itself
