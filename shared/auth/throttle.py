"""Throttling of the token endpoint: a client id that keeps failing to authenticate is held off.

Without it, a caller could try secrets as fast as the endpoint answers (issue #16: 500 wrong secrets
at 135/s, then the right one worked at once). The rule, per client id:

- each failed client authentication counts; a failure more than `token_failure_window_seconds` after
  the previous one (and after any hold-off) starts the count again;
- from the `token_failure_limit`-th failure in a row on, each failure holds the id off for
  `token_backoff_seconds` doubled per further failure, capped at `token_backoff_max_seconds`;
- while held off, every request for the id is a 429 with `Retry-After`, even with the right secret
  (or guessing would simply go on), and is not checked or counted: a client retrying with its right
  secret does not prolong its own hold-off, and no id is held off longer than the cap after its last
  failure;
- a success deletes the record: the count starts again from zero.

Ids nobody holds are throttled exactly like real ones, so a 429 says nothing about whether an id
exists. The state is one Firestore document per id, named by the id's SHA-256 (an attacker's odd or
long id never names a document), with a TTL `expireAt` one window after its last failure or hold-off,
so guessed ids leave only documents that expire (infra/firestore.tf). Functions scale out, so the
state cannot live in an instance's memory.

Cost: a request reads one document more (the happy path's only addition); a failure adds a
transactional write; a success after failures one delete.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.platform import logs
from shared.platform.settings import get_settings
from shared.records.auth import TokenThrottleRecord
from shared.storage import firestore


@dataclass
class Throttled(Exception):
    """The client id is held off for `retry_after` more seconds (rounded up)."""

    retry_after: int


def key(client_id: str) -> str:
    return hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def check(client_id: str) -> TokenThrottleRecord | None:
    """The id's record (None if it has none); Throttled while the id is held off."""
    record = firestore.get_token_throttle(key(client_id))
    if record is not None and record.blockedUntil is not None:
        remaining = (record.blockedUntil - _now()).total_seconds()
        if remaining > 0:
            raise Throttled(max(1, math.ceil(remaining)))
    return record


def backoff_seconds(failures: int) -> float:
    """The hold-off after the `failures`-th failure in a row (0 below the limit)."""
    settings = get_settings()
    beyond = failures - settings.token_failure_limit
    if beyond < 0:
        return 0.0
    return min(settings.token_backoff_max_seconds, settings.token_backoff_seconds * 2.0 ** min(beyond, 64))


def next_record(current: TokenThrottleRecord | None, now: datetime) -> TokenThrottleRecord:
    """The record after one more failure at `now`."""
    window = timedelta(seconds=get_settings().token_failure_window_seconds)
    blocked_until = current.blockedUntil if current is not None else None
    fresh = current is None or (
        now - current.lastFailureAt > window and (blocked_until is None or blocked_until <= now)
    )
    failures = 1 if fresh or current is None else current.failures + 1
    hold = backoff_seconds(failures)
    new_block = now + timedelta(seconds=hold) if hold else None
    if new_block is not None and blocked_until is not None and blocked_until > new_block:
        new_block = blocked_until  # a failure that raced past a hold-off never shortens it
    return TokenThrottleRecord(
        failures=failures,
        lastFailureAt=now,
        blockedUntil=new_block,
        expireAt=max(now, new_block or now) + window,
    )


def failed(client_id: str) -> None:
    """Count a failed authentication of this id (known or not)."""
    record = firestore.update_token_throttle(key(client_id), lambda current: next_record(current, _now()))
    if record.blockedUntil is not None:
        logs.warning(
            "token endpoint: client id held off after failed authentications",
            clientIdHash=key(client_id),
            failures=record.failures,
            blockedUntil=record.blockedUntil.isoformat(),
        )


def succeeded(client_id: str, record: TokenThrottleRecord | None) -> None:
    """A successful authentication: forget the id's failures (a write only if it had any)."""
    if record is not None:
        firestore.delete_token_throttle(key(client_id))
