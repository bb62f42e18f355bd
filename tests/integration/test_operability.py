"""What an operator reads: tracebacks in Error Reporting's format, job and file ids on every bulk log line."""

from __future__ import annotations

import json

import pytest

from shared.bulk.pipeline import backends
from shared.events import api as events_api
from shared.platform.logs import REPORTED_ERROR_EVENT
from tests import bulk_files
from tests.conftest import log_lines, unique
from tests.integration.test_events_function import event, post


def test_a_500_logs_its_traceback_for_error_reporting_and_no_key(events_client, tenant, monkeypatch, capsys):
    _, key = tenant

    def broken(*_args, **_kwargs):
        raise RuntimeError("publisher exploded")

    monkeypatch.setattr(events_api, "publish", broken)
    capsys.readouterr()
    response = post(events_client, key, {"events": [event(eventId=unique("boom"))]})
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    assert "exploded" not in response.get_data(as_text=True)  # the caller gets no internals
    errors = [e for e in log_lines(capsys.readouterr().err) if e["severity"] == "ERROR"]
    assert len(errors) == 1, errors
    entry = errors[0]
    assert entry["@type"] == REPORTED_ERROR_EVENT
    assert entry["stack_trace"].startswith("Traceback (most recent call last):")
    assert "in broken" in entry["stack_trace"] and entry["stack_trace"].rstrip().endswith(
        "RuntimeError: publisher exploded"
    )
    assert entry["context"]["httpRequest"] == {
        "method": "POST",
        "url": "/coatro/v1/pop/events",
        "responseStatusCode": 500,
        "userAgent": entry["context"]["httpRequest"]["userAgent"],
    }
    assert entry["serviceContext"]["service"]
    assert key not in json.dumps(entry)


def test_every_log_line_of_a_bulk_job_names_its_file_and_once_it_exists_its_job(bulk, capsys):
    capsys.readouterr()
    file_id = bulk.upload("ndjson", bulk_files.ndjson(60, unique("logs"), bad={3: {"durationMs": -1}}))
    split_lines = log_lines(capsys.readouterr().err)
    job_id = bulk.ingest(file_id).get_json()["jobId"]
    bulk.run_all()
    job_lines = log_lines(capsys.readouterr().err)
    assert bulk.status(job_id)["status"] == "partially_completed"
    assert split_lines and all(e.get("fileId") == file_id for e in split_lines), split_lines
    messages = {e["message"] for e in job_lines}
    assert {"job fanned out", "job finished"} <= messages, messages
    assert all(e.get("fileId") == file_id and e.get("jobId") == job_id for e in job_lines), job_lines


def test_a_failing_chunk_is_logged_with_its_traceback_and_its_job(bulk, monkeypatch, capsys):
    job_id = bulk.start("ndjson", bulk_files.ndjson(10, unique("fail")))
    [message] = bulk.chunk_messages()

    def broken(*_args, **_kwargs):
        raise RuntimeError("pop-events exploded")

    monkeypatch.setattr(backends, "publish", broken)
    capsys.readouterr()
    response = bulk.deliver(message)  # through the worker's trigger: a 500 makes Pub/Sub redeliver
    assert response.status_code == 500
    [entry] = [e for e in log_lines(capsys.readouterr().err) if e["severity"] == "ERROR"]
    assert (
        entry["@type"] == REPORTED_ERROR_EVENT and "RuntimeError: pop-events exploded" in entry["stack_trace"]
    )
    assert (entry["jobId"], entry["fileId"], entry["chunk"]) == (job_id, message.fileId, 0)
    assert entry["eventType"] == "google.cloud.pubsub.topic.v1.messagePublished"


@pytest.mark.parametrize("severity", ["INFO", "WARNING"])
def test_log_lines_are_single_json_objects(severity, capsys):
    from shared.platform import logs

    with logs.context(jobId="j", fileId=None):
        logs.log(severity, "hello", count=1)
    [entry] = log_lines(capsys.readouterr().err)
    assert entry == {"severity": severity, "message": "hello", "jobId": "j", "count": 1}
