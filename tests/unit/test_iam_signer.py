"""The cloud signer's request, as IAM Credentials signJwt documents it, against a real local HTTP server
answering in its place (no Google credentials: anonymous)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials

from shared.auth import signers


@pytest.fixture
def iam(monkeypatch):
    state = {"status": 200, "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append((self.path, body))
            data = json.dumps(
                {"keyId": "k1", "signedJwt": "h.p.s"} if state["status"] == 200 else {"error": {}}
            ).encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(signers, "IAM_CREDENTIALS", f"http://127.0.0.1:{server.server_address[1]}/v1")
    monkeypatch.setattr("google.auth.default", lambda scopes=None: (AnonymousCredentials(), "p"))
    yield state
    server.shutdown()
    server.server_close()


def test_sign_jwt_posts_the_claims_as_the_accounts_payload(iam):
    claims = {"iss": "token@p.iam.gserviceaccount.com", "exp": 2}
    assert signers.IamSigner("token@p.iam.gserviceaccount.com").sign_jwt(claims) == "h.p.s"
    path, body = iam["requests"][0]
    assert path == "/v1/projects/-/serviceAccounts/token@p.iam.gserviceaccount.com:signJwt"
    assert json.loads(body["payload"]) == claims


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_unavailable_iam_is_a_retryable_error(iam, status):
    iam["status"] = status
    with pytest.raises(exceptions.ServiceUnavailable):
        signers.IamSigner("a@p.iam.gserviceaccount.com").sign_jwt({})


def test_a_missing_grant_is_not_hidden_as_unavailable(iam):
    iam["status"] = 403
    with pytest.raises(Exception) as caught:
        signers.IamSigner("a@p.iam.gserviceaccount.com").sign_jwt({})
    assert not isinstance(caught.value, exceptions.ServiceUnavailable)
