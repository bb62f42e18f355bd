"""The e2e tier drives the local stack over HTTP, as a user would."""

from __future__ import annotations

import time

import pytest
import requests

from shared.records.jobs import FINAL_STATES

BULK = "/coatro/v1/pop/dynamic/bulk"


class Api:
    def __init__(self, base: str, key: str):
        self.base, self.headers = base, {"X-API-Key": key}

    def upload_url(self, fmt: str, **extra) -> requests.Response:
        return requests.post(
            f"{self.base}{BULK}/upload-url",
            json={"fileName": f"pop.{fmt}", "format": fmt, **extra},
            headers=self.headers,
            timeout=30,
        )

    def ingest(self, file_id: str, version: str = "1.0") -> requests.Response:
        return requests.post(
            f"{self.base}{BULK}/ingest",
            json={"fileId": file_id, "schemaVersion": version},
            headers=self.headers,
            timeout=30,
        )

    def job(self, job_id: str, bulk: str = BULK) -> requests.Response:
        return requests.get(f"{self.base}{bulk}/jobs/{job_id}", headers=self.headers, timeout=30)

    def run(self, fmt: str, content: bytes, version: str = "1.0") -> tuple[str, dict]:
        step1 = self.upload_url(fmt)
        assert step1.status_code == 200, step1.text
        upload = step1.json()
        step2 = requests.put(
            upload["uploadUrl"], data=content, headers={"Content-Type": upload["contentType"]}, timeout=60
        )
        assert step2.status_code == 200, step2.text
        step3 = self.ingest(upload["fileId"], version)
        assert step3.status_code == 202, step3.text
        job_id = step3.json()["jobId"]
        return job_id, self.wait(job_id)

    def wait(self, job_id: str, timeout: float = 120, bulk: str = BULK) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.job(job_id, bulk).json()
            if status["status"] in FINAL_STATES:
                return status
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} did not end: {status}")


@pytest.fixture
def api(stack, tenant):
    return Api(stack.gateway_url, tenant[1])
