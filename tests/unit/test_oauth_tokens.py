"""Access tokens: what the local stand-in signer produces, and what the gateway (like API Gateway) accepts.

Each rejected token below is one a real attacker or a broken client would send; each must be a 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from flask import Flask, request
from jwt.utils import base64url_encode

from local import provision
from local.gateway_auth import USERINFO_HEADER, GatewayAuth, Provider
from shared.auth import callers
from shared.auth.signers import LocalKeySigner
from shared.platform.problems import Problem


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWS writes each part (for forging tokens by hand)."""
    return base64url_encode(data).decode()


ISSUER, AUDIENCE, JWKS_URI = (
    "signer@coatro-local.iam.gserviceaccount.com",
    "coatro-pop-api",
    "http://jwks.test/keys",
)
SPEC = {
    "securityDefinitions": {
        "coatro_oauth2": {
            "type": "oauth2",
            "flow": "implicit",
            "authorizationUrl": "",
            "x-google-issuer": "${token_issuer}",
            "x-google-jwks_uri": "${token_jwks_uri}",
            "x-google-audiences": "${token_audience}",
            "x-google-jwt-locations": [
                {"header": "Authorization", "value_prefix": "Bearer "},
                {"query": "access_token"},
            ],
        }
    },
    "paths": {
        "/coatro/v1/oauth/token": {"post": {}},
        "/coatro/v1/pop/events": {"post": {"security": [{"coatro_oauth2": []}, {}]}},
        "/strict": {"get": {"security": [{"coatro_oauth2": []}]}},
    },
}


@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> LocalKeySigner:
    path = tmp_path_factory.mktemp("keys") / "key.json"
    provision.signing_key(path)
    return LocalKeySigner(path)


@pytest.fixture
def provider(signer) -> Provider:
    fetched = []

    def fetch(url):
        fetched.append(url)
        assert url == JWKS_URI
        return signer.jwks()

    p = Provider(
        issuer=signer.email,
        jwks_uri=JWKS_URI,
        audiences=[AUDIENCE],
        headers=[("Authorization", "Bearer ")],
        params=["access_token"],
        fetch=fetch,
    )
    p.fetched = fetched
    return p


def claims(signer, **overrides):
    now = int(time.time())
    base = {
        "iss": signer.email,
        "aud": AUDIENCE,
        "sub": "cc_1",
        "tenant": "acme",
        "scope": "pop:write",
        "iat": now,
        "exp": now + 7200,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def rejected(provider, token) -> str:
    with pytest.raises(Problem) as caught:
        provider.verify(token)
    assert caught.value.status == 401
    assert 'error="invalid_token"' in caught.value.headers["WWW-Authenticate"]
    return caught.value.detail


def test_a_signed_token_verifies_and_carries_its_claims(signer, provider):
    token = signer.sign_jwt(claims(signer))
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {
        "alg": "RS256",
        "kid": signer.key_id,
        "typ": "JWT",
    }  # what IAM signJwt's header looks like
    assert provider.verify(token)["tenant"] == "acme"
    assert provider.fetched == [JWKS_URI]
    provider.verify(token)
    assert len(provider.fetched) == 1  # the JWKS is cached


def test_expired_token(signer, provider):
    assert "expired" in rejected(
        provider, signer.sign_jwt(claims(signer, iat=int(time.time()) - 7400, exp=int(time.time()) - 200))
    )


def test_tampered_payload(signer, provider):
    header, _, signature = signer.sign_jwt(claims(signer)).split(".")
    forged = b64url(json.dumps(claims(signer, tenant="other-tenant")).encode())
    rejected(provider, f"{header}.{forged}.{signature}")


def test_wrong_audience_and_wrong_issuer(signer, provider):
    assert "audience" in rejected(provider, signer.sign_jwt(claims(signer, aud="someone-else")))
    assert "issuer" in rejected(provider, signer.sign_jwt(claims(signer, iss="evil@example.com")))


def test_a_token_without_exp_or_sub_is_not_accepted(signer, provider):
    rejected(provider, signer.sign_jwt(claims(signer, exp=None)))
    rejected(provider, signer.sign_jwt(claims(signer, sub=None)))


def test_alg_none_is_rejected(signer, provider):
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims(signer)).encode())
    assert "RS256" in rejected(provider, f"{header}.{payload}.")


def test_hs256_keyed_with_the_public_key_is_rejected(signer, provider):
    # The classic confusion: an HMAC "signed" with the (public) RSA key, hoping the verifier uses it as a secret.
    from cryptography.hazmat.primitives import serialization

    public_pem = signer._key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": signer.key_id, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims(signer)).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert "RS256" in rejected(provider, f"{header}.{payload}.{b64url(mac)}")


def test_a_token_signed_by_another_key_is_rejected(signer, provider, tmp_path):
    other_path = tmp_path / "other.json"
    provision.signing_key(other_path)
    other = LocalKeySigner(other_path)  # same kid ("local"), different key
    rejected(provider, other.sign_jwt(claims(signer)))


def test_garbage_is_rejected(provider):
    rejected(provider, "not-a-jwt")


# -- the gateway's handling of a request ----------------------------------------------------------


# What the gateway's routes hold for these operations (local.gateway.load_routes).
EVENTS_SECURITY = SPEC["paths"]["/coatro/v1/pop/events"]["post"]["security"]
TOKEN_SECURITY = SPEC["paths"]["/coatro/v1/oauth/token"]["post"].get("security", [])


@pytest.fixture
def gateway(signer) -> GatewayAuth:
    variables = {"token_issuer": signer.email, "token_jwks_uri": JWKS_URI, "token_audience": AUDIENCE}
    return GatewayAuth(SPEC, variables, fetch=lambda url: signer.jwks())


def test_gateway_forwards_the_verified_payload_and_strips_a_forged_one(signer, gateway):
    token = signer.sign_jwt(claims(signer))
    headers, problem = gateway.check(
        EVENTS_SECURITY, {"Authorization": f"Bearer {token}", "x-apigateway-api-userinfo": "forged"}, ""
    )
    assert problem is None
    assert headers[USERINFO_HEADER] == token.split(".")[1]
    assert "x-apigateway-api-userinfo" not in headers and "Authorization" not in headers
    assert headers["X-Forwarded-Authorization"] == f"Bearer {token}"


def test_gateway_takes_the_token_from_the_access_token_parameter(signer, gateway):
    token = signer.sign_jwt(claims(signer))
    headers, problem = gateway.check(EVENTS_SECURITY, {}, f"access_token={token}&x=1")
    assert problem is None and headers[USERINFO_HEADER] == token.split(".")[1]


def test_without_a_token_the_request_passes_to_the_api_key_check_and_loses_any_forged_claims(gateway):
    forged = b64url(json.dumps({"tenant": "victim", "scope": "pop:write"}).encode())
    headers, problem = gateway.check(EVENTS_SECURITY, {"X-API-Key": "k", USERINFO_HEADER: forged}, "")
    assert problem is None and headers == {"X-API-Key": "k"}
    # Also on operations without any security (the token endpoint itself).
    headers, problem = gateway.check(TOKEN_SECURITY, {USERINFO_HEADER: forged}, "")
    assert problem is None and headers == {}


def test_an_invalid_token_is_a_401_even_where_api_keys_are_allowed(signer, gateway):
    token = signer.sign_jwt(claims(signer, aud="nope"))
    _, problem = gateway.check(EVENTS_SECURITY, {"Authorization": f"Bearer {token}", "X-API-Key": "k"}, "")
    assert problem is not None and problem.status == 401


def test_a_required_token_that_is_missing_is_a_401(gateway):
    _, problem = gateway.check(SPEC["paths"]["/strict"]["get"]["security"], {}, "")
    assert problem.status == 401 and problem.headers["WWW-Authenticate"] == 'Bearer realm="coatro"'


def test_a_token_sent_twice_is_an_invalid_request(signer, gateway):
    token = signer.sign_jwt(claims(signer))
    _, problem = gateway.check(EVENTS_SECURITY, {"Authorization": f"Bearer {token}"}, f"access_token={token}")
    assert problem.status == 400


# -- the functions' side: callers.tenant_for reads the forwarded claims ----------------------------

app = Flask(__name__)


def tenant_with(headers: dict, scope: str) -> str:
    with app.test_request_context("/", headers=headers):
        return callers.tenant_for(request, scope)


def userinfo(**payload) -> str:
    return b64url(json.dumps(payload).encode())


def test_the_tenant_comes_from_the_claims_when_the_scope_is_held():
    assert (
        tenant_with(
            {USERINFO_HEADER: userinfo(tenant="acme", scope="pop:write reports:read")}, callers.POP_WRITE
        )
        == "acme"
    )


def test_a_token_without_the_scope_is_a_403_insufficient_scope():
    with pytest.raises(Problem) as caught:
        tenant_with({USERINFO_HEADER: userinfo(tenant="acme", scope="reports:read")}, callers.POP_WRITE)
    assert caught.value.status == 403
    assert 'error="insufficient_scope"' in caught.value.headers["WWW-Authenticate"]
    assert 'scope="pop:write"' in caught.value.headers["WWW-Authenticate"]


def test_unreadable_claims_or_no_tenant_are_a_401():
    for value in ("%%%", userinfo(scope="pop:write"), b64url(b"[1, 2]")):
        with pytest.raises(Problem) as caught:
            tenant_with({USERINFO_HEADER: value}, callers.POP_WRITE)
        assert caught.value.status == 401


def test_a_key_and_a_token_together_are_refused():
    with pytest.raises(Problem) as caught:
        tenant_with(
            {USERINFO_HEADER: userinfo(tenant="acme", scope="pop:write"), "X-API-Key": "k"}, callers.POP_WRITE
        )
    assert caught.value.status == 400
