"""The `coatro` command against the local stack (emulators, functions, gateway) as real processes."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from tests.client.conftest import sample_event, write_ndjson

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(stack, tenant):
    """--url/--api-key for a fresh tenant, given through the environment like a user would."""
    _, key = tenant
    return {"COATRO_URL": stack.gateway_url, "COATRO_API_KEY": key}


def test_installed_console_script_runs():
    script = Path(sys.executable).parent / "coatro"
    assert script.exists(), "pip install -e ./client (make venv) installs the coatro command"
    import subprocess

    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "coatro" in out.stdout


def test_send_publishes_every_event(coatro, api, tenant, events_sink, tmp_path):
    tenant_id, _ = tenant
    events = [sample_event(i, eventId=f"cli-{tenant_id}-{i}") for i in range(25)]
    data = write_ndjson(tmp_path / "pop.ndjson", events)
    result = coatro("send", data, "--batch-size", "10", env=api)
    assert result.code == 0, result.stderr
    assert "25 events read, 25 accepted, 0 not accepted; 3 requests" in result.stderr
    got = events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 25)
    assert sorted(m["attributes"]["eventId"] for m in got) == sorted(e["eventId"] for e in events)


def test_send_maps_server_validation_errors_to_lines(coatro, api, tmp_path):
    events = [sample_event(i) for i in range(5)]
    events[2]["durationMs"] = "abc"
    data = write_ndjson(tmp_path / "pop.ndjson", events)
    result = coatro("send", data, env=api)
    assert result.code == 1
    assert f"{data}:3: durationMs:" in result.stderr
    assert "400 Validation failed" in result.stderr
    assert "5 events read, 0 accepted, 5 not accepted" in result.stderr


def test_send_with_a_bad_key_is_401_without_retry(coatro, stack, tmp_path):
    data = write_ndjson(tmp_path / "pop.ndjson", [sample_event(1)])
    result = coatro("send", data, "--url", stack.gateway_url, "--api-key", "not-a-key")
    assert result.code == 1
    assert "401 Unauthorized" in result.stderr and "retrying" not in result.stderr


def test_contract_example_file_is_accepted(coatro, api):
    contract = Path(__file__).resolve().parents[1] / "data" / "contract_event.json"
    result = coatro("send", contract, env=api)
    assert result.code == 0, result.stderr
    assert "1 event read, 1 accepted" in result.stderr


# -- bulk: these need the upload_url / ingest / job_status functions of the bulk issue ----------


def rows(n: int, bad: set[int] = frozenset()) -> list[dict]:
    """n canonical rows; the 1-based rows in `bad` carry durationMs "abc"."""
    return [sample_event(i, durationMs="abc") if i in bad else sample_event(i) for i in range(1, n + 1)]


def test_upload_wait_completes_with_both_progress_bars(coatro, api, tmp_path):
    data = write_ndjson(tmp_path / "sample.ndjson", rows(10))
    result = coatro(
        "upload",
        data,
        "--schema-version",
        "1.0",
        "--wait",
        "--poll-interval",
        "0.3",
        "--metadata",
        "source=test",
        timeout=180,
        env=api,
    )
    assert result.code == 0, result.stderr
    job_id = result.stdout.strip()
    assert job_id and "\n" not in job_id  # stdout is just the job id, for scripts
    assert "upload: 100%" in result.stderr  # bytes
    assert "ingest: 100%" in result.stderr and "10/10" in result.stderr  # rows
    assert "completed" in result.stderr

    shown = coatro("job", job_id, "--json", env=api)
    assert shown.code == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert job["status"] == "completed"
    assert (job["totalRows"], job["processedRows"], job["errorRows"]) == (10, 10, 0)


def test_upload_with_bad_rows_is_partial_and_errors_lists_them(coatro, api, tmp_path):
    data = write_ndjson(tmp_path / "bad-rows.jsonl", rows(10, bad={4, 7}))
    result = coatro(
        "upload", data, "--schema-version", "1.0", "--wait", "--poll-interval", "0.3", timeout=180, env=api
    )
    assert result.code == 3, result.stderr
    job_id = result.stdout.strip()
    assert "partially_completed" in result.stderr

    as_json = coatro("errors", job_id, "--format", "json", env=api)
    assert as_json.code == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    assert [e["row"] for e in listed] == [4, 7]
    assert all(e["error"] for e in listed)

    out = tmp_path / "errors.csv"
    as_csv = coatro("errors", job_id, "--output", out, "--page-size", "1", env=api)  # one error per page
    assert as_csv.code == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["row"] for r in table] == ["4", "7"]
    assert "2 errors written to" in as_csv.stderr

    human = coatro("job", job_id, env=api)
    assert "partially_completed" in human.stdout and "row 4:" in human.stdout and "row 7:" in human.stdout


def test_upload_without_wait_prints_the_job_id(coatro, api, tmp_path):
    data = write_ndjson(tmp_path / "sample.ndjson", rows(3))
    result = coatro("upload", data, "--schema-version", "1.0", env=api)
    assert result.code == 0, result.stderr
    job_id = result.stdout.strip()
    assert f"coatro job {job_id}" in result.stderr


def test_unknown_job_is_a_clear_404(coatro, api):
    result = coatro("job", "job-does-not-exist", env=api)
    assert result.code == 1
    assert "error: 404" in result.stderr


def test_unknown_schema_version_is_a_clear_400(coatro, api, tmp_path):
    data = write_ndjson(tmp_path / "sample.ndjson", rows(2))
    result = coatro("upload", data, "--schema-version", "99.99", env=api)
    assert result.code == 1
    assert "error: 400" in result.stderr


def test_send_with_oauth2_client_credentials(coatro, stack, tenant, events_sink, tmp_path):
    from shared.auth import oauth_clients

    tenant_id, _ = tenant
    client_id, secret = oauth_clients.create_client(tenant_id, ["pop:write"])
    events = [sample_event(i, eventId=f"cli-oauth-{tenant_id}-{i}") for i in range(3)]
    data = write_ndjson(tmp_path / "pop.ndjson", events)
    env = {"COATRO_URL": stack.gateway_url, "COATRO_CLIENT_ID": client_id, "COATRO_CLIENT_SECRET": secret}
    result = coatro("send", data, "--batch-size", "1", env=env)
    assert result.code == 0, result.stderr
    got = events_sink.pull(tenant_id, until=lambda ms: len(ms) >= 3)
    assert sorted(m["attributes"]["eventId"] for m in got) == sorted(e["eventId"] for e in events)
    wrong = coatro("send", data, env={**env, "COATRO_CLIENT_SECRET": secret + "x"})
    assert wrong.code == 1 and "401 invalid_client" in wrong.stderr


# -- schemas and the canonical endpoints ---------------------------------------------------------

EXPORT = Path(__file__).resolve().parents[1] / "data" / "snake_case_export.csv"
EXAMPLE_MAPPING = (
    Path(__file__).resolve().parents[2] / "shared" / "bulk" / "schema_examples" / "snake-epoch-ms-1.json"
)


def test_schema_preview_register_list_and_upload_with_it(coatro, api, tmp_path):
    tried = coatro("schema", "preview", EXPORT, "--mapping", EXAMPLE_MAPPING, env=api)
    assert tried.code == 0, tried.stderr
    events = [json.loads(line) for line in tried.stdout.splitlines()]
    assert [e["eventId"] for e in events] == ["p-0001", "p-0002", "p-0003"]
    assert events[0]["playedAt"] == "2025-01-27T10:00:00.000Z" and events[0]["durationMs"] == 30000
    assert "3 rows, 3 events, 0 with errors, 0 skipped; nothing was ingested" in tried.stderr

    registered = coatro("schema", "register", EXAMPLE_MAPPING, env=api)
    assert registered.code == 0 and registered.stdout == "snake-epoch-ms-1\n", registered.stderr
    assert coatro("schema", "register", EXAMPLE_MAPPING, env=api).code == 0  # the same mapping again
    listed = coatro("schema", "list", env=api)
    assert listed.stdout == "1.0  (built in)\nsnake-epoch-ms-1\n"
    by_version = coatro("schema", "preview", EXPORT, "-m", "snake-epoch-ms-1", env=api)
    assert by_version.stdout == tried.stdout

    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({**json.loads(EXAMPLE_MAPPING.read_text()), "unmapped": "reject"}))
    conflict = coatro("schema", "register", changed, env=api)
    assert conflict.code == 1 and "409" in conflict.stderr

    uploaded = coatro(
        "upload",
        EXPORT,
        "--schema-version",
        "snake-epoch-ms-1",
        "--wait",
        "--poll-interval",
        "0.3",
        timeout=180,
        env=api,
    )
    assert uploaded.code == 0, uploaded.stderr
    assert uploaded.stdout.startswith("job-dynamic-pop-")


def test_schema_preview_of_a_bad_row_exits_3_and_a_bad_mapping_names_the_key(coatro, api, tmp_path):
    data = tmp_path / "plays.ndjson"
    data.write_text('{"scr": "s1", "at": "2025-01-27T10:00:00Z"}\n{"scr": "s2", "at": "tuesday"}\n')
    mapping = tmp_path / "draft.json"
    mapping.write_text(json.dumps({"fields": {"scr": "screenId", "at": "playedAt"}}))
    result = coatro("schema", "preview", data, "-m", mapping, env=api)
    assert result.code == 3
    assert result.stdout == '{"screenId": "s1", "playedAt": "2025-01-27T10:00:00.000Z"}\n'
    assert "row 2: at (playedAt): Input should be an ISO 8601 timestamp" in result.stderr
    mapping.write_text(json.dumps({"fields": {"scr": "screen"}}))
    bad = coatro("schema", "preview", data, "-m", mapping, env=api)
    assert bad.code == 1 and "mapping.fields: target 'screen'" in bad.stderr


def test_upload_without_a_schema_version_goes_to_the_canonical_endpoints(coatro, api, tmp_path):
    data = write_ndjson(tmp_path / "canonical.ndjson", rows(5, bad={2}))
    result = coatro("upload", data, "--wait", "--poll-interval", "0.3", timeout=180, env=api)
    assert result.code == 3, result.stderr
    job_id = result.stdout.strip()
    assert job_id.startswith("job-bulk-pop-")
    shown = coatro("job", job_id, env=api)
    assert shown.code == 0 and "5 total, 4 processed, 1 with errors" in shown.stdout
    listed = coatro("errors", job_id, "--format", "json", env=api)
    assert [e["row"] for e in json.loads(listed.stdout)] == [2]


def test_the_documented_walkthrough_of_writing_a_mapping_with_preview(coatro, api, tmp_path):
    plays = tmp_path / "plays.csv"
    plays.write_text(
        "play_id,screen,started_ms,duration_ms,campaign\n"
        "p-1,scr-001,1737972000000,30000,summer-25\n"
        "p-2,scr-002,1737972015250,15000,summer-25\n"
        "p-3,scr-003,yesterday,10000,summer-25\n"
    )
    canonical = coatro("schema", "preview", plays, "--mapping", "1.0", env=api)
    assert canonical.code == 3 and canonical.stdout == ""
    assert (
        "row 2: play_id: Unknown field; custom data belongs in context or device; screen: Unknown field"
        in canonical.stderr
    )

    draft = tmp_path / "draft.json"
    mapping = {
        "fields": {"play_id": "eventId", "screen": "screenId", "started_ms": "playedAt"},
        "timestamp_format": "epoch_millis",
    }
    draft.write_text(json.dumps(mapping))
    first = coatro("schema", "preview", plays, "--mapping", draft, env=api)
    assert first.stdout == (
        '{"eventId": "p-1", "screenId": "scr-001", "playedAt": "2025-01-27T10:00:00.000Z", "context": {"duration_ms": "30000", "campaign": "summer-25"}}\n'
        '{"eventId": "p-2", "screenId": "scr-002", "playedAt": "2025-01-27T10:00:15.250Z", "context": {"duration_ms": "15000", "campaign": "summer-25"}}\n'
    )
    assert first.stderr == (
        "row 4: started_ms (playedAt): expected epoch milliseconds, got 'yesterday'\n"
        "preview: 3 rows, 2 events, 1 with errors, 0 skipped; nothing was ingested\n"
    )

    mapping["fields"].update({"duration_ms": "durationMs", "campaign": "campaignId"})
    draft.write_text(json.dumps(mapping))
    fixed = coatro("schema", "preview", plays, "--mapping", draft, env=api)
    assert fixed.stdout == (
        '{"eventId": "p-1", "screenId": "scr-001", "campaignId": "summer-25", "playedAt": "2025-01-27T10:00:00.000Z", "durationMs": 30000}\n'
        '{"eventId": "p-2", "screenId": "scr-002", "campaignId": "summer-25", "playedAt": "2025-01-27T10:00:15.250Z", "durationMs": 15000}\n'
    )

    draft.write_text(json.dumps({"fields": {"started_ms": "played_at"}}))
    wrong = coatro("schema", "preview", plays, "--mapping", draft, env=api)
    assert (
        wrong.code == 1
        and "mapping.fields: target 'played_at' (for 'started_ms') is not a canonical field" in wrong.stderr
    )

    draft.write_text(json.dumps(mapping))
    assert coatro("schema", "register", draft, "--version", "cms-1", env=api).code == 0
    uploaded = coatro(
        "upload", plays, "--schema-version", "cms-1", "--wait", "--poll-interval", "0.3", timeout=180, env=api
    )
    assert uploaded.code == 3, uploaded.stderr  # partially_completed: row 4, as previewed
    assert "3 total, 2 processed, 1 with errors" in uploaded.stderr
