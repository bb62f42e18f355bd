"""OAuth2 clients (RFC 6749 §2.3.1, §4.4): a client id and secret of one tenant, with the scopes it may ask for.

The secret is stored only as a salted SHA-256 (`shared.storage.firestore`); it is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from shared.platform.encoding import utc_now
from shared.records.auth import OAuthClientRecord
from shared.storage import firestore

CLIENT_ID_PREFIX = "cc_"
SECRET_PREFIX = "cs_"
# What a client id can be: it names a Firestore document, so no "/", no "." or "..", no __reserved__.
CLIENT_ID = re.compile(r"(?!\.\.?$)(?!__)[A-Za-z0-9._-]{1,128}")


def secret_hash(secret: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    return f"sha256${salt}${hashlib.sha256((salt + secret).encode()).hexdigest()}"


def secret_matches(secret: str, stored: str) -> bool:
    try:
        scheme, salt, _ = stored.split("$")
    except ValueError:
        return False
    return scheme == "sha256" and hmac.compare_digest(secret_hash(secret, salt), stored)


def create_client(
    tenant_id: str,
    scopes: list[str],
    label: str = "",
    client_id: str | None = None,
    secret: str | None = None,
) -> tuple[str, str]:
    """Store a new client and return (client_id, client_secret); the secret is not kept and cannot be shown again.
    (The local stack passes a fixed id and secret for its dev client, so the documented examples (docs/auth.md) work.)"""
    client_id = client_id or CLIENT_ID_PREFIX + secrets.token_hex(12)
    if not CLIENT_ID.fullmatch(client_id):
        raise ValueError(f"a client id is 1-128 of A-Z a-z 0-9 . _ - (not {client_id!r})")
    secret = secret or SECRET_PREFIX + secrets.token_urlsafe(32)
    record = OAuthClientRecord(
        tenantId=tenant_id,
        scopes=sorted(set(scopes)),
        secretHash=secret_hash(secret),
        label=label,
        createdAt=utc_now(),
    )
    firestore.create_oauth_client(client_id, record)
    return client_id, secret


def authenticate(client_id: str, secret: str) -> OAuthClientRecord | None:
    """The client, if the id exists, is not revoked and the secret matches; None otherwise (never says which)."""
    record = firestore.get_oauth_client(client_id) if CLIENT_ID.fullmatch(client_id) else None
    # Hash even for an unknown id, so the answer takes the same time either way.
    stored = record.secretHash if record is not None else secret_hash("", "0" * 32)
    matches = secret_matches(secret, stored)
    if record is None or record.revokedAt or not matches:
        return None
    return record


def revoke_client(client_id: str) -> bool:
    """Revoke a client: it gets no new tokens; tokens already issued stay valid until they expire (at most 2 h)."""
    return firestore.revoke_oauth_client(client_id, utc_now())
