"""Runs the real gcp-storage-emulator with two bugs in XML-API uploads fixed, and CORS as the bucket has it.

XML-API uploads (`PUT /bucket/object`) are what a signed URL receives. The emulator (1) parses any
`application/json` body as JSON metadata, so a `.json` file uploaded with its proper Content-Type
fails, and (2) turns an empty body into None and crashes, so an empty file cannot be uploaded.
This wrapper keeps the emulator as is except that such a PUT body is always the bytes sent.

CORS: the emulator has none (an OPTIONS request gets 501), so a browser could not PUT to a signed URL
from the web console. This wrapper answers as the uploads bucket's `cors` block in infra/storage.tf
makes Cloud Storage answer (https://cloud.google.com/storage/docs/cross-origin): for an origin in
COATRO_UPLOAD_CORS_ORIGINS (comma-separated; the local stack sets the gateway's origins), a preflight
for PUT is allowed and PUT responses carry Access-Control-Allow-Origin; any other origin gets no CORS
headers, so the browser refuses to send or to read.

Usage: python -m local.storage_emulator start --host=127.0.0.1 --port=9023 --in-memory
"""

import os
import sys

from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main

_read_data = server._read_data
CORS_METHODS = ("PUT",)
CORS_REQUEST_HEADERS = {"content-type", "content-md5", "x-goog-content-length-range"}
CORS_MAX_AGE = "3600"


def _read_upload_body_as_bytes(request_handler, query):
    if request_handler.command == "PUT" and not request_handler.path.startswith(("/storage/", "/upload/")):
        return server._decode_raw_data(server._read_raw_data(request_handler), request_handler) or b""
    return _read_data(request_handler, query)


def allowed_origins() -> set[str]:
    return {o.strip() for o in os.environ.get("COATRO_UPLOAD_CORS_ORIGINS", "").split(",") if o.strip()}


def _is_xml_upload(handler) -> bool:
    return not handler.path.startswith(("/storage/", "/upload/", "/download/"))


def _do_options(handler) -> None:
    """A CORS preflight: allowed only for a listed origin, PUT, and headers the bucket's cors names."""
    origin = handler.headers.get("Origin")
    method = (handler.headers.get("Access-Control-Request-Method") or "").upper()
    asked = {
        h.strip().lower()
        for h in (handler.headers.get("Access-Control-Request-Headers") or "").split(",")
        if h.strip()
    }
    ok = origin in allowed_origins() and method in CORS_METHODS and asked <= CORS_REQUEST_HEADERS
    handler.send_response(200 if ok else 403)
    if ok:
        handler.send_header("Access-Control-Allow-Origin", origin)
        handler.send_header("Access-Control-Allow-Methods", ", ".join(CORS_METHODS))
        if asked:
            handler.send_header("Access-Control-Allow-Headers", ", ".join(sorted(asked)))
        handler.send_header("Access-Control-Max-Age", CORS_MAX_AGE)
    handler.send_header("Vary", "Origin")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


_end_headers = server.RequestHandler.end_headers


def _end_headers_with_cors(handler) -> None:
    headers = getattr(handler, "headers", None)  # none yet when the request line itself was refused
    origin = headers.get("Origin") if headers is not None else None
    command = getattr(handler, "command", None)
    if command in CORS_METHODS and origin and origin in allowed_origins() and _is_xml_upload(handler):
        handler.send_header("Access-Control-Allow-Origin", origin)
        handler.send_header("Vary", "Origin")
    _end_headers(handler)


server._read_data = _read_upload_body_as_bytes
server.RequestHandler.do_OPTIONS = _do_options
server.RequestHandler.end_headers = _end_headers_with_cors

if __name__ == "__main__":
    sys.exit(main())
