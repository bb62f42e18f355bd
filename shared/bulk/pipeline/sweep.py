"""The sweep (Cloud Scheduler, every minute): move every unfinished job on, whatever died on its way."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from shared.bulk.models import SweepRequest
from shared.bulk.pipeline import completion, fan_out, splitter
from shared.bulk.pipeline.backends import Backends, cloud
from shared.platform import logs
from shared.platform.cloudevents import StorageObject
from shared.platform.settings import get_settings
from shared.records.jobs import JobRecord, JobState

UNFINISHED_STATES: tuple[JobState, ...] = ("queued", "processing")


# A sweep stops paging once it has run this long (the sweeper's timeout is 540 s); the rest waits for
# the next tick, which starts again from the first job.
SWEEP_BUDGET_SECONDS = 300


def sweep_jobs(_request: SweepRequest | None = None, b: Backends | None = None) -> int:
    """Move every unfinished job on (idempotent), reading them a page (`sweep_batch`) at a time in
    jobId order, so however many jobs are unfinished (long-running ones included) none is left out:

    - a queued job whose file is planned: fan out (a stale claim is retaken; a fresh one is left);
    - a queued job whose file is not planned `replan_after_seconds` after ingest: plan it again from
      the object (its finalize event was lost or kept failing), or fail it if the object is gone;
    - a job with every chunk recorded but no final state: finish it.
    Then it publishes the webhook events of jobs that ended but whose event was not published
    (`completion.announce_pending`: the outbox mark `noticePending`).
    Returns how many jobs it looked at.
    """
    b = b or cloud()
    batch = get_settings().sweep_batch
    deadline = time.monotonic() + SWEEP_BUDGET_SECONDS
    looked, after = 0, None
    while True:
        jobs = b.store.jobs_in_states(UNFINISHED_STATES, batch, after)
        for job in jobs:
            with logs.context(jobId=job.jobId, fileId=job.fileId):
                try:
                    _sweep(b, job)
                except Exception as exc:  # one job's trouble must not stop the others; the next sweep retries
                    logs.exception("sweeping a job failed", exc)
        looked += len(jobs)
        if len(jobs) < batch:
            break
        if time.monotonic() > deadline:
            logs.warning("sweep stopped at its time budget; the next one starts over", jobs=looked)
            break
        after = jobs[-1].jobId
    try:
        completion.announce_pending(b, batch)
    except Exception as exc:  # the next sweep tries again
        logs.exception("publishing pending job events failed", exc)
    logs.info("sweep done", jobs=looked)
    return looked


def _sweep(b: Backends, job: JobRecord) -> None:
    settings = get_settings()
    if job.status == "processing" or job.fanOut == "done":
        completion.finish_if_done(b, job.jobId)
        return
    record = b.store.get_file(job.fileId)
    if record is None:
        completion.fail_job(b, job.jobId, "the file record no longer exists")
        return
    if record.status in ("ready", "invalid"):
        try:
            fan_out.fan_out(job.jobId, b)
        except fan_out.FanOutInProgress:
            logs.info("fan-out in progress; left to its claimer until the claim is stale")
        return
    age = datetime.now(UTC) - datetime.fromisoformat(job.createdAt)
    if age < timedelta(seconds=settings.replan_after_seconds):
        return  # the splitter may still be reading the file
    blob = b.uploads.get(record.objectName)
    if blob is None:
        completion.fail_job(
            b, job.jobId, "the uploaded file no longer exists; upload it again and start a new ingest"
        )
        return
    logs.warning("file still not planned; planning it again", fileStatus=record.status)
    splitter.split_upload(
        StorageObject(
            bucket=settings.uploads_bucket,
            name=record.objectName,
            generation=blob.generation,
            size=blob.size,
            crc32c=blob.crc32c,
        ),
        b,
    )
