"""The local API gateway: routes requests to the functions by the same OpenAPI document as API Gateway.

Each operation's `x-google-backend.address` is a template variable (`${events_url}`); the gateway is
given the local address of each and forwards the whole path, as APPEND_PATH_TO_ADDRESS does.
"""

from __future__ import annotations

import argparse
import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import urllib3
import yaml

from shared.platform.problems import Problem

OPENAPI = Path(__file__).resolve().parent.parent / "infra" / "openapi.yaml"
HOP_BY_HOP = {"server", "date", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}


def load_routes(backends: dict[str, str], spec_path: Path = OPENAPI) -> list[tuple[re.Pattern, dict[str, str]]]:
    """[(path regex, {METHOD: backend base url})] from the OpenAPI document."""
    spec = yaml.safe_load(spec_path.read_text())
    routes = []
    for path, operations in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
        methods = {}
        for method, op in operations.items():
            variable = re.fullmatch(r"\$\{(\w+)\}", op["x-google-backend"]["address"]).group(1)
            methods[method.upper()] = backends.get(variable)  # None: that function is not running
        routes.append((pattern, methods))
    return routes


def problem(status: int, title: str, detail: str) -> bytes:
    slug = title.lower().replace(" ", "-")
    return json.dumps(Problem(status, slug, title, detail).body()).encode()


def make_handler(routes, pool: urllib3.PoolManager):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # one JSON line per request, like Cloud Logging
            print(json.dumps({"severity": "INFO", "message": "gateway", "request": fmt % args}), flush=True)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                parts = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _route(self) -> None:
            body = self._body()
            path = self.path.split("?", 1)[0]
            for pattern, methods in routes:
                if pattern.match(path):
                    break
            else:
                return self._answer(
                    404, problem(404, "Not found", f"No API path {path}."), {"Content-Type": "application/problem+json"}
                )
            if methods.get(self.command, "") is None:
                return self._answer(
                    501, problem(501, "Not implemented", "This operation has no backend in this stack."),
                    {"Content-Type": "application/problem+json"},
                )
            backend = methods.get(self.command)
            if backend is None:
                allowed = ", ".join(sorted(methods))
                return self._answer(
                    405,
                    problem(405, "Method not allowed", f"This path accepts {allowed}."),
                    {"Content-Type": "application/problem+json", "Allow": allowed},
                )
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            # As API Gateway does: the backend sees its own Host; the one the caller used is forwarded
            # (reports build their page links from it).
            headers["X-Forwarded-Host"] = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            headers["X-Forwarded-Proto"] = "http"
            try:
                upstream = pool.request(
                    self.command, backend + self.path, body=body, headers=headers, redirect=False, retries=False
                )
            except urllib3.exceptions.HTTPError as exc:
                return self._answer(
                    502, problem(502, "Bad gateway", f"Backend unavailable: {exc}"),
                    {"Content-Type": "application/problem+json"},
                )
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            self._answer(upstream.status, upstream.data, out)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _route

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--backends", required=True, help='JSON: {"events_url": "http://127.0.0.1:8101", ...}')
    args = parser.parse_args()
    routes = load_routes(json.loads(args.backends))
    pool = urllib3.PoolManager(maxsize=64, timeout=urllib3.Timeout(connect=5, read=120))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(routes, pool))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
