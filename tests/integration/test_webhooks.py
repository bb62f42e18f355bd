"""The `webhooks`, `webhook_sender` and `webhook_retries` functions through functions-framework's test
client, against the Firestore emulator, with a real HTTP receiver on 127.0.0.1: the endpoint API,
the SSRF refusals with loopback not allowed, and deliveries (duplicates, retries, dead letter,
rotation, refusal at delivery time)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from shared.notify import addresses
from shared.platform import clients
from shared.records.notify import WebhookEvent
from shared.storage import notify as store
from tests import cloudevents
from tests.conftest import unique
from tests.integration.conftest import _client
from tests.webhook_receiver import Receiver, sample

WEBHOOKS = "/coatro/v1/pop/webhooks"


@pytest.fixture
def api(stack, tenant):
    client = _client("webhooks")
    headers = {"X-API-Key": tenant[1]}

    class Api:
        tenant_id = tenant[0]

        def put(self, webhook_id, body):
            return client.put(f"{WEBHOOKS}/{webhook_id}", json=body, headers=headers)

        def get(self, path="", **query):
            return client.get(f"{WEBHOOKS}{path}", query_string=query, headers=headers)

        def post(self, path, body=None):
            return client.post(f"{WEBHOOKS}{path}", json=body, headers=headers)

        def delete(self, webhook_id):
            return client.delete(f"{WEBHOOKS}/{webhook_id}", headers=headers)

    return Api()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def settings(**values: object) -> None:
    for name, value in values.items():
        os.environ[f"COATRO_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    clients.reset()


def test_endpoints_are_created_with_a_secret_shown_once_listed_replaced_and_deleted(api, receiver):
    created = api.put("ops", {"url": receiver.url, "events": ["job.failed", "job.completed"]})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and created.headers["Location"] == f"{WEBHOOKS}/ops"
    assert body["events"] == ["job.completed", "job.failed"] and body["secretsInOverlap"] == 0
    shown = api.get("/ops").get_json()
    assert "secret" not in shown and "whsec_" not in json.dumps(shown) and shown["url"] == receiver.url
    again = api.put("ops", {"url": receiver.url, "events": ["job.completed"], "description": "ops"})
    assert again.status_code == 200 and "secret" not in again.get_json()
    assert api.put("second", {"url": receiver.url, "events": ["report.ready"]}).status_code == 201
    first = api.get("", pageSize="1").get_json()
    assert [w["webhookId"] for w in first["webhooks"]] == ["ops"] and first["nextPageToken"]
    rest = api.get("", pageSize="1", pageToken=first["nextPageToken"]).get_json()
    assert [w["webhookId"] for w in rest["webhooks"]] == ["second"] and rest["nextPageToken"] is None
    assert api.delete("ops").status_code == 200
    assert api.get("/ops").status_code == 404 and api.delete("ops").status_code == 404


def test_another_tenants_endpoint_is_unknown(api, receiver):
    from shared.auth import api_keys

    assert api.put("mine", {"url": receiver.url, "events": ["screen.dark"]}).status_code == 201
    other = {"X-API-Key": api_keys.create_key(unique("tenant"), label="other")}
    client = _client("webhooks")
    assert client.get(f"{WEBHOOKS}/mine", headers=other).status_code == 404
    assert client.get(f"{WEBHOOKS}/mine/deliveries", headers=other).status_code == 404
    assert client.get(WEBHOOKS, headers=other).get_json()["webhooks"] == []


def test_every_bad_field_is_named(api):
    response = api.put(
        "bad",
        {
            "url": "ftp://x.example/",
            "events": ["job.completed", "job.exploded"],
            "description": 5,
            "color": 1,
        },
    )
    assert response.status_code == 400
    fields = sorted(e["field"] for e in response.get_json()["errors"])
    assert fields == ["color", "description", "events[1]", "url"]
    assert api.put("bad", {"url": "https://93.184.216.34/"}).get_json()["errors"][0]["field"] == "events"
    assert api.put("a.b", {"url": "https://93.184.216.34/", "events": ["job.failed"]}).status_code == 400


def test_internal_addresses_are_refused_at_registration_when_loopback_is_not_allowed(api, monkeypatch):
    settings(webhooks_allow_loopback="false")
    real = addresses.resolve
    monkeypatch.setattr(
        addresses,
        "resolve",
        lambda host, port: ["10.0.0.1"] if host == "hooks.internal-corp.test" else real(host, port),
    )
    for url in (
        "http://127.0.0.1/",
        "https://127.0.0.1/",
        "https://169.254.169.254/",
        "https://metadata.google.internal/",
        "https://hooks.internal-corp.test/",  # a name resolving to 10.0.0.1
        "https://localhost:8443/",  # a name resolving to loopback (/etc/hosts)
        "https://[::1]/",
        "https://100.64.1.1/",
    ):
        response = api.put("ssrf", {"url": url, "events": ["job.completed"]})
        assert response.status_code == 400, (url, response.get_json())
        assert [e["field"] for e in response.get_json()["errors"]] == ["url"], url
    assert api.get("/ssrf").status_code == 404


def event(tenant_id: str, event_id: str | None = None) -> WebhookEvent:
    return WebhookEvent(
        id=event_id or unique("evt_test").replace("-", "_"),
        type="job.completed",
        tenantId=tenant_id,
        timestamp=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        data={"jobId": "j1"},
    )


def push(event: WebhookEvent):
    envelope = cloudevents.pubsub_push(event.model_dump_json().encode(), {"tenantId": event.tenantId})
    response = cloudevents.post_pubsub_push(_client("webhook_sender"), envelope)
    assert response.status_code == 200, response.get_data(as_text=True)


def tick():
    response = cloudevents.post_pubsub_push(_client("webhook_retries"), cloudevents.pubsub_push(b"{}"))
    assert response.status_code == 200, response.get_data(as_text=True)


def make_due(tenant_id: str, webhook_id: str) -> None:
    """The clock moves on: every pending delivery of the endpoint is due now."""
    for record in store.list_deliveries(tenant_id, webhook_id, None, 100):
        if record.state == "pending":
            past = datetime.now(UTC) - timedelta(seconds=1)
            store.change_delivery(
                tenant_id,
                webhook_id,
                record.deliveryId,
                lambda d, past=past: d.model_copy(update={"nextAttemptAt": past}),
            )


def test_a_delivery_is_retried_with_the_same_id_and_never_sent_again_once_it_succeeded(api, receiver):
    settings(webhook_retry_delays_seconds=[3600, 3600])
    secret = api.put("hook", {"url": receiver.url, "events": ["job.completed"]}).get_json()["secret"]
    receiver.answers = [500]
    sent = event(api.tenant_id)
    push(sent)
    push(sent)  # Pub/Sub delivers the message again: the delivery exists, its retry is not due
    assert [r.status for r in receiver.received] == [500]
    listed = api.get("/hook/deliveries").get_json()["deliveries"]
    assert [(d["eventId"], d["state"]) for d in listed] == [(sent.id, "pending")]
    assert datetime.fromisoformat(listed[0]["nextAttemptAt"]) > datetime.now(UTC) + timedelta(minutes=59)
    tick()
    assert len(receiver.received) == 1  # not due yet
    make_due(api.tenant_id, "hook")
    tick()
    push(sent)
    make_due(api.tenant_id, "hook")
    tick()
    assert [r.status for r in receiver.received] == [500, 200]
    assert receiver.verified_ids(secret) == [sent.id, sent.id]
    assert receiver.received[0].body == receiver.received[1].body
    assert json.loads(receiver.received[0].body) == {
        "type": "job.completed",
        "timestamp": sent.timestamp,
        "data": {"jobId": "j1"},
    }
    delivery = api.get("/hook/deliveries").get_json()["deliveries"][0]
    assert delivery["state"] == "succeeded" and delivery["nextAttemptAt"] is None
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 200]
    assert all(a["latencyMs"] >= 0 and a["at"] for a in delivery["attempts"])


def test_a_delivery_failing_past_its_schedule_is_dead_lettered_and_listed(api, receiver):
    settings(webhook_retry_delays_seconds=[1])
    api.put("dead", {"url": receiver.url, "events": ["job.completed"]})
    receiver.answers = [503, 502]
    push(event(api.tenant_id))
    make_due(api.tenant_id, "dead")
    tick()
    delivery = api.get("/dead/deliveries").get_json()["deliveries"][0]
    assert delivery["state"] == "failed" and "2 attempts" in delivery["failureReason"]
    assert [a["statusCode"] for a in delivery["attempts"]] == [503, 502]
    make_due(api.tenant_id, "dead")  # changes nothing: only pending deliveries are attempted
    tick()
    assert len(receiver.received) == 2


def test_the_address_is_checked_again_at_delivery(api, receiver):
    api.put("recheck", {"url": receiver.url, "events": ["job.completed"]})
    settings(webhooks_allow_loopback="false", webhook_retry_delays_seconds=[3600])
    push(event(api.tenant_id))
    assert receiver.received == []
    attempt = api.get("/recheck/deliveries").get_json()["deliveries"][0]["attempts"][0]
    assert attempt["statusCode"] is None and "loopback" in attempt["error"]


def test_a_rotated_secret_signs_beside_the_new_one_during_the_overlap(api, receiver):
    old = api.put("rot", {"url": receiver.url, "events": ["job.completed"]}).get_json()["secret"]
    rotated = api.post("/rot/rotate-secret", {"overlapSeconds": 600})
    assert rotated.status_code == 200, rotated.get_json()
    new = rotated.get_json()["secret"]
    assert new != old and rotated.get_json()["secretsInOverlap"] == 1
    push(event(api.tenant_id))
    (received,) = receiver.received
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert sample.verify(old, received.headers, received.body) == sample.verify(
        new, received.headers, received.body
    )
    assert api.post("/rot/rotate-secret", {"overlapSeconds": 0}).get_json()["secretsInOverlap"] == 0
    push(event(api.tenant_id))
    assert len(receiver.received[1].headers["webhook-signature"].split(" ")) == 1
    assert api.post("/rot/rotate-secret", {"overlapSeconds": -1}).status_code == 400


def test_scopes(api, receiver):
    import base64

    from shared.auth.callers import USERINFO_HEADER

    def bearer(scope: str) -> dict[str, str]:
        claims = json.dumps({"tenant": api.tenant_id, "scope": scope}).encode()
        return {USERINFO_HEADER: base64.urlsafe_b64encode(claims).decode().rstrip("=")}

    client = _client("webhooks")
    body = {"url": receiver.url, "events": ["job.completed"]}
    assert client.put(f"{WEBHOOKS}/s", json=body, headers=bearer("webhooks:read")).status_code == 403
    assert client.put(f"{WEBHOOKS}/s", json=body, headers=bearer("webhooks:write")).status_code == 201
    assert client.get(f"{WEBHOOKS}/s", headers=bearer("webhooks:write")).status_code == 403
    assert client.get(f"{WEBHOOKS}/s/deliveries", headers=bearer("webhooks:read")).status_code == 200
    assert client.post(f"{WEBHOOKS}/s/rotate-secret", headers=bearer("webhooks:read")).status_code == 403
    assert client.get(WEBHOOKS, headers=bearer("screens:read")).status_code == 403
    assert client.get(WEBHOOKS).status_code == 401
