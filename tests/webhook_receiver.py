"""A local HTTP server standing in for a tenant's webhook endpoint: it records every POST (headers and
raw body), checks it with the sample receiver of docs/webhooks.md, and answers from a script (say 500,
500, then 200)."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "docs" / "examples" / "webhook_receiver.py"
_spec = importlib.util.spec_from_file_location("webhook_receiver", _PATH)
assert _spec and _spec.loader
sample = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sample)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


@dataclass
class Receiver:
    answers: list[int] = field(default_factory=list)  # answered in turn; 200 once they run out
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.received.append(Received(dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def verified_ids(self, secret: str) -> list[str]:
        """Each request's webhook-id, checked by the sample receiver (raises InvalidWebhook if not genuine)."""
        return [sample.verify(secret, r.headers, r.body) for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
