"""`coatro schema ...`, the canonical upload and skipped rows, against a scripted local server."""

from __future__ import annotations

import json

from coatro_cli import bulk
from tests.client.conftest import Reply, problem

SCHEMAS = "/coatro/v1/pop/dynamic/schemas"
PREVIEW = {
    "events": [{"screenId": "s1", "durationMs": 30000}, {"screenId": "s2", "durationMs": 15000}],
    "errors": [{"row": 4, "error": "played_at (playedAt): expected epoch milliseconds, got 'x'"}],
    "totalRows": 3,
    "processedRows": 2,
    "errorRows": 1,
    "skippedRows": 0,
}


def test_register_puts_the_mapping_under_its_version(server, coatro, tmp_path):
    path = tmp_path / "cms.json"
    path.write_text(json.dumps({"version": "cms-1", "fields": {"scr": "screenId"}}))
    server.script = [
        Reply(201, {"version": "cms-1", "builtIn": False, "mapping": {}}),
        Reply(200, {"version": "cms-2", "builtIn": False, "mapping": {}}),
    ]
    first = coatro("schema", "register", path, "--url", server.url, "--api-key", "k")
    assert first.code == 0, first.stderr
    assert first.stdout == "cms-1\n" and "registered schema version cms-1" in first.stderr
    again = coatro("schema", "register", path, "--version", "cms-2", "--url", server.url, "--api-key", "k")
    assert again.code == 0 and "already registered with this same mapping" in again.stderr
    put1, put2 = server.requests
    assert (put1.method, put1.path) == ("PUT", f"{SCHEMAS}/cms-1")
    assert put1.json() == {"version": "cms-1", "fields": {"scr": "screenId"}}
    assert put2.path == f"{SCHEMAS}/cms-2" and put2.json()["version"] == "cms-2"  # --version wins


def test_register_shows_the_keys_the_server_rejects_and_a_conflict(server, coatro, tmp_path):
    path = tmp_path / "cms.json"
    path.write_text(json.dumps({"version": "cms-1", "fields": {"scr": "screenID"}}))
    server.script = [
        Reply(
            400,
            problem(
                400,
                "Validation failed",
                "The mapping is invalid.",
                [
                    {
                        "index": None,
                        "field": "fields",
                        "message": "target 'screenID' (for 'scr') is not a canonical field",
                    }
                ],
            ),
        ),
        Reply(409, problem(409, "Conflict", "Schema version 'cms-1' is registered with a different mapping")),
    ]
    bad = coatro("schema", "register", path, "--url", server.url, "--api-key", "k")
    assert bad.code == 1 and "fields: target 'screenID' (for 'scr')" in bad.stderr
    conflict = coatro("schema", "register", path, "--url", server.url, "--api-key", "k")
    assert conflict.code == 1 and "409 Conflict" in conflict.stderr


def test_register_needs_a_version_and_a_json_object(coatro, tmp_path):
    path = tmp_path / "cms.json"
    path.write_text(json.dumps({"fields": {}}))
    assert coatro("schema", "register", path, "--api-key", "k").code == 2
    path.write_text("[1, 2]")
    result = coatro("schema", "register", path, "--api-key", "k")
    assert result.code == 1 and "must hold a JSON object" in result.stderr


def test_list_marks_built_in_versions(server, coatro):
    server.script = [
        Reply(200, {"schemas": [{"version": "1.0", "builtIn": True}, {"version": "cms-1", "builtIn": False}]})
    ]
    result = coatro("schema", "list", "--url", server.url, "--api-key", "k")
    assert result.code == 0 and result.stdout == "1.0  (built in)\ncms-1\n"
    assert server.requests[0].path == SCHEMAS


def test_preview_with_a_mapping_file_prints_events_and_errors(server, coatro, tmp_path):
    data = tmp_path / "export.csv"
    data.write_text("scr,dur\ns1,30\n")
    mapping = tmp_path / "draft.json"
    mapping.write_text(json.dumps({"fields": {"scr": "screenId"}}))
    server.script = [Reply(200, PREVIEW)]
    result = coatro(
        "schema",
        "preview",
        data,
        "--mapping",
        mapping,
        "--metadata",
        "timezone=Europe/Paris",
        "--url",
        server.url,
        "--api-key",
        "k",
    )
    assert result.code == 3, result.stderr  # some rows are errors
    assert [json.loads(line) for line in result.stdout.splitlines()] == PREVIEW["events"]
    assert "row 4: played_at (playedAt)" in result.stderr
    assert "3 rows, 2 events, 1 with errors, 0 skipped; nothing was ingested" in result.stderr
    (sent,) = server.requests
    assert sent.path == f"{SCHEMAS}/preview"
    assert sent.json() == {
        "format": "csv",
        "sample": "scr,dur\ns1,30\n",
        "metadata": {"timezone": "Europe/Paris"},
        "mapping": {"fields": {"scr": "screenId"}},
    }


def test_preview_with_a_registered_version_and_a_large_file_cut_at_a_line(server, coatro, tmp_path):
    data = tmp_path / "big.ndjson"
    line = json.dumps({"screenId": "s" * 100}) + "\n"
    data.write_text(line * (2 * bulk.PREVIEW_MAX_BYTES // len(line)))
    server.script = [Reply(200, {**PREVIEW, "errors": [], "errorRows": 0})]
    result = coatro("schema", "preview", data, "-m", "cms-1", "--url", server.url, "--api-key", "k")
    assert result.code == 0, result.stderr
    (sent,) = server.requests
    assert sent.path == f"{SCHEMAS}/cms-1/preview"
    sample = sent.json()["sample"]
    assert len(sample.encode()) <= bulk.PREVIEW_MAX_BYTES and sample.endswith("\n")
    assert sample == line * (len(sample) // len(line))  # whole lines only
    assert "previewing the first" in result.stderr


def test_upload_without_a_schema_version_uses_the_canonical_endpoints(server, coatro, tmp_path):
    path = tmp_path / "pop.ndjson"
    path.write_text('{"screenId": "s1"}\n')
    server.script = [
        Reply(
            200,
            {
                "uploadUrl": server.url + "/bucket/obj",
                "fileId": "file-bulk-1",
                "contentType": "application/x-ndjson",
            },
        ),
        Reply(200, {}),
        Reply(202, {"jobId": "job-bulk-pop-1", "message": "Job queued"}),
        Reply(
            200,
            {
                "jobId": "job-bulk-pop-1",
                "status": "completed",
                "totalRows": 10,
                "processedRows": 7,
                "errorRows": 0,
                "skippedRows": 3,
                "errors": [],
            },
        ),
    ]
    result = coatro("upload", path, "--wait", "--poll-interval", "0.1", "--url", server.url, "--api-key", "k")
    assert result.code == 0, result.stderr
    url_req, _put, ingest, status = server.requests
    assert url_req.path == "/coatro/v1/pop/bulk/upload-url"
    assert ingest.path == "/coatro/v1/pop/bulk/ingest" and ingest.json() == {"fileId": "file-bulk-1"}
    assert status.path == "/coatro/v1/pop/bulk/jobs/job-bulk-pop-1"  # the job's id says where it lives
    assert "10 total, 7 processed, 0 with errors, 3 skipped" in result.stderr
    assert "ingest: 100%" in result.stderr


def test_job_reads_each_job_where_its_id_says_and_shows_skipped_rows_only_when_reported(server, coatro):
    server.script = [
        Reply(
            200,
            {
                "jobId": "job-dynamic-pop-1",
                "status": "completed",
                "totalRows": 2,
                "processedRows": 2,
                "errorRows": 0,
            },
        ),
        Reply(
            200,
            {
                "jobId": "job-bulk-pop-1",
                "status": "completed",
                "totalRows": 3,
                "processedRows": 2,
                "errorRows": 0,
                "skippedRows": 1,
            },
        ),
    ]
    dynamic = coatro("job", "job-dynamic-pop-1", "--url", server.url, "--api-key", "k")
    canonical = coatro("job", "job-bulk-pop-1", "--url", server.url, "--api-key", "k")
    assert [r.path for r in server.requests] == [
        "/coatro/v1/pop/dynamic/bulk/jobs/job-dynamic-pop-1",
        "/coatro/v1/pop/bulk/jobs/job-bulk-pop-1",
    ]
    assert "2 processed, 0 with errors\n" in dynamic.stdout and "skipped" not in dynamic.stdout
    assert "2 processed, 0 with errors, 1 skipped" in canonical.stdout
