"""`coatro send` against a scripted local server: batches on the wire, errors mapped back to lines."""

from __future__ import annotations

import json

from tests.client.conftest import Reply, problem, sample_event, write_ndjson


def test_batches_are_gzipped_and_within_limits(server, coatro, tmp_path):
    data = write_ndjson(tmp_path / "e.ndjson", [sample_event(i) for i in range(25)])
    result = coatro("send", data, "--url", server.url, "--api-key", "k", "--batch-size", "10")
    assert result.code == 0, result.stderr
    assert [len(r.json()["events"]) for r in server.requests] == [10, 10, 5]
    for r in server.requests:
        assert r.path == "/coatro/v1/pop/events" and r.method == "POST"
        assert r.headers["Content-Encoding"] == "gzip" and r.headers["Content-Type"] == "application/json"
        assert r.headers["X-API-Key"] == "k"
    sent = [e["eventId"] for r in server.requests for e in r.json()["events"]]
    assert sent == [f"evt-{i:05d}" for i in range(25)]
    assert "25 events read, 25 accepted, 0 not accepted; 3 requests" in result.stderr
    assert "send:" in result.stderr  # the events counter renders without a TTY


def test_byte_limit_splits_batches(server, coatro, tmp_path):
    events = [sample_event(i, context={"pad": "x" * 900}) for i in range(20)]
    data = write_ndjson(tmp_path / "e.ndjson", events)
    result = coatro("send", data, "--url", server.url, "--api-key", "k", "--max-batch-bytes", "5000")
    assert result.code == 0, result.stderr
    assert len(server.requests) > 4
    assert all(len(json.dumps(r.json(), separators=(",", ":")).encode()) <= 5000 for r in server.requests)
    assert sum(len(r.json()["events"]) for r in server.requests) == 20


def test_json_array_from_stdin(server, coatro):
    body = json.dumps([sample_event(1), sample_event(2)], indent=2)
    result = coatro("send", "-", "--url", server.url, "--api-key", "k", stdin=body)
    assert result.code == 0, result.stderr
    assert [e["eventId"] for e in server.requests[0].json()["events"]] == ["evt-00001", "evt-00002"]


def validation_problem(errors):
    return problem(
        400, "Validation failed", f"{len(errors)} of N events are invalid; nothing was accepted.", errors
    )


def test_400_errors_point_at_input_lines_and_nothing_is_retried(server, coatro, tmp_path):
    events = [sample_event(i) for i in range(6)]
    data = write_ndjson(tmp_path / "e.ndjson", events)
    # Batch 2 holds lines 4-6; its event index 1 is line 5.
    server.script = [
        Reply(202, {"message": "Events accepted", "eventCount": 3}),
        Reply(
            400,
            validation_problem(
                [{"index": 1, "field": "durationMs", "message": "Input should be a valid integer"}]
            ),
        ),
    ]
    result = coatro("send", data, "--url", server.url, "--api-key", "k", "--batch-size", "3")
    assert result.code == 1
    assert len(server.requests) == 2
    assert f"{data}:5: durationMs: Input should be a valid integer" in result.stderr
    assert "batch 2 (lines 4-6) was rejected: 400 Validation failed" in result.stderr
    assert "6 events read, 3 accepted, 3 not accepted" in result.stderr


def test_400_errors_in_a_json_array_give_line_and_position(server, coatro, tmp_path):
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"events": [sample_event(1), sample_event(2)]}, indent=1))
    server.script = [
        Reply(400, validation_problem([{"index": 1, "field": "playedAt", "message": "bad date"}]))
    ]
    result = coatro("send", path, "--url", server.url, "--api-key", "k")
    assert result.code == 1
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == "{" and n > 3)
    assert f"{path}:{line} (event 2): playedAt: bad date" in result.stderr


def test_skip_invalid_resends_the_valid_events(server, coatro, tmp_path):
    data = write_ndjson(tmp_path / "e.ndjson", [sample_event(i) for i in range(4)])
    server.script = [Reply(400, validation_problem([{"index": 2, "field": "durationMs", "message": "bad"}]))]
    result = coatro("send", data, "--url", server.url, "--api-key", "k", "--skip-invalid")
    assert result.code == 1  # one event was still not accepted
    assert [len(r.json()["events"]) for r in server.requests] == [4, 3]
    assert [e["eventId"] for e in server.requests[1].json()["events"]] == [
        "evt-00000",
        "evt-00001",
        "evt-00003",
    ]
    assert "4 events read, 3 accepted, 1 not accepted" in result.stderr


def test_unreadable_lines_are_reported_and_the_rest_is_sent(server, coatro, tmp_path):
    path = tmp_path / "e.ndjson"
    path.write_text(json.dumps(sample_event(1)) + "\n{not json\n" + json.dumps(sample_event(2)) + "\n")
    result = coatro("send", path, "--url", server.url, "--api-key", "k")
    assert result.code == 1
    assert f"{path}:2: not valid JSON" in result.stderr
    assert len(server.requests[0].json()["events"]) == 2


def test_413_stops_sending_without_retry(server, coatro, tmp_path):
    data = write_ndjson(tmp_path / "e.ndjson", [sample_event(i) for i in range(4)])
    server.script = [
        Reply(413, problem(413, "Payload too large", "A request holds at most 2 events; this one has 4."))
    ]
    result = coatro("send", data, "--url", server.url, "--api-key", "k", "--batch-size", "4")
    assert result.code == 1
    assert len(server.requests) == 1
    assert "413 Payload too large: A request holds at most 2 events" in result.stderr
    assert "stopped early" in result.stderr


def test_missing_file_is_a_usage_error(coatro, tmp_path):
    result = coatro("send", tmp_path / "nope.ndjson", "--api-key", "k")
    assert result.code == 1 and "cannot read" in result.stderr
