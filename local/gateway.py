"""The local API gateway: routes requests to the functions by the same OpenAPI document as API Gateway.

Each operation's `x-google-backend.address` is a template variable (`${events_url}`); the gateway is
given the local address of each and forwards the whole path, as APPEND_PATH_TO_ADDRESS does.

HTTP itself is left to well-kept libraries: waitress parses requests (strict framing, bare CR/LF
refused, the whole body received — spooled to disk past 512 KiB — before the app runs, a body over
the limit refused from its Content-Length, idle and stalled connections closed), httpx forwards them
over a connection pool. What is ours: routing, a few checks, and that every error is problem+json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import waitress
import yaml
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask
from werkzeug.wrappers import Request, Response

from local.gateway_auth import GatewayAuth
from shared.platform.http import problem_response
from shared.platform.problems import Problem, bad_request, not_found
from shared.platform.settings import get_settings

OPENAPI = Path(__file__).resolve().parent.parent / "infra" / "openapi.yaml"

# Limits. The functions' gunicorn refuses a header line over 8190 bytes or more than 100 fields with an
# HTML page, so the gateway refuses them first (with room for the headers it adds itself).
MAX_URI_BYTES = 8192
MAX_HEADER_BYTES = 64 * 1024  # request line + every header
MAX_HEADER_FIELD_BYTES = 8190  # "Name: value\r\n", as forwarded
MAX_HEADER_FIELDS = 64  # as forwarded: duplicates are joined into one field
READ_TIMEOUT_SECONDS = 30  # a connection that sends nothing for this long is closed
DEFAULT_DEADLINE_SECONDS = 60.0  # x-google-backend's deadline when an operation sets none
# Idle pooled connections to a function are dropped after this, before gunicorn's keep-alive (2 s)
# closes them from the other side: a request is never sent on a connection being closed under it.
BACKEND_KEEPALIVE_SECONDS = 1.0

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "host",
    "content-length",
    "server",
    "date",
}


@dataclass(frozen=True)
class Operation:
    operation_id: str
    backend: str | None  # the function's base URL; None: that function is not running in this stack
    deadline: float  # seconds, x-google-backend's deadline
    definition: dict = field(compare=False, repr=False)  # the operation in openapi.yaml (parameters, ...)
    security: list = field(
        default_factory=list, compare=False
    )  # its security requirements (or the document's)


def load_routes(
    backends: dict[str, str], spec_path: Path = OPENAPI
) -> list[tuple[re.Pattern, dict[str, Operation]]]:
    """[(path regex, {METHOD: Operation})] from the OpenAPI document."""
    spec = yaml.safe_load(spec_path.read_text())
    default_deadline = float((spec.get("x-google-backend") or {}).get("deadline", DEFAULT_DEADLINE_SECONDS))
    routes = []
    for path, operations in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
        methods = {}
        for method, op in operations.items():
            if method == "parameters":  # path-level parameters, not an operation
                continue
            backend = op["x-google-backend"]
            variable = re.fullmatch(r"\$\{(\w+)\}", backend["address"]).group(1)
            methods[method.upper()] = Operation(
                op.get("operationId", f"{method} {path}"),
                backends.get(variable),
                float(backend.get("deadline", default_deadline)),
                op,
                op.get("security", spec.get("security")) or [],
            )
        routes.append((pattern, methods))
    return routes


def check_request(request: Request, operation: Operation) -> None:
    """Per-request checks before anything is forwarded; raise a Problem to refuse the request.

    API Gateway's own checks (credentials it validates itself, by `operation.definition`'s security)
    belong here, so there is one call site."""
    del operation  # no per-operation check yet
    api_key = request.headers.get("X-API-Key")
    # Repeated headers reach us joined by commas (RFC 9110 5.3); a key never contains one.
    if api_key is not None and "," in api_key:
        raise bad_request("Send exactly one X-API-Key header, holding one key.", slug="ambiguous-api-key")


class Gateway:
    """The WSGI app: route, check, forward; answer problem+json for whatever goes wrong."""

    def __init__(self, routes, client: httpx.Client, auth: GatewayAuth):
        self.routes, self.client, self.auth = routes, client, auth

    def __call__(self, environ, start_response):
        request = Request(environ)
        started = time.monotonic()
        try:
            response = self.handle(request)
        except Problem as problem:
            response = problem_response(problem)
        except Exception as exc:  # the caller gets a clean 500; the log says why
            log("ERROR", "gateway error", request, 500, started, error=repr(exc))
            return problem_response(Problem(500, "internal", "Internal server error", "The gateway failed."))(
                environ, start_response
            )
        log("INFO", "gateway", request, response.status_code, started)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        target = _target(request.environ)
        if len(target) > MAX_URI_BYTES:
            raise Problem(
                414,
                "uri-too-long",
                "URI too long",
                f"The request target is longer than {MAX_URI_BYTES} bytes.",
            )
        path = target.split("?", 1)[0]
        operation = self._operation(path, request.method)
        headers = _forwarded_headers(request)
        check_request(request, operation)
        headers = self._authenticate(operation, target, headers)
        # As API Gateway does: the backend sees its own Host; the one the caller used is forwarded
        # (reports build their page links from it), replacing whatever the caller claimed.
        headers = [(k, v) for k, v in headers if k.lower() not in (b"x-forwarded-host", b"x-forwarded-proto")]
        headers += [(b"X-Forwarded-Host", request.host.encode("latin-1")), (b"X-Forwarded-Proto", b"http")]
        body = request.get_data(cache=False)
        try:
            upstream = self.client.send(
                self.client.build_request(
                    request.method,
                    operation.backend + target,
                    headers=headers,
                    content=body,
                    timeout=httpx.Timeout(operation.deadline, connect=5.0),
                ),
                stream=True,
            )
            try:
                content = b"".join(upstream.iter_raw())  # as sent: no decoding of Content-Encoding
            finally:
                upstream.close()
        except httpx.TimeoutException:
            raise Problem(
                504,
                "gateway-timeout",
                "Gateway timeout",
                f"The backend did not answer within {operation.deadline:g} s.",
            ) from None
        except httpx.TransportError as exc:
            raise Problem(
                502, "bad-gateway", "Bad gateway", f"Backend unavailable: {type(exc).__name__}."
            ) from None
        out = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        return Response(content, status=upstream.status_code, headers=out)

    def _authenticate(self, operation: Operation, target: str, headers: list[tuple[bytes, bytes]]):
        """API Gateway's JWT checks (local/gateway_auth.py): a token, if sent, must be valid, and its
        verified claims go on as X-Apigateway-Api-Userinfo; a caller's own such header never does."""
        as_text = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
        forwarded, denied = self.auth.check(operation.security, as_text, target.partition("?")[2])
        if denied is not None:
            raise denied
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in forwarded.items()]

    def _operation(self, path: str, method: str) -> Operation:
        operations = next((ops for pattern, ops in self.routes if pattern.match(path)), None)
        if operations is None:
            raise not_found("No such API path.")
        if method not in operations:
            allowed = ", ".join(sorted(operations))
            raise Problem(
                405,
                "method-not-allowed",
                "Method not allowed",
                f"This path accepts {allowed}.",
                headers={"Allow": allowed},
            )
        operation = operations[method]
        if operation.backend is None:
            raise Problem(
                501, "not-implemented", "Not implemented", "This operation has no backend in this stack."
            )
        return operation


def _target(environ) -> str:
    """The raw request target (path and query, still percent-encoded), also when sent in absolute form."""
    uri = environ.get("REQUEST_URI") or "/"
    if not uri.startswith("/"):
        parts = urlsplit(uri)
        uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return uri


def _forwarded_headers(request: Request) -> list[tuple[bytes, bytes]]:
    connection_tokens = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    headers = [
        (k, v)
        for k, v in request.headers.items()
        if k.lower() not in HOP_BY_HOP and k.lower() not in connection_tokens
    ]
    if len(headers) > MAX_HEADER_FIELDS:
        raise Problem(
            431,
            "request-header-fields-too-large",
            "Request header fields too large",
            f"At most {MAX_HEADER_FIELDS} header fields are accepted.",
        )
    for name, value in headers:
        if len(name) + len(value) + 4 > MAX_HEADER_FIELD_BYTES:
            raise Problem(
                431,
                "request-header-fields-too-large",
                "Request header fields too large",
                f"The {name[:64]} header is longer than {MAX_HEADER_FIELD_BYTES} bytes.",
            )
    # WSGI hands header values over as latin-1 text; they go on as the same bytes (obs-text included).
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def log(severity: str, message: str, request: Request, status: int, started: float, **extra) -> None:
    # One JSON line per request, like Cloud Logging's httpRequest; the path holds ids only, never keys,
    # and the query (which may hold an access_token) is not logged.
    print(
        json.dumps(
            {
                "severity": severity,
                "message": message,
                "httpRequest": {
                    "requestMethod": request.method,
                    "requestUrl": request.path[:256],
                    "status": status,
                    "latency": f"{time.monotonic() - started:.3f}s",
                },
                **extra,
            }
        ),
        flush=True,
    )


# ---- waitress's own answers (malformed framing, 413 from Content-Length, 431, 501) as problem+json

_SLUGS = {
    400: "bad-request",
    413: "payload-too-large",
    431: "request-header-fields-too-large",
    501: "not-implemented",
}


class ProblemErrorTask(ErrorTask):
    """waitress's answer to a request it could not accept, as problem+json instead of text/plain."""

    def execute(self):
        error = self.request.error
        # waitress quotes the offending header line; that may hold a credential, so it is not echoed.
        detail = re.sub(r'\s*"[^"]*"?', "", str(error.body)).strip() or error.reason
        problem = Problem(
            error.code, _SLUGS.get(error.code, "bad-request"), error.reason, f"{detail}.".replace("..", ".")
        )
        body = json.dumps(problem.body()).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/problem+json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class ProblemChannel(HTTPChannel):
    error_task_class = ProblemErrorTask


def make_server(
    routes,
    port: int,
    auth: GatewayAuth,
    host: str = "127.0.0.1",
    read_timeout: int = READ_TIMEOUT_SECONDS,
    max_body_bytes: int | None = None,
):
    """The gateway as a waitress server (call .run() to serve)."""
    client = httpx.Client(
        limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=64, keepalive_expiry=BACKEND_KEEPALIVE_SECONDS
        ),
        follow_redirects=False,
    )
    client.headers.clear()  # forward the caller's headers only, not httpx's defaults (User-Agent, ...)
    limit = max_body_bytes or get_settings().max_body_bytes
    server = waitress.create_server(
        Gateway(routes, client, auth),
        host=host,
        port=port,
        ident="coatro-local-gateway",
        threads=16,
        connection_limit=512,  # stalled connections cost a socket each, never a thread
        channel_timeout=read_timeout,
        cleanup_interval=1,  # timed-out connections are looked for every second
        max_request_header_size=MAX_HEADER_BYTES,
        recv_bytes=65536,  # bodies of 1,000 events are ~200 KB: read them in fewer, larger pieces
        max_request_body_size=limit
        + 1,  # waitress refuses a body >= this; the functions accept exactly `limit`
        expose_tracebacks=False,
    )
    server.channel_class = ProblemChannel
    return server


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--backends", required=True, help='JSON: {"events_url": "http://127.0.0.1:8101", ...}'
    )
    parser.add_argument(
        "--read-timeout",
        type=int,
        default=READ_TIMEOUT_SECONDS,
        help="seconds a connection may stay silent (idle, or stalled mid-request) before it is closed",
    )
    parser.add_argument(
        "--auth",
        default="{}",
        help='OAuth2: JSON {"token_issuer": ..., "token_jwks_uri": ..., "token_audience": ...}',
    )
    args = parser.parse_args()
    # Always on, so a forged X-Apigateway-Api-Userinfo never passes, even without token settings.
    auth = GatewayAuth(yaml.safe_load(OPENAPI.read_text()), json.loads(args.auth))
    server = make_server(
        load_routes(json.loads(args.backends)), args.port, auth, read_timeout=args.read_timeout
    )
    print(
        json.dumps({"severity": "INFO", "message": f"gateway listening on {args.port}"}),
        file=sys.stderr,
        flush=True,
    )
    server.run()


if __name__ == "__main__":
    main()
