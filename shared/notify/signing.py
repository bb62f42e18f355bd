"""Standard Webhooks signatures (https://github.com/standard-webhooks/standard-webhooks,
spec/standard-webhooks.md, version 1.0.0, "Signature scheme" and "Webhook headers").

- The secret is random, 24 to 64 bytes, shown to the tenant base64-encoded with the prefix `whsec_`;
  the HMAC key is the base64-decoded part after the prefix.
- The content signed is `msg_id.timestamp.payload`: the `webhook-id`, the `webhook-timestamp`
  (integer Unix seconds of the attempt) and the body exactly as sent, joined by full stops.
- `webhook-signature` is a space-delimited list of `v1,<base64 of HMAC-SHA256>`, one per secret, so a
  rotated secret signs beside the new one for an overlap (zero-downtime rotation).
- The message id must not be user controlled nor hold a `.`: event ids are chosen by our publishers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from typing import Any

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # within the spec's 24 to 64
SIGNATURE_VERSION = "v1"  # symmetric (HMAC-SHA256), as the spec names it


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (the prefix is optional, as in the reference libraries)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>`: the signature of one (id, timestamp, body) with one secret."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def headers(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of an attempt, signed with every secret given."""
    if "." in message_id:
        raise ValueError("a webhook-id must not hold a '.' (Standard Webhooks, signature scheme)")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets_),
    }


def payload(event_type: str, timestamp: str, data: dict[str, Any]) -> bytes:
    """The body: the spec's recommended `{"type", "timestamp", "data"}`, minified JSON. Computed once
    per delivery and stored, so every attempt sends (and signs) the very same bytes."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
