"""Through the local gateway, as a user would: write a mapping with preview, register it, ingest with it;
and the canonical bulk endpoints' four steps."""

from __future__ import annotations

import requests

from tests.conftest import ROOT, unique

SCHEMAS = "/coatro/v1/pop/dynamic/schemas"
CANONICAL = "/coatro/v1/pop/bulk"
EXPORT = (ROOT / "tests/data/snake_case_export.csv").read_text()


def test_try_a_mapping_with_preview_register_it_and_ingest_with_it(api, events_sink, tenant):
    base, headers = api.base + SCHEMAS, api.headers
    mapping = {
        "fields": {"play_id": "eventId", "screen_id": "screenId", "played_at_ms": "playedAt"},
        "timestamp_format": "epoch_millis",
        "numeric_strings": True,
    }
    # try: the first attempt forgets that duration_ms is durationMs (it lands in context)
    tried = requests.post(
        f"{base}/preview",
        json={"format": "csv", "sample": EXPORT, "mapping": mapping},
        headers=headers,
        timeout=30,
    )
    assert tried.status_code == 200, tried.text
    assert tried.json()["events"][0]["context"]["duration_ms"] == "30000"
    # fix, look again
    mapping["fields"]["duration_ms"] = "durationMs"
    fixed = requests.post(
        f"{base}/preview",
        json={"format": "csv", "sample": EXPORT, "mapping": mapping},
        headers=headers,
        timeout=30,
    ).json()
    assert fixed["events"][0]["durationMs"] == 30000 and "duration_ms" not in fixed["events"][0]["context"]
    assert (fixed["totalRows"], fixed["processedRows"], fixed["errorRows"]) == (3, 3, 0)

    version = unique("cms")
    registered = requests.put(f"{base}/{version}", json=mapping, headers=headers, timeout=30)
    assert registered.status_code == 201, registered.text
    again = requests.put(f"{base}/{version}", json=mapping, headers=headers, timeout=30)
    assert again.status_code == 200
    listed = requests.get(base, headers=headers, timeout=30).json()["schemas"]
    assert listed == [{"version": "1.0", "builtIn": True}, {"version": version, "builtIn": False}]
    shown = requests.get(f"{base}/{version}", headers=headers, timeout=30).json()
    assert shown["mapping"]["fields"] == mapping["fields"]
    previewed = requests.post(
        f"{base}/{version}/preview", json={"format": "csv", "sample": EXPORT}, headers=headers, timeout=30
    ).json()
    assert previewed["events"] == fixed["events"]

    job_id, status = api.run("csv", EXPORT.encode(), version)
    assert (status["status"], status["processedRows"], status["errorRows"]) == ("completed", 3, 0), status
    got = events_sink.pull(tenant[0], until=lambda ms: len(ms) >= 3)
    assert sorted({m["data"]["eventId"] for m in got}) == [
        "p-0001",
        "p-0002",
        "p-0003",
    ]  # at least once: a chunk may be redelivered
    assert {m["data"]["durationMs"] for m in got} == {30000, 15000, 10000}


def test_schema_errors_through_the_gateway(api):
    base, headers = api.base + SCHEMAS, api.headers
    bad = requests.put(f"{base}/v1", json={"fields": {"a": "screenID"}}, headers=headers, timeout=30)
    assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"
    assert bad.json()["errors"][0]["field"] == "fields"
    assert requests.put(f"{base}/1.0", json={}, headers=headers, timeout=30).status_code == 409
    assert requests.put(f"{base}/preview", json={}, headers=headers, timeout=30).status_code == 405
    assert requests.get(base, headers={"X-API-Key": "nope"}, timeout=30).status_code == 401


def test_canonical_bulk_four_steps_through_the_gateway(api):
    content = (ROOT / "tests/data/contract_event.json").read_bytes()
    step1 = requests.post(
        f"{api.base}{CANONICAL}/upload-url",
        json={"fileName": "pop.json", "format": "json"},
        headers=api.headers,
        timeout=30,
    )
    assert step1.status_code == 200, step1.text
    upload = step1.json()
    assert upload["fileId"].startswith("file-bulk-")
    put = requests.put(
        upload["uploadUrl"], data=content, headers={"Content-Type": upload["contentType"]}, timeout=60
    )
    assert put.status_code == 200
    step3 = requests.post(
        f"{api.base}{CANONICAL}/ingest", json={"fileId": upload["fileId"]}, headers=api.headers, timeout=30
    )
    assert step3.status_code == 202, step3.text
    job_id = step3.json()["jobId"]
    assert job_id.startswith("job-bulk-pop-")
    status = api.wait(job_id, bulk=CANONICAL)
    assert (status["status"], status["totalRows"], status["processedRows"]) == ("completed", 1, 1), status
    errors = requests.get(f"{api.base}{CANONICAL}/jobs/{job_id}/errors", headers=api.headers, timeout=30)
    assert errors.status_code == 200 and errors.json()["errors"] == []
    assert api.job(job_id).status_code == 404  # not under /dynamic/bulk/
