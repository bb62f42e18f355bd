"""Faults on the local stack: a frozen Pub/Sub under a bulk job, a fan-out that dies after its claim."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from shared.bulk.pipeline import backends, fan_out
from shared.storage import firestore
from tests import bulk_files
from tests.conftest import ROOT, InstanceDied, unique


def _upload(api, fmt: str, content: bytes) -> str:
    upload = api.upload_url(fmt).json()
    requests.put(
        upload["uploadUrl"], data=content, headers={"Content-Type": upload["contentType"]}, timeout=60
    ).raise_for_status()
    return upload["fileId"]


def test_bulk_job_across_a_frozen_pubsub_ends_with_exact_counts(api, stack, tenant, events_sink):
    tag = unique("frozen")
    file_id = _upload(api, "ndjson", bulk_files.ndjson(12_000, tag))  # 3 chunks of 5,000 rows at most
    response = api.ingest(file_id)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobId"]
    with stack.frozen("pubsub"):  # workers now wait on their publishes, pushes stall
        time.sleep(4)
    status = api.wait(job_id, timeout=120)
    assert (status["status"], status["totalRows"], status["processedRows"], status["errorRows"]) == (
        "completed",
        12_000,
        12_000,
        0,
    ), status
    expected = {f"{tag}-{i}" for i in range(12_000)}
    got = events_sink.pull(
        tenant[0], until=lambda ms: expected <= {m["attributes"]["eventId"] for m in ms}, timeout=60
    )
    assert {m["attributes"]["eventId"] for m in got} == expected


def test_fan_out_killed_after_its_claim_is_finished_by_the_sweep_without_any_client_call(
    api, stack, tenant, events_sink, monkeypatch
):
    tag = unique("dead-claim")
    file_id = _upload(api, "csv", bulk_files.csv_file(30, tag))
    deadline = time.monotonic() + 30
    while firestore.get_file(file_id).status != "ready":  # the storage bridge and splitter plan it
        assert time.monotonic() < deadline, "the splitter did not plan the file"
        time.sleep(0.2)

    def dies(*_args, **_kwargs):
        raise InstanceDied()

    monkeypatch.setattr(backends, "publish_and_wait", dies)
    with pytest.raises(InstanceDied):  # ingest's work, killed right after the fan-out claim
        fan_out.create_job(tenant[0], file_id, "1.0", None)
    monkeypatch.undo()
    job = firestore.get_job(fan_out.job_id_for(file_id))
    assert (job.status, job.fanOut) == ("queued", "claimed")

    # Cloud Scheduler's stand-in, ticking every second; nobody calls the API again.
    env = {**os.environ, **stack.env(), "PYTHONPATH": str(ROOT), "COATRO_SWEEP_INTERVAL_SECONDS": "1"}
    scheduler = subprocess.Popen([sys.executable, "-m", "local.scheduler"], cwd=ROOT, env=env)
    try:
        status = api.wait(job.jobId, timeout=90)
    finally:
        scheduler.terminate()
        scheduler.wait(10)
    assert (status["status"], status["totalRows"], status["processedRows"], status["errorRows"]) == (
        "completed",
        30,
        30,
        0,
    ), status
    expected = {f"{tag}-{i}" for i in range(30)}
    got = events_sink.pull(tenant[0], until=lambda ms: expected <= {m["attributes"]["eventId"] for m in ms})
    assert {m["attributes"]["eventId"] for m in got} == expected
