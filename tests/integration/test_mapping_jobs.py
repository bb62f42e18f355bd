"""Jobs with v2 mappings through the pipeline's functions: skipped rows, envelopes across chunks."""

from __future__ import annotations

import json

from shared.bulk import schema_registry
from shared.bulk.schemas import load_mapping
from tests.integration.conftest import assert_counts

ENVELOPES = load_mapping(
    {
        "version": "env-1",
        "records": "plays",
        "envelope_fields": ["screen"],
        "fields": {"screen": "screenId", "secs": {"to": "durationMs", "unit": "s"}},
        "where": [{"field": "kind", "equals": "ad"}],
        "drop": ["kind", "token"],
        "required": ["screenId"],
    }
)


def envelope_file(lines: int) -> bytes:
    """Line i holds i % 4 plays: one ad, one house play (skipped), one ad with a bad duration."""
    out = []
    for i in range(lines):
        plays = [{"kind": "ad", "secs": 15}, {"kind": "house", "secs": 5}, {"kind": "ad", "secs": "long"}][
            : i % 4
        ]
        out.append(json.dumps({"screen": f"s-{i}", "token": "secret", "plays": plays}))
    return ("\n".join(out) + "\n").encode()


def test_envelope_job_counts_records_skips_filtered_ones_and_ends_with_records_as_rows(bulk, events_sink):
    assert schema_registry.register(bulk.tenant_id, ENVELOPES)
    job_id = bulk.start("ndjson", envelope_file(100), "env-1")  # 4 chunks of 25 lines
    assert bulk.status(job_id)["totalRows"] == 100  # lines, until the records are counted
    messages = bulk.run_all()
    assert len(messages) == 4
    # per 4 lines: 0 + 1 + 2 + 3 plays; ads 0+1+1+2 = 4 (one of them bad), house 0+0+1+1 = 2
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 150, 75, 25)
    assert status["skippedRows"] == 50
    assert status["errors"][0] == {
        "row": 4,
        "error": "plays[2]: secs (durationMs): expected a duration "
        "(seconds, or a string like '15s' or '1500ms'), got 'long'",
    }
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 75)
    assert len(got) == 75 and {m["data"]["durationMs"] for m in got} == {15000}
    assert all(
        "token" not in json.dumps(m["data"]) and "kind" not in m["data"].get("context", {}) for m in got
    )
    # a chunk delivered again changes nothing
    assert bulk.deliver(messages[1]).status_code == 200
    assert bulk.status(job_id) == status


def test_a_mapping_job_publishes_the_planned_duration(bulk, events_sink):
    """plannedDurationMs (issue 18) from a mapped CSV column in seconds, as durationMs is."""
    assert schema_registry.register(
        bulk.tenant_id,
        load_mapping(
            {
                "version": "planned-1",
                "fields": {
                    "scr": "screenId",
                    "played": {"to": "durationMs", "unit": "s"},
                    "length": {"to": "plannedDurationMs", "unit": "s"},
                },
            }
        ),
    )
    job_id = bulk.start("csv", b"scr,played,length\ns-1,11.25,15\ns-2,15,15s\ns-3,1,-1\n", "planned-1")
    bulk.run_all()
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 3, 2, 1)
    assert status["errors"] == [
        {
            "row": 4,
            "error": "length (plannedDurationMs): expected a duration (seconds, or a string like "
            "'15s' or '1500ms'), got '-1'",
        }
    ]
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 2)
    assert sorted(
        (m["data"]["screenId"], m["data"]["durationMs"], m["data"]["plannedDurationMs"]) for m in got
    ) == [
        ("s-1", 11250, 15000),
        ("s-2", 15000, 15000),
    ]


def test_all_rows_skipped_completes(bulk):
    assert schema_registry.register(
        bulk.tenant_id,
        load_mapping({"version": "none-1", "where": [{"field": "screenId", "equals": "nobody"}]}),
    )
    job_id = bulk.start("csv", b"screenId\na\nb\n", "none-1")
    bulk.run_all()
    status = bulk.status(job_id)
    assert_counts(status, "completed", 2, 0, 0)
    assert status["skippedRows"] == 2


def test_headerless_semicolon_file_counts_its_first_line_as_row_1(bulk, events_sink):
    assert schema_registry.register(
        bulk.tenant_id,
        load_mapping(
            {
                "version": "nohead-1",
                "header": False,
                "delimiter": ";",
                "columns": ["scr", "ms"],
                "fields": {"scr": "screenId", "ms": {"to": "durationMs", "unit": "s"}},
            }
        ),
    )
    content = "".join(
        f"s-{i};{i % 7}\n" for i in range(60)
    ).encode()  # "s-0;0" also reads as a header of 2 names
    job_id = bulk.start("csv", content, "nohead-1")
    messages = bulk.run_all()
    assert len(messages) == 4 and messages[-1].chunk.first_row == 1  # 59 rows in 3 chunks, and line 1
    assert messages[0].header == ["scr", "ms"]
    status = bulk.status(job_id)
    assert_counts(status, "completed", 60, 60, 0)
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 60)
    assert sorted((m["data"]["row"], m["data"]["screenId"], m["data"]["durationMs"]) for m in got)[:2] == [
        (1, "s-0", 0),
        (2, "s-1", 1000),
    ]


def test_a_header_that_names_no_columns_is_refused_at_ingest_or_fails_the_job(bulk):
    file_id = bulk.upload("csv", b"a,b,a\n1,2,3\n")
    response = bulk.ingest(file_id)
    assert response.status_code == 400
    assert (
        response.get_json()["detail"]
        == f"File {file_id} cannot be ingested: The CSV header names column 'a' twice"
    )
    later = bulk.upload("csv", b"a,,c\n1,2,3\n", split=False)
    job_id = bulk.ingest(later).get_json()["jobId"]
    bulk.split(later)
    status = bulk.status(job_id)
    assert (
        status["status"] == "failed"
        and status["failureReason"] == "The CSV header has an empty column name (column 2)"
    )


BATCH = load_mapping(
    {
        "version": "batch-1",
        "records": "requests[*].adPlay",
        "envelope_fields": ["parent", "debug"],
        "fields": {"adUnit": "screenId", "parent": "context.seller", "startTime": "playedAt"},
        "drop": ["debug.token"],
        "required": ["screenId"],
    }
)


def batch_document(requests: int, bad: tuple[int, ...]) -> bytes:
    """One pretty-printed adPlays:batchCreate-like body; the requests at the `bad` positions (from 1)
    have no ad unit. Each request carries a nested credential beside adPlay, which `drop` removes."""
    body = {
        "requests": [
            {
                "parent": "sellers/1234",
                "debug": {"token": "t0p-secret", "host": f"player-{i}"},
                "adPlay": {"startTime": "2025-03-30T10:00:00Z"} | ({} if i in bad else {"adUnit": f"u-{i}"}),
            }
            for i in range(1, requests + 1)
        ]
    }
    return json.dumps(body, indent=2).encode()


def test_a_json_document_job_reads_its_requests_as_rows_across_chunks(bulk, events_sink):
    assert schema_registry.register(bulk.tenant_id, BATCH)
    job_id = bulk.start("json", batch_document(60, bad=(7, 26, 60)), "batch-1")  # 3 chunks of 25 requests
    assert len(bulk.run_all()) == 3
    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", 60, 57, 3)
    assert [(e["row"], e["error"]) for e in status["errors"]] == [
        (row, f"requests[{row - 1}].adPlay: adUnit (screenId): required, but the record has no value for it")
        for row in (7, 26, 60)
    ]
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= 57)
    assert sorted((m["data"]["row"], m["data"]["screenId"]) for m in got) == [
        (i, f"u-{i}") for i in range(1, 61) if i not in (7, 26, 60)
    ]
    for m in got:  # the nested credential is gone; what is beside it stays
        assert m["data"]["context"] == {
            "seller": "sellers/1234",
            "debug": {"host": f"player-{m['data']['row']}"},
        }
        assert "t0p-secret" not in json.dumps(m["data"])


def test_a_json_document_its_mapping_cannot_read_is_refused_at_ingest_or_fails_the_job(bulk):
    file_id = bulk.upload("json", batch_document(3, bad=()))
    response = bulk.ingest(file_id)  # 1.0 reads a top-level array or {"events": [...]}
    assert response.status_code == 400
    reason = (
        'The JSON object has no "events" array; its records are in its "requests" array, which a schema '
        'version reads with a records path starting there (such as "requests[*]")'
    )
    assert response.get_json()["detail"] == f"File {file_id} cannot be ingested: {reason}"
    later = bulk.upload("json", batch_document(3, bad=()), split=False)  # planned after its ingest
    job_id = bulk.ingest(later).get_json()["jobId"]
    bulk.split(later)  # the fan-out reads the plan with the job's mapping, as ingest did
    assert bulk.chunk_messages() == []
    status = bulk.status(job_id)
    assert_counts(status, "failed", 0, 0, 0)
    assert status["failureReason"] == reason
