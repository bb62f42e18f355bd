"""Documents of the auth concern."""

from __future__ import annotations

from pydantic import BaseModel


class ApiKeyRecord(BaseModel):
    """`apiKeys/{sha256 of the key}`: the key itself is never stored."""

    tenantId: str
    label: str = ""
    createdAt: str
    revokedAt: str | None = None
