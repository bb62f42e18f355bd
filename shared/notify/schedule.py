"""When a failed webhook delivery is tried again: exponential backoff spanning more than 24 hours.

The default delays (settings `webhook_retry_delays_seconds`) are Standard Webhooks' example schedule
(spec/standard-webhooks.md, "Deliverability and reliability"): immediately, then 5 s, 5 min, 30 min,
2 h, 5 h, 10 h and 14 h, so the last of 8 attempts is 31 h 35 min after the first; after that the
delivery is dead-lettered. Each delay gets up to 10 % of jitter, as the spec recommends, drawn from
the delivery's id so a schedule is the same however often it is computed. A `Retry-After` answer
(RFC 9110, 10.2.3) may lengthen a delay, never shorten it, up to a day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

JITTER = 0.10
MAX_RETRY_AFTER = 86_400.0


def jitter_fraction(delivery_id: str, attempt: int) -> float:
    digest = hashlib.sha256(f"{delivery_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 * JITTER


def next_attempt(
    delays: Sequence[float],
    delivery_id: str,
    failed_attempts: int,
    now: datetime,
    retry_after: float | None = None,
) -> datetime | None:
    """When to try again after the `failed_attempts`-th failure (1 for the first), or None when the
    schedule is used up (dead letter)."""
    if failed_attempts > len(delays):
        return None
    delay = delays[failed_attempts - 1] * (1 + jitter_fraction(delivery_id, failed_attempts))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return now + timedelta(seconds=delay)


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header's delay in seconds (its delta-seconds form; an HTTP date is ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(int(value.strip()))
