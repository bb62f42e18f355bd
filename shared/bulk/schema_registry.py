"""Where schema versions live: built-in ones in code, tenant-registered ones in Firestore (`shared.storage.firestore`)."""

from __future__ import annotations

from shared.bulk.schemas import BUILTIN, VERSION_PATTERN, SchemaMapping, load_mapping
from shared.storage import firestore


def lookup(tenant_id: str, version: str) -> SchemaMapping | None:
    if version in BUILTIN:
        return BUILTIN[version]
    if not VERSION_PATTERN.fullmatch(version):
        return None  # cannot have been registered (and must not become a document path)
    stored = firestore.get_schema(tenant_id, version)
    return None if stored is None else load_mapping(stored)


def register(tenant_id: str, mapping: SchemaMapping) -> bool:
    """Store a tenant's mapping; False if that version exists (versions are immutable: jobs refer to them)."""
    if mapping.version in BUILTIN:
        return False
    return firestore.create_schema(tenant_id, mapping.version, mapping.model_dump(mode="json"))


def unstorable(tenant_id: str, mapping: SchemaMapping) -> tuple[str, str] | None:
    """(where, why) if `register` could not store this mapping exactly as it is (`shared.storage.firestore`)."""
    return (
        None
        if mapping.version in BUILTIN
        else firestore.schema_unstorable(tenant_id, mapping.version, mapping.model_dump(mode="json"))
    )


def available(tenant_id: str) -> list[str]:
    return sorted(BUILTIN) + firestore.schema_versions(tenant_id)
