"""Format inference, metadata, error export and job pagination (against a scripted local server)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from coatro_cli import bulk
from coatro_cli.api import ApiClient, RetryPolicy
from tests.client.conftest import Reply


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("a.ndjson", "ndjson"),
        ("a.jsonl", "ndjson"),
        ("x/y/A.JSONL", "ndjson"),
        ("a.json", "json"),
        ("pop_2025-12-09.csv", "csv"),
    ],
)
def test_format_is_inferred_from_the_extension(name, fmt):
    assert bulk.infer_format(name) == fmt


@pytest.mark.parametrize("name", ["a.txt", "a", "a.ndjson.gz", "a.tsv"])
def test_unknown_extension_is_a_clear_error(name):
    with pytest.raises(bulk.FormatError, match="pass --format ndjson, json or csv"):
        bulk.infer_format(name)


def test_upload_with_unknown_extension_is_a_usage_error(coatro, tmp_path):
    path = tmp_path / "pop.txt"
    path.write_text("{}\n")
    result = coatro("upload", path, "--schema-version", "1.0", "--api-key", "k")
    assert result.code == 2
    assert "cannot tell the format of pop.txt" in result.stderr and "--format" in result.stderr


def test_metadata_pairs():
    assert bulk.parse_metadata(["source=daily_export", "timezone=UTC", "note=a=b"]) == {
        "source": "daily_export",
        "timezone": "UTC",
        "note": "a=b",
    }
    with pytest.raises(ValueError):
        bulk.parse_metadata(["novalue"])


def test_write_errors_csv_and_json():
    errs = [{"row": 4, "error": 'durationMs: "abc", not an integer'}, {"row": 7, "error": "bad"}]
    out = io.StringIO()
    assert bulk.write_errors(iter(errs), out, "csv") == 2
    assert out.getvalue() == 'row,error\r\n4,"durationMs: ""abc"", not an integer"\r\n7,bad\r\n'
    out = io.StringIO()
    bulk.write_errors(iter(errs), out, "json")
    assert json.loads(out.getvalue()) == errs
    out = io.StringIO()
    bulk.write_errors(iter([]), out, "json")
    assert json.loads(out.getvalue()) == []


def test_errors_csv_defuses_spreadsheet_formulas_and_json_keeps_them_as_sent():
    hostile = [
        '=HYPERLINK("http://evil.example","x"): unknown column',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\tTAB",
        "\rCR",
        "fine = not first",
        "'already quoted",
    ]
    errs = [{"row": i, "error": text} for i, text in enumerate(hostile, 1)]
    out = io.StringIO()
    bulk.write_errors(iter(errs), out, "csv")
    cells = [row[1] for row in csv.reader(io.StringIO(out.getvalue(), newline=""))][1:]
    assert cells == ["'" + t for t in hostile[:6]] + hostile[6:]
    out = io.StringIO()
    bulk.write_errors(iter(errs), out, "json")
    assert json.loads(out.getvalue()) == errs


def test_errors_follow_next_page_token(server, coatro):
    server.script = [
        Reply(
            200,
            {"jobId": "j1", "errors": [{"row": 1, "error": "a"}], "nextPageToken": "t2", "totalErrors": 3},
        ),
        Reply(
            200,
            {"jobId": "j1", "errors": [{"row": 5, "error": "b"}], "nextPageToken": "t3", "totalErrors": 3},
        ),
        Reply(
            200,
            {"jobId": "j1", "errors": [{"row": 9, "error": "c"}], "nextPageToken": None, "totalErrors": 3},
        ),
    ]
    result = coatro("errors", "j1", "--url", server.url, "--api-key", "k", "--format", "json")
    assert result.code == 0, result.stderr
    assert [e["row"] for e in json.loads(result.stdout)] == [1, 5, 9]
    paths = [r.path for r in server.requests]
    assert paths[0] == "/coatro/v1/pop/dynamic/bulk/jobs/j1/errors?pageSize=1000"
    assert paths[1].endswith("pageToken=t2") and paths[2].endswith("pageToken=t3")


class FakeBar:
    """Stands in for the tqdm bar only: records what the job follower shows."""

    def __init__(self):
        self.total, self.n, self.postfix, self.refreshes = None, 0, "", 0

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def refresh(self):
        self.refreshes += 1


def test_follow_job_until_final_moves_the_bar(server):
    def job(status, total, done, errors):
        return Reply(
            200,
            {
                "jobId": "j1",
                "status": status,
                "totalRows": total,
                "processedRows": done,
                "errorRows": errors,
                "errors": [],
                "startedAt": None,
                "completedAt": None,
            },
        )

    server.script = [
        job("queued", None, 0, 0),
        job("processing", 10, 4, 1),
        job("partially_completed", 10, 8, 2),
    ]
    bar = FakeBar()
    final = bulk.follow_job(ApiClient(server.url, "k", policy=RetryPolicy()), "j1", bar, poll_interval=0.01)
    assert final["status"] == "partially_completed"
    assert (bar.total, bar.n) == (10, 10) and "2 errors" in bar.postfix
    assert bulk.EXIT_FOR_STATUS == {"completed": 0, "partially_completed": 3, "failed": 4}


def test_upload_wait_exit_codes_through_a_scripted_api(server, coatro, tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text("eventId,durationMs\n" + "".join(f"e{i},1000\n" for i in range(100)))
    for status, code, errors in [("completed", 0, 0), ("partially_completed", 3, 10), ("failed", 4, 100)]:
        server.requests.clear()
        server.script = [
            Reply(
                200,
                {
                    "uploadUrl": server.url + "/bucket/obj?X-Goog-Signature=abc",
                    "fileId": "f1",
                    "contentType": "text/csv",
                    "uploadInstructions": "PUT it",
                },
            ),
            Reply(200, {}),
            Reply(202, {"jobId": "job-1", "message": "Job queued"}),
            Reply(
                200,
                {
                    "jobId": "job-1",
                    "status": status,
                    "totalRows": 100,
                    "processedRows": 100 - errors,
                    "errorRows": errors,
                    "errors": [],
                    "failureReason": "not a CSV file" if status == "failed" else None,
                },
            ),
        ]
        result = coatro(
            "upload",
            path,
            "--schema-version",
            "1.0",
            "--wait",
            "--poll-interval",
            "0.1",
            "--metadata",
            "source=nightly",
            "--expires",
            "600",
            "--url",
            server.url,
            "--api-key",
            "k",
        )
        assert result.code == code, result.stderr
        assert result.stdout == "job-1\n"
        url_req, put, ingest = server.requests[:3]
        assert url_req.json() == {"fileName": "pop.csv", "format": "csv", "expiresInSeconds": 600}
        assert put.method == "PUT" and put.body == path.read_bytes()
        assert put.headers["Content-Type"] == "text/csv" and "X-API-Key" not in put.headers
        assert ingest.json() == {"fileId": "f1", "schemaVersion": "1.0", "metadata": {"source": "nightly"}}
        assert "upload: 100%" in result.stderr and "ingest: 100%" in result.stderr, repr(result.stderr)
    assert "not a CSV file" in result.stderr


def test_ingest_400_is_shown_with_its_problem(server, coatro, tmp_path):
    path = tmp_path / "pop.ndjson"
    path.write_text("{}\n")
    server.script = [
        Reply(200, {"uploadUrl": server.url + "/b/o", "fileId": "f1", "contentType": "application/x-ndjson"}),
        Reply(200, {}),
        Reply(
            400,
            {
                "type": "https://coatro.dev/problems/bad-request",
                "title": "Bad request",
                "status": 400,
                "detail": "Unknown schemaVersion 9.9.",
                "errors": [{"field": "schemaVersion", "message": "unknown"}],
            },
        ),
    ]
    result = coatro("upload", path, "--schema-version", "9.9", "--url", server.url, "--api-key", "k")
    assert result.code == 1
    assert "error: 400 Bad request: Unknown schemaVersion 9.9." in result.stderr
    assert "schemaVersion: unknown" in result.stderr
    assert result.stdout == ""


def test_pages_are_followed_by_token_and_a_repeated_token_is_an_error_not_a_loop():
    from coatro_cli.api import ApiError, iter_pages

    pages = {"t1": {"items": [2], "nextPageToken": "t2"}, "t2": {"items": [3]}}
    assert list(iter_pages({"items": [1], "nextPageToken": "t1"}, "items", pages.__getitem__, "x")) == [
        1,
        2,
        3,
    ]
    looping = {"t1": {"items": [2], "nextPageToken": "t1"}}
    with pytest.raises(ApiError, match="the screens repeat page token 't1'"):
        list(iter_pages({"items": [1], "nextPageToken": "t1"}, "items", looping.__getitem__, "the screens"))
