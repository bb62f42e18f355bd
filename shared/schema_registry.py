"""Where schema versions live: built-in ones in code, tenant-registered ones in `schemas/{tenantId}:{version}`."""

from __future__ import annotations

from shared import clients
from shared.schemas import BUILTIN, VERSION_PATTERN, SchemaMapping

SCHEMAS = "schemas"


def _doc_id(tenant_id: str, version: str) -> str:
    return f"{tenant_id}:{version}"


def lookup(tenant_id: str, version: str) -> SchemaMapping | None:
    if version in BUILTIN:
        return BUILTIN[version]
    if not VERSION_PATTERN.fullmatch(version):
        return None  # cannot have been registered (and must not become a document path)
    snap = clients.firestore().collection(SCHEMAS).document(_doc_id(tenant_id, version)).get()
    return SchemaMapping.model_validate(snap.to_dict()["mapping"]) if snap.exists else None


def register(tenant_id: str, mapping: SchemaMapping) -> bool:
    """Store a tenant's mapping; False if that version exists (versions are immutable: jobs refer to them)."""
    from google.api_core.exceptions import AlreadyExists

    if mapping.version in BUILTIN:
        return False
    try:
        clients.firestore().collection(SCHEMAS).document(_doc_id(tenant_id, mapping.version)).create(
            {"tenantId": tenant_id, "mapping": mapping.model_dump(mode="json")}
        )
    except AlreadyExists:
        return False
    return True


def available(tenant_id: str) -> list[str]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    own = clients.firestore().collection(SCHEMAS).where(filter=FieldFilter("tenantId", "==", tenant_id)).select([]).stream()
    return sorted(BUILTIN) + sorted(s.id.split(":", 1)[1] for s in own)
