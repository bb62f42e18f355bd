"""A local function process ends a request that runs past its timeout, as Cloud Run does (no emulators)."""

from __future__ import annotations

import http.client
import os
import subprocess
import time

import requests

from local.stack import free_port, function_process
from tests import polling

SLOW = """
import time

import functions_framework


@functions_framework.http
def slow(request):
    end = time.monotonic() + float(request.args.get("seconds", "0"))
    while time.monotonic() < end:
        time.sleep(0.05)
    return "finished"
"""


def test_a_request_longer_than_the_timeout_is_ended(tmp_path):
    source = tmp_path / "main.py"
    source.write_text(SLOW)
    port = free_port()
    argv, env = function_process("slow", port, source=source, timeout=2)
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"

        def answers() -> None:
            assert proc.poll() is None, "functions-framework exited"
            requests.get(url, timeout=5)

        try:
            polling.until_passes(answers, timeout=30, interval=0.1, exceptions=requests.ConnectionError)
        except requests.ConnectionError as error:
            raise AssertionError("functions-framework did not start") from error
        assert requests.get(url, params={"seconds": "0.5"}, timeout=10).text == "finished"
        started = time.monotonic()
        response = requests.get(url, params={"seconds": "8"}, timeout=20)
        took = time.monotonic() - started
        assert response.status_code >= 500 and response.text != "finished", response.text
        assert 1.5 < took < 4, took  # ended at the 2 s timeout, not after the handler's 8 s
        assert requests.get(url, params={"seconds": "0.1"}, timeout=10).text == "finished"  # and it serves on
        # Connections stay open between requests, as the gateway's pool expects (functions-framework's
        # timeout worker closed each one after its first response: 502s at the gateway).
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(3):
            connection.request("GET", "/?seconds=0")
            answer = connection.getresponse()
            assert answer.read() == b"finished" and answer.getheader("Connection") != "close"
        connection.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_handler_ended_at_the_timeout_answers_504_problem(capsys):
    """serve() answers the timeout as Cloud Run does (504), as a problem, logged as what it is."""
    from flask import Flask, request
    from functions_framework.exceptions import RequestTimeoutException

    from shared.platform.http import serve
    from tests.conftest import log_lines

    def handler(_):
        raise RequestTimeoutException()

    with Flask(__name__).test_request_context("/", method="POST"):
        response = serve(request, ["POST"], handler)
    assert response.status_code == 504 and response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/timeout")
    [entry] = log_lines(capsys.readouterr().err)
    assert entry["severity"] == "ERROR" and "timeout" in entry["message"]
