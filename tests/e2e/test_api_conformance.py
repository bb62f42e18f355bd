"""Schemathesis against the local stack: every operation of infra/openapi.yaml, with generated requests,
answers only statuses and bodies the document declares, and never a server error.

New operations are covered as soon as they are in the document. Examples per operation are bounded
so the run stays within a couple of minutes.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import requests
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from local.gateway import OPENAPI
from shared.platform.timezones import names as zone_names
from shared.reports.params import FIRST_DAY, LAST_DAY
from tests.e2e.conftest import BULK

# SCHEMATHESIS_EXAMPLES=500 make test PYTEST_ARGS=tests/e2e/test_api_conformance.py digs deeper.
EXAMPLES_PER_OPERATION = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
]


schema = schemathesis.openapi.from_path(OPENAPI)
# A request that breaks the document may also be refused as too large (a batch of 10,001 events).
_rejection = schema.config.checks.negative_data_rejection
_rejection.expected_statuses = [*_rejection.expected_statuses, "413"]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_operation_conforms_to_the_document(case, stack, tenant):
    # A valid key, so requests get past authentication to the validation and the handlers.
    case.call_and_validate(
        base_url=stack.gateway_url, headers={"X-API-Key": tenant[1]}, checks=CHECKS, timeout=30
    )


def test_the_success_bodies_of_a_real_bulk_job_match_the_document(stack, api):
    # Generated ids never name a real file or job; this walks one through, so every 2xx body is checked too.
    rows = (
        b'{"eventId": "ok-1", "screenId": "s", "playedAt": "2025-01-27T10:00:00Z", "durationMs": 1}\n'
        b'{"eventId": "bad-2", "durationMs": "thirty"}\n'
    )
    upload = api.upload_url("ndjson")
    assert upload.status_code == 200, upload.text
    schema["/coatro/v1/pop/dynamic/bulk/upload-url"]["POST"].validate_response(upload)
    put = requests.put(
        upload.json()["uploadUrl"], data=rows, headers={"Content-Type": "application/x-ndjson"}, timeout=30
    )
    assert put.status_code == 200, put.text
    ingest = api.ingest(upload.json()["fileId"])
    assert ingest.status_code == 202, ingest.text
    schema["/coatro/v1/pop/dynamic/bulk/ingest"]["POST"].validate_response(ingest)
    job_id = ingest.json()["jobId"]
    assert api.wait(job_id)["status"] == "partially_completed"
    status = api.job(job_id)
    assert status.status_code == 200 and status.json()["errors"], status.text
    schema["/coatro/v1/pop/dynamic/bulk/jobs/{jobId}"]["GET"].validate_response(status)
    errors = requests.get(
        f"{api.base}{BULK}/jobs/{job_id}/errors", params={"pageSize": 1}, headers=api.headers, timeout=30
    )
    assert errors.status_code == 200 and errors.json()["errors"], errors.text
    schema["/coatro/v1/pop/dynamic/bulk/jobs/{jobId}/errors"]["GET"].validate_response(errors)


# The report's parameters at their edges, which generation from the document alone rarely reaches: days
# at and past the ends of the calendar and of the accepted range, day spellings date.fromisoformat takes
# but YYYY-MM-DD does not, zone names the machine's zoneinfo knows but the IANA database does not, and
# page numbers in other scripts' digits. Each answer is one the document declares, and never a 5xx.
REPORT = "/coatro/v1/pop/reports/delivery"
_text = st.text(
    st.characters(codec="utf-8"), max_size=20
)  # any character a URL can carry (no lone surrogates)
_EDGE_DAYS = [
    date.min,
    date.min + timedelta(days=1),
    FIRST_DAY - timedelta(days=1),
    FIRST_DAY,
    LAST_DAY,
    LAST_DAY + timedelta(days=1),
    date.max - timedelta(days=1),
    date.max,
]
_days = st.one_of(
    st.sampled_from(_EDGE_DAYS).map(date.isoformat),
    st.dates().map(date.isoformat),  # anywhere from year 1 to 9999
    st.dates(FIRST_DAY, LAST_DAY).map(date.isoformat),
    st.sampled_from(
        [
            "2025-W10-1",
            "2025-W10",
            "2025-064",
            "20250127",
            "2025-01-27T00:00:00Z",
            "2025-1-27",
            "٢٠٢٥-٠١-٢٧",
            "２０２５-０１-２７",
            "2025-02-29",
            "2025-01-27 ",
            "+2025-01-27",
        ]
    ),
    _text,
)
_zones = st.one_of(
    st.sampled_from(sorted(zone_names())),
    st.sampled_from(
        [
            "UTC",
            "Pacific/Kiritimati",
            "Etc/GMT+12",
            "Etc/GMT-14",
            "right/UTC",
            "posixrules",
            "posix/Europe/Paris",
            "localtime",
            "Factory",
            "Europe/Paris ",
            "../../etc/passwd",
            "",
        ]
    ),
    _text,
)
_numbers = st.one_of(
    st.integers(-1, 2**64).map(str),
    st.sampled_from(["١٢", "٥٠", "１", "²", "+1", " 1", "1_0", "0x10", "1e3", "", "1.0"]),
    _text,
)


@st.composite
def _report_queries(draw) -> dict[str, str]:
    query = {}
    if draw(st.booleans()):
        query["filter[date]"] = draw(_days)
    else:
        first = draw(_days)
        query["filter[from]"] = first
        query["filter[to]"] = draw(st.one_of(_days, st.just(first)))
    for name, values in (
        ("timezone", _zones),
        ("page", _numbers),
        ("per_page", _numbers),
        ("groupBy", st.sampled_from(["date", "date,campaignId", "screenId,date", "siteId"])),
    ):
        if draw(st.booleans()):
            query[name] = draw(values)
    return query


@given(query=_report_queries())
@example(query={"filter[date]": "9999-12-31"})
@example(query={"filter[date]": "0001-01-01", "timezone": "Asia/Tokyo"})
@example(query={"filter[from]": "9999-12-30", "filter[to]": "9999-12-31", "timezone": "America/Los_Angeles"})
@example(query={"filter[date]": "2025-W10-1"})
@example(query={"filter[date]": "2025-01-27", "timezone": "right/UTC"})
@example(query={"filter[date]": "2025-01-27", "timezone": "posixrules"})
@example(query={"filter[date]": "2025-01-27", "page": "١٢"})
@example(query={"filter[date]": "2999-12-31", "timezone": "Etc/GMT+12"})
@example(query={"filter[date]": "1900-01-01", "timezone": "Pacific/Kiritimati"})
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_REPORT_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_the_report_parameters_at_their_edges(query, stack, tenant):
    case = schema[REPORT]["GET"].Case(query=query)
    response = case.call_and_validate(
        base_url=stack.gateway_url,
        headers={"X-API-Key": tenant[1]},
        timeout=60,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert {e["field"] for e in response.json()["errors"]} <= set(query), response.text
