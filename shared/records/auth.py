"""Documents of the auth concern."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ApiKeyRecord(BaseModel):
    """`apiKeys/{sha256 of the key}`: the key itself is never stored."""

    tenantId: str
    label: str = ""
    createdAt: str
    revokedAt: str | None = None


class OAuthClientRecord(BaseModel):
    """`oauthClients/{clientId}`: an OAuth2 client (RFC 6749 §4.4) of one tenant. The secret is kept
    only as a salted SHA-256 (`sha256$<salt hex>$<digest hex>`); it is 256 random bits, so a slow
    hash would add cost without adding safety."""

    tenantId: str
    scopes: list[str]
    secretHash: str
    label: str = ""
    createdAt: str
    revokedAt: str | None = None


class TokenThrottleRecord(BaseModel):
    """`tokenThrottles/{sha256 of a client id}`: failed client authentications of one client id, known or
    not (shared.auth.throttle). Deleted on a success; Firestore's TTL deletes it at `expireAt` otherwise."""

    failures: int
    lastFailureAt: datetime
    blockedUntil: datetime | None = None
    expireAt: Any = None  # Firestore TTL (a datetime)
