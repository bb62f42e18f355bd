"""The token function (OAuth2 client credentials, RFC 6749 §4.4) through functions-framework's test
client, against the Firestore emulator; its tokens are checked the way the gateway checks them."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus

import functions_framework
import pytest

from local.gateway_auth import Provider, fetch_json
from shared import store
from shared.auth import oauth_clients
from shared.platform import clients
from tests.conftest import ROOT, unique

PATH = "/coatro/v1/oauth/token"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def token_client(stack):
    app = functions_framework.create_app(target="token", source=str(ROOT / "functions/token/main.py"))
    return app.test_client()


@pytest.fixture
def oauth_client(stack):
    """(tenant, client_id, secret) of a fresh client holding both scopes."""
    tenant = unique("tenant")
    client_id, secret = oauth_clients.create_client(tenant, ["pop:write", "reports:read"])
    return tenant, client_id, secret


def request_token(client, data: dict | str, headers: dict | None = None, content_type: str = FORM):
    return client.post(PATH, data=data, headers=headers or {}, content_type=content_type)


def basic(client_id: str, secret: str) -> dict:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def assert_error(response, status: int, error: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == error and body["error_description"]
    return body


def test_client_credentials_in_the_body_get_a_bearer_token_the_gateway_accepts(token_client, oauth_client, stack):
    tenant, client_id, secret = oauth_client
    response = request_token(token_client, {"grant_type": "client_credentials", "client_id": client_id,
                                            "client_secret": secret})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    assert body["scope"] == "pop:write reports:read"
    provider = Provider(issuer=stack.jwks.email, jwks_uri=stack.jwks.jwks_uri, audiences=["coatro-pop-api"],
                        headers=[], params=[], fetch=fetch_json)
    claims = provider.verify(body["access_token"])
    assert claims["sub"] == client_id and claims["tenant"] == tenant and claims["scope"] == body["scope"]
    assert claims["exp"] - claims["iat"] == 7200


def test_http_basic_works_and_a_scope_narrows_the_token(token_client, oauth_client):
    _, client_id, secret = oauth_client
    response = request_token(token_client, {"grant_type": "client_credentials", "scope": "reports:read"},
                             basic(client_id, secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["scope"] == "reports:read"


def test_a_scope_beyond_the_clients_or_unknown_is_invalid_scope(token_client, stack):
    client_id, secret = oauth_clients.create_client(unique("tenant"), ["pop:write"])
    creds = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert_error(request_token(token_client, {**creds, "scope": "reports:read"}), 400, "invalid_scope")
    assert_error(request_token(token_client, {**creds, "scope": "pop:write admin"}), 400, "invalid_scope")
    assert request_token(token_client, {**creds, "scope": "pop:write"}).status_code == 200


def test_bad_credentials_are_one_invalid_client_401(token_client, oauth_client):
    _, client_id, secret = oauth_client
    wrong_secret = assert_error(request_token(token_client, {"grant_type": "client_credentials", "client_id": client_id,
                                                             "client_secret": secret + "x"}), 401, "invalid_client")
    unknown = request_token(token_client, {"grant_type": "client_credentials", "client_id": "cc_nobody",
                                           "client_secret": secret})
    assert unknown.get_json() == wrong_secret  # never says which part was wrong
    response = request_token(token_client, {"grant_type": "client_credentials"}, basic(client_id, "wrong"))
    assert_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")  # RFC 6749 §5.2: the scheme the client used
    assert_error(request_token(token_client, {"grant_type": "client_credentials"}), 401, "invalid_client")
    # Ids that cannot name a stored client (a path, a reserved name, too long) are unknown, not a 500.
    for odd in ("a/b", "..", "__name__", "x" * 1600, "ü"):
        response = request_token(token_client, {"grant_type": "client_credentials", "client_id": odd, "client_secret": "s"})
        assert response.get_json() == wrong_secret, odd


def test_a_revoked_client_gets_no_token(token_client, oauth_client):
    _, client_id, secret = oauth_client
    assert oauth_clients.revoke_client(client_id)
    assert_error(request_token(token_client, {"grant_type": "client_credentials"}, basic(client_id, secret)),
                 401, "invalid_client")


def test_malformed_requests(token_client, oauth_client):
    _, client_id, secret = oauth_client
    creds = {"client_id": client_id, "client_secret": secret}
    assert_error(request_token(token_client, creds), 400, "invalid_request")  # no grant_type
    assert_error(request_token(token_client, {**creds, "grant_type": "password"}), 400, "unsupported_grant_type")
    assert_error(request_token(token_client, json.dumps({**creds, "grant_type": "client_credentials"}),
                               content_type="application/json"), 400, "invalid_request")
    both = request_token(token_client, {**creds, "grant_type": "client_credentials"}, basic(client_id, secret))
    assert_error(both, 400, "invalid_request")  # two ways of authenticating at once
    repeated = f"grant_type=client_credentials&grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    assert_error(request_token(token_client, repeated), 400, "invalid_request")
    in_url = token_client.post(f"{PATH}?client_secret={secret}", data={"grant_type": "client_credentials",
                                                                        "client_id": client_id}, content_type=FORM)
    assert_error(in_url, 400, "invalid_request")
    assert token_client.get(PATH).status_code == 405


def test_the_secret_is_stored_only_as_a_salted_hash(oauth_client):
    _, client_id, secret = oauth_client
    document = clients.firestore().collection(store.OAUTH_CLIENTS).document(client_id).get().to_dict()
    assert secret not in json.dumps(document)
    assert document["secretHash"].startswith("sha256$")
    other_id, other_secret = oauth_clients.create_client("t", ["pop:write"], secret=secret)
    assert store.get_oauth_client(other_id).secretHash != document["secretHash"]  # salted: same secret, other hash
