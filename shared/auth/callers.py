"""Who is calling an endpoint: the one place every function asks "which tenant, allowed to do what?".

Today a caller is an API key (`X-API-Key`), which may do everything its tenant may. `scope` names what
the endpoint needs (`pop:write`, `reports:read`), so that other credentials with narrower rights can
be checked here without touching the endpoints.
"""

from __future__ import annotations

from flask import Request

from shared.auth import api_keys

POP_WRITE = "pop:write"
REPORTS_READ = "reports:read"


def tenant_for(request: Request, scope: str) -> str:
    """The calling tenant; a 401 Problem for a missing or bad credential."""
    del scope  # an API key holds every scope of its tenant
    return api_keys.tenant_for_key(request.headers.get("X-API-Key"))
