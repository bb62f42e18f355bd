"""Where schema versions live: built-in ones in code, tenant-registered ones in Firestore (`shared.store`)."""

from __future__ import annotations

from shared import store
from shared.bulk.schemas import BUILTIN, VERSION_PATTERN, SchemaMapping


def lookup(tenant_id: str, version: str) -> SchemaMapping | None:
    if version in BUILTIN:
        return BUILTIN[version]
    if not VERSION_PATTERN.fullmatch(version):
        return None  # cannot have been registered (and must not become a document path)
    return store.get_schema(tenant_id, version)


def register(tenant_id: str, mapping: SchemaMapping) -> bool:
    """Store a tenant's mapping; False if that version exists (versions are immutable: jobs refer to them)."""
    if mapping.version in BUILTIN:
        return False
    return store.create_schema(tenant_id, mapping)


def unstorable(tenant_id: str, mapping: SchemaMapping) -> tuple[str, str] | None:
    """(where, why) if `register` could not store this mapping exactly as it is (`shared.store`)."""
    return None if mapping.version in BUILTIN else store.schema_unstorable(tenant_id, mapping)


def available(tenant_id: str) -> list[str]:
    return sorted(BUILTIN) + store.schema_versions(tenant_id)
