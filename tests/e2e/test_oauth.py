"""OAuth2 client credentials end to end: the local stack's token function, its gateway verifying tokens
the way API Gateway does, and the functions reading the forwarded claims."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
import requests
from jwt.utils import base64url_encode

from shared.auth import oauth_clients
from shared.auth.signers import LocalKeySigner
from tests.conftest import ROOT, unique


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWS writes each part (for forging tokens by hand)."""
    return base64url_encode(data).decode()


EVENTS = "/coatro/v1/pop/events"
TOKEN = "/coatro/v1/oauth/token"
CONTRACT = json.loads((ROOT / "tests/data/contract_event.json").read_text())


def batch() -> dict:
    event = dict(CONTRACT["events"][0], eventId=unique("evt"))
    return {"events": [event]}


def get_token(stack, client_id: str, secret: str, **form) -> requests.Response:
    return requests.post(
        stack.gateway_url + TOKEN,
        data={"grant_type": "client_credentials", **form},
        auth=(client_id, secret),
        timeout=30,
    )


def post_events(
    stack, body: dict, headers: dict | None = None, params: dict | None = None
) -> requests.Response:
    return requests.post(
        stack.gateway_url + EVENTS, json=body, headers=headers or {}, params=params, timeout=30
    )


@pytest.fixture
def writer(stack, tenant):
    """(tenant_id, api_key, access token with pop:write) of one fresh tenant."""
    tenant_id, api_key = tenant
    client_id, secret = oauth_clients.create_client(tenant_id, ["pop:write", "reports:read"])
    response = get_token(stack, client_id, secret)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return tenant_id, api_key, response.json()["access_token"]


def forge(stack, **overrides) -> str:
    """A token signed with the stack's real key but with chosen claims (what a bug in issuing could produce)."""
    signer = LocalKeySigner(os.environ["COATRO_SIGNING_KEY_FILE"])
    now = int(time.time())
    claims = {
        "iss": signer.email,
        "aud": "coatro-pop-api",
        "sub": "cc_x",
        "tenant": "t",
        "scope": "pop:write",
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }
    return signer.sign_jwt(claims)


def assert_invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_a_token_from_client_credentials_sends_events_and_the_api_key_still_works(stack, writer, events_sink):
    tenant_id, api_key, token = writer
    by_token, by_key, by_param = batch(), batch(), batch()
    assert post_events(stack, by_token, {"Authorization": f"Bearer {token}"}).status_code == 202
    assert post_events(stack, by_key, {"X-API-Key": api_key}).status_code == 202
    assert post_events(stack, by_param, params={"access_token": token}).status_code == 202
    expected = {b["events"][0]["eventId"] for b in (by_token, by_key, by_param)}
    messages = events_sink.pull(tenant_id, until=lambda got: {m["data"]["eventId"] for m in got} >= expected)
    assert {m["data"]["eventId"] for m in messages} == expected
    assert all(m["attributes"]["tenantId"] == tenant_id for m in messages)
    # The bulk endpoints take the same token: an unknown job is a 404 (authenticated), not a 401.
    job = requests.get(
        f"{stack.gateway_url}/coatro/v1/pop/dynamic/bulk/jobs/job-none",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert job.status_code == 404, job.text


def test_expired_tampered_and_wrong_audience_tokens_are_401(stack, writer):
    tenant_id, _, token = writer
    now = int(time.time())
    assert_invalid_token(
        post_events(
            stack,
            batch(),
            {"Authorization": f"Bearer {forge(stack, tenant=tenant_id, iat=now - 7400, exp=now - 200)}"},
        )
    )
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered = b64url(json.dumps({**claims, "tenant": "someone-else"}).encode())
    assert_invalid_token(
        post_events(stack, batch(), {"Authorization": f"Bearer {header}.{tampered}.{signature}"})
    )
    assert_invalid_token(
        post_events(
            stack, batch(), {"Authorization": f"Bearer {forge(stack, tenant=tenant_id, aud='other-api')}"}
        )
    )
    # An invalid token is refused even next to a valid API key: a credential that is present must be valid.
    assert_invalid_token(
        post_events(stack, batch(), {"Authorization": "Bearer nonsense", "X-API-Key": "anything"})
    )


def test_a_token_without_pop_write_is_403(stack, tenant):
    client_id, secret = oauth_clients.create_client(tenant[0], ["reports:read"])
    token = get_token(stack, client_id, secret).json()["access_token"]
    response = post_events(stack, batch(), {"Authorization": f"Bearer {token}"})
    assert response.status_code == 403, response.text
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert response.json()["type"].endswith("/insufficient-scope")


def test_a_forged_userinfo_header_is_stripped_by_the_gateway(stack, tenant, events_sink):
    victim = unique("victim")
    forged = b64url(json.dumps({"tenant": victim, "scope": "pop:write", "sub": "cc_x"}).encode())
    alone = post_events(stack, batch(), {"X-Apigateway-Api-Userinfo": forged})
    assert alone.status_code == 401, alone.text  # no credential left once the forged claims are gone
    attacker_id, attacker_key = tenant
    body = batch()
    mixed = post_events(stack, body, {"X-Apigateway-Api-Userinfo": forged, "X-API-Key": attacker_key})
    assert mixed.status_code == 202, mixed.text  # the function saw only the key
    event_id = body["events"][0]["eventId"]
    messages = events_sink.pull(until=lambda got: any(m["data"]["eventId"] == event_id for m in got))
    assert [m["attributes"]["tenantId"] for m in messages if m["data"]["eventId"] == event_id] == [
        attacker_id
    ]


def test_token_endpoint_errors_through_the_gateway(stack):
    response = get_token(stack, "cc_nobody", "wrong")
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    response = requests.post(stack.gateway_url + TOKEN, data={"grant_type": "password"}, timeout=30)
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_the_dev_client_of_the_readme_works(stack):
    response = get_token(stack, "your-client-id", "your-client-secret")
    assert response.status_code == 200 and response.json()["scope"] == (
        "bookings:read bookings:write pop:write reports:read reports:write screens:read screens:write webhooks:read webhooks:write"
    )
