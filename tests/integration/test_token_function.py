"""The token function (OAuth2 client credentials, RFC 6749 §4.4) through functions-framework's test
client, against the Firestore emulator; its tokens are checked the way the gateway checks them."""

from __future__ import annotations

import base64
import json
from datetime import UTC
from urllib.parse import quote_plus

import functions_framework
import pytest

from local.gateway_auth import Provider, fetch_json
from shared.auth import oauth_clients
from shared.platform import clients
from shared.storage import firestore
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


def test_client_credentials_in_the_body_get_a_bearer_token_the_gateway_accepts(
    token_client, oauth_client, stack
):
    tenant, client_id, secret = oauth_client
    response = request_token(
        token_client, {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    assert body["scope"] == "pop:write reports:read"
    provider = Provider(
        issuer=stack.jwks.email,
        jwks_uri=stack.jwks.jwks_uri,
        audiences=["coatro-pop-api"],
        headers=[],
        params=[],
        fetch=fetch_json,
    )
    claims = provider.verify(body["access_token"])
    assert claims["sub"] == client_id and claims["tenant"] == tenant and claims["scope"] == body["scope"]
    assert claims["exp"] - claims["iat"] == 7200


def test_http_basic_works_and_a_scope_narrows_the_token(token_client, oauth_client):
    _, client_id, secret = oauth_client
    response = request_token(
        token_client, {"grant_type": "client_credentials", "scope": "reports:read"}, basic(client_id, secret)
    )
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
    wrong_secret = assert_error(
        request_token(
            token_client,
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret + "x"},
        ),
        401,
        "invalid_client",
    )
    unknown = request_token(
        token_client, {"grant_type": "client_credentials", "client_id": "cc_nobody", "client_secret": secret}
    )
    assert unknown.get_json() == wrong_secret  # never says which part was wrong
    response = request_token(token_client, {"grant_type": "client_credentials"}, basic(client_id, "wrong"))
    assert_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith(
        "Basic"
    )  # RFC 6749 §5.2: the scheme the client used
    assert_error(request_token(token_client, {"grant_type": "client_credentials"}), 401, "invalid_client")
    # Ids that cannot name a stored client (a path, a reserved name, too long) are unknown, not a 500.
    for odd in ("a/b", "..", "__name__", "x" * 1600, "ü"):
        response = request_token(
            token_client, {"grant_type": "client_credentials", "client_id": odd, "client_secret": "s"}
        )
        assert response.get_json() == wrong_secret, odd


def test_a_revoked_client_gets_no_token(token_client, oauth_client):
    _, client_id, secret = oauth_client
    assert oauth_clients.revoke_client(client_id)
    assert_error(
        request_token(token_client, {"grant_type": "client_credentials"}, basic(client_id, secret)),
        401,
        "invalid_client",
    )


def test_malformed_requests(token_client, oauth_client):
    _, client_id, secret = oauth_client
    creds = {"client_id": client_id, "client_secret": secret}
    assert_error(request_token(token_client, creds), 400, "invalid_request")  # no grant_type
    assert_error(
        request_token(token_client, {**creds, "grant_type": "password"}), 400, "unsupported_grant_type"
    )
    assert_error(
        request_token(
            token_client,
            json.dumps({**creds, "grant_type": "client_credentials"}),
            content_type="application/json",
        ),
        400,
        "invalid_request",
    )
    both = request_token(
        token_client, {**creds, "grant_type": "client_credentials"}, basic(client_id, secret)
    )
    assert_error(both, 400, "invalid_request")  # two ways of authenticating at once
    repeated = f"grant_type=client_credentials&grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    assert_error(request_token(token_client, repeated), 400, "invalid_request")
    in_url = token_client.post(
        f"{PATH}?client_secret={secret}",
        data={"grant_type": "client_credentials", "client_id": client_id},
        content_type=FORM,
    )
    assert_error(in_url, 400, "invalid_request")
    assert token_client.get(PATH).status_code == 405


def test_the_secret_is_stored_only_as_a_salted_hash(oauth_client):
    _, client_id, secret = oauth_client
    document = clients.firestore().collection(firestore.OAUTH_CLIENTS).document(client_id).get().to_dict()
    assert secret not in json.dumps(document)
    assert document["secretHash"].startswith("sha256$")
    other_id, other_secret = oauth_clients.create_client("t", ["pop:write"], secret=secret)
    assert (
        firestore.get_oauth_client(other_id).secretHash != document["secretHash"]
    )  # salted: same secret, other hash


def _throttle_settings(limit: int, base: float, cap: float, window: float = 600) -> None:
    import os

    os.environ.update(
        {
            "COATRO_TOKEN_FAILURE_LIMIT": str(limit),
            "COATRO_TOKEN_BACKOFF_SECONDS": str(base),
            "COATRO_TOKEN_BACKOFF_MAX_SECONDS": str(cap),
            "COATRO_TOKEN_FAILURE_WINDOW_SECONDS": str(window),
        }
    )
    clients.reset()


def test_repeated_wrong_secrets_throttle_the_client_id_with_429_until_the_backoff_ends(
    token_client, oauth_client
):
    """Issue #16: 500 wrong secrets in a row, then the right one worked at once. Now, after
    `token_failure_limit` failures the client id is held off with 429 + Retry-After, even with the right
    secret, but only until an exponential backoff (capped) ends; then the right secret works again."""
    import time

    _throttle_settings(limit=3, base=1, cap=2)
    _, client_id, secret = oauth_client
    creds = {"grant_type": "client_credentials", "client_id": client_id}
    statuses = [
        request_token(token_client, {**creds, "client_secret": f"wrong-{i}"}).status_code for i in range(20)
    ]
    assert statuses[:3] == [401, 401, 401] and 429 in statuses, statuses
    throttled = request_token(token_client, {**creds, "client_secret": secret})  # the right secret, too soon
    body = assert_error(throttled, 429, "temporarily_unavailable")
    assert 1 <= int(throttled.headers["Retry-After"]) <= 2, throttled.headers
    assert secret not in json.dumps(body) and client_id not in json.dumps(body)
    time.sleep(int(throttled.headers["Retry-After"]) + 0.2)  # the backoff is capped at 2 s here
    assert request_token(token_client, {**creds, "client_secret": secret}).status_code == 200
    # A success resets the count: the next wrong secret is a plain 401 again, not a longer backoff.
    assert request_token(token_client, {**creds, "client_secret": "wrong"}).status_code == 401
    assert request_token(token_client, {**creds, "client_secret": secret}).status_code == 200


def test_backoff_grows_exponentially_up_to_its_cap_and_unknown_ids_leave_only_expiring_state(
    token_client, stack
):
    import hashlib
    import time
    from datetime import datetime, timedelta

    _throttle_settings(limit=2, base=1, cap=4)
    client_id = unique(
        "cc_nobody"
    )  # an id nobody holds is throttled exactly like a real one (no existence oracle)
    creds = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "guess"}
    waits = []
    for _ in range(5):
        while (response := request_token(token_client, creds)).status_code == 401:
            pass
        assert_error(response, 429, "temporarily_unavailable")
        waits.append(int(response.headers["Retry-After"]))
        time.sleep(waits[-1] + 0.1)
    assert waits == [1, 2, 4, 4, 4], waits  # doubled per failure past the limit, capped
    # The state of an id is one document named by the id's hash, which Firestore's TTL deletes.
    docs = (
        clients.firestore()
        .collection(firestore.TOKEN_THROTTLES)
        .document(hashlib.sha256(client_id.encode()).hexdigest())
    )
    record = docs.get().to_dict()
    assert client_id not in json.dumps(record, default=str)
    now = datetime.now(UTC)
    assert now < record["expireAt"] <= now + timedelta(seconds=600 + 4)  # a window after the last hold-off
