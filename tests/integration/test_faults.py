"""Faults through the functions' test clients: a frozen Pub/Sub or Firestore emulator (SIGSTOP), so
the client libraries see a service that accepts connections and never answers, as in an outage."""

from __future__ import annotations

import os

from shared.auth import api_keys
from shared.bulk.pipeline import fan_out
from shared.platform import clients
from shared.storage import firestore
from tests import bulk_files
from tests.conftest import unique
from tests.integration.test_events_function import assert_nothing_published, event, post


def test_events_under_a_frozen_pubsub_answer_503_and_nothing_is_lost_once_resumed(
    stack, tenant, events_client, events_sink
):
    tenant_id, key = tenant
    os.environ["COATRO_PUBLISH_TIMEOUT_SECONDS"] = "2"
    clients.reset()
    ids = [unique("frozen-evt") for _ in range(20)]
    body = {"events": [event(eventId=i) for i in ids]}
    api_keys.tenant_for_key(key)  # the key is cached: the request reaches the publish
    with stack.frozen("pubsub"):
        response = post(events_client, key, body)
    assert response.status_code == 503, response.get_json()
    assert response.headers["Retry-After"] and response.mimetype == "application/problem+json"
    retried = post(events_client, key, body)  # what the client does after Retry-After
    assert retried.status_code == 202, retried.get_json()
    got = events_sink.pull(tenant_id, until=lambda ms: set(ids) <= {m["attributes"]["eventId"] for m in ms})
    assert {m["attributes"]["eventId"] for m in got} == set(ids)  # each at least once, nothing else


def test_events_with_a_frozen_firestore_answer_503_not_401_and_publish_nothing(
    stack, tenant, events_client, events_sink
):
    tenant_id, key = tenant
    os.environ["COATRO_FIRESTORE_TIMEOUT_SECONDS"] = "2"
    clients.reset()
    api_keys.clear_cache()  # the key must be looked up in Firestore
    with stack.frozen("firestore"):
        response = post(events_client, key, {"events": [event(eventId=unique("never"))]})
    assert response.status_code == 503, response.get_json()
    assert response.headers["Retry-After"] and response.mimetype == "application/problem+json"
    assert_nothing_published(events_client, key, tenant_id, events_sink)


def test_ingest_with_a_frozen_firestore_answers_503_and_claims_nothing(stack, bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(30, unique("fs-frozen")))
    os.environ["COATRO_FIRESTORE_TIMEOUT_SECONDS"] = "2"
    clients.reset()
    api_keys.tenant_for_key(bulk.headers["X-API-Key"])  # cached: the request gets as far as the file
    with stack.frozen("firestore"):
        response = bulk.ingest(file_id)
    assert response.status_code == 503, response.get_json()
    assert response.headers["Retry-After"] and response.mimetype == "application/problem+json"
    job_id = fan_out.job_id_for(file_id)
    assert firestore.get_job(job_id) is None and firestore.get_file(file_id).jobId is None  # nothing claimed
    assert bulk.chunk_messages() == []
    again = bulk.ingest(file_id)  # the retry starts the job as if the first call never happened
    assert again.status_code == 202 and again.get_json()["jobId"] == job_id
    bulk.run_all()
    status = bulk.status(job_id)
    assert (status["status"], status["processedRows"], status["errorRows"]) == ("completed", 30, 0)
