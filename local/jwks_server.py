"""Local stand-in for https://www.googleapis.com/service_accounts/v1/jwk/<email>: the public keys of the
local signing account (`shared.auth.signers.LocalKeySigner`), which the local gateway fetches to verify
access tokens, as API Gateway fetches the token service account's keys from googleapis.com.

It runs as a thread of the process that runs the stack, on a free port; only the key file's account
is served (any other email is a 404, as for an unknown account).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from shared.auth.signers import LocalKeySigner

JWK_PATH = "/service_accounts/v1/jwk/"


class JwksServer:
    def __init__(self, key_file: str | Path, host: str = "127.0.0.1", port: int = 0):
        signer = LocalKeySigner(key_file)
        self.email = signer.email
        body = json.dumps(signer.jwks()).encode()
        email = self.email

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                found = self.path.split("?", 1)[0] == JWK_PATH + email
                payload = body if found else b'{"error": "no such service account"}'
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=300")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="jwks", daemon=True)

    @property
    def jwks_uri(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{JWK_PATH}{self.email}"

    def start(self) -> JwksServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
