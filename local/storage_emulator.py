"""Runs the real gcp-storage-emulator with one bug fixed.

The emulator parses every `application/json` request body as JSON metadata, including XML-API
uploads (`PUT /bucket/object`, what a signed URL is). So uploading a `.json` file with its proper
Content-Type fails. This wrapper keeps the emulator as is except that such a PUT body stays bytes.

Usage: python -m local.storage_emulator start --host=127.0.0.1 --port=9023 --in-memory
"""

import sys

from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main

_read_data = server._read_data


def _read_upload_body_as_bytes(request_handler, query):
    if request_handler.command == "PUT" and not request_handler.path.startswith(("/storage/", "/upload/")):
        return server._decode_raw_data(server._read_raw_data(request_handler), request_handler) or None
    return _read_data(request_handler, query)


server._read_data = _read_upload_body_as_bytes

if __name__ == "__main__":
    sys.exit(main())
