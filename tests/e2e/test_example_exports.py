"""Each shipped example mapping ingests its sample export through the local stack: the contract's
workflow over HTTP, the job's exact counts and row errors, and the exact canonical events published."""

from __future__ import annotations

import pytest
import requests

from shared.bulk import schema_registry
from tests.bulk_files import shipped_examples
from tests.e2e.conftest import BULK
from tests.example_exports import ALL, DV360_BATCH, XIBO, Expected, dv360_batch_with_bad_requests

EXAMPLES = shipped_examples()
PROVENANCE = ("tenantId", "source", "ingestedAt", "jobId", "row")


def ingest(api, fmt: str, content: bytes, version: str, metadata: dict | None = None):
    upload = api.upload_url(fmt).json()
    put = requests.put(
        upload["uploadUrl"], data=content, headers={"Content-Type": upload["contentType"]}, timeout=60
    )
    assert put.status_code == 200, put.text
    body = {
        "fileId": upload["fileId"],
        "schemaVersion": version,
        **({"metadata": metadata} if metadata else {}),
    }
    return requests.post(f"{api.base}{BULK}/ingest", json=body, headers=api.headers, timeout=30)


@pytest.mark.parametrize("expected", ALL, ids=[e.version for e in ALL])
def test_example_export_end_to_end(api, tenant, events_sink, expected: Expected):
    assert schema_registry.register(tenant[0], EXAMPLES[expected.version])
    response = ingest(api, expected.fmt, expected.data, expected.version, {"source": "daily_export"})
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    status = api.wait(job_id)
    assert (
        status["totalRows"],
        status["processedRows"],
        status["errorRows"],
        status["skippedRows"],
    ) == expected.counts
    assert status["status"] == ("partially_completed" if expected.errors else "completed")
    assert [(e["row"], e["error"]) for e in status["errors"]] == expected.errors
    got = events_sink.pull(tenant[0], until=lambda ms: len(ms) >= len(expected.events), timeout=30)
    assert len(got) == len(expected.events)
    by_id = {m["attributes"]["eventId"]: m["data"] for m in got}
    assert sorted(by_id) == sorted(expected.ids)
    for event in expected.events:
        data = by_id[event["eventId"]]
        assert {k: v for k, v in data.items() if k not in PROVENANCE} == event
        assert data["jobId"] == job_id and data["source"] == "bulk" and data["tenantId"] == tenant[0]
    if expected.rows is not None:  # a JSON document: row = the record's position in its array
        assert [by_id[i]["row"] for i in expected.ids] == expected.rows


def test_dv360_batch_with_bad_requests_names_their_positions(api, tenant, events_sink):
    assert schema_registry.register(tenant[0], EXAMPLES[DV360_BATCH.version])
    data, expected_errors = dv360_batch_with_bad_requests()
    response = ingest(api, "json", data, DV360_BATCH.version)
    assert response.status_code == 202, response.text
    status = api.wait(response.json()["jobId"])
    assert (status["status"], status["totalRows"], status["processedRows"], status["errorRows"]) == (
        "partially_completed",
        40,
        36,
        4,
    )
    assert [(e["row"], e["error"]) for e in status["errors"]] == expected_errors
    got = events_sink.pull(tenant[0], until=lambda ms: len(ms) >= 36, timeout=30)
    bad = {row for row, _ in expected_errors}
    assert sorted(m["data"]["row"] for m in got) == [row for row in range(1, 41) if row not in bad]


def test_ingest_zone_reaches_the_worker_and_a_bad_one_is_refused(api, tenant, events_sink):
    assert schema_registry.register(tenant[0], EXAMPLES[XIBO.version])
    bad = ingest(api, "csv", XIBO.data, XIBO.version, {"timezone": "Europe/Pariss"})
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {
            "index": None,
            "field": "metadata.timezone",
            "message": "unknown time zone 'Europe/Pariss'; use an IANA name such as Europe/London or UTC",
        }
    ]
    response = ingest(api, "csv", XIBO.data, XIBO.version, {"timezone": "Europe/Paris"})
    assert response.status_code == 202, response.text
    status = api.wait(response.json()["jobId"])
    assert (status["processedRows"], status["skippedRows"]) == (5, 3)
    got = events_sink.pull(tenant[0], until=lambda ms: len(ms) >= 5, timeout=30)
    # 00:59:50 and 01:30 in Paris are still CET; its clocks go from 02:00 to 03:00, so 02:45 does not
    # exist there and is read with the offset before the change (CET) too
    assert sorted(m["data"]["playedAt"] for m in got)[:3] == [
        "2025-03-29T23:59:50.000Z",
        "2025-03-30T00:30:00.000Z",
        "2025-03-30T01:45:00.000Z",
    ]
