"""A scheduled report drop on the local stack, end to end: a daily schedule made through the gateway,
run by the scheduler stand-in's tick (published to pop-report-ticks, pushed to the report_drops
function), its CSV downloaded by `coatro report-schedules files --download` from the signed URL the
API lists: byte for byte the delivery report the API answers for the same day, as `coatro report`
writes it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared.platform import clients
from shared.platform.encoding import iso_utc
from shared.platform.settings import get_settings
from shared.records.report_schedules import Timing
from shared.reports import schedules
from shared.storage import report_schedules as store
from tests import polling
from tests.conftest import ROOT

SCHEDULES = "/coatro/v1/pop/report-schedules"
REPORT = "/coatro/v1/pop/reports/delivery"
ZONE = "Europe/Paris"
PARAMETERS = {"groupBy": "date,screenId,campaignId", "timezone": ZONE}
pytestmark = pytest.mark.e2e


@pytest.fixture
def tenant_schedules(tenant):
    yield tenant
    for schedule in store.list_schedules(tenant[0], None, 100):  # none stays due for another test's tick
        store.delete_schedule(tenant[0], schedule.scheduleId)


def test_a_daily_schedule_run_by_the_scheduler_drops_the_report_the_api_answers(
    stack, tenant_schedules, tmp_path
):
    from coatro_cli import report as cli_report

    tenant_id, key = tenant_schedules
    headers = {"X-API-Key": key}
    timing = Timing(frequency="daily", time="06:00", timeZone=ZONE)
    now = datetime.now(UTC)
    run_at = schedules.next_run(timing, now - timedelta(days=1))  # the latest occurrence, just passed
    day = schedules.run_date(timing, run_at) - timedelta(days=1)  # its previous_day window

    # Plays of that Paris day and around it, straight into the events table.
    start = datetime.combine(day, datetime.min.time(), UTC) - timedelta(hours=3)
    rows = [
        {"tenantId": tenant_id, "eventId": f"e-{i}", "screenId": f"s-{i % 4}", "campaignId": f"c-{i % 3}",
         "playedAt": (start + timedelta(minutes=17 * i)).isoformat(), "durationMs": 500 + 997 * (i % 20),
         "publish_time": iso_utc(now), "message_id": f"m-{i}", "subscription_name": "test"}
        for i in range(120)
    ]  # fmt: skip
    assert clients.bigquery().insert_rows_json(clients.events_table(), rows) == []

    body = {"report": "delivery", "parameters": PARAMETERS, "formats": ["csv"],
            "schedule": {"frequency": "daily", "time": "06:00", "timeZone": ZONE}}  # fmt: skip
    created = requests.put(f"{stack.gateway_url}{SCHEDULES}/daily", json=body, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    assert created.json()["nextRunAt"] == iso_utc(schedules.next_run(timing, now))
    # Time passes: the schedule's latest occurrence is due.
    store.change_schedule(
        tenant_id, "daily", lambda current: current.model_copy(update={"nextRunAt": iso_utc(run_at)})
    )

    # The scheduler stand-in's tick (Cloud Scheduler's `{}`).
    topic = clients.topic_path(get_settings().report_ticks_topic)
    clients.publisher().publish(topic, b"{}").result(timeout=30)

    def runs() -> list[dict]:
        response = requests.get(f"{stack.gateway_url}{SCHEDULES}/daily/runs", headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["runs"]

    done = polling.until(
        runs, lambda got: got and got[0]["state"] in ("succeeded", "failed"), timeout=120, interval=0.3
    )
    assert [(r["runId"], r["state"], r["firstDay"]) for r in done] == [
        (run_at.strftime("%Y%m%dT%H%M%SZ"), "succeeded", day.isoformat())
    ], done

    listed = coatro(stack, key, "report-schedules", "files", "daily", "--download", str(tmp_path))
    [file] = [json.loads(line) for line in listed.splitlines()]
    assert file["name"] == f"{tenant_id}/daily/{file['runId']}.csv"
    downloaded = (tmp_path / f"{file['runId']}.csv").read_bytes()

    # The same report over the API, as `coatro report --format csv` writes it.
    query = {**PARAMETERS, "filter[from]": day.isoformat(), "filter[to]": day.isoformat(), "per_page": "200"}
    answer = requests.get(stack.gateway_url + REPORT, params=query, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    api_rows = answer.json()["result"]
    assert 0 < len(api_rows) == answer.json()["collection"]["size"] == file["rows"]
    expected = io.StringIO(newline="")
    cli_report.write(iter(api_rows), expected, "csv", PARAMETERS["groupBy"].split(","))
    assert downloaded == expected.getvalue().encode()
    assert sum(r["plays"] for r in api_rows) < len(rows)  # the window kept only its day's plays


def coatro(stack, key: str, *args: str) -> str:
    """Run this checkout's `coatro` against the stack; its stdout."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("COATRO_")}
    env = {**inherited, "COATRO_URL": stack.gateway_url, "COATRO_API_KEY": key,
           "PYTHONPATH": str(ROOT / "client"), "COATRO_CONFIG": "/nonexistent/coatro.toml"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "coatro_cli", *args],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
