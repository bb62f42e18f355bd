"""Helpers for the client's tests: run the `coatro` command, and a scripted HTTP server to talk to."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli_env(tmp_path):
    """An environment with no COATRO_* settings and no user config file, so tests see only what they set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COATRO_")}
    env["COATRO_CONFIG"] = str(tmp_path / "no-such-config.toml")
    env["HOME"] = str(tmp_path)
    env.pop("XDG_CONFIG_HOME", None)
    return env


@pytest.fixture
def coatro(cli_env):
    """Run `python -m coatro_cli ARGS` as a subprocess (no TTY) and return code, stdout, stderr."""

    def run(
        *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "coatro_cli", *map(str, args)],
            env={**cli_env, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        data = gzip.decompress(self.body) if self.headers.get("Content-Encoding") == "gzip" else self.body
        return json.loads(data)


@dataclass
class Reply:
    status: int
    body: dict | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 that answers with the replies queued in `script`, in order.

    When the script runs out it answers with `default(request)` (202 with eventCount by default).
    """

    def __init__(self):
        self.script: list[Reply] = []
        self.requests: list[Recorded] = []
        self.default = self._accept_events
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, self.path, dict(self.headers), self.rfile.read(length))
                server.requests.append(recorded)
                reply = server.script.pop(0) if server.script else server.default(recorded)
                body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = body.encode()
                self.send_response(reply.status)
                ctype = "application/problem+json" if reply.status >= 400 else "application/json"
                headers = {"Content-Type": ctype, **reply.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @staticmethod
    def _accept_events(request: Recorded) -> Reply:
        count = len(request.json()["events"]) if request.body else 0
        return Reply(
            202, {"message": "Events accepted", "acceptedAt": "2025-01-27T10:00:00Z", "eventCount": count}
        )

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


def problem(status: int, title: str, detail: str, errors=None) -> dict:
    doc = {
        "type": f"https://coatro.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        doc["errors"] = errors
    return doc


def write_ndjson(path: Path, events: list) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def sample_event(n: int, **fields) -> dict:
    event = {
        "eventId": f"evt-{n:05d}",
        "screenId": "screen-001",
        "siteId": "site-001",
        "campaignId": "campaign-001",
        "creativeId": "creative-001",
        "playedAt": "2025-01-27T10:00:00Z",
        "durationMs": 30000,
        "impressions": {"ageBuckets": {"total": 150.0, "male": 80.0, "female": 70.0}},
    }
    event.update(fields)
    return event
