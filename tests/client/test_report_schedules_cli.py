"""`coatro report-schedules put|list|files` against the local stack (runs and delete are the same\nrequests with another path; the API is tested in tests/integration/test_report_drops.py)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT

BODY = {
    "report": "delivery",
    "parameters": {"groupBy": "date,campaignId"},
    "schedule": {"frequency": "weekly", "time": "06:00", "timeZone": "Europe/Paris", "weekday": "monday"},
    "formats": ["csv", "json"],
}


@pytest.mark.e2e
def test_put_list_files(coatro, stack, tenant):
    # This checkout's client (the environment may have another one installed in development mode).
    env = {"COATRO_URL": stack.gateway_url, "COATRO_API_KEY": tenant[1], "PYTHONPATH": str(ROOT / "client")}
    put = coatro("report-schedules", "put", "weekly", "-", env=env, stdin=json.dumps(BODY))
    assert put.code == 0, put.stderr
    assert json.loads(put.stdout)["schedule"]["weekday"] == "monday" and "created" in put.stderr
    listed = coatro("report-schedules", "list", env=env)
    assert [json.loads(line)["scheduleId"] for line in listed.stdout.splitlines()] == ["weekly"]
    files = coatro("report-schedules", "files", "weekly", env=env)  # none yet
    assert (files.code, files.stdout) == (0, ""), files.stderr
