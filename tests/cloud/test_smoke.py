"""Smoke tests of a deployed Coatro (see conftest.py for the configuration): the three paths a screen
network uses, end to end through the gateway, the functions, Pub/Sub, Firestore, Storage and BigQuery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import requests

from tests import polling
from tests.cloud.conftest import SCHEMAS, Deployment

EVENTS = "/coatro/v1/pop/events"
BULK = "/coatro/v1/pop/dynamic/bulk"
REPORT = "/coatro/v1/pop/reports/delivery"
TOKEN = "/coatro/v1/oauth/token"
FINAL_STATES = {"completed", "partially_completed", "failed"}
# A tenant's own schema version (docs/schemas.md): snake_case columns, epoch-millisecond timestamps.
MAPPING = {
    "fields": {
        "play_id": "eventId",
        "screen_id": "screenId",
        "campaign_id": "campaignId",
        "creative_id": "creativeId",
        "played_at_ms": "playedAt",
        "duration_ms": "durationMs",
        "aud_total": "impressions.ageBuckets.total",
    },
    "timestamp_format": "epoch_millis",
    "unmapped": "context",
}


def a_minute_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)


def event(deployment: Deployment, what: str, played: datetime) -> dict:
    return {
        "eventId": deployment.name(what),
        "screenId": deployment.name("screen"),
        "siteId": deployment.name("site"),
        "campaignId": deployment.name(f"campaign-{what}"),
        "creativeId": deployment.name("creative"),
        "playedAt": played.isoformat().replace("+00:00", "Z"),
        "durationMs": 15000,
        "impressions": {"ageBuckets": {"total": 12.5, "male": 6.0, "female": 6.5}},
    }


def report_rows(deployment: Deployment, campaign: str, day: str, headers: dict | None = None) -> list[dict]:
    params = {"filter[date]": day, "filter[campaignId]": campaign, "groupBy": "campaignId"}
    response = deployment.call("GET", REPORT, params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_an_event_sent_in_real_time_becomes_visible_in_the_delivery_report(deployment):
    played = a_minute_ago()
    sent = event(deployment, "realtime", played)
    response = deployment.call("POST", EVENTS, json={"events": [sent]})
    assert response.status_code == 202, response.text

    rows = polling.until(
        lambda: report_rows(deployment, sent["campaignId"], played.date().isoformat()),
        lambda rows: bool(rows),
        timeout=deployment.timeout,
        interval=5,
    )
    assert [(r["campaignId"], r["plays"], r["durationMs"]) for r in rows] == [
        (sent["campaignId"], 1, 15000)
    ], f"the event did not reach the report within {deployment.timeout} s: {rows}"


def test_a_small_bulk_file_with_a_tenant_schema_version_ends_completed(deployment):
    version = deployment.prefix  # a schema version of this run (at most 32 characters)
    registered = deployment.call("PUT", f"{SCHEMAS}/{version}", json=MAPPING)
    assert registered.status_code in (200, 201), registered.text

    played_ms = int(a_minute_ago().timestamp() * 1000)
    rows = [
        {
            "play_id": deployment.name(f"bulk-{i}"),
            "screen_id": deployment.name("screen"),
            "campaign_id": deployment.name("campaign-bulk"),
            "creative_id": deployment.name("creative"),
            "played_at_ms": played_ms + i,
            "duration_ms": 10000,
            "aud_total": 3,
        }
        for i in range(5)
    ]
    upload = deployment.call(
        "POST", f"{BULK}/upload-url", json={"fileName": deployment.name("pop.ndjson"), "format": "ndjson"}
    )
    assert upload.status_code == 200, upload.text
    target = upload.json()
    put = requests.put(
        target["uploadUrl"],
        data="\n".join(json.dumps(r) for r in rows).encode() + b"\n",
        headers={"Content-Type": target["contentType"]},
        timeout=60,
    )
    assert put.status_code == 200, put.text
    ingest = deployment.call(
        "POST",
        f"{BULK}/ingest",
        json={"fileId": target["fileId"], "schemaVersion": version, "metadata": {"source": "cloud-tier"}},
    )
    assert ingest.status_code == 202, ingest.text
    job_id = ingest.json()["jobId"]

    status = polling.until(
        lambda: deployment.call("GET", f"{BULK}/jobs/{job_id}").json(),
        lambda status: status.get("status") in FINAL_STATES,
        timeout=deployment.timeout,
        interval=2,
    )
    counts = (
        status.get("status"),
        status.get("totalRows"),
        status.get("processedRows"),
        status.get("errorRows"),
    )
    assert counts == ("completed", 5, 5, 0), status


def test_a_token_from_client_credentials_sends_events_and_reads_reports(deployment):
    answer = deployment.session.post(
        deployment.url(TOKEN),
        data={"grant_type": "client_credentials"},
        auth=(deployment.client_id, deployment.client_secret),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["token_type"].lower() == "bearer" and set(token["scope"].split()) >= {
        "pop:write",
        "reports:read",
    }, token
    bearer = {"Authorization": f"Bearer {token['access_token']}"}

    played = a_minute_ago()
    sent = event(deployment, "token", played)
    response = deployment.session.post(
        deployment.url(EVENTS), json={"events": [sent]}, headers=bearer, timeout=60
    )
    assert response.status_code == 202, response.text
    response = deployment.session.get(
        deployment.url(REPORT), params={"filter[date]": played.date().isoformat()}, headers=bearer, timeout=60
    )
    assert response.status_code == 200, response.text
    refused = deployment.session.get(
        deployment.url(REPORT), params={"filter[date]": played.date().isoformat()}, timeout=60
    )
    assert refused.status_code == 401, refused.text  # and without any credential, nothing
