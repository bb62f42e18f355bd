"""The bulk stages' logic (shared/bulk/pipeline) on in-memory backends (tests/memory_store.py): no
emulators. What it shows, stage by stage: plans and fan-outs happen once whatever the order and the
redeliveries; a claim is exclusive until stale; a chunk is counted once; every job reaches a final
state whose counters add up. tests/integration/test_bulk_pipeline.py runs the same stages on the
emulators."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.bulk.models import ChunkMessage
from shared.bulk.pipeline import completion, fan_out, splitter, sweep, worker
from shared.platform import clients
from shared.platform.cloudevents import StorageObject
from shared.platform.encoding import utc_now
from shared.records.jobs import FileRecord, JobRecord
from tests import bulk_files
from tests.memory_store import MemoryBackends

TENANT = "tenant-a"


@pytest.fixture
def mem(monkeypatch) -> MemoryBackends:
    monkeypatch.setenv("COATRO_CHUNK_ROWS", "10")
    clients.reset()
    return MemoryBackends()


def new_file(mem: MemoryBackends, data: bytes | None, fmt: str = "ndjson", n: int = 1) -> FileRecord:
    file_id = f"file-bulk-20260101-{n:016x}"
    record = FileRecord(
        fileId=file_id,
        tenantId=TENANT,
        fileName=f"plays.{fmt}",
        format=fmt,
        objectName=f"uploads/{TENANT}/{file_id}",
        createdAt=utc_now(),
        uploadExpiresAt=utc_now(),
    )
    mem.store.files[file_id] = record
    if data is not None:
        mem.uploads.put(record.objectName, data)
    return record


def finalized(mem: MemoryBackends, record: FileRecord) -> StorageObject:
    """The finalize event of the object's current generation."""
    obj = mem.uploads.objects[record.objectName]
    return StorageObject(
        bucket="coatro-uploads", name=record.objectName, generation=obj.generation, size=obj.size
    )


def waiting_job(mem: MemoryBackends, record: FileRecord) -> str:
    """A job created behind the pipeline's back (as if its ingest died before fanning out); its id."""
    job_id = fan_out.job_id_for(record.fileId)
    mem.store.create_job(
        JobRecord(
            jobId=job_id, tenantId=TENANT, fileId=record.fileId, schemaVersion="1.0", createdAt=utc_now()
        )
    )
    return job_id


def chunk_messages(mem: MemoryBackends) -> list[ChunkMessage]:
    return [ChunkMessage.model_validate_json(data) for data, _ in mem.topics.chunks]


def run_chunks(mem: MemoryBackends) -> None:
    for message in chunk_messages(mem):
        worker.process_chunk(message, mem.backends)


def counts(job: JobRecord | None) -> tuple[str, int | None, int | None, int | None, int | None]:
    assert job is not None
    return job.status, job.totalRows, job.processedRows, job.errorRows, job.skippedRows


def test_a_file_is_planned_fanned_out_processed_and_completed(mem):
    record = new_file(mem, bulk_files.ndjson(25, "flow"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    assert mem.store.files[record.fileId].status == "ready"
    assert mem.topics.chunks == []  # no job yet: nothing to fan out

    job_id, created = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    assert created and mem.store.files[record.fileId].jobId == job_id
    assert [m.chunk.row_count for m in chunk_messages(mem)] == [10, 10, 5]
    assert mem.store.jobs[job_id].fanOut == "done" and mem.store.jobs[job_id].expectedChunks == 3

    run_chunks(mem)
    assert counts(mem.store.jobs[job_id]) == ("completed", 25, 25, 0, 0)
    events = [json.loads(data) for data, _ in mem.topics.events]
    assert sorted(e["row"] for e in events) == list(range(1, 26))
    assert {e["jobId"] for e in events} == {job_id}


def test_ingest_before_the_plan_fans_out_when_the_splitter_is_done(mem):
    record = new_file(mem, bulk_files.ndjson(12, "early"))
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    assert mem.topics.chunks == [] and mem.store.jobs[job_id].fanOut is None
    splitter.split_upload(finalized(mem, record), mem.backends)  # the splitter finds the job waiting
    assert len(mem.topics.chunks) == 2


def test_repeated_ingests_and_finalize_events_publish_each_chunk_once(mem):
    record = new_file(mem, bulk_files.ndjson(25, "twice"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, created = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    assert fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends) == (job_id, False)
    splitter.split_upload(finalized(mem, record), mem.backends)  # Eventarc delivers again
    fan_out.fan_out(job_id, mem.backends)
    assert len(mem.topics.chunks) == 3


def test_a_fresh_claim_is_left_alone_and_a_stale_one_is_retaken(mem, monkeypatch):
    record = new_file(mem, bulk_files.ndjson(5, "claim"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id = waiting_job(mem, record)
    mem.store.update_job(job_id, fanOut="claimed", fanOutClaimedAt=datetime.now(UTC))  # a live claimer
    with pytest.raises(fan_out.FanOutInProgress):
        fan_out.fan_out(job_id, mem.backends)
    assert mem.topics.chunks == [] and mem.store.jobs[job_id].fanOut == "claimed"

    mem.store.update_job(job_id, fanOutClaimedAt=datetime.now(UTC) - timedelta(minutes=5))  # its claimer died
    fan_out.fan_out(job_id, mem.backends)
    assert len(mem.topics.chunks) == 1 and mem.store.jobs[job_id].fanOut == "done"


def test_a_failed_publish_releases_the_claim_so_a_retry_publishes_at_once(mem):
    record = new_file(mem, bulk_files.ndjson(5, "release"))
    splitter.split_upload(finalized(mem, record), mem.backends)

    def unavailable(items):
        raise RuntimeError("pop-chunks is unavailable")

    broken = mem.backends.__class__(**{**mem.backends.__dict__, "publish_chunks": unavailable})
    with pytest.raises(RuntimeError):
        fan_out.create_job(TENANT, record.fileId, "1.0", None, broken)
    job_id = fan_out.job_id_for(record.fileId)
    assert mem.store.jobs[job_id].fanOut is None
    fan_out.fan_out(job_id, mem.backends)
    assert len(mem.topics.chunks) == 1


def test_a_redelivered_chunk_is_counted_once(mem):
    record = new_file(mem, bulk_files.ndjson(15, "redeliver"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    first, second = chunk_messages(mem)
    worker.process_chunk(first, mem.backends)
    worker.process_chunk(first, mem.backends)
    assert mem.store.jobs[job_id].status == "processing"
    worker.process_chunk(second, mem.backends)
    worker.process_chunk(second, mem.backends)
    assert counts(mem.store.jobs[job_id]) == ("completed", 15, 15, 0, 0)
    assert len(mem.topics.events) == 15  # a redelivery of a recorded chunk publishes nothing


def test_bad_rows_are_errors_at_their_row_and_the_job_partially_completes(mem):
    data = bulk_files.ndjson(12, "bad", bad={2: {"durationMs": -1}, 11: {"screenId": 5}})
    record = new_file(mem, data)
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    run_chunks(mem)
    assert counts(mem.store.jobs[job_id]) == ("partially_completed", 12, 10, 2, 0)
    errors = [e for result in mem.store.chunks[job_id].values() for e in result.errors]
    assert [e.row for e in errors] == [3, 12]


def test_an_invalid_file_fails_its_job_with_the_reason_and_no_rows(mem):
    record = new_file(mem, b"this is not JSON", fmt="json")
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    splitter.split_upload(finalized(mem, record), mem.backends)
    assert mem.store.files[record.fileId].status == "invalid"
    job = mem.store.jobs[job_id]
    assert counts(job) == ("failed", 0, 0, 0, 0)
    assert job.failureReason == mem.store.files[record.fileId].invalidReason and job.startedAt
    assert mem.topics.chunks == []


def test_a_truncated_json_tail_is_one_error_row_recorded_at_fan_out(mem):
    record = new_file(mem, b'[{"eventId": "a"}, {', fmt="json")
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    assert mem.store.chunks[job_id][1].errors[0].row == 2  # recorded before any chunk is processed
    run_chunks(mem)
    assert counts(mem.store.jobs[job_id]) == ("partially_completed", 2, 1, 1, 0)


def test_an_object_replaced_after_planning_makes_its_chunks_errors(mem):
    record = new_file(mem, bulk_files.ndjson(15, "replaced"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    mem.uploads.put(record.objectName, b"something else\n")  # a new generation
    run_chunks(mem)
    job = mem.store.jobs[job_id]
    assert counts(job) == ("failed", 15, 0, 15, 0)
    assert all(worker.REPLACED in r.errors[0].error for r in mem.store.chunks[job_id].values())


def test_a_stale_finalize_event_changes_nothing(mem):
    record = new_file(mem, bulk_files.ndjson(5, "old"))
    old = finalized(mem, record)
    mem.uploads.put(record.objectName, bulk_files.ndjson(7, "new"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    plan = mem.store.files[record.fileId].plan
    splitter.split_upload(old, mem.backends)
    assert mem.store.files[record.fileId].plan == plan and plan is not None and plan.total_rows == 7


def test_a_dead_lettered_chunk_counts_its_rows_as_errors_once_and_the_job_ends(mem):
    record = new_file(mem, bulk_files.ndjson(15, "dead"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    first, second = chunk_messages(mem)
    worker.process_chunk(first, mem.backends)
    worker.dead_letter_chunk(second, mem.backends)
    worker.dead_letter_chunk(second, mem.backends)
    assert counts(mem.store.jobs[job_id]) == ("partially_completed", 15, 10, 5, 0)
    assert mem.store.chunks[job_id][1].deadLettered


def test_the_sweep_finishes_a_job_whose_last_chunk_was_recorded_but_not_ended(mem, monkeypatch):
    record = new_file(mem, bulk_files.ndjson(5, "unended"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    monkeypatch.setattr(completion, "finish_if_done", lambda _b, _job_id: None)  # dies after its commit point
    run_chunks(mem)
    monkeypatch.undo()
    assert mem.store.jobs[job_id].status == "processing"
    assert sweep.sweep_jobs(None, mem.backends) == 1
    assert counts(mem.store.jobs[job_id]) == ("completed", 5, 5, 0, 0)


def test_the_sweep_replans_a_lost_upload_and_fails_a_job_whose_object_is_gone(mem, monkeypatch):
    monkeypatch.setenv("COATRO_REPLAN_AFTER_SECONDS", "0")
    clients.reset()
    lost = new_file(mem, bulk_files.ndjson(5, "lost"), n=1)  # its finalize event never came
    gone = new_file(mem, None, n=2)
    lost_job, _ = fan_out.create_job(TENANT, lost.fileId, "1.0", None, mem.backends)
    gone_job, _ = fan_out.create_job(TENANT, gone.fileId, "1.0", None, mem.backends)
    sweep.sweep_jobs(None, mem.backends)
    assert counts(mem.store.jobs[gone_job]) == ("failed", 0, 0, 0, 0)
    assert "no longer exists" in (mem.store.jobs[gone_job].failureReason or "")
    run_chunks(mem)
    assert counts(mem.store.jobs[lost_job]) == ("completed", 5, 5, 0, 0)


def test_one_jobs_trouble_does_not_stop_the_sweep(mem, monkeypatch):
    a = new_file(mem, bulk_files.ndjson(5, "a"), n=1)
    b = new_file(mem, bulk_files.ndjson(5, "b"), n=2)
    for record in (a, b):
        splitter.split_upload(finalized(mem, record), mem.backends)
    for record in (a, b):
        waiting_job(mem, record)
    del mem.store.files[a.fileId]  # a's file record is gone: its job fails, b's still fans out
    assert sweep.sweep_jobs(None, mem.backends) == 2
    assert mem.store.jobs[fan_out.job_id_for(a.fileId)].status == "failed"
    assert mem.store.jobs[fan_out.job_id_for(b.fileId)].fanOut == "done"


def test_a_json_document_its_mapping_cannot_read_fails_the_job_as_a_whole_at_fan_out(mem):
    document = json.dumps({"requests": [{"adPlay": {"x": i}} for i in range(3)]}).encode()
    record = new_file(mem, document, fmt="json")
    job_id, _ = fan_out.create_job(
        TENANT, record.fileId, "1.0", None, mem.backends
    )  # 1.0 reads no records path
    splitter.split_upload(finalized(mem, record), mem.backends)  # planned after ingest: fan-out checks it
    assert mem.store.files[record.fileId].plan.member == "requests"
    job = mem.store.jobs[job_id]
    assert counts(job) == ("failed", 0, 0, 0, 0) and "requests" in (job.failureReason or "")
    assert mem.topics.chunks == []


def test_the_sweep_pages_through_every_unfinished_job_however_many(mem, monkeypatch):
    monkeypatch.setenv("COATRO_SWEEP_BATCH", "3")
    clients.reset()
    for n in range(1, 9):  # eight jobs waiting for a fan-out, more than two pages of three
        record = new_file(mem, bulk_files.ndjson(2, f"page{n}"), n=n)
        splitter.split_upload(finalized(mem, record), mem.backends)
        waiting_job(mem, record)
    assert sweep.sweep_jobs(None, mem.backends) == 8
    assert all(job.fanOut == "done" for job in mem.store.jobs.values())


def test_a_screen_local_time_job_reads_each_chunks_screens_once_and_only_its_tenants(mem, monkeypatch):
    """ "timezone": "screen" in the worker: each chunk reads its screens in one batch, of its tenant."""
    from shared.bulk import schema_registry
    from shared.bulk.schemas import load_mapping
    from shared.records.screens import ScreenRecord

    mapping = load_mapping({"version": "scr-1", "timezone": "screen"})
    monkeypatch.setattr(schema_registry, "lookup", lambda tenant, version: mapping)

    def screen(tenant: str, screen_id: str, zone: str) -> list[ScreenRecord]:
        start = "2020-01-01T00:00:00Z"
        return [
            ScreenRecord(
                tenantId=tenant,
                screenId=screen_id,
                version=1,
                validFrom=start,
                updatedAt=start,
                fields={"timeZone": zone},
            )
        ]

    mem.screens[(TENANT, "lon")] = screen(TENANT, "lon", "Europe/London")
    mem.screens[(TENANT, "syd")] = screen(TENANT, "syd", "Australia/Sydney")
    mem.screens[("tenant-b", "theirs")] = screen("tenant-b", "theirs", "UTC")
    reads: list[tuple[str, list[str]]] = []
    histories = mem.screen_histories
    monkeypatch.setattr(mem, "screen_histories", lambda t, ids: reads.append((t, ids)) or histories(t, ids))
    lines = [
        {"screenId": ["lon", "syd", "theirs"][i % 3], "playedAt": "2025-07-01T10:00:00", "durationMs": 1000}
        for i in range(15)
    ]
    record = new_file(mem, b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "scr-1", {"timezone": "UTC"}, mem.backends)
    run_chunks(mem)
    assert counts(mem.store.jobs[job_id]) == ("partially_completed", 15, 10, 5, 0)
    # one batch per chunk (rows 1-10, 11-15), in the order the chunk names them
    assert reads == [(TENANT, ["lon", "syd", "theirs"]), (TENANT, ["syd", "theirs", "lon"])]
    played = {(e["screenId"], e["playedAt"]) for e in (json.loads(d) for d, _ in mem.topics.events)}
    assert played == {("lon", "2025-07-01T09:00:00.000Z"), ("syd", "2025-07-01T00:00:00.000Z")}
    errors = [e.error for result in mem.store.chunks[job_id].values() for e in result.errors]
    assert set(errors) == {
        "screenId: 'theirs' is not a registered screen, so its local time zone is unknown (timezone: screen)"
    }
