"""Who is calling an endpoint: the one place every function asks "which tenant, allowed to do what?".

A caller presents one of two credentials:
- an API key (`X-API-Key`), checked here against its stored hash; it holds every scope of its tenant;
- an OAuth2 access token (RFC 6750 Bearer, or the `access_token` query parameter). The token is
  verified by API Gateway in the cloud (signature against the issuer's JWKS, `iss`, `aud`, `exp`) and
  by `local/gateway_auth.py` locally; both forward its verified claims to the function as
  `X-Apigateway-Api-Userinfo` (base64url JSON). Only the gateway can invoke the functions (IAM), and
  it never passes on a caller's own copy of that header (API Gateway runs ESPv2 with the header prefix
  X-Apigateway-, and ESPv2 overrides a client-provided userinfo header: GoogleCloudPlatform/esp-v2#447,
  cloudendpoints/esp#338), so the claims are trusted here as they are.

`scope` names what the endpoint needs (`pop:write`, `reports:read`, `reports:write`, `screens:write`,
`screens:read`, `webhooks:write`, `webhooks:read`, `bookings:write`, `bookings:read`): a token without it is a 403.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from flask import Request

from shared.auth import api_keys, tenant_limits
from shared.platform.problems import bad_request, insufficient_scope, invalid_token

POP_WRITE = "pop:write"
REPORTS_READ = "reports:read"
REPORTS_WRITE = "reports:write"  # create, replace and delete report schedules (recurring drops)
SCREENS_WRITE = "screens:write"  # register, replace and retire screens
SCREENS_READ = "screens:read"  # read and list screens and their history
WEBHOOKS_WRITE = "webhooks:write"  # register, replace, delete webhook endpoints; rotate their secrets
WEBHOOKS_READ = "webhooks:read"  # read and list endpoints and their deliveries
BOOKINGS_WRITE = "bookings:write"  # record, replace and cancel bookings
BOOKINGS_READ = "bookings:read"  # read and list bookings and their history
SCOPES = (
    POP_WRITE,
    REPORTS_READ,
    REPORTS_WRITE,
    SCREENS_WRITE,
    SCREENS_READ,
    WEBHOOKS_WRITE,
    WEBHOOKS_READ,
    BOOKINGS_WRITE,
    BOOKINGS_READ,
)

# Query parameters that carry a credential, not a request's data: the OAuth2 access token, which the
# gateway also accepts there (RFC 6750, 2.3). Endpoints that refuse unknown parameters accept these,
# and links they build never repeat them.
CREDENTIAL_PARAMETERS = ("access_token",)

USERINFO_HEADER = "X-Apigateway-Api-Userinfo"
TENANT_CLAIM = "tenant"


def decode_userinfo(value: str) -> dict[str, Any]:
    """The claims in an `X-Apigateway-Api-Userinfo` header: base64url (padding optional) of the JWT payload."""
    try:
        claims = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        raise invalid_token("The access token's claims could not be read.") from None
    if (
        not isinstance(claims, dict)
        or not isinstance(claims.get(TENANT_CLAIM), str)
        or not claims[TENANT_CLAIM]
    ):
        raise invalid_token("The access token names no tenant.")
    return claims


def tenant_for(request: Request, scope: str) -> str:
    """The calling tenant; a 401 Problem for a missing or bad credential, 403 for a token without
    `scope`, 429 when the tenant is over its request rate on this instance (`tenant_limits`)."""
    tenant_id = _tenant(request, scope)
    tenant_limits.admit(tenant_id)
    return tenant_id


def _tenant(request: Request, scope: str) -> str:
    userinfo = request.headers.get(USERINFO_HEADER)
    if userinfo:
        if request.headers.get("X-API-Key"):
            # Two credentials could name two tenants; which one wins must not be a guess.
            raise bad_request("Send either X-API-Key or an access token, not both.", slug="invalid-request")
        claims = decode_userinfo(userinfo)
        scopes = claims.get("scope", "")
        if not isinstance(scopes, str) or scope not in scopes.split():
            raise insufficient_scope(scope)
        tenant: str = claims[TENANT_CLAIM]  # a non-empty str: decode_userinfo checked
        return tenant
    return api_keys.tenant_for_key(request.headers.get("X-API-Key"))
