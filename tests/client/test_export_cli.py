"""`coatro export plays` against a scripted server: the cursor path follows Coatro-Next-Cursor with the
same filters to the last page; the job path starts an export, reports its progress and downloads its
files from their signed URLs without the API key."""

from __future__ import annotations

import gzip
from urllib.parse import parse_qs, urlsplit

from tests.client.conftest import Reply

PLAYS = "/coatro/v1/pop/reports/plays"


def cursor_pages(server, fmt: str, pages: int = 3) -> None:
    def answer(request):
        query = parse_qs(urlsplit(request.path).query)
        page = int(query["cursor"][0].removeprefix("c")) if "cursor" in query else 0
        if fmt == "csv":
            body = "eventId,playedAt\r\n" + "".join(f"e-{page}-{i},2025-01-0{page + 1}\r\n" for i in range(2))
        else:
            body = "".join(f'{{"eventId":"e-{page}-{i}"}}\n' for i in range(2))
        headers = {"Content-Type": "text/csv" if fmt == "csv" else "application/x-ndjson"}
        if page + 1 < pages:
            headers["Coatro-Next-Cursor"] = f"c{page + 1}"
        return Reply(200, body, headers)

    server.default = answer


def test_export_plays_by_cursor_follows_every_page_with_the_same_filters(coatro, server, tmp_path):
    cursor_pages(server, "csv")
    out = tmp_path / "plays.csv.gz"
    result = coatro(
        "export", "plays", "--from", "2025-01-01", "--to", "2025-01-31", "--campaign-id", "c1",
        "--format", "csv", "--gzip", "--page-size", "2", "-o", str(out),
        env={"COATRO_URL": server.url, "COATRO_API_KEY": "k"},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(server.requests) == 3
    for i, request in enumerate(server.requests):
        query = parse_qs(urlsplit(request.path).query)
        assert query["filter[from]"] == ["2025-01-01"] and query["filter[to]"] == ["2025-01-31"]
        assert query["filter[campaignId]"] == ["c1"] and query["limit"] == ["2"]
        assert query.get("cursor") == ([f"c{i}"] if i else None)
        assert request.headers["Accept"] == "text/csv" and request.headers["X-API-Key"] == "k"
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert lines[0] == "eventId,playedAt" and len(lines) == 7  # one header, six plays
    assert "6 plays" in result.stderr and not (tmp_path / "plays.csv.gz.partial").exists()


def test_export_plays_refuses_a_cursor_it_was_given_before(coatro, server):
    server.default = lambda request: Reply(200, '{"eventId":"e"}\n', {"Coatro-Next-Cursor": "same"})
    result = coatro(
        "export", "plays", "--date", "2025-01-01", env={"COATRO_URL": server.url, "COATRO_API_KEY": "k"}
    )
    assert result.code == 1 and "returned before" in result.stderr


def test_export_plays_as_a_job_shows_progress_and_downloads_without_the_key(coatro, server, tmp_path):
    view = {
        "exportId": "abc",
        "state": "queued",
        "rows": 0,
        "progress": 0.0,
        "files": [],
        "format": "ndjson",
        "gzip": False,
    }
    files = [
        {"name": "plays-00000.ndjson", "rows": 1, "bytes": 17, "url": f"{server.url}/bucket/abc/plays-00000.ndjson?X-Goog-Signature=s"},
        {"name": "plays-00001.ndjson", "rows": 1, "bytes": 17, "url": f"{server.url}/bucket/abc/plays-00001.ndjson?X-Goog-Signature=s"},
    ]  # fmt: skip
    server.script = [
        Reply(202, view, {"Location": "/coatro/v1/pop/exports/abc"}),
        Reply(200, {**view, "state": "running", "rows": 1, "progress": 0.5, "files": files[:1]}),
        Reply(200, {**view, "state": "succeeded", "rows": 2, "progress": 1.0, "files": files}),
        Reply(200, '{"eventId":"e1"}\n', {"Content-Type": "application/octet-stream"}),
        Reply(200, '{"eventId":"e2"}\n', {"Content-Type": "application/octet-stream"}),
    ]
    result = coatro(
        "export", "plays", "--date", "2025-01-01", "--via", "job", "--poll-seconds", "0.1", "--no-gzip", "--output-dir", str(tmp_path / "out"),
        env={"COATRO_URL": server.url, "COATRO_API_KEY": "k"}, timeout=60,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    post = server.requests[0]
    assert post.method == "POST" and post.path == "/coatro/v1/pop/exports/plays"
    assert post.json() == {"filter[date]": "2025-01-01", "format": "ndjson", "gzip": False}
    assert post.headers["Idempotency-Key"]
    assert [r.path for r in server.requests[1:3]] == ["/coatro/v1/pop/exports/abc"] * 2
    downloads = server.requests[3:]
    assert all("X-API-Key" not in r.headers and "Authorization" not in r.headers for r in downloads)
    assert (tmp_path / "out" / "plays-00001.ndjson").read_text() == '{"eventId":"e2"}\n'
    assert "running, 1 plays, 50%" in result.stderr and "2 plays in 2 file(s)" in result.stderr


def test_a_failed_export_job_is_an_error_with_its_reason(coatro, server, tmp_path):
    view = {
        "exportId": "abc",
        "state": "failed",
        "rows": 0,
        "progress": 0.0,
        "files": [],
        "error": "The plays query was refused: too big",
    }
    server.script = [Reply(202, view)]
    result = coatro(
        "export",
        "plays",
        "--date",
        "2025-01-01",
        "--via",
        "job",
        env={"COATRO_URL": server.url, "COATRO_API_KEY": "k"},
    )
    assert result.code == 1 and "too big" in result.stderr
