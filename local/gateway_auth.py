"""What API Gateway does with access tokens, for the local gateway: the same checks, the same header.

The OpenAPI document names the token issuer, its JWKS and the audience (`securityDefinitions`, with
`x-google-issuer`, `x-google-jwks_uri`, `x-google-audiences`, `x-google-jwt-locations`) and, per
operation, the `security` alternatives. For each request this module:

- removes any `X-Apigateway-Api-Userinfo` the caller sent: only a verified token may set it;
- takes the token from `Authorization: Bearer ...` or the `access_token` query parameter;
- verifies it: RS256 only (so no `alg: none` and no HS256 keyed with the public key), signature
  against the JWKS (cached 5 minutes, as API Gateway does, and fetched again for an unknown `kid`),
  `iss`, `aud`, `exp` and `iat` (60 s clock skew, Envoy jwt_authn's default);
- forwards the verified payload as `X-Apigateway-Api-Userinfo` (base64url JSON, the token's own
  payload segment) and the original Authorization header as `X-Forwarded-Authorization`;
- answers 401 (RFC 6750 `invalid_token`) for a token that is present but not valid, and lets a
  request without a token through when the operation allows it (`{}`: the function then needs X-API-Key).

https://cloud.google.com/api-gateway/docs/authenticating-users-jwt
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt

from shared.platform.problems import Problem, invalid_token

USERINFO_HEADER = "X-Apigateway-Api-Userinfo"
JWKS_CACHE_SECONDS = 300
CLOCK_SKEW_SECONDS = 60
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp"]


def invalid_request(detail: str) -> Problem:
    return Problem(
        400,
        "invalid-request",
        "Bad request",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="coatro", error="invalid_request"'},
    )


def _render(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_render(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, variables) for k, v in value.items()}
    return value


def fetch_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class Provider:
    """One JWT issuer of the document, as API Gateway reads it."""

    issuer: str
    jwks_uri: str
    audiences: list[str]
    headers: list[tuple[str, str]]  # (header, value prefix)
    params: list[str]
    fetch: Callable[[str], dict] = fetch_json
    _keys: dict[str, Any] = field(default_factory=dict)
    _fetched_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _key(self, kid: str | None):
        with self._lock:
            stale = time.monotonic() - self._fetched_at > JWKS_CACHE_SECONDS
            # An unknown kid may be a new key: fetch again, but at most every few seconds.
            if stale or (kid not in self._keys and time.monotonic() - self._fetched_at > 5):
                try:
                    jwks = self.fetch(self.jwks_uri)
                    self._keys = {
                        k.get("kid"): jwt.PyJWK(k) for k in jwks.get("keys", []) if k.get("kty") == "RSA"
                    }
                    self._fetched_at = time.monotonic()
                except (OSError, ValueError, jwt.PyJWTError):
                    if not self._keys:
                        raise invalid_token("The token's signing keys could not be fetched.") from None
            return self._keys.get(kid)

    def verify(self, token: str) -> dict:
        """The token's claims, or an invalid_token Problem."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid_token("The access token is malformed.") from None
        if header.get("alg") != "RS256":
            raise invalid_token("The access token is not signed with RS256.")
        key = self._key(header.get("kid"))
        if key is None:
            raise invalid_token("The access token was signed with an unknown key.")
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.audiences,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise invalid_token("The access token has expired.") from None
        except jwt.InvalidAudienceError:
            raise invalid_token("The access token is not meant for this API (audience).") from None
        except jwt.InvalidIssuerError:
            raise invalid_token("The access token has an unknown issuer.") from None
        except jwt.PyJWTError:
            raise invalid_token("The access token is not valid.") from None

    def token_in(self, headers: dict[str, str], query: dict[str, list[str]]) -> tuple[str | None, str | None]:
        """(token, header it came from) from the first location that holds one; invalid_request if several do."""
        found: list[tuple[str, str | None]] = []
        lowered = {k.lower(): (k, v) for k, v in headers.items()}
        for name, prefix in self.headers:
            if name.lower() in lowered:
                original, value = lowered[name.lower()]
                if value[: len(prefix)].lower() == prefix.lower() and value[len(prefix) :].strip():
                    found.append((value[len(prefix) :].strip(), original))
        for param in self.params:
            for value in query.get(param, []):
                found.append((value, None))
        if len(found) > 1:
            raise invalid_request(
                "Send the access token once: in the Authorization header or the access_token parameter."
            )
        return found[0] if found else (None, None)


class GatewayAuth:
    """The token checks of every operation in the OpenAPI document."""

    def __init__(self, spec: dict, variables: dict[str, str], fetch: Callable[[str], dict] = fetch_json):
        self.providers: dict[str, Provider] = {}
        for name, definition in (spec.get("securityDefinitions") or {}).items():
            definition = _render(definition, variables)
            if definition.get("type") != "oauth2" or "x-google-issuer" not in definition:
                continue
            locations = definition.get("x-google-jwt-locations") or [
                {"header": "Authorization", "value_prefix": "Bearer "},
                {"query": "access_token"},
            ]
            self.providers[name] = Provider(
                issuer=definition["x-google-issuer"],
                jwks_uri=definition["x-google-jwks_uri"],
                audiences=[
                    a.strip() for a in str(definition.get("x-google-audiences", "")).split(",") if a.strip()
                ],
                headers=[
                    (loc["header"], loc.get("value_prefix", "")) for loc in locations if "header" in loc
                ],
                params=[loc["query"] for loc in locations if "query" in loc],
                fetch=fetch,
            )

    def check(
        self, security: list[dict], headers: dict[str, str], query: str
    ) -> tuple[dict[str, str], Problem | None]:
        """For an operation with these security requirements (the gateway's Operation.security):
        (headers to forward, None), or (_, the Problem to answer with)."""
        forwarded = {k: v for k, v in headers.items() if k.lower() != USERINFO_HEADER.lower()}
        if not security:
            return forwarded, None
        params = parse_qs(query, keep_blank_values=False)
        optional = any(not requirement for requirement in security)
        problem = None
        for requirement in security:
            for name in requirement:
                provider = self.providers.get(name)
                if provider is None:
                    continue
                try:
                    token, header = provider.token_in(forwarded, params)
                    if token is None:
                        continue
                    claims_segment = token.split(".")[1] if token.count(".") == 2 else ""
                    provider.verify(token)
                except Problem as exc:
                    problem = problem or exc
                    continue
                if header is not None:
                    forwarded["X-Forwarded-Authorization"] = forwarded.pop(header)
                forwarded[USERINFO_HEADER] = claims_segment
                return forwarded, None
        if problem is not None:
            return forwarded, problem
        if optional:
            return forwarded, None
        return forwarded, Problem(
            401,
            "unauthorized",
            "Unauthorized",
            "An access token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="coatro"'},
        )
