"""Schemathesis against the local stack: every operation of infra/openapi.yaml, with generated requests,
answers only statuses and bodies the document declares, and never a server error.

New operations are covered as soon as they are in the document. Examples per operation are bounded
so the run stays within a couple of minutes.
"""

from __future__ import annotations

import os

import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, missing_required_header, negative_data_rejection, response_headers_conformance,
    response_schema_conformance, status_code_conformance, unsupported_method,
)

from local.gateway import OPENAPI
from tests.e2e.conftest import BULK

# SCHEMATHESIS_EXAMPLES=500 make test PYTEST_ARGS=tests/e2e/test_api_conformance.py digs deeper.
EXAMPLES_PER_OPERATION = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "30"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection, missing_required_header, unsupported_method]


schema = schemathesis.openapi.from_path(OPENAPI)
# A request that breaks the document may also be refused as too large (a batch of 10,001 events).
_rejection = schema.config.checks.negative_data_rejection
_rejection.expected_statuses = [*_rejection.expected_statuses, "413"]


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_every_operation_conforms_to_the_document(case, stack, tenant):
    # A valid key, so requests get past authentication to the validation and the handlers.
    case.call_and_validate(base_url=stack.gateway_url, headers={"X-API-Key": tenant[1]}, checks=CHECKS, timeout=30)


def test_the_success_bodies_of_a_real_bulk_job_match_the_document(stack, api):
    # Generated ids never name a real file or job; this walks one through, so every 2xx body is checked too.
    rows = (b'{"eventId": "ok-1", "screenId": "s", "playedAt": "2025-01-27T10:00:00Z", "durationMs": 1}\n'
            b'{"eventId": "bad-2", "durationMs": "thirty"}\n')
    upload = api.upload_url("ndjson")
    assert upload.status_code == 200, upload.text
    schema["/coatro/v1/pop/dynamic/bulk/upload-url"]["POST"].validate_response(upload)
    put = requests.put(upload.json()["uploadUrl"], data=rows, headers={"Content-Type": "application/x-ndjson"}, timeout=30)
    assert put.status_code == 200, put.text
    ingest = api.ingest(upload.json()["fileId"])
    assert ingest.status_code == 202, ingest.text
    schema["/coatro/v1/pop/dynamic/bulk/ingest"]["POST"].validate_response(ingest)
    job_id = ingest.json()["jobId"]
    assert api.wait(job_id)["status"] == "partially_completed"
    status = api.job(job_id)
    assert status.status_code == 200 and status.json()["errors"], status.text
    schema["/coatro/v1/pop/dynamic/bulk/jobs/{jobId}"]["GET"].validate_response(status)
    errors = requests.get(f"{api.base}{BULK}/jobs/{job_id}/errors", params={"pageSize": 1}, headers=api.headers, timeout=30)
    assert errors.status_code == 200 and errors.json()["errors"], errors.text
    schema["/coatro/v1/pop/dynamic/bulk/jobs/{jobId}/errors"]["GET"].validate_response(errors)
