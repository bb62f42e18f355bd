"""`coatro webhooks put|list|deliveries` against the local stack, with a receiver on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.records.notify import WebhookEvent
from shared.storage import notices
from tests import polling
from tests.webhook_receiver import Receiver


@pytest.fixture
def api(stack, tenant):
    return {"COATRO_URL": stack.gateway_url, "COATRO_API_KEY": tenant[1]}


@pytest.mark.e2e
def test_put_list_and_deliveries_against_the_local_stack(coatro, api, tenant):
    receiver = Receiver()
    try:
        put = coatro(
            "webhooks", "put", "ops", "--url", receiver.url, "--events", "job.completed,job.failed", env=api
        )
        assert put.code == 0, put.stderr
        endpoint = json.loads(put.stdout)
        assert endpoint["events"] == ["job.completed", "job.failed"]
        assert "shown only now: whsec_" in put.stderr and endpoint["secret"].startswith("whsec_")
        listed = coatro("webhooks", "list", env=api)
        assert listed.code == 0 and "ops" in listed.stdout and "job.failed" in listed.stdout

        notices.publish(
            [
                WebhookEvent(
                    id="evt_cli_1",
                    type="job.failed",
                    tenantId=tenant[0],
                    timestamp=datetime.now(UTC).isoformat(),
                    data={"jobId": "j"},
                )
            ]
        )

        polling.until(lambda: len(receiver.received), bool, timeout=60, interval=0.2)
        table = polling.until(
            lambda: coatro("webhooks", "deliveries", "ops", env=api),
            lambda result: "succeeded" in result.stdout,
            timeout=30,
            interval=0.5,
        )
        assert table.code == 0 and "evt_cli_1" in table.stdout and "job.failed" in table.stdout
        row = next(line.split() for line in table.stdout.splitlines() if "evt_cli_1" in line)
        assert row[:5] == ["evt_cli_1", "job.failed", "succeeded", "1", "200"]  # attempts, last status
        assert receiver.verified_ids(endpoint["secret"]) == ["evt_cli_1"]
    finally:
        receiver.close()
