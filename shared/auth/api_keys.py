"""API keys: stored only as SHA-256 hashes (`shared.storage.firestore`), each mapped to one tenant."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from shared.platform.encoding import utc_now
from shared.platform.problems import unauthorized
from shared.platform.settings import get_settings
from shared.records.auth import ApiKeyRecord
from shared.storage import firestore

KEY_PREFIX = "ck_"


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


_cache: dict[str, tuple[str | None, float]] = {}
_cache_lock = threading.Lock()
CACHE_ENTRIES = 10_000  # bounded, so a flood of random keys cannot grow an instance's memory


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def tenant_for_key(api_key: str | None) -> str:
    """The tenant an API key belongs to; a 401 Problem for a missing, unknown or revoked key.

    Lookups (misses included, so a flood of bad keys does not reach Firestore) are cached for
    `api_key_cache_seconds`; a revoked key stops working within that time.
    """
    if not api_key:
        raise unauthorized()
    digest = key_hash(api_key)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(digest)
    if hit is not None and hit[1] > now:
        tenant = hit[0]
    else:
        record = firestore.get_api_key(digest)
        tenant = record.tenantId if record is not None and not record.revokedAt else None
        with _cache_lock:
            if len(_cache) >= CACHE_ENTRIES:
                _cache.clear()
            _cache[digest] = (tenant, now + get_settings().api_key_cache_seconds)
    if tenant is None:
        raise unauthorized()
    return tenant


def create_key(tenant_id: str, label: str = "", api_key: str | None = None) -> str:
    """Store a key for a tenant and return it; only its hash is kept, so this is the one chance to see it."""
    api_key = api_key or KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(tenantId=tenant_id, label=label, createdAt=utc_now())
    firestore.put_api_key(key_hash(api_key), record)
    return api_key


def revoke_key_hash(digest: str) -> bool:
    """Mark the key with this SHA-256 hash revoked; False if no such key exists."""
    return firestore.revoke_api_key(digest, utc_now())
