"""Runs the real gcp-storage-emulator with two bugs in XML-API uploads fixed.

XML-API uploads (`PUT /bucket/object`) are what a signed URL receives. The emulator (1) parses any
`application/json` body as JSON metadata, so a `.json` file uploaded with its proper Content-Type
fails, and (2) turns an empty body into None and crashes, so an empty file cannot be uploaded.
This wrapper keeps the emulator as is except that such a PUT body is always the bytes sent.

Usage: python -m local.storage_emulator start --host=127.0.0.1 --port=9023 --in-memory
"""

import sys

from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main

_read_data = server._read_data


def _read_upload_body_as_bytes(request_handler, query):
    if request_handler.command == "PUT" and not request_handler.path.startswith(("/storage/", "/upload/")):
        return server._decode_raw_data(server._read_raw_data(request_handler), request_handler) or b""
    return _read_data(request_handler, query)


server._read_data = _read_upload_body_as_bytes

if __name__ == "__main__":
    sys.exit(main())
