"""splitter, worker, dead_letter and sweeper at their own triggers: CloudEvents built from saved
sample payloads (tests/data/cloudevents), POSTed to functions-framework's test client.

A 2xx acknowledges the event; anything else makes Eventarc or Pub/Sub deliver it again. So a
malformed or foreign event must be a logged 200, never a 500 retried for a day.
"""

from __future__ import annotations

import os
import time

import pytest

from shared.bulk.models import ChunkMessage
from shared.bulk.pipeline import backends, completion, fan_out, sweep
from shared.platform import clients
from shared.storage import firestore
from tests import bulk_files, cloudevents
from tests.conftest import ROOT, InstanceDied, log_lines, unique
from tests.integration.conftest import assert_counts


def _acknowledged_as_malformed(response, capsys) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    [entry] = [
        e
        for e in log_lines(capsys.readouterr().err)
        if e.get("message") == "malformed or foreign event acknowledged without retry"
    ]
    return entry


# -- splitter (Eventarc: google.cloud.storage.object.v1.finalized) ----------------------------------


def test_splitter_plans_a_file_from_a_finalized_event(bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(60, unique("split")), split=False)
    assert firestore.get_file(file_id).status == "awaiting_upload"
    bulk.split(file_id)  # the saved finalize event, for this object
    record = firestore.get_file(file_id)
    assert (record.status, record.totalRows, len(record.plan.chunks)) == ("ready", 60, 3)


@pytest.mark.parametrize("missing", ["generation", "name", "bucket", "size"])
def test_splitter_acknowledges_a_finalized_event_missing_a_field(bulk, capsys, missing):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(5, unique("nofield")), split=False)
    name = f"uploads/{bulk.tenant_id}/{file_id}"
    headers, body = cloudevents.storage_finalized(
        os.environ["COATRO_UPLOADS_BUCKET"], name, 1, 10, drop=(missing,)
    )
    capsys.readouterr()
    entry = _acknowledged_as_malformed(
        cloudevents.post_storage_event(bulk.splitter_fn, headers, body), capsys
    )
    assert missing in entry["reason"] and entry["eventType"] == "google.cloud.storage.object.v1.finalized"
    assert firestore.get_file(file_id).status == "awaiting_upload"  # nothing was done


def test_splitter_ignores_objects_that_are_not_uploads(bulk, capsys):
    for bucket, name in [
        ("someone-elses-bucket", "uploads/t/file-dynamic-20250101-0123456789abcdef"),
        (os.environ["COATRO_UPLOADS_BUCKET"], "exports/report.csv"),
        (os.environ["COATRO_UPLOADS_BUCKET"], "uploads/t/not-a-file-id"),
    ]:
        headers, body = cloudevents.storage_finalized(bucket, name, 1, 10)
        response = cloudevents.post_storage_event(bulk.splitter_fn, headers, body)
        assert response.status_code == 200
    assert [e["message"] for e in log_lines(capsys.readouterr().err) if e.get("severity") == "WARNING"][
        -3:
    ] == ["ignoring an object that is not an upload"] * 3


# -- worker (Pub/Sub push from pop-chunks) ----------------------------------------------------------


def test_worker_processes_a_pushed_chunk_and_ends_the_job(bulk, events_sink):
    tag = unique("push")
    job_id = bulk.start("ndjson", bulk_files.ndjson(40, tag))
    messages = bulk.run_all()  # each pushed through the worker's trigger
    assert len(messages) == 2
    assert_counts(bulk.status(job_id), "completed", 40, 40, 0)
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 40)
    assert {m["attributes"]["eventId"] for m in got} == {f"{tag}-{i}" for i in range(40)}


@pytest.mark.parametrize("data", [b"not json", b"{}", b'{"jobId": 1}', b"\xff\xfe"])
def test_worker_acknowledges_a_message_that_is_not_a_chunk(bulk, capsys, data):
    capsys.readouterr()
    entry = _acknowledged_as_malformed(
        cloudevents.post_pubsub_push(bulk.worker_fn, cloudevents.pubsub_push(data)), capsys
    )
    assert "ChunkMessage" in entry["reason"]


def test_worker_acknowledges_a_push_with_empty_data(bulk, capsys):
    capsys.readouterr()
    entry = _acknowledged_as_malformed(
        cloudevents.post_pubsub_push(bulk.worker_fn, cloudevents.pubsub_push(b"")), capsys
    )
    assert "ChunkMessage" in entry["reason"]


def test_worker_redelivery_after_a_500_is_counted_once(bulk, events_sink, monkeypatch):
    job_id = bulk.start("ndjson", bulk_files.ndjson(25, unique("again")))
    [message] = bulk.chunk_messages()
    real = backends.publish

    def unavailable(*_args, **_kwargs):
        from shared.platform.pubsub import PublishFailed

        raise PublishFailed("pop-events is unavailable")

    monkeypatch.setattr(backends, "publish", unavailable)
    assert bulk.deliver(message).status_code == 500  # Pub/Sub will deliver it again
    monkeypatch.setattr(backends, "publish", real)
    assert bulk.deliver(message).status_code == 200
    assert bulk.deliver(message).status_code == 200  # and perhaps once more
    assert_counts(bulk.status(job_id), "completed", 25, 25, 0)


# -- dead_letter (Pub/Sub push from pop-chunks-dead) ------------------------------------------------


def test_dead_letter_records_a_pushed_chunk_as_failed_and_ends_the_job(bulk):
    job_id = bulk.start("ndjson", bulk_files.ndjson(50, unique("dead")))
    first, second = bulk.chunk_messages()
    assert bulk.deliver(first).status_code == 200
    for _ in range(2):  # delivered twice: counted once
        assert bulk.deliver(second, function="dead_letter").status_code == 200
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 50, 25, 25)
    assert status["errors"][0]["row"] == 26 and "could not be processed" in status["errors"][0]["error"]


def test_dead_letter_acknowledges_a_message_that_is_not_a_chunk(bulk, capsys):
    capsys.readouterr()
    response = cloudevents.post_pubsub_push(bulk.dead_letter_fn, cloudevents.pubsub_push(b"[1, 2]"))
    _acknowledged_as_malformed(response, capsys)


# -- sweeper (Pub/Sub push from pop-sweeps, published by Cloud Scheduler) ---------------------------


def test_sweep_retakes_a_fan_out_whose_claimer_died(bulk, monkeypatch):
    import functions_framework

    file_id = bulk.upload("ndjson", bulk_files.ndjson(30, unique("sweep")))

    def dies(*_args, **_kwargs):
        raise InstanceDied()

    monkeypatch.setattr(backends, "publish_and_wait", dies)
    with pytest.raises(InstanceDied):
        fan_out.create_job(bulk.tenant_id, file_id, "1.0", None)
    monkeypatch.undo()
    job_id = fan_out.job_id_for(file_id)
    assert firestore.get_job(job_id).fanOut == "claimed"
    assert bulk.ingest(file_id).status_code == 202  # a repeated ingest leaves a fresh claim alone...
    assert bulk.chunk_messages() == []

    os.environ["COATRO_STALE_CLAIM_SECONDS"] = "0.5"
    clients.reset()
    time.sleep(0.6)
    sweeper = functions_framework.create_app(
        target="sweeper", source=str(ROOT / "functions/sweeper/main.py")
    ).test_client()
    tick = cloudevents.pubsub_push(b"{}")  # what Cloud Scheduler publishes
    assert cloudevents.post_pubsub_push(sweeper, tick).status_code == 200
    messages = [m for m in bulk.chunk_messages() if m.jobId == job_id]
    assert len(messages) == 2
    for message in messages:
        assert bulk.deliver(message).status_code == 200
    assert_counts(bulk.status(job_id), "completed", 30, 30, 0)


def test_sweep_finishes_a_job_whose_last_worker_died_before_ending_it(bulk, monkeypatch):
    job_id = bulk.start("ndjson", bulk_files.ndjson(20, unique("unended")))
    [message] = bulk.chunk_messages()
    monkeypatch.setattr(
        completion, "finish_if_done", lambda _backends, _job_id: None
    )  # dies right after its commit point
    assert bulk.deliver(message).status_code == 200
    monkeypatch.undo()
    assert bulk.status(job_id)["status"] == "processing"
    assert sweep.sweep_jobs() >= 1
    assert_counts(bulk.status(job_id), "completed", 20, 20, 0)


def test_sweep_replans_a_file_whose_finalize_event_never_came_and_fails_one_whose_object_is_gone(bulk):
    lost = bulk.upload("ndjson", bulk_files.ndjson(10, unique("lost")), split=False)
    gone = bulk.upload("ndjson", bulk_files.ndjson(10, unique("gone")), split=False)
    assert bulk.ingest(lost).status_code == 202 and bulk.ingest(gone).status_code == 202
    clients.storage().bucket(os.environ["COATRO_UPLOADS_BUCKET"]).blob(
        f"uploads/{bulk.tenant_id}/{gone}"
    ).delete()
    os.environ["COATRO_REPLAN_AFTER_SECONDS"] = "0"
    clients.reset()
    sweep.sweep_jobs()
    bulk.run_all()
    assert_counts(bulk.status(fan_out.job_id_for(lost)), "completed", 10, 10, 0)
    status = bulk.status(fan_out.job_id_for(gone))
    assert status["status"] == "failed" and "no longer exists" in status["failureReason"]


def test_sweeper_acknowledges_a_tick_that_is_not_json(bulk, capsys):
    import functions_framework

    sweeper = functions_framework.create_app(
        target="sweeper", source=str(ROOT / "functions/sweeper/main.py")
    ).test_client()
    capsys.readouterr()
    _acknowledged_as_malformed(
        cloudevents.post_pubsub_push(sweeper, cloudevents.pubsub_push(b"tick")), capsys
    )


def test_chunk_message_round_trips_through_a_push(bulk):
    """The envelope the factories build carries the message exactly (base64 of its JSON)."""
    job_id = bulk.start("csv", bulk_files.csv_file(3, unique("rt")))
    [message] = bulk.chunk_messages()
    envelope = cloudevents.pubsub_push(message.model_dump_json().encode())
    import base64

    assert ChunkMessage.model_validate_json(base64.b64decode(envelope["message"]["data"])) == message
    assert message.jobId == job_id and message.header
