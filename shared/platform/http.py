"""What every HTTP function shares: reading a bounded JSON body, and answering with JSON or problem+json."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import IO, Any

from flask import Request, Response
from functions_framework.exceptions import RequestTimeoutException
from google.api_core import exceptions as google_errors
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from shared.platform import logs
from shared.platform.encoding import DOCUMENT_JSON, STRICT_JSON, repeated_name
from shared.platform.problems import (
    Problem,
    bad_request,
    field_error,
    method_not_allowed,
    too_large,
    unavailable,
    unsupported_media_type,
    validation_failed,
)
from shared.platform.settings import get_settings

JSON_TYPES = ("application/json",)
_READ_BLOCK = 64 * 1024


def json_response(
    status: int, body: BaseModel | dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def problem_response(problem: Problem) -> Response:
    """The problem as application/problem+json, for the functions and the local gateway alike. As any
    werkzeug response, it answers HEAD (and 204/304) without a body, keeping Content-Length."""
    return Response(
        json.dumps(problem.body()),
        status=problem.status,
        headers=problem.headers,
        mimetype="application/problem+json",
    )


def http_error_response(error: HTTPException) -> Response:
    """werkzeug's and functions-framework's own errors, raised around our handler (a path or method the
    function does not serve, a CloudEvent it cannot read), as problem+json like every other error.
    Each function registers it: functions_framework.errorhandler(HTTPException)(http_error_response)."""
    status = error.code or 500
    title = error.name or "Error"
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}  # Allow, for a 405
    detail = error.description if error.description and error.description != title else f"{title}."
    return problem_response(Problem(status, title.lower().replace(" ", "-"), title, detail, headers=headers))


def serve(request: Request, methods: list[str], handler: Callable[[Request], Response]) -> Response:
    """Run a handler, turning Problems into problem+json, an unreachable or contended dependency (Firestore,
    Storage, after their client's own retries) into a 503, a request ended at the function's timeout
    into a 504 (what Cloud Run answers then), and anything else into a 500. The unexpected cases are
    logged with their traceback."""
    try:
        if request.method not in methods:
            raise method_not_allowed(methods)
        return handler(request)
    except Problem as problem:
        return problem_response(problem)
    except (
        google_errors.ServiceUnavailable,
        google_errors.DeadlineExceeded,
        google_errors.RetryError,
        google_errors.Aborted,
    ) as exc:
        logs.exception("a dependency is unavailable", exc, http_request=_http_request(request, 503))
        return problem_response(
            unavailable(
                "A service we depend on did not answer; retry the same request (repeating it is safe).",
                get_settings().retry_after_seconds,
            )
        )
    except RequestTimeoutException as exc:  # past the function's timeout (local stack: local/stack.py)
        logs.exception(
            "the request ran past the function's timeout and was ended",
            exc,
            http_request=_http_request(request, 504),
        )
        return problem_response(
            Problem(
                504,
                "timeout",
                "Request timeout",
                "The request took longer than this endpoint allows; retry it later.",
            )
        )
    except Exception as exc:  # the caller gets a clean 500; the log gets the traceback
        logs.exception("unhandled error", exc, http_request=_http_request(request, 500))
        return problem_response(
            Problem(
                500, "internal", "Internal server error", "Something went wrong on our side; retry later."
            )
        )


def _http_request(request: Request, status: int) -> dict[str, Any]:
    # Error Reporting's context.httpRequest; the path holds ids only, never keys or payloads.
    return {
        "method": request.method,
        "url": request.path,
        "responseStatusCode": status,
        "userAgent": request.headers.get("User-Agent", ""),
    }


def read_json(request: Request, max_bytes: int | None = None) -> Any:
    """The request's JSON body, checked for type, encoding and size (limits apply after gunzip)."""
    return decode_json(read_json_bytes(request, max_bytes))


def read_json_document(request: Request, max_bytes: int | None = None) -> Any:
    """A JSON body that is kept or obeyed as sent (a schema mapping, an upload or ingest request and its
    metadata): `read_json`, and a 400 naming a name given twice in any of its objects (a parser would
    keep one of the two values without a word). Numbers a double cannot hold come back marked
    (`encoding.OutOfRange`): whatever stores the value refuses them with `shared.storage.firestore.unstorable`."""
    body = decode_json(read_json_bytes(request, max_bytes), DOCUMENT_JSON)
    if found := repeated_name(body):
        where, name = found
        raise validation_failed(
            f"The request body gives {where} more than once; send each name once.",
            [field_error(where, f"{name!r} is given more than once in this object; send it once")],
        )
    return body


def decode_json(data: bytes, decoder: json.JSONDecoder = STRICT_JSON) -> Any:
    """Strict JSON (no NaN or Infinity) from UTF-8 bytes, or a 400 saying what is wrong."""
    try:
        return decoder.decode(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("The request body is not UTF-8.", slug="malformed-json") from None
    except RecursionError:
        raise bad_request(
            "The request body nests arrays or objects too deeply to read.", slug="malformed-json"
        ) from None
    except ValueError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", slug="malformed-json") from None


def read_json_bytes(request: Request, max_bytes: int | None = None) -> bytes:
    """The raw bytes of a JSON body, checked for type, encoding and size (limits apply after gunzip)."""
    if request.mimetype not in JSON_TYPES and not request.mimetype.endswith("+json"):
        raise unsupported_media_type("Content-Type must be application/json.")
    return read_body_bytes(request, max_bytes)


def read_body_bytes(request: Request, max_bytes: int | None = None) -> bytes:
    """The raw bytes of a body whose Content-Type the caller has checked, gunzipped if sent so, within
    `max_bytes` (after gunzip; default the settings' max_body_bytes), else a 413."""
    limit = max_bytes or get_settings().max_body_bytes
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise unsupported_media_type("Content-Encoding must be gzip or absent.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large(f"The request body is larger than {limit} bytes.")
    raw = _read_bounded(request.stream, limit)
    return _gunzip_bounded(raw, limit) if encoding == "gzip" else raw


def _read_bounded(stream: IO[bytes], limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while block := stream.read(_READ_BLOCK):
        size += len(block)
        if size > limit:
            raise too_large(f"The request body is larger than {limit} bytes.")
        chunks.append(block)
    return b"".join(chunks)


def _gunzip_bounded(raw: bytes, limit: int) -> bytes:
    # Decompress at most limit+1 bytes: a gzip bomb costs us limit bytes of memory, then a 413.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise bad_request("The request body is not valid gzip.", slug="malformed-gzip") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large(f"The request body is larger than {limit} bytes once decompressed.")
    # One complete gzip member and nothing after it (RFC 1952): a body cut short before its CRC and
    # length trailer, or followed by more bytes or a second member, is not what the client meant.
    if not inflater.eof:
        raise bad_request(
            "The gzip body is incomplete (its end and trailer are missing).", slug="malformed-gzip"
        )
    if inflater.unused_data:
        raise bad_request(
            "The gzip body has bytes after its end (trailing data or a second gzip member); send one gzip member.",
            slug="malformed-gzip",
        )
    return out
