"""Schema versions as data: the public names of the mapping language (`shared.bulk.mapping`).

A `SchemaMapping` names a version and says how a file's records become canonical events. v1
mappings use ``fields`` (source field -> canonical field), ``timestamp_format``, ``constants``,
``numeric_strings`` and ``unmapped``; v2 adds zones, envelopes, positional records, transforms,
derived fields, filters, required and dropped fields and natural-key event ids. Every key is
described, with an example, in docs/schemas.md, "Mapping language".

The built-in ``1.0`` is the canonical event itself (unmapped fields rejected, exactly like the events
endpoint), with CSV columns as dotted paths. Shipped examples live in ``shared/bulk/schema_examples/``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.bulk.mapping.compiled import CompiledMapping, compile_mapping
from shared.bulk.mapping.model import VERSION_PATTERN, SchemaMapping, is_canonical_path
from shared.canonical.event import PopEvent

__all__ = [
    "BUILTIN",
    "VERSION_PATTERN",
    "CompiledMapping",
    "SchemaMapping",
    "compile_mapping",
    "is_canonical_path",
    "load_mapping",
    "mapping_problems",
    "row_to_event",
]


def row_to_event(
    record: dict[str, Any], mapping: SchemaMapping, fmt: str
) -> tuple[PopEvent | None, str | None]:
    """Map and validate one record: (event, None) or (None, "field: message; field: message").
    A loop over many rows calls `compile_mapping(mapping, fmt).to_event` instead (one lookup, not one per row)."""
    return compile_mapping(mapping, fmt).to_event(record)


def load_mapping(data: dict[str, Any]) -> SchemaMapping:
    """Validate a mapping given as plain data (a registered tenant mapping, a shipped example)."""
    return SchemaMapping.model_validate(data)


def mapping_problems(exc: ValidationError) -> list[str]:
    """Person-readable messages for a mapping that does not validate, each naming its key."""
    out = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        # Leave out pydantic's internal steps (union tags, validator names): the path is what the user wrote.
        loc = ".".join(
            str(p)
            for p in err["loc"]
            if not (isinstance(p, str) and (p in ("name", "spec") or "[" in p or p.startswith("function-")))
        )
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        out.append(f"{loc}: {msg}" if loc else msg)
    return out


BUILTIN: dict[str, SchemaMapping] = {
    "1.0": SchemaMapping(version="1.0", fields={}, unmapped="reject"),
}
