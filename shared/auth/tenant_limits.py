"""Per-tenant request rate, per function instance: one tenant's burst cannot take an instance's
threads from the others.

Each instance keeps a token bucket per tenant (`tenant_requests_per_second`, `tenant_request_burst`);
a request finding its tenant's bucket empty is a 429 with `Retry-After` (the seconds until a token is
back), before any of its body is read. It costs no network call, which is why it is per instance:
in the cloud a tenant may reach at most rate x instances (each function's `max_instance_count` in
infra/functions.tf bounds the instances), and API Gateway cannot count per tenant (its quotas count
Google Cloud consumer projects; see docs/auth.md, "Rate limits"). The buckets are bounded in number
(least recently used tenants are forgotten first: a forgotten tenant starts again with a full burst).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from shared.platform.problems import Problem
from shared.platform.settings import get_settings

MAX_TENANTS = 10_000


class _Buckets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tenant -> (tokens, at)

    def take(self, tenant_id: str, rate: float, burst: int, now: float) -> float:
        """0 when the tenant may go on (a token is taken); else the seconds until it may."""
        with self._lock:
            tokens, at = self._buckets.pop(tenant_id, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / rate
            self._buckets[tenant_id] = (tokens, now)
            if len(self._buckets) > MAX_TENANTS:
                self._buckets.popitem(last=False)
            return wait

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


_buckets = _Buckets()


def admit(tenant_id: str) -> None:
    """Count one request of the tenant; a 429 Problem (with Retry-After) when it is over its rate."""
    settings = get_settings()
    rate = settings.tenant_requests_per_second
    if rate <= 0:  # 0: no limit
        return
    wait = _buckets.take(tenant_id, rate, settings.tenant_request_burst, time.monotonic())
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise Problem(
            429,
            "too-many-requests",
            "Too many requests",
            f"This tenant is over {rate:g} requests per second on this instance (bursts of "
            f"{settings.tenant_request_burst}); retry after {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


def clear() -> None:
    """Forget every bucket (tests)."""
    _buckets.clear()
