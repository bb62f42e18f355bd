"""A Coatro webhook receiver: checks a delivery's Standard Webhooks signature (standard library only).

Copy it into your service. `verify` takes your endpoint's secret (the `whsec_...` shown when you
created the endpoint or rotated its secret), the request's headers and its raw body (the bytes as
received: parsing and re-serialising the JSON first would change them), and returns the `webhook-id`,
which stays the same on every retry of an event, so you can process each event once. It raises
`InvalidWebhook` for anything else. Specification: https://github.com/standard-webhooks/standard-webhooks
(spec/standard-webhooks.md, "Verifying signatures").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_SECONDS = 5 * 60  # a timestamp further than this from now is refused (replay protection)


class InvalidWebhook(Exception):
    """Not a genuine, current delivery: answer it with 400 (or 401) and do not process it."""


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """The delivery's `webhook-id` if one of its signatures is valid for `secret` and its timestamp is
    within `tolerance` seconds of `now` (default: the clock); else InvalidWebhook."""
    lower = {name.lower(): value for name, value in headers.items()}
    message_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not message_id or not stamp or not signatures:
        raise InvalidWebhook("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(stamp)
    except ValueError:
        raise InvalidWebhook("webhook-timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - sent) > tolerance:
        raise InvalidWebhook("webhook-timestamp is too old or too new")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # One signature per secret, space-separated: during a secret rotation both the old and the new
    # secret sign, so a receiver holding either verifies.
    for signature in signatures.split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return message_id
    raise InvalidWebhook("no valid signature")
