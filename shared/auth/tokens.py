"""The OAuth2 token endpoint, client credentials grant (RFC 6749 §4.4): `POST /coatro/v1/oauth/token`.

A client authenticates with its id and secret, in the form body or with HTTP Basic (§2.3.1), and gets
a Bearer access token (RFC 6750): an RS256 JWT signed as the token function's service account
(`shared.auth.signers`), valid `token_lifetime_seconds` (2 hours). Its claims are what API Gateway
checks and forwards: `iss`, `aud`, `sub` (the client id), `iat`, `exp`, plus `tenant` and `scope`
(space-separated, §3.3), which `shared.auth.callers` reads.

Errors are the JSON of §5.2 (`{"error", "error_description"}`), not problem+json: OAuth2 client
libraries parse exactly that. Every answer carries `Cache-Control: no-store` (§5.1).

A client id that keeps failing to authenticate is held off (`shared.auth.throttle`): 429 with
`Retry-After` and the error `temporarily_unavailable` (RFC 6749 defines no code for this; that one,
§4.1.2.1's, says "retry later" and is the one OAuth2 libraries pass through).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from urllib.parse import unquote_plus

from flask import Request, Response

from shared.auth import oauth_clients, signers, throttle
from shared.auth.callers import SCOPES, TENANT_CLAIM
from shared.platform.http import json_response
from shared.platform.settings import get_settings

GRANT_TYPE = "client_credentials"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 16 * 1024


@dataclass
class OAuthError(Exception):
    """An error response of RFC 6749 §5.2."""

    error: str
    description: str
    status: int = 400
    challenge: str | None = None  # WWW-Authenticate, for invalid_client
    retry_after: int | None = None  # Retry-After, for a 429

    def response(self) -> Response:
        headers = dict(NO_STORE)
        if self.challenge:
            headers["WWW-Authenticate"] = self.challenge
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return json_response(
            self.status, {"error": self.error, "error_description": self.description}, headers
        )


def _invalid_client() -> OAuthError:
    # §5.2: 401 with WWW-Authenticate matching the scheme the client used (Basic), and the same 401 naming
    # Basic (the scheme we support) when the credentials came in the body. Never says whether the id or the secret was wrong.
    return OAuthError("invalid_client", "Client authentication failed.", 401, 'Basic realm="coatro"')


def _throttled(retry_after: int) -> OAuthError:
    return OAuthError(
        "temporarily_unavailable",
        f"Too many failed client authentications; retry after {retry_after} seconds.",
        429,
        retry_after=retry_after,
    )


def _form(request: Request) -> dict[str, str]:
    if request.mimetype != FORM_TYPE:
        raise OAuthError("invalid_request", f"The request body must be {FORM_TYPE} (RFC 6749 §4.4.2).")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise OAuthError("invalid_request", "The request body is too large.")
    if "client_secret" in request.args:
        raise OAuthError(
            "invalid_request", "Client credentials must not be sent in the URL (RFC 6749 §2.3.1)."
        )
    form = request.form
    params = {}
    for name in form:
        values = [v for v in form.getlist(name) if v != ""]  # §3.2: a parameter without a value is omitted
        if len(values) > 1:
            raise OAuthError("invalid_request", f"The parameter {name} is repeated.")
        if values:
            params[name] = values[0]
    return params


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError(
            "invalid_client",
            "Only HTTP Basic client authentication is supported.",
            401,
            'Basic realm="coatro"',
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client() from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client()
    # §2.3.1: the id and secret are form-urlencoded before they are put into Basic.
    return unquote_plus(client_id), unquote_plus(secret)


def _requested_scopes(params: dict[str, str], allowed: list[str]) -> list[str]:
    if "scope" not in params:
        return sorted(allowed)
    requested = params["scope"].split(" ")
    if any(not s for s in requested):
        raise OAuthError(
            "invalid_scope", "The scope parameter is malformed: scopes are separated by single spaces."
        )
    unknown = sorted(set(requested) - set(SCOPES))
    if unknown:
        raise OAuthError(
            "invalid_scope", f"Unknown scope {', '.join(unknown)}; scopes are {', '.join(SCOPES)}."
        )
    refused = sorted(set(requested) - set(allowed))
    if refused:
        raise OAuthError("invalid_scope", f"This client may not request {', '.join(refused)}.")
    return sorted(set(requested))


def claims_for(
    client_id: str, tenant_id: str, scopes: list[str], now: int | None = None
) -> dict[str, str | int]:
    settings = get_settings()
    now = int(time.time()) if now is None else now
    return {
        "iss": token_issuer(),
        "aud": settings.token_audience,
        "sub": client_id,
        TENANT_CLAIM: tenant_id,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + settings.token_lifetime_seconds,
        "jti": secrets.token_hex(16),
    }


def token_issuer() -> str:
    return get_settings().token_issuer or signers.signer().email


def issue_token(request: Request) -> Response:
    """The token endpoint: a token response (§5.1) or an error response (§5.2)."""
    try:
        params = _form(request)
        basic = _basic_credentials(request)
        if basic is not None and ("client_id" in params or "client_secret" in params):
            raise OAuthError(
                "invalid_request",
                "Send the client credentials either with HTTP Basic or in the body, not both.",
            )
        if "grant_type" not in params:
            raise OAuthError("invalid_request", "The grant_type parameter is missing.")
        if params["grant_type"] != GRANT_TYPE:
            raise OAuthError("unsupported_grant_type", f"Only grant_type={GRANT_TYPE} is supported.")
        client_id, secret = (
            basic if basic is not None else (params.get("client_id", ""), params.get("client_secret", ""))
        )
        if not client_id or not secret:
            raise _invalid_client()
        try:
            failures = throttle.check(client_id)
        except throttle.Throttled as held:
            raise _throttled(held.retry_after) from None
        client = oauth_clients.authenticate(client_id, secret)
        if client is None:
            throttle.failed(client_id)
            raise _invalid_client()
        throttle.succeeded(client_id, failures)
        scopes = _requested_scopes(params, client.scopes)
    except OAuthError as error:
        return error.response()
    settings = get_settings()
    token = signers.signer().sign_jwt(claims_for(client_id, client.tenantId, scopes))
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": settings.token_lifetime_seconds,
        "scope": " ".join(scopes),
    }
    return json_response(200, body, dict(NO_STORE))
