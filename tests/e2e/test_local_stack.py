"""The local stack as real processes over HTTP: what `make dev` gives a user."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from local.stack import DEFAULT_DEV_KEY, Ports
from tests import polling
from tests.conftest import ROOT

CONTRACT = json.loads((ROOT / "tests/data/contract_event.json").read_text())
EVENTS = "/coatro/v1/pop/events"


def test_contract_curl_example_through_the_gateway(stack, events_sink):
    # The dev tenant's key is seeded as in `make dev`, so the contract's example works verbatim.
    response = requests.post(
        stack.gateway_url + EVENTS,
        headers={"X-API-Key": DEFAULT_DEV_KEY, "Content-Type": "application/json"},
        data=json.dumps(CONTRACT),
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.json()["eventCount"] == 1
    got = events_sink.pull(
        "dev-tenant", until=lambda ms: any(m["attributes"]["eventId"] == "evt-12345" for m in ms)
    )
    [msg] = [m for m in got if m["attributes"]["eventId"] == "evt-12345"]
    assert msg["attributes"]["tenantId"] == "dev-tenant"
    assert msg["data"]["screenId"] == "screen-001"


def test_gateway_answers_unknown_paths_and_methods_with_problems(stack):
    response = requests.get(stack.gateway_url + "/coatro/v1/nope", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    response = requests.get(stack.gateway_url + EVENTS, timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_gateway_forwards_errors_from_the_function(stack):
    response = requests.post(
        stack.gateway_url + EVENTS, headers={"X-API-Key": "wrong"}, data=json.dumps(CONTRACT), timeout=10
    )
    assert response.status_code == 401
    assert response.json()["status"] == 401


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.e2e
def test_make_dev_command_starts_serves_and_stops_everything_on_ctrl_c(tmp_path):
    ports = Ports.free()
    argv = [
        sys.executable,
        "-m",
        "local.stack",
        "--gateway-port",
        str(ports.gateway),
        "--firestore-port",
        str(ports.firestore),
        "--pubsub-port",
        str(ports.pubsub),
        "--storage-port",
        str(ports.storage),
        "--functions-port",
        "0",
        "--workdir",
        str(tmp_path),
    ]
    env = {**os.environ, "COATRO_DEV_API_KEY": "e2e-dev-key"}
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(output)
        assert "API key:    e2e-dev-key" in text, text
        # the web console and the dev client a new user signs in to it with (docs/console.md)
        assert f"console:    http://localhost:{ports.gateway}/console/" in text, text
        assert "client_id your-client-id, client_secret your-client-secret" in text, text
        assert requests.get(f"http://127.0.0.1:{ports.gateway}/console/", timeout=30).status_code == 200
        response = requests.post(
            f"http://127.0.0.1:{ports.gateway}{EVENTS}",
            headers={"X-API-Key": "e2e-dev-key", "Content-Type": "application/json"},
            data=json.dumps(CONTRACT),
            timeout=30,
        )
        assert response.status_code == 202, response.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    # Every port it opened is closed again (within a second): the emulators' Java children went with
    # their groups.
    still = polling.until(
        lambda: [p for p in (ports.gateway, ports.firestore, ports.pubsub, ports.storage) if _listening(p)],
        lambda listening: listening == [],
        timeout=1,
        interval=0.1,
    )
    assert still == []
