"""Webhooks on the local stack, through the gateway: a bulk job's completion reaches a receiver once,
though it answers 500 twice first, with the same webhook-id on every attempt and a valid signature
(checked by the sample receiver of docs/webhooks.md). The stack's settings (tests/conftest.py) allow a
loopback receiver and retry after 1 s; the test publishes the ticks, as Cloud Scheduler would."""

from __future__ import annotations

import json
import time

import requests

from shared.platform import clients
from shared.platform.settings import get_settings
from tests import bulk_files, polling
from tests.conftest import unique
from tests.webhook_receiver import Receiver

WEBHOOKS = "/coatro/v1/pop/webhooks"


def test_a_bulk_jobs_completion_reaches_the_receiver_once_after_two_500s(stack, api, tenant):
    receiver = Receiver(answers=[500, 500])
    headers = {"X-API-Key": tenant[1]}
    try:
        created = requests.put(
            f"{stack.gateway_url}{WEBHOOKS}/jobs",
            json={"url": receiver.url, "events": ["job.completed", "job.partially_completed", "job.failed"]},
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]

        job_id, status = api.run("ndjson", bulk_files.ndjson(20, unique("hook")))
        assert status["status"] == "completed"

        topic = clients.topic_path(get_settings().webhook_ticks_topic)

        def tick() -> list[int]:
            clients.publisher().publish(topic, b"{}").result(timeout=30)
            return [r.status for r in receiver.received]

        statuses = polling.until(tick, lambda got: 200 in got, timeout=90, interval=0.5)
        assert statuses == [500, 500, 200]
        assert receiver.verified_ids(secret) == [f"evt_job_{job_id}"] * 3
        assert len({r.headers["webhook-timestamp"] for r in receiver.received}) >= 2  # each attempt its own
        event = json.loads(receiver.received[-1].body)
        assert event["type"] == "job.completed" and event["data"]["jobId"] == job_id
        assert event["data"]["processedRows"] == 20 and event["timestamp"] == status["completedAt"]

        for _ in range(2):  # later ticks (and the sweep) send nothing more
            tick()
            time.sleep(1.5)
        assert len(receiver.received) == 3

        listed = requests.get(f"{stack.gateway_url}{WEBHOOKS}/jobs/deliveries", headers=headers, timeout=30)
        assert listed.status_code == 200, listed.text
        (delivery,) = listed.json()["deliveries"]
        assert delivery["eventId"] == f"evt_job_{job_id}" and delivery["state"] == "succeeded"
        assert [a["statusCode"] for a in delivery["attempts"]] == [500, 500, 200]
    finally:
        receiver.close()
