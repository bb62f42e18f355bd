"""Scheduled report drops in-process against the emulators: the `report_schedules` function through
functions-framework's test client, ticks run with a chosen `now` (shared.reports.drops.tick), files
in the storage emulator, the report in the BigQuery emulator."""

from __future__ import annotations

import base64
import io
import json
import os
import random
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared.auth import api_keys
from shared.auth.callers import USERINFO_HEADER
from shared.platform import clients
from shared.platform.encoding import iso_utc
from shared.reports import drops
from shared.storage import report_schedules as store
from tests.conftest import EventsSink, unique
from tests.integration.conftest import _client

SCHEDULES = "/coatro/v1/pop/report-schedules"
REPORT = "/coatro/v1/pop/reports/delivery"
BODY = {
    "report": "delivery",
    "parameters": {"groupBy": "date,campaignId,screenId", "timezone": "Europe/Paris"},
    "schedule": {"frequency": "daily", "time": "06:00", "timeZone": "Europe/Paris"},
    "window": "previous_day",
    "formats": ["csv", "json"],
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def bearer(tenant_id: str, scope: str) -> dict[str, str]:
    claims = json.dumps({"tenant": tenant_id, "scope": scope}).encode()
    return {USERINFO_HEADER: base64.urlsafe_b64encode(claims).decode().rstrip("=")}


def load_plays(tenant_id: str, count: int) -> None:
    """Plays around 27 January 2025 in Paris (some on the 26th and 28th: outside the window), a few
    delivered twice, straight into the events table."""
    rng = random.Random(19)
    start = utc("2025-01-26T20:00:00")
    iso_now = iso_utc(datetime.now(UTC))
    rows = []
    for i in range(count):
        row = {
            "tenantId": tenant_id,
            "eventId": f"e-{i}",
            "playedAt": (start + timedelta(seconds=rng.randrange(2 * 86400))).isoformat(),
            "campaignId": rng.choice(["c1", "c2", "=cmd"]),
            "screenId": rng.choice(["s1", "s2", "s3"]),
            "durationMs": rng.choice([500, 5000, 15000]),
            "publish_time": iso_now,  # as the subscription writes it: after any roll
            "message_id": f"m-{i}",
            "subscription_name": "test",
        }
        if i % 3:
            row["impressions"] = {"ageBuckets": {"total": rng.randrange(40) / 4}}
        rows.append(row)
    rows += [dict(r, message_id=r["message_id"] + "-again", durationMs=1) for r in rows[:10]]
    assert clients.bigquery().insert_rows_json(clients.events_table(), rows) == []


def due_at(tenant_id: str, schedule_id: str, instant: str) -> None:
    """Time passes: the schedule's next run is `instant`."""
    store.change_schedule(
        tenant_id, schedule_id, lambda current: current.model_copy(update={"nextRunAt": instant})
    )


@pytest.fixture
def api(stack, tenant):
    client = _client("report_schedules")
    headers = {"X-API-Key": tenant[1]}

    class Api:
        tenant_id, key = tenant
        raw = client

        def put(self, schedule_id, body, key_headers=headers):
            return client.put(f"{SCHEDULES}/{schedule_id}", json=body, headers=key_headers)

        def get(self, path="", key_headers=headers, **query):
            return client.get(f"{SCHEDULES}{path}", query_string=query, headers=key_headers)

    yield Api()
    # No schedule of a test stays due for another test's tick (ticks read every tenant's schedules).
    for schedule in store.list_schedules(tenant[0], None, 100):
        store.delete_schedule(tenant[0], schedule.scheduleId)


def test_a_run_drops_exactly_what_the_endpoint_answers_once_and_says_so(api):
    from coatro_cli import report as cli_report

    load_plays(api.tenant_id, 150)
    schedule_id = unique("daily")
    created = api.put(schedule_id, BODY)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["nextRunAt"] > iso_utc(datetime.now(UTC))
    due_at(api.tenant_id, schedule_id, "2025-01-28T05:00:00.000Z")  # 06:00 in Paris
    sink = EventsSink(os.environ.get("COATRO_WEBHOOK_EVENTS_TOPIC", "pop-webhook-events"))
    try:
        now = utc("2025-01-28T05:03:00")
        outcome = drops.tick(now)
        assert (outcome.claimed, outcome.succeeded, outcome.failed) == (1, 1, 0)
        # The same tick again, or a later one before the next run: nothing more.
        again = drops.tick(now + timedelta(minutes=5))
        assert (again.claimed, again.succeeded) == (0, 0)
        events = sink.pull(api.tenant_id, until=lambda got: len(got) >= 1)
    finally:
        sink.close()

    run_id = "20250128T050000Z"
    [event] = [e["data"] for e in events]
    assert event["id"] == f"evt_report_{api.tenant_id}_{schedule_id}_{run_id}"
    assert event["type"] == "report.ready"
    assert event["data"]["firstDay"] == event["data"]["lastDay"] == "2025-01-27"

    schedule = api.get(f"/{schedule_id}").get_json()
    assert schedule["nextRunAt"] == "2025-01-29T05:00:00.000Z"
    assert schedule["lastRun"]["state"] == "succeeded" and schedule["lastRun"]["attempts"] == 1

    # The endpoint's pages, walked, rendered as `coatro report` renders them.
    reports = _client("reports")
    rows, page = [], 1
    while True:
        query = {**BODY["parameters"], "filter[from]": "2025-01-27", "filter[to]": "2025-01-27"}
        body = reports.get(REPORT, query_string={**query, "page": page, "per_page": 5},
                           headers={"X-API-Key": api.key}).get_json()  # fmt: skip
        rows += body["result"]
        if body["collection"]["next_url"] is None:
            break
        page += 1
    assert page == 2 and len(rows) == body["collection"]["size"] == 9
    expected_csv, expected_json = io.StringIO(newline=""), io.StringIO()
    cli_report.write(iter(rows), expected_csv, "csv", ["date", "campaignId", "screenId"])
    cli_report.write(iter(rows), expected_json, "json", [])

    files = api.get(f"/{schedule_id}/files").get_json()
    assert [(f["runId"], f["format"]) for f in files["files"]] == [(run_id, "csv"), (run_id, "json")]
    for file in files["files"]:
        assert file["name"] == f"{api.tenant_id}/{schedule_id}/{run_id}.{file['format']}"
        assert file["rows"] == len(rows)
        assert "X-Goog-Signature=" in file["url"]
        downloaded = requests.get(file["url"], timeout=30)
        assert downloaded.status_code == 200
        expected = expected_csv if file["format"] == "csv" else expected_json
        assert downloaded.content == expected.getvalue().encode()  # byte for byte
        assert file["bytes"] == len(downloaded.content)

    # Another tenant sees no such schedule, its files or runs.
    other = {"X-API-Key": api_keys.create_key(unique("other"), label="test")}
    for path in ("", "/files", "/runs"):
        assert api.get(f"/{schedule_id}{path}", key_headers=other).status_code == 404


def test_a_failing_run_is_retried_then_recorded_failed_with_its_error(api):
    schedule_id = unique("failing")
    assert api.put(schedule_id, {**BODY, "formats": ["csv"]}).status_code == 201
    due_at(api.tenant_id, schedule_id, "2025-02-10T05:00:00.000Z")
    # report.ready cannot be published: each attempt fails after the file is written (the first
    # attempt writes it, the others find it and keep it).
    os.environ["COATRO_WEBHOOK_EVENTS_TOPIC"] = unique("no-such-topic")
    clients.reset()
    start = utc("2025-02-10T05:01:00")

    first = drops.tick(start)
    assert (first.claimed, first.retrying) == (1, 1)
    [run] = api.get(f"/{schedule_id}/runs").get_json()["runs"]
    assert (run["state"], run["attempts"]) == ("retrying", 1) and "attempt 1" in run["error"]
    assert run["nextAttemptAt"] == "2025-02-10T05:06:00.000Z"  # 5 minutes later
    assert drops.tick(start + timedelta(minutes=2)).retrying == 0  # not before its backoff
    assert drops.tick(start + timedelta(minutes=6)).retrying == 1  # attempt 2, then 10 minutes
    final = drops.tick(start + timedelta(minutes=17))
    assert final.failed == 1

    [run] = api.get(f"/{schedule_id}/runs").get_json()["runs"]
    assert (run["state"], run["attempts"], run["nextAttemptAt"]) == ("failed", 3, None)
    assert "attempt 3" in run["error"] and "no-such-topic" in run["error"], run["error"]
    assert api.get(f"/{schedule_id}").get_json()["lastRun"]["state"] == "failed"
    assert api.get(f"/{schedule_id}/files").get_json()["files"] == []
    assert drops.tick(start + timedelta(hours=1)).failed == 0  # final: never taken again


def test_a_run_missed_by_more_than_a_week_is_skipped_and_the_schedule_resumes(api):
    schedule_id = unique("late")
    assert api.put(schedule_id, BODY).status_code == 201
    due_at(api.tenant_id, schedule_id, "2025-01-01T05:00:00.000Z")
    os.environ["COATRO_REPORT_TICK_BUDGET_SECONDS"] = "0.001"  # claims only: running is not what this checks
    clients.reset()
    now = utc("2025-03-01T12:00:00")
    outcome = drops.tick(now)
    assert outcome.skipped == 1
    runs = api.get(f"/{schedule_id}/runs").get_json()["runs"]
    # Resumed within the last week: the daily runs from 23 February to 1 March, in the same tick.
    assert [r["runId"] for r in runs] == [
        f"2025{day}T050000Z" for day in ("0301", "0228", "0227", "0226", "0225", "0224", "0223")
    ]
    assert outcome.claimed == 7
    paged, token = [], None
    while True:
        page = api.get(f"/{schedule_id}/runs", **({"pageSize": 3} | ({"pageToken": token} if token else {})))
        paged += [r["runId"] for r in page.get_json()["runs"]]
        if (token := page.get_json()["nextPageToken"]) is None:
            break
    assert paged == [r["runId"] for r in runs]
    assert api.get(f"/{schedule_id}/files", pageSize=26).status_code == 400
    assert api.get(f"/{schedule_id}").get_json()["nextRunAt"] == "2025-03-02T05:00:00.000Z"


def test_the_api_validates_scopes_and_pages(api):
    bad = api.put(
        "x", {"report": "delivery", "schedule": {"frequency": "daily"}, "parameters": {"groupBy": "x"}}
    )
    assert bad.status_code == 400
    fields = {e["field"] for e in bad.get_json()["errors"]}
    assert fields == {"schedule.time", "schedule.timeZone", "parameters.groupBy"}
    assert api.put("a/b", BODY).status_code == 404
    assert api.put("-x", BODY).status_code == 400
    # reports:read reads; managing needs reports:write.
    reader = bearer(api.tenant_id, "reports:read")
    assert api.put("by-token", BODY, key_headers=reader).status_code == 403
    assert api.put("by-token", BODY, key_headers=bearer(api.tenant_id, "reports:write")).status_code == 201
    assert api.get("/by-token", key_headers=reader).status_code == 200
    assert api.raw.delete(f"{SCHEDULES}/by-token", headers=reader).status_code == 403

    ids = sorted(unique(f"s{i}") for i in range(3))
    for schedule_id in ids:
        assert api.put(schedule_id, BODY).status_code == 201
    same = api.put(ids[0], BODY)  # the same again: 200, unchanged
    assert same.status_code == 200 and same.get_json()["updatedAt"] == same.get_json()["createdAt"]
    changed = api.put(ids[0], {**BODY, "schedule": {**BODY["schedule"], "time": "07:15"}})
    assert changed.status_code == 200 and changed.get_json()["nextRunAt"][11:16] in ("06:15", "05:15")
    listed, token = [], None
    while True:
        page = api.get(**({"pageSize": 2} | ({"pageToken": token} if token else {}))).get_json()
        listed += [s["scheduleId"] for s in page["schedules"]]
        token = page["nextPageToken"]
        if token is None:
            break
    assert listed == sorted(["by-token", *ids])
    assert api.get(pageSize=0).status_code == 400 and api.get(colour="red").status_code == 400
    deleted = api.raw.delete(f"{SCHEDULES}/{ids[0]}", headers={"X-API-Key": api.key})
    assert deleted.status_code == 200 and deleted.get_json()["scheduleId"] == ids[0]
    assert api.get(f"/{ids[0]}").status_code == 404
    assert api.raw.delete(f"{SCHEDULES}/{ids[0]}", headers={"X-API-Key": api.key}).status_code == 404


def test_a_performance_drop_is_the_endpoints_csv_and_json_for_the_booking_as_of_the_run(api, monkeypatch):
    from shared.reports import api as reports_api
    from tests.integration import test_performance_report as perf

    perf.load(api.tenant_id, perf.make_plays(api.tenant_id)[::25])  # a few plays, published now
    perf.put_booking(api.tenant_id, "b1", perf.BOOKING_1)
    schedule_id = unique("perf")
    body = {
        "report": "performance",
        "parameters": {"bookingId": "b1", "darkAfterHours": "4"},
        "schedule": {"frequency": "daily", "time": "06:00", "timeZone": "Europe/London"},
        "formats": ["csv", "json"],
    }
    refused = api.put(schedule_id, {**body, "window": "previous_day"})
    assert refused.status_code == 400 and [e["field"] for e in refused.get_json()["errors"]] == ["window"]
    created = api.put(schedule_id, body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["window"] is None
    due_at(api.tenant_id, schedule_id, "2025-03-05T06:00:00.000Z")  # in the flight (London on GMT)
    outcome = drops.tick(utc("2025-03-05T06:02:00"))
    assert (outcome.claimed, outcome.succeeded, outcome.failed) == (1, 1, 0)

    # The endpoint at the run's instant: its `now` frozen there.
    instant = utc("2025-03-05T06:00:00")

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return instant

    monkeypatch.setattr(reports_api, "datetime", Frozen)
    reports, headers = _client("reports"), {"X-API-Key": api.key}
    query = {"bookingId": "b1", "darkAfterHours": "4"}
    as_json = reports.get(perf.REPORT, query_string=query, headers=headers)
    as_csv = reports.get(perf.REPORT, query_string={**query, "format": "csv"}, headers=headers)
    assert as_json.status_code == as_csv.status_code == 200
    assert as_json.get_json()["asOf"] == "2025-03-05T06:00:00.000Z" and as_json.get_json()["delivered"] > 0

    [run] = api.get(f"/{schedule_id}/runs").get_json()["runs"]
    assert run["firstDay"] == run["lastDay"] == "2025-03-05"
    files = api.get(f"/{schedule_id}/files").get_json()["files"]
    assert [f["format"] for f in files] == ["csv", "json"]
    for file in files:
        downloaded = requests.get(file["url"], timeout=30)
        expected = as_csv if file["format"] == "csv" else as_json
        assert downloaded.content == expected.get_data()  # byte for byte
        # Both count the CSV rows (the header aside): one a figure group.
        assert file["rows"] == len(as_csv.get_data().splitlines()) - 1
