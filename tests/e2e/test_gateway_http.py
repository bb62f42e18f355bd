"""The local gateway speaks HTTP/1.1 correctly: raw sockets against the local stack.

Every refused request is answered with problem+json (or, when the client is gone, not at all), and
none of them reaches a function: a marker event sent afterwards is the only one the tenant published.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest
import requests

from local.stack import free_port
from tests import polling
from tests.conftest import ROOT, unique

EVENTS = "/coatro/v1/pop/events"
JOB = "/coatro/v1/pop/dynamic/bulk/jobs/job-1"


def event_body(event_id: str) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "eventId": event_id,
                    "screenId": "screen-001",
                    "playedAt": "2025-01-27T10:00:00Z",
                    "durationMs": 30000,
                }
            ]
        }
    ).encode()


def head(key_lines: str, length: int | str | None = None, extra: str = "", path: str = EVENTS) -> bytes:
    lines = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{key_lines}{extra}"
    if length is not None:
        lines += f"Content-Length: {length}\r\n"
    return (lines + "\r\n").encode("latin-1")


def exchange(port: int, data: bytes, method: str = "POST", timeout: float = 15) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock, method)


def read_response(sock: socket.socket, method: str = "POST") -> tuple[int, dict, bytes]:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def abandon(port: int, data: bytes) -> None:
    """Send part of a request and go away."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        time.sleep(0.2)


def assert_problem(status: int, headers: dict, body: bytes, expected: int) -> dict:
    assert status == expected, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == expected and problem["type"].startswith("https://coatro.dev/problems/")
    return problem


def assert_nothing_published(stack, tenant, sink) -> None:
    """A marker sent last is the only event of the tenant: nothing before it was published."""
    tenant_id, key = tenant
    marker = unique("marker")
    response = requests.post(
        stack.gateway_url + EVENTS,
        data=event_body(marker),
        timeout=30,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    got = sink.pull(tenant_id, until=lambda ms: any(m["attributes"]["eventId"] == marker for m in ms))
    assert [m["attributes"]["eventId"] for m in got] == [marker]


@pytest.fixture
def port(stack):
    return stack.ports.gateway


# ---- 12: a request is forwarded only once it is whole


def test_a_body_shorter_than_its_content_length_never_reaches_a_function(stack, port, tenant, events_sink):
    body = event_body(unique("evt"))
    abandon(port, head(f"X-API-Key: {tenant[1]}\r\n", len(body) + 10) + body)
    assert_nothing_published(stack, tenant, events_sink)


def test_an_unterminated_chunked_body_never_reaches_a_function(stack, port, tenant, events_sink):
    body = event_body(unique("evt"))
    chunk = f"{len(body):x}\r\n".encode() + body + b"\r\n"  # no last chunk
    abandon(port, head(f"X-API-Key: {tenant[1]}\r\n", extra="Transfer-Encoding: chunked\r\n") + chunk)
    assert_nothing_published(stack, tenant, events_sink)


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(lambda body: head("{key}", -1) + body, id="content-length -1"),
        pytest.param(lambda body: head("{key}", f"+{len(body)}") + body, id="content-length +n"),
        pytest.param(
            lambda body: head("{key}", f"{len(body)}, {len(body) + 1}") + body, id="two content-lengths"
        ),
        pytest.param(
            lambda body: (
                head("{key}", extra="Transfer-Encoding: chunked\r\n") + b"zz\r\n" + body + b"\r\n0\r\n\r\n"
            ),
            id="chunk size not hex",
        ),
        pytest.param(
            lambda body: (
                head("{key}", extra="Transfer-Encoding: chunked\r\n")
                + b"%x\r\n" % len(body)
                + body
                + b"XX0\r\n\r\n"
            ),
            id="chunk without CRLF",
        ),
    ],
)
def test_malformed_framing_is_a_400_problem_and_nothing_is_published(
    stack, port, tenant, events_sink, framing
):
    data = framing(event_body(unique("evt"))).replace(b"{key}", f"X-API-Key: {tenant[1]}\r\n".encode())
    assert_problem(*exchange(port, data), 400)
    assert_nothing_published(stack, tenant, events_sink)


def test_a_chunked_body_is_forwarded_whole(stack, port, tenant, events_sink):
    event_id = unique("evt")
    body = event_body(event_id)
    chunks = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:10], body[10:]))
        + b"0\r\n\r\n"
    )
    status, _, answer = exchange(
        port, head(f"X-API-Key: {tenant[1]}\r\n", extra="Transfer-Encoding: chunked\r\n") + chunks
    )
    assert status == 202, answer
    got = events_sink.pull(tenant[0], until=lambda ms: len(ms) >= 1)
    assert [m["attributes"]["eventId"] for m in got] == [event_id]


def test_expect_100_continue_gets_its_interim_answer_and_the_body_is_forwarded(port, tenant, events_sink):
    # curl sends Expect: 100-continue with bodies over 1 KiB, and waits for the 100 before sending them.
    event_id = unique("evt")
    body = event_body(event_id)
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head(f"X-API-Key: {tenant[1]}\r\n", len(body), extra="Expect: 100-continue\r\n"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        status, _, answer = read_response(sock)
    assert status == 202, answer
    got = events_sink.pull(tenant[0], until=lambda ms: len(ms) >= 1)
    assert [m["attributes"]["eventId"] for m in got] == [event_id]


# ---- 13: header injection and ambiguous credentials


@pytest.mark.parametrize("separator", ["\n", "\r"], ids=["bare LF", "bare CR"])
def test_a_bare_cr_or_lf_inside_a_header_is_a_400(stack, port, tenant, events_sink, separator):
    body = event_body(unique("evt"))
    data = head(f"X-API-Key: bogus{separator}X-API-Key: {tenant[1]}\r\n", len(body)) + body
    problem = assert_problem(*exchange(port, data), 400)
    assert tenant[1] not in json.dumps(problem)  # the offending line is not echoed
    assert_nothing_published(stack, tenant, events_sink)


@pytest.mark.parametrize("first", ["bogus", "valid"])
def test_duplicate_api_key_headers_are_a_400(stack, port, tenant, events_sink, first):
    body = event_body(unique("evt"))
    key = tenant[1]
    data = (
        head(f"X-API-Key: {key if first == 'valid' else 'bogus'}\r\nX-API-Key: {key}\r\n", len(body)) + body
    )
    assert_problem(*exchange(port, data), 400)
    assert_nothing_published(stack, tenant, events_sink)


# ---- 14: HEAD, limits, timeouts, keep-alive


def test_head_is_answered_without_a_body_and_the_connection_stays_usable(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"HEAD {EVENTS} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        time.sleep(0.5)
        sock.setblocking(False)
        try:
            received += sock.recv(65536)
        except BlockingIOError:
            pass
        sock.setblocking(True)
        header, _, after = received.partition(b"\r\n\r\n")
        assert header.startswith(b"HTTP/1.1 405 ") and b"\r\nAllow: POST" in header
        assert b"Content-Type: application/problem+json" in header
        assert after == b""  # no body bytes that would garble the next response
        sock.sendall(b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert_problem(*read_response(sock, "GET"), 404)


def test_a_body_over_the_limit_is_refused_from_its_content_length_before_it_is_sent(port, tenant):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head(f"X-API-Key: {tenant[1]}\r\n", 300 * 1024 * 1024))  # headers only, no body sent
        assert_problem(*read_response(sock), 413)


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_being_sent(port, tenant):
    block = b"%x\r\n" % (1024 * 1024) + b" " * (1024 * 1024) + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head(f"X-API-Key: {tenant[1]}\r\n", extra="Transfer-Encoding: chunked\r\n"))
        sent = 0
        try:
            for _ in range(300):  # 300 MiB if nobody stops us
                sock.sendall(block)
                sent += 1
        except OSError:
            pass  # the gateway answered and closed: what we want
        assert sent < 20
        assert_problem(*read_response(sock), 413)


@pytest.mark.parametrize(
    "request_line, extra, status",
    [
        (f"GET {JOB}?{'a' * 9000} HTTP/1.1", "", 414),
        (f"GET {JOB} HTTP/1.1", "X-Big: " + "b" * 9000 + "\r\n", 431),
        (f"GET {JOB} HTTP/1.1", "".join(f"X-H{i}: v\r\n" for i in range(80)), 431),
        (f"GET {JOB} HTTP/1.1", "X-Huge: " + "h" * 70000 + "\r\n", 431),
        (f"BREW {JOB} HTTP/1.1", "", 405),  # any method a path does not serve, known or not
        (f"POST {EVENTS} HTTP/1.1", "Transfer-Encoding: gzip\r\n", 501),
        (f"GET {JOB} HTTP/1.1", "Bad Header\r\n", 400),
        ("GET /coatro/v1/../../etc/passwd HTTP/1.1", "", 404),
        ("GET /robots.txt HTTP/1.1", "", 404),
    ],
)
def test_gateway_errors_are_problems(port, request_line, extra, status):
    data = f"{request_line}\r\nHost: localhost\r\n{extra}\r\n".encode()
    assert_problem(*exchange(port, data, method=request_line.split()[0]), status)


def test_a_header_with_non_ascii_bytes_is_forwarded_as_sent(port):
    # obs-text (RFC 9110 5.5) is allowed in a field value; the function answers (401: no key), not the gateway.
    data = f"GET {JOB} HTTP/1.1\r\nHost: localhost\r\nX-Note: caf\xe9 \xff\r\n\r\n".encode("latin-1")
    problem = assert_problem(*exchange(port, data, method="GET"), 401)
    assert problem["type"].endswith("/unauthorized")


def test_stalled_connections_do_not_hold_up_other_requests(port):
    stalled = []
    try:
        for _ in range(40):  # more than the gateway's worker threads
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(
                f"POST {EVENTS} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{{".encode()
            )
            stalled.append(sock)
        started = time.monotonic()
        response = requests.get(stack_url(port) + JOB, timeout=10)
        assert response.status_code == 401 and time.monotonic() - started < 5
    finally:
        for sock in stalled:
            sock.close()


def stack_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def test_keep_alive_requests_do_not_stall(port):
    # Headers and body in two small writes without TCP_NODELAY cost ~40 ms per request (Nagle + delayed ACK).
    with requests.Session() as session:
        session.get(stack_url(port) + "/nope", timeout=10)
        timings = []
        for path in ["/nope", JOB] * 10:
            started = time.perf_counter()
            response = session.get(stack_url(port) + path, timeout=10)
            timings.append(time.perf_counter() - started)
            assert response.status_code in (401, 404)
            assert response.headers["Content-Type"] == "application/problem+json"
    assert statistics.median(timings) < 0.03, timings


# ---- a gateway of its own: short read timeout, or a backend that closes idle connections


@pytest.fixture
def own_gateway():
    procs = []

    def start(backends: dict[str, str], *args: str) -> int:
        gport = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.gateway",
                "--port",
                str(gport),
                "--backends",
                json.dumps(backends),
                *args,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
        )
        procs.append(proc)

        def connect() -> None:
            assert proc.poll() is None, "the gateway exited"
            socket.create_connection(("127.0.0.1", gport), timeout=1).close()

        try:
            polling.until_passes(connect, timeout=30, interval=0.1, exceptions=OSError)
        except OSError as error:
            raise AssertionError("the gateway did not start") from error
        return gport

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def test_a_stalled_connection_is_closed_after_the_read_timeout(stack, own_gateway):
    gport = own_gateway(
        {"events_url": f"http://127.0.0.1:{stack.function_ports['events']}"}, "--read-timeout", "2"
    )
    with socket.create_connection(("127.0.0.1", gport), timeout=15) as sock:
        sock.sendall(f"POST {EVENTS} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{{".encode())
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the gateway, nothing forwarded
        assert 1.5 < time.monotonic() - started < 8


class ClosingBackend:
    """A backend whose keep-alive timer fires just as the next request arrives on an idle connection:
    it reads the request and closes without answering, as a server closing an idle connection does."""

    def __init__(self, idle_close: float):
        self.idle_close = idle_close
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answered = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        with conn:
            idle_since = time.monotonic()
            buffer = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                if not buffer and time.monotonic() - idle_since >= self.idle_close:
                    return  # the connection was idle too long: close it under the request
                buffer += data
                if b"\r\n\r\n" not in buffer:
                    continue
                headers, _, rest = buffer.partition(b"\r\n\r\n")
                length = int(
                    next(
                        (
                            line.split(b":")[1]
                            for line in headers.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        b"0",
                    )
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                buffer = b""
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                )
                self.answered += 1
                idle_since = time.monotonic()

    def close(self):
        self.listener.close()


def test_no_502_from_a_pooled_connection_the_backend_closed(own_gateway):
    backend = ClosingBackend(idle_close=1.5)  # gunicorn closes after 2 s idle; be stricter than it
    try:
        gport = own_gateway({"events_url": f"http://127.0.0.1:{backend.port}"})
        statuses = []
        for pause in (0, 1.6, 1.6, 1.6):
            time.sleep(pause)
            statuses.append(requests.post(stack_url(gport) + EVENTS, data=b"{}", timeout=10).status_code)
        assert statuses == [200, 200, 200, 200] and backend.answered == 4
    finally:
        backend.close()


def test_an_unreachable_or_missing_backend_is_a_problem(own_gateway):
    gport = own_gateway({"events_url": f"http://127.0.0.1:{free_port()}"})  # nothing listens there
    response = requests.post(stack_url(gport) + EVENTS, data=b"{}", timeout=30)
    assert_problem(
        response.status_code, {"content-type": response.headers["Content-Type"]}, response.content, 502
    )
    response = requests.get(
        stack_url(gport) + JOB, timeout=30
    )  # job_status is not running in this gateway's stack
    assert_problem(
        response.status_code, {"content-type": response.headers["Content-Type"]}, response.content, 501
    )
