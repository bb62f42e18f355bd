"""Retry policy: which answers are retried, how long the client waits, against a real local HTTP server."""

from __future__ import annotations

import gzip
import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from coatro_cli.api import ApiClient, ApiError, NetworkError, RetryPolicy, parse_retry_after
from coatro_cli.config import DEFAULT_URL
from local.stack import free_port
from tests.client.conftest import Reply, problem, sample_event, write_ndjson

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)


def client_for(url: str, policy: RetryPolicy = FAST, sleeps: list | None = None) -> ApiClient:
    def sleep(seconds):
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(min(seconds, 0.05))

    return ApiClient(url, "test-key", policy=policy, sleep=sleep)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(base_delay=0.5, max_delay=8)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1), (3, 2), (4, 4), (5, 8), (9, 8)]:
        delays = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not a fixed schedule


def test_retry_after_wins_over_backoff_and_is_capped():
    policy = RetryPolicy(base_delay=0.5, max_retry_after=60)
    assert 7 <= policy.delay(1, retry_after=7) <= 7.7
    assert policy.delay(1, retry_after=0) == 0
    assert 60 <= policy.delay(1, retry_after=3600) <= 61


def test_parse_retry_after_seconds_and_http_date():
    now = datetime(2025, 1, 27, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status", [429, 503, 502, 504])
def test_transient_statuses_are_retried_honouring_retry_after(server, status):
    server.script = [Reply(status, problem(status, "Busy", "try later"), {"Retry-After": "2"})]
    sleeps = []
    answer = client_for(server.url, sleeps=sleeps).post_events(gzip.compress(b'{"events":[{"eventId":"x"}]}'))
    assert answer["message"] == "Events accepted"
    assert len(server.requests) == 2
    assert len(sleeps) == 1 and 2 <= sleeps[0] <= 2.2


def test_503_then_202_resends_the_same_body(server):
    server.script = [Reply(503, problem(503, "Service unavailable", "retry"), {"Retry-After": "0"})] * 2
    client = client_for(server.url)
    body = b'{"events":[{"eventId":"x"}]}'
    client.request("POST", "/coatro/v1/pop/events", body=body, headers={"Content-Type": "application/json"})
    assert [r.body for r in server.requests] == [body] * 3
    assert client.requests_made == 3 and client.retries == 2
    assert all(r.headers["X-API-Key"] == "test-key" for r in server.requests)


@pytest.mark.parametrize("status", [400, 401, 404, 413, 415, 500])
def test_client_errors_are_never_retried(server, status):
    server.script = [Reply(status, problem(status, "Nope", "the request is wrong", errors=[]))]
    with pytest.raises(ApiError) as caught:
        client_for(server.url).request("POST", "/x", body=b"{}")
    assert caught.value.status == status and caught.value.title == "Nope"
    assert len(server.requests) == 1


def test_gives_up_after_max_attempts_with_the_last_error(server):
    server.script = [Reply(503, problem(503, "Service unavailable", "still down"), {"Retry-After": "0"})] * 10
    sleeps = []
    with pytest.raises(ApiError) as caught:
        client_for(server.url, sleeps=sleeps).request("GET", "/x")
    assert caught.value.status == 503 and caught.value.detail == "still down"
    assert len(server.requests) == FAST.max_attempts and len(sleeps) == FAST.max_attempts - 1


def test_connection_errors_are_retried_then_reported_with_the_stack_hint():
    url = f"http://127.0.0.1:{free_port()}"
    sleeps = []
    client = client_for(url, sleeps=sleeps)
    with pytest.raises(NetworkError) as caught:
        client.request("GET", "/x")
    assert len(sleeps) == FAST.max_attempts - 1
    assert caught.value.message().startswith(f"cannot reach {url}: is the local stack running? make dev")
    remote = NetworkError("https://api.example.com/x", ConnectionError("boom"))
    assert "make dev" not in remote.message()


def test_non_problem_error_bodies_are_still_shown(server):
    server.script = [
        Reply(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", {"Content-Type": "application/xml"})
    ]
    with pytest.raises(ApiError) as caught:
        client_for(server.url).request("PUT", server.url + "/bucket/object", body=b"x", send_key=False)
    assert caught.value.status == 403 and "SignatureDoesNotMatch" in caught.value.detail
    assert "X-API-Key" not in server.requests[0].headers  # the key never goes to a signed storage URL


def test_a_file_upload_is_resent_whole_after_a_503_and_its_bar_restarts(server, tmp_path):
    from coatro_cli.bulk import put_file

    class Bar:
        def __init__(self):
            self.resets, self.n = [], 0

        def reset(self, total):
            self.resets.append(total)
            self.n = 0

        def update(self, n):
            self.n += n

        def refresh(self):
            pass

    data = bytes(range(256)) * 8192  # 2 MiB: more than one block
    path = tmp_path / "upload.ndjson"
    path.write_bytes(data)
    server.script = [Reply(503, "<Error>SlowDown</Error>", {"Retry-After": "0"}), Reply(200, "")]
    bar = Bar()
    put_file(client_for(server.url), server.url + "/bucket/object", "application/x-ndjson", path, bar)
    assert [r.body for r in server.requests] == [data, data]
    assert bar.resets == [len(data), len(data)] and bar.n == len(data)


# -- the same policy through the command ------------------------------------------------


def test_send_retries_503_then_succeeds(server, coatro, tmp_path):
    server.script = [Reply(503, problem(503, "Service unavailable", "could not store"), {"Retry-After": "1"})]
    data = write_ndjson(tmp_path / "e.ndjson", [sample_event(i) for i in range(3)])
    started = time.monotonic()
    result = coatro("send", data, "--url", server.url, "--api-key", "k")
    assert result.code == 0, result.stderr
    assert time.monotonic() - started >= 1  # Retry-After was honoured
    assert len(server.requests) == 2 and server.requests[0].body == server.requests[1].body
    assert "503 Service unavailable; retrying in 1." in result.stderr
    assert "3 events read, 3 accepted, 0 not accepted; 2 requests (1 retry" in result.stderr


def test_send_does_not_retry_401_and_explains(server, coatro, tmp_path):
    server.script = [Reply(401, problem(401, "Unauthorized", "A valid X-API-Key header is required."))]
    data = write_ndjson(tmp_path / "e.ndjson", [sample_event(1)])
    result = coatro("send", data, "--url", server.url, "--api-key", "bad")
    assert result.code == 1
    assert len(server.requests) == 1
    assert "401 Unauthorized: A valid X-API-Key header is required." in result.stderr
    assert "check the API key" in result.stderr


def test_unreachable_server_message(coatro, tmp_path):
    data = write_ndjson(tmp_path / "e.ndjson", [sample_event(1)])
    url = f"http://127.0.0.1:{free_port()}"
    result = coatro("send", data, "--url", url, "--api-key", "k", "--retries", "1")
    assert result.code == 1
    assert f"cannot reach {url}: is the local stack running? make dev" in result.stderr
    assert "Traceback" not in result.stderr
    assert DEFAULT_URL == "http://localhost:8080"
