"""GET .../bulk/jobs (issue 20): a tenant's jobs of one family, newest first, by status, paginated.

The jobs are written straight to the Firestore emulator (with createdAt chosen, so the order is known)
and read back through the gateway and the job_status function.
"""

from __future__ import annotations

import base64
import uuid

import pytest
import requests

from shared.auth import api_keys
from shared.records.jobs import JobRecord
from shared.storage import firestore
from tests.conftest import unique

pytestmark = pytest.mark.e2e
DYNAMIC, CANONICAL = "/coatro/v1/pop/dynamic/bulk", "/coatro/v1/pop/bulk"


def make_job(tenant_id: str, family: str, minute: int, status: str = "completed") -> str:
    job_id = f"job-{family}-pop-20250127-{uuid.uuid4().hex[:16]}"  # the form the API issues
    firestore.create_job(
        JobRecord(
            jobId=job_id,
            tenantId=tenant_id,
            fileId=f"file-{family}-20250127-0000000000000000",
            schemaVersion="1.0",
            status=status,
            createdAt=f"2025-01-27T10:{minute:02d}:00.000Z",
            processedRows=10 if status == "completed" else None,
            errorRows=0 if status == "completed" else None,
            skippedRows=0 if status == "completed" else None,
            totalRows=10,
        )
    )
    return job_id


def listing(stack, key: str, base: str = DYNAMIC, **params) -> requests.Response:
    return requests.get(
        f"{stack.gateway_url}{base}/jobs", params=params, headers={"X-API-Key": key}, timeout=30
    )


def test_a_tenants_jobs_of_each_family_newest_first_by_status_and_in_pages(stack, tenant):
    tenant_id, key = tenant
    dynamic = [make_job(tenant_id, "dynamic", m, "failed" if m % 3 == 0 else "completed") for m in range(7)]
    canonical = [make_job(tenant_id, "bulk", m) for m in range(7, 9)]
    other_tenant = unique("tenant")
    make_job(other_tenant, "dynamic", 59)

    everything = listing(stack, key).json()
    assert everything["tenantId"] == tenant_id
    assert [j["jobId"] for j in everything["jobs"]] == dynamic[::-1]
    assert everything["nextPageToken"] is None
    newest, second = everything["jobs"][:2]
    assert newest["createdAt"] == "2025-01-27T10:06:00.000Z" and newest["status"] == "failed"
    assert newest["processedRows"] is None and second["processedRows"] == 10  # final counters only
    assert [j["jobId"] for j in listing(stack, key, CANONICAL).json()["jobs"]] == canonical[::-1]
    failed = listing(stack, key, status="failed").json()["jobs"]
    assert [j["jobId"] for j in failed] == [dynamic[6], dynamic[3], dynamic[0]]

    seen, token, pages = [], None, 0
    while True:
        page = listing(stack, key, pageSize=2, **({"pageToken": token} if token else {})).json()
        seen += [j["jobId"] for j in page["jobs"]]
        pages += 1
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == dynamic[::-1] and pages >= 4
    # Another tenant sees its own job only; a token carries no tenant.
    other = listing(stack, api_keys.create_key(other_tenant), pageSize=1).json()
    assert other["tenantId"] == other_tenant and len(other["jobs"]) == 1


def test_bad_parameters_are_400s_naming_each(stack, tenant):
    _, key = tenant
    response = listing(stack, key, status="done", pageSize="0", pageToken="!!")
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"status", "pageSize", "pageToken"}
    forged = base64.urlsafe_b64encode(b"2025|job-x' or 1").decode()
    assert listing(stack, key, pageToken=forged).status_code == 400
    assert requests.get(f"{stack.gateway_url}{DYNAMIC}/jobs", timeout=30).status_code == 401
