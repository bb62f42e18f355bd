"""Fixtures shared by every tier.

The emulators and the local stack are started once per session on free ports (they never touch real
Google Cloud). If an emulator is missing the session fails with the install hint; nothing is skipped.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from local.stack import Ports, Stack, StackError
from shared.auth import api_keys, tenant_limits
from shared.platform import clients
from tests import polling

ROOT = Path(__file__).resolve().parent.parent
# tests/cloud runs against a deployed project, only when asked: `make test-cloud` (`pytest tests/cloud`).
# `make test` never collects it, so the normal suite has nothing to skip.
collect_ignore = ["cloud"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    saved = dict(os.environ)
    # Sweeps run only when a test starts one (as Cloud Scheduler would): integration tests leave jobs
    # half-done on purpose, and a sweep at a random moment would race them. Claims go stale fast so a
    # test of a dead claim need not wait two minutes.
    stack = Stack(
        ports=Ports.free(),
        workdir=tmp_path_factory.mktemp("stack"),
        # Webhooks: the tests' receivers listen on 127.0.0.1 (over http), which only this setting allows,
        # and a failed delivery is retried after 1 s instead of Standard Webhooks' 5 s, 5 min, ... .
        settings_env={
            "COATRO_SWEEP_INTERVAL_SECONDS": "3600",
            "COATRO_STALE_CLAIM_SECONDS": "2",
            "COATRO_WEBHOOKS_ALLOW_LOOPBACK": "true",
            "COATRO_WEBHOOK_RETRY_DELAYS_SECONDS": "[1, 1, 1]",
        },
    )
    try:
        stack.start()
    except StackError as exc:
        pytest.fail(f"could not start the local stack for the tests:\n{exc}", pytrace=False)
    clients.reset()
    yield stack
    stack.stop()
    os.environ.clear()
    os.environ.update(saved)
    clients.reset()


@pytest.fixture(autouse=True)
def restore_environment():
    """Each test may change settings through the environment; put it back and forget cached clients."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    clients.reset()
    api_keys.clear_cache()
    tenant_limits.clear()


class InstanceDied(BaseException):
    """What an instance killed mid-request looks like to the code after it: no except, nothing more runs."""


def log_lines(text: str) -> list[dict]:
    """The structured log entries (one JSON object per line, with a severity) in captured output."""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "severity" in entry:
            out.append(entry)
    return out


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def tenant(stack):
    """A fresh tenant with its own API key: (tenant_id, api_key)."""
    tenant_id = unique("tenant")
    return tenant_id, api_keys.create_key(tenant_id, label="test")


class EventsSink:
    """A pull subscription on pop-events made for one test; reads back what a tenant published."""

    def __init__(self, topic: str):
        from google.cloud import pubsub_v1

        self.subscriber = pubsub_v1.SubscriberClient()
        project = os.environ["GOOGLE_CLOUD_PROJECT"]
        self.path = self.subscriber.subscription_path(project, unique("sink"))
        self.subscriber.create_subscription(
            request={
                "name": self.path,
                "topic": f"projects/{project}/topics/{topic}",
                "ack_deadline_seconds": 60,
            }
        )

    def pull(self, tenant_id: str | None = None, until=None, timeout: float = 20.0) -> list[dict]:
        """Messages (attributes + data) until `until(messages)` holds or nothing more arrives; after
        `timeout` seconds, what arrived so far (the caller's assertion says what is missing)."""
        out: list[dict] = []

        def pull_once() -> int:
            response = self.subscriber.pull(
                request={"subscription": self.path, "max_messages": 1000}, timeout=5
            )
            received = response.received_messages
            if received:
                self.subscriber.acknowledge(
                    request={"subscription": self.path, "ack_ids": [m.ack_id for m in received]}
                )
            for m in received:
                msg = {"attributes": dict(m.message.attributes), "data": json.loads(m.message.data)}
                if tenant_id is None or msg["attributes"].get("tenantId") == tenant_id:
                    out.append(msg)
            return len(received)

        def done(received: int) -> bool:
            return until(out) if until is not None else received == 0

        polling.until(pull_once, done, timeout=timeout, interval=0.05)
        return out

    def close(self):
        self.subscriber.delete_subscription(request={"subscription": self.path})
        self.subscriber.close()


@pytest.fixture
def events_sink(stack):
    sink = EventsSink(os.environ.get("COATRO_EVENTS_TOPIC", "pop-events"))
    yield sink
    sink.close()


def bigquery_rows(tenant_id: str, count: int, timeout: float = 120.0) -> list[dict]:
    """A tenant's rows in the events table (duplicates included), once there are at least `count`:
    the local BigQuery subscription stand-in writes what lands on pop-events in order, so after the
    bulk tests of a session a test's rows may wait behind tens of thousands of earlier events."""
    from google.cloud import bigquery

    sql = f"SELECT * FROM `{clients.events_table()}` WHERE tenantId = @tenant ORDER BY eventId, publish_time"
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("tenant", "STRING", tenant_id)]
    )

    def query() -> list[dict]:
        return [dict(r) for r in clients.bigquery().query_and_wait(sql, job_config=config)]

    return polling.until(query, lambda rows: len(rows) >= count, timeout=timeout, interval=0.3)
