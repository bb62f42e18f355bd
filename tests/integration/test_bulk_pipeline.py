"""The bulk pipeline against the emulators, driven step by step so redeliveries and crashes can be staged.

Each test gets its own bucket and chunks topic, so the local stack's bridge and worker never see its
files: the test itself plays Eventarc (calls the splitter) and Pub/Sub (delivers chunk messages).
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from google.cloud import pubsub_v1

from shared.auth import api_keys
from shared.bulk import schema_registry
from shared.bulk.pipeline import backends, completion, fan_out, splitter, worker
from shared.platform import clients
from shared.platform.cloudevents import StorageObject
from shared.platform.pubsub import PublishFailed
from shared.storage import firestore
from tests import bulk_files
from tests.conftest import ROOT, unique
from tests.integration.conftest import BULK, assert_counts

# -- job semantics ----------------------------------------------------------------------------------


def test_job_is_queued_until_a_worker_starts_then_completes(bulk, events_sink):
    job_id = bulk.start("ndjson", bulk_files.ndjson(100, unique("q")))
    status = bulk.status(job_id)
    assert status["status"] == "queued" and status["totalRows"] == 100 and status["startedAt"] is None
    messages = bulk.chunk_messages()
    assert len(messages) == 4
    worker.process_chunk(messages[0])
    status = bulk.status(job_id)
    assert status["status"] == "processing" and status["processedRows"] == 25 and status["startedAt"]
    for message in messages[1:]:
        worker.process_chunk(message)
    status = bulk.status(job_id)
    assert_counts(status, "completed", 100, 100, 0)
    assert status["completedAt"]
    assert len(events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 100)) == 100


def test_ingest_twice_returns_the_same_job_and_fans_out_once(bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(60, unique("twice")))
    first, second = bulk.ingest(file_id), bulk.ingest(file_id)
    assert first.status_code == second.status_code == 202
    assert first.get_json()["jobId"] == second.get_json()["jobId"]
    assert second.get_json()["message"] == "Job already exists for this file"
    assert len(bulk.chunk_messages()) == 3


def test_ingest_before_the_splitter_ran_waits_for_the_plan(bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(30, unique("early")), split=False)
    response = bulk.ingest(file_id)  # uploaded, but the finalize event has not arrived yet
    assert response.status_code == 202
    job_id = response.get_json()["jobId"]
    assert bulk.chunk_messages() == [] and bulk.status(job_id)["totalRows"] is None
    bulk.split(file_id)
    bulk.run_all()
    assert_counts(bulk.status(job_id), "completed", 30, 30, 0)


def test_empty_file_completes_with_zero_rows(bulk):
    job_id = bulk.start("ndjson", b"")
    assert bulk.chunk_messages() == []
    status = bulk.status(job_id)
    assert_counts(status, "completed", 0, 0, 0)


def test_errors_are_paginated_in_row_order_with_exact_counts(bulk):
    bad = {i: {"durationMs": "x"} for i in range(3, 100, 4)}  # 25 bad rows over 4 chunks
    job_id = bulk.start("ndjson", bulk_files.ndjson(100, unique("pages"), bad))
    bulk.run_all()
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 100, 75, 25)
    everything = bulk.all_errors(job_id, page_size=7)
    assert [e["row"] for e in everything] == [i + 1 for i in sorted(bad)]
    assert all(e["error"] == "durationMs: Input should be a valid integer" for e in everything)
    for size in ("0", "1001", "%205", "+5", "1_0", "\u0665", "5.0", "", "0x5"):  # \u0665: ARABIC-INDIC FIVE
        response = bulk.status_fn.get(f"{BULK}/jobs/{job_id}/errors?pageSize={size}", headers=bulk.headers)
        assert response.status_code == 400, size
        assert "pageSize must be an integer from 1 to 1000" in response.get_json()["detail"]
    response = bulk.status_fn.get(f"{BULK}/jobs/{job_id}/errors?pageSize=007", headers=bulk.headers)
    assert response.status_code == 200 and len(response.get_json()["errors"]) == 7
    # pageTokens this API never returns: garbage, other scripts' digits (\u0661\u0662: ARABIC-INDIC ONE TWO),
    # characters base64 would silently skip, a position with a sign
    tokens = ["garbage", "\u0661\u0662"] + [
        base64.urlsafe_b64encode(t.encode()).decode()
        for t in ("000000:\u0661\u0662", "\u0660\u0660\u0660\u0660\u0660\u0660:1", "000000:+1", "000000:1 ")
    ]
    tokens.append("!" + base64.urlsafe_b64encode(b"000000:1").decode())
    for token in tokens:
        response = bulk.status_fn.get(
            f"{BULK}/jobs/{job_id}/errors", query_string={"pageToken": token}, headers=bulk.headers
        )
        assert response.status_code == 400, token
        assert response.get_json()["detail"] == "pageToken is not one this API returned."


def test_stored_errors_are_capped_but_the_count_stays_exact(bulk):
    os.environ["COATRO_MAX_STORED_ERRORS"] = "8"
    clients.reset()
    bad = {i: {"durationMs": -1} for i in range(100)}
    job_id = bulk.start("ndjson", bulk_files.ndjson(100, unique("cap"), bad))
    bulk.run_all()
    status = bulk.status(job_id)
    assert_counts(status, "failed", 100, 0, 100)
    stored = bulk.all_errors(job_id, page_size=1000)
    assert 0 < len(stored) <= 8


def test_registered_snake_case_schema_maps_a_csv_export(bulk, events_sink):
    EXAMPLES = bulk_files.shipped_examples()
    assert schema_registry.register(bulk.tenant_id, EXAMPLES["snake-epoch-ms-1"])
    assert not schema_registry.register(bulk.tenant_id, EXAMPLES["snake-epoch-ms-1"])  # immutable
    content = (ROOT / "tests/data/snake_case_export.csv").read_bytes()
    job_id = bulk.start("csv", content, version="snake-epoch-ms-1")
    bulk.run_all()
    status = bulk.status(job_id)
    assert status["status"] in ("completed", "partially_completed") and status["errorRows"] == 0, status
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= status["totalRows"])
    first = next(m["data"] for m in got if m["attributes"]["eventId"] == "p-0001")
    assert first["playedAt"] == "2025-01-27T10:00:00.000Z"
    assert first["context"]["venueType"] == "transit, rail" and first["durationMs"] == 30000


# -- reliability ------------------------------------------------------------------------------------


def test_chunk_delivered_twice_leaves_counts_and_events_unchanged(bulk, events_sink):
    job_id = bulk.start("ndjson", bulk_files.ndjson(50, unique("dup")))
    messages = bulk.run_all()
    for message in messages:  # at-least-once: every chunk arrives again
        worker.process_chunk(message)
    assert_counts(bulk.status(job_id), "completed", 50, 50, 0)
    got = events_sink.pull(bulk.tenant_id, timeout=5, until=lambda ms: len(ms) > 50)
    assert len(got) == 50


def test_finalize_event_delivered_twice_fans_out_once(bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(75, unique("fin")))
    bulk.split(file_id)  # duplicate before ingest
    job_id = bulk.ingest(file_id).get_json()["jobId"]
    bulk.split(file_id)  # duplicate after the fan-out
    assert len(bulk.chunk_messages()) == 3
    assert bulk.status(job_id)["totalRows"] == 75


def test_worker_dying_mid_chunk_is_retried_with_exact_counts(bulk, events_sink, monkeypatch):
    tag = unique("crash")
    job_id = bulk.start("ndjson", bulk_files.ndjson(25, tag))
    [message] = bulk.chunk_messages()
    monkeypatch.setattr(worker, "PUBLISH_BATCH", 10)
    real_publish, calls = backends.publish, []

    def dies_after_first_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise PublishFailed("the instance died")  # 10 events are already out
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(backends, "publish", dies_after_first_batch)
    with pytest.raises(PublishFailed):
        worker.process_chunk(message)
    assert bulk.status(job_id)["processedRows"] == 0  # nothing recorded before the commit point
    monkeypatch.setattr(backends, "publish", real_publish)
    worker.process_chunk(message)  # Pub/Sub redelivers
    assert_counts(bulk.status(job_id), "completed", 25, 25, 0)
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 35)
    assert {m["attributes"]["eventId"] for m in got} == {f"{tag}-{i}" for i in range(25)}
    assert len(got) == 35  # the first 10 twice, with the same eventIds: consumers dedupe


def test_worker_dying_right_after_recording_the_last_chunk_still_ends_the_job(bulk, monkeypatch):
    job_id = bulk.start("ndjson", bulk_files.ndjson(30, unique("late")))
    first, last = bulk.chunk_messages()
    worker.process_chunk(first)
    real_finish = completion.finish_if_done

    def dies(_backends, job_id):
        raise RuntimeError("the instance died after its commit point")

    monkeypatch.setattr(completion, "finish_if_done", dies)
    with pytest.raises(RuntimeError):
        worker.process_chunk(last)
    assert bulk.status(job_id)["status"] == "processing"
    monkeypatch.setattr(completion, "finish_if_done", real_finish)
    worker.process_chunk(last)  # the redelivery finds the chunk recorded, and ends the job
    assert_counts(bulk.status(job_id), "completed", 30, 30, 0)


def test_fan_out_that_failed_to_publish_is_redone_by_the_retried_event(bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(40, unique("fanfail")))
    topic = os.environ["COATRO_CHUNKS_TOPIC"]
    os.environ["COATRO_CHUNKS_TOPIC"] = unique("missing-chunks")
    clients.reset()
    response = bulk.ingest(file_id)
    assert response.status_code == 503 and response.headers["Retry-After"]  # the claim was released
    job_id = fan_out.job_id_for(file_id)
    assert bulk.status(job_id)["status"] == "queued"
    os.environ["COATRO_CHUNKS_TOPIC"] = topic
    clients.reset()
    bulk.split(file_id)  # Eventarc redelivers the finalize event
    assert len(bulk.run_all()) == 2
    assert_counts(bulk.status(job_id), "completed", 40, 40, 0)


def test_stale_finalize_event_of_an_older_generation_changes_nothing(bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(10, unique("gen1")), split=False)
    name = f"uploads/{bulk.tenant_id}/{file_id}"
    old = clients.storage().bucket(os.environ["COATRO_UPLOADS_BUCKET"]).get_blob(name)
    bulk.put(bulk.last_upload, bulk_files.ndjson(20, unique("gen2")))
    bulk.split(file_id)  # the newer generation's event arrives first
    splitter.split_upload(
        StorageObject(bucket=old.bucket.name, name=name, generation=old.generation, size=old.size)
    )  # then the older one
    job_id = bulk.ingest(file_id).get_json()["jobId"]
    bulk.run_all()
    assert_counts(bulk.status(job_id), "completed", 20, 20, 0)


def test_chunk_that_always_fails_is_dead_lettered_and_the_job_ends(bulk):
    job_id = bulk.start("ndjson", bulk_files.ndjson(50, unique("dlq")))
    first, second = bulk.chunk_messages()
    worker.process_chunk(first)
    os.environ["COATRO_EVENTS_TOPIC"] = unique("missing-topic")  # every publish of the 2nd chunk fails
    clients.reset()
    for _ in range(5):
        with pytest.raises(PublishFailed):
            worker.process_chunk(second)
    assert bulk.status(job_id)["status"] == "processing"
    worker.dead_letter_chunk(second)  # what pop-chunks-dead delivers after 5 attempts
    worker.dead_letter_chunk(second)  # ... possibly twice
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 50, 25, 25)
    assert status["errors"][0]["row"] == 26 and "could not be processed" in status["errors"][0]["error"]


def test_worker_subscription_dead_letters_after_five_attempts(stack):
    with pubsub_v1.SubscriberClient() as subscriber:
        sub = subscriber.get_subscription(
            subscription=subscriber.subscription_path(stack.project, "pop-chunks-worker")
        )
    assert sub.dead_letter_policy.dead_letter_topic.endswith("/topics/pop-chunks-dead")
    assert sub.dead_letter_policy.max_delivery_attempts == 5
    assert sub.push_config.push_endpoint.endswith(f":{stack.function_ports['worker']}/")


def test_object_overwritten_after_ingest_fails_the_job_clearly(bulk):
    job_id = bulk.start("ndjson", bulk_files.ndjson(50, unique("over")))
    bulk.put(bulk.last_upload, bulk_files.ndjson(80, unique("other")))  # the URL is still valid
    bulk.split(bulk.last_upload["fileId"])  # the new generation's finalize event: ignored
    messages = bulk.run_all()
    assert len(messages) == 2
    status = bulk.status(job_id)
    assert_counts(status, "failed", 50, 0, 50)
    assert "replaced" in status["errors"][0]["error"]


def test_object_overwritten_before_ingest_is_planned_again(bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(10, unique("v1")))
    bulk.put(bulk.last_upload, bulk_files.ndjson(30, unique("v2")))
    bulk.split(file_id)
    job_id = bulk.ingest(file_id).get_json()["jobId"]
    bulk.run_all()
    assert_counts(bulk.status(job_id), "completed", 30, 30, 0)


# -- bad inputs -------------------------------------------------------------------------------------


def test_ingest_before_upload_is_400(bulk):
    file_id = bulk.request_upload("ndjson").get_json()["fileId"]
    response = bulk.ingest(file_id)
    assert response.status_code == 400
    assert response.get_json()["type"].endswith("/file-not-uploaded")


def test_another_tenants_file_is_unknown(bulk):

    file_id = bulk.upload("ndjson", bulk_files.ndjson(3, unique("mine")))
    other = api_keys.create_key(unique("other-tenant"))
    theirs = bulk.ingest_fn.post(
        f"{BULK}/ingest", json={"fileId": file_id, "schemaVersion": "1.0"}, headers={"X-API-Key": other}
    )
    missing = bulk.ingest("file-dynamic-20250101-doesnotexist")
    assert theirs.status_code == missing.status_code == 400
    assert (
        theirs.get_json()["type"] == missing.get_json()["type"] == "https://coatro.dev/problems/unknown-file"
    )


def test_another_tenants_job_is_404(bulk):

    job_id = bulk.start("ndjson", bulk_files.ndjson(3, unique("j")))
    other = api_keys.create_key(unique("other-tenant"))
    theirs = bulk.status_fn.get(f"{BULK}/jobs/{job_id}", headers={"X-API-Key": other})
    missing = bulk.status_fn.get(f"{BULK}/jobs/job-nope", headers=bulk.headers)
    assert theirs.status_code == missing.status_code == 404
    assert bulk.status_fn.get(f"{BULK}/jobs/{job_id}/errors", headers={"X-API-Key": other}).status_code == 404


@pytest.mark.parametrize(
    "fmt, content, reason",
    [
        ("csv", bulk_files.ndjson(5, "x"), "NDJSON"),
        ("ndjson", bytes(range(256)) * 100, "binary"),
        ("json", b"screenId,playedAt\ns1,2025\n", "JSON"),
        (
            "json",
            b'[{"eventId": "a"}, {"eventId": "b"}][{"eventId": "c"}]',
            "holds more after the top-level array",
        ),
        ("json", b'{"events": [{"eventId": "a"}]} {"events": [{"eventId": "b"}]}', "holds more after"),
    ],
)
def test_unframeable_file_is_invalid_at_ingest(bulk, fmt, content, reason):
    file_id = bulk.upload(fmt, content)
    response = bulk.ingest(file_id)
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["type"].endswith("/invalid-file") and reason.lower() in problem["detail"].lower(), problem


def test_file_found_invalid_after_ingest_fails_the_job(bulk):
    file_id = bulk.upload("csv", bulk_files.ndjson(5, "x"), split=False)
    job_id = bulk.ingest(file_id).get_json()["jobId"]
    bulk.split(file_id)
    status = bulk.status(job_id)
    assert status["status"] == "failed" and "ndjson" in status["failureReason"].lower()
    assert status["completedAt"]


def test_file_over_the_size_limit_is_invalid(bulk):
    os.environ["COATRO_MAX_FILE_BYTES"] = "1000"
    clients.reset()
    file_id = bulk.upload("ndjson", bulk_files.ndjson(20, "big"))
    response = bulk.ingest(file_id)
    assert response.status_code == 400 and "limit is 1000 bytes" in response.get_json()["detail"]


def test_bad_rows_are_row_errors_with_line_numbers(bulk):
    rows = [
        json.dumps(bulk_files.event_row(0, "r")).encode(),
        b'{"screenId": "caf\xe9"}',  # latin-1, not UTF-8
        json.dumps(bulk_files.event_row(2, "r")).encode(),
        b"",  # blank line: skipped, but counted as a line
        b'{"screenId": "s", "durationMs": 5, "impressions": {"ageBu',  # truncated last line
    ]
    job_id = bulk.start("ndjson", b"\n".join(rows))
    bulk.run_all()
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 4, 2, 2)
    assert [e["row"] for e in status["errors"]] == [2, 5]
    assert "UTF-8" in status["errors"][0]["error"] and "JSON" in status["errors"][1]["error"]


def test_a_50_mb_single_line_is_one_row_error(bulk):
    huge = b'{"context": {"blob": "' + b"x" * (50 * 1024 * 1024) + b'"}}'
    content = (
        json.dumps(bulk_files.event_row(0, "h")).encode()
        + b"\n"
        + huge
        + b"\n"
        + json.dumps(bulk_files.event_row(2, "h")).encode()
        + b"\n"
    )
    job_id = bulk.start("ndjson", content)
    bulk.run_all()
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 3, 2, 1)
    assert status["errors"][0]["row"] == 2 and "limit is 1048576 bytes" in status["errors"][0]["error"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"fileName": "f", "format": "xml"}, "format"),
        ({"fileName": "f", "format": "csv", "expiresInSeconds": 0}, "expiresInSeconds"),
        ({"fileName": "f", "format": "csv", "expiresInSeconds": 86401}, "expiresInSeconds"),
        ({"fileName": "", "format": "csv"}, "fileName"),
        ({"fileName": "a\nb", "format": "csv"}, "fileName"),
        ({"format": "csv"}, "fileName"),
        ({"fileName": "f", "format": "csv", "bucket": "mine"}, "bucket"),
    ],
)
def test_upload_url_rejects_bad_requests(bulk, body, field):
    response = bulk.upload_url.post(f"{BULK}/upload-url", json=body, headers=bulk.headers)
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["errors"]] == [field]


def test_upload_url_needs_json_and_a_key(bulk):
    response = bulk.upload_url.post(
        f"{BULK}/upload-url", data="fileName=f", headers={**bulk.headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert (
        bulk.upload_url.post(f"{BULK}/upload-url", json={"fileName": "f", "format": "csv"}).status_code == 401
    )


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "metadata, field, says",
    [
        ({"grid": [[1, 2], [3, 4]]}, "metadata.grid[0]", "array directly inside an array"),
        ({"a": _nested(25)}, "metadata.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a", "nests more than 16 levels"),
        ({"__name__": "x"}, "metadata.__name__", "reserved name"),
        ({"ok": {"": 1}}, "metadata.ok", "empty key"),
        ({"big": 2**63}, "metadata.big", "beyond 64 bits"),
        ({"small": -(2**63) - 1}, "metadata.small", "beyond 64 bits"),
        ({"text": "\ud800"}, "metadata.text", "lone UTF-16 surrogate"),
        ({"\udfffkey": 1}, "metadata.'\\udfffkey'", "lone UTF-16 surrogate"),
    ],
    ids=[
        "nested-array",
        "depth-25",
        "reserved-key",
        "empty-key",
        "int64-max+1",
        "int64-min-1",
        "surrogate",
        "surrogate-key",
    ],
)
def test_ingest_metadata_firestore_cannot_store_is_a_400_naming_it_and_creates_no_job(
    bulk, metadata, field, says
):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(2, unique("meta")))
    response = bulk.ingest(file_id, metadata=metadata)
    assert response.status_code == 400 and response.content_type == "application/problem+json", (
        response.get_json()
    )
    [error] = response.get_json()["errors"]
    assert error["field"] == field and says in error["message"], error
    assert firestore.get_job(fan_out.job_id_for(file_id)) is None
    response = bulk.ingest(
        file_id, metadata={"fine": [{"grid": [1, 2]}], "n": 2**63 - 1, "deep": _nested(15)}
    )
    assert response.status_code == 202, response.get_json()
    assert firestore.get_job(fan_out.job_id_for(file_id)).metadata["n"] == 2**63 - 1


def test_upload_url_is_bound_to_a_server_chosen_object_and_content_type(bulk):
    upload = bulk.request_upload("csv", fileName="../../etc/passwd", expiresInSeconds=120).get_json()
    assert f"/uploads/{bulk.tenant_id}/{upload['fileId']}?" in upload["uploadUrl"]
    assert "passwd" not in upload["uploadUrl"]
    assert upload["contentType"] == "text/csv"
    assert "X-Goog-Expires=120" in upload["uploadUrl"] and "content-type" in upload["uploadUrl"]


def test_ingest_rejects_unknown_schema_and_oversized_metadata(bulk):
    file_id = bulk.upload("ndjson", bulk_files.ndjson(2, "m"))
    response = bulk.ingest(file_id, version="9.9")
    assert response.status_code == 400 and "9.9" in response.get_json()["detail"]
    response = bulk.ingest(file_id, metadata={"x": "y" * 20_000})
    assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "metadata"
    response = bulk.ingest_fn.post(f"{BULK}/ingest", json={"schemaVersion": "1.0"}, headers=bulk.headers)
    assert response.status_code == 400 and response.get_json()["errors"][0]["field"] == "fileId"


def test_a_poison_row_is_its_own_row_error_and_the_rest_of_the_chunk_is_published_once(bulk, events_sink):
    tag = unique("poison")
    lines = [json.dumps(bulk_files.event_row(i, tag)).encode() for i in range(30)]
    lines[4] = b'{"eventId": "%s-4", "context": {"k": "\\ud800"}}' % tag.encode()
    lines[11] = (
        b'{"eventId": "%s-11", "context": ' % tag.encode() + b'{"a": ' * 300 + b"1" + b"}" * 300 + b"}"
    )
    lines[19] = json.dumps(
        {**bulk_files.event_row(19, tag), "playedAt": "0001-01-01T00:00:00+01:00"}
    ).encode()
    lines[23] = b'{"eventId": "%s-23", "context": {"n": [1e400]}}' % tag.encode()  # would become null
    lines[25] = b'{"eventId": "%s-25", "screenId": "first", "screenId": "last"}' % tag.encode()  # last wins
    job_id = bulk.start("ndjson", b"\n".join(lines) + b"\n")
    bulk.run_all()  # one delivery per chunk suffices: nothing raises
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 30, 26, 4)
    assert [e["row"] for e in status["errors"]] == [5, 12, 20, 24]
    assert (
        "lone UTF-16 surrogate" in status["errors"][0]["error"]
        and "years 1 to 9999" in status["errors"][2]["error"]
    )
    assert "beyond the range" in status["errors"][3]["error"]
    got = events_sink.pull(bulk.tenant_id, timeout=5, until=lambda ms: len(ms) > 26)
    assert sorted(m["attributes"]["eventId"] for m in got) == sorted(
        f"{tag}-{i}" for i in range(30) if i not in (4, 11, 19, 23)
    )
    assert next(m["data"]["screenId"] for m in got if m["attributes"]["eventId"] == f"{tag}-25") == "last"


def test_twenty_concurrent_ingests_of_one_file_all_get_202_and_the_same_job(bulk):
    from concurrent.futures import ThreadPoolExecutor

    file_id = bulk.upload("ndjson", bulk_files.ndjson(30, unique("race")))
    os.environ["COATRO_STALE_CLAIM_SECONDS"] = "120"  # the production value: a slow claim is not retaken
    clients.reset()
    with ThreadPoolExecutor(20) as pool:
        responses = list(
            pool.map(
                lambda _: bulk.ingest_fn.post(
                    f"{BULK}/ingest", json={"fileId": file_id, "schemaVersion": "1.0"}, headers=bulk.headers
                ),
                range(20),
            )
        )
    assert [r.status_code for r in responses] == [202] * 20, [
        r.get_json() for r in responses if r.status_code != 202
    ]
    assert {r.get_json()["jobId"] for r in responses} == {fan_out.job_id_for(file_id)}
    assert sum(r.get_json()["message"] == "Job queued" for r in responses) == 1
    assert len(bulk.run_all()) == 2  # fanned out once
    assert_counts(bulk.status(fan_out.job_id_for(file_id)), "completed", 30, 30, 0)
