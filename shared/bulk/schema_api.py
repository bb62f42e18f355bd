"""Schema versions over the API, with the tenant's own key: register, list, read, and preview a mapping.

    PUT  /coatro/v1/pop/dynamic/schemas/{version}           register (the body is the mapping)
    GET  /coatro/v1/pop/dynamic/schemas                     list: built-in versions, then the tenant's
    GET  /coatro/v1/pop/dynamic/schemas/{version}           one version and its mapping
    POST /coatro/v1/pop/dynamic/schemas/{version}/preview   map a sample with a version
    POST /coatro/v1/pop/dynamic/schemas/preview             map a sample with a mapping in the body

Versions are immutable (jobs refer to them): the first PUT of a version is 201 Created; a PUT of the
same mapping again is 200 (so a retried or scripted registration is safe); a different mapping under
a registered version, or any other mapping under a built-in one, is 409. "preview" cannot name a
version: PUT .../schemas/preview is a 405 (that path is the preview of a mapping in the body).
A tenant sees only the built-in versions and its own; another tenant's version is a 404.
A preview ingests nothing: it frames, maps and validates the sample exactly as a job would.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Request, Response
from pydantic import ValidationError

from shared.auth import callers
from shared.bulk import schema_registry
from shared.bulk.bodies import check_metadata, parse_body
from shared.bulk.models import (
    MappingPreviewRequest,
    PreviewRequest,
    SchemaDocument,
    SchemaList,
    SchemaSummary,
)
from shared.bulk.preview import PreviewRefused, preview
from shared.bulk.schemas import BUILTIN, VERSION_PATTERN, SchemaMapping, load_mapping, mapping_problems
from shared.platform.http import json_response, read_json_document
from shared.platform.problems import (
    FieldError,
    Problem,
    field_error,
    invalid,
    method_not_allowed,
    not_found,
    validation_failed,
)
from shared.platform.settings import get_settings
from shared.storage import firestore

BASE = "/coatro/v1/pop/dynamic/schemas"
PREVIEW = "preview"  # POST .../schemas/preview: not a version name
_PATH = re.compile(r"^(?:/(?P<version>[^/]+)(?P<preview>/preview)?)?/?$")


def handle(request: Request) -> Response:
    """Route a request under BASE to its operation."""
    match = _PATH.match(request.path.removeprefix(BASE)) if request.path.startswith(BASE) else None
    if match is None:
        raise not_found(f"No API path {request.path}.")
    tenant_id = callers.tenant_for(request, callers.POP_WRITE)
    version, previewing = match["version"], bool(match["preview"])
    if version is None:
        operations = {"GET": lambda: list_schemas(tenant_id)}
    elif version == PREVIEW and not previewing:
        operations = {"POST": lambda: preview_mapping(tenant_id, request)}
    elif previewing:
        operations = {"POST": lambda: preview_version(tenant_id, version, request)}
    else:
        operations = {
            "GET": lambda: get_schema(tenant_id, version),
            "PUT": lambda: register(tenant_id, version, request),
        }
    if request.method not in operations:
        raise method_not_allowed(list(operations))
    return operations[request.method]()


def list_schemas(tenant_id: str) -> Response:
    versions = schema_registry.available(tenant_id)
    return json_response(
        200, SchemaList(schemas=[SchemaSummary(version=v, builtIn=v in BUILTIN) for v in versions])
    )


def get_schema(tenant_id: str, version: str) -> Response:
    return json_response(200, _document(version, _registered(tenant_id, version)))


def register(tenant_id: str, version: str, request: Request) -> Response:
    body = read_json_document(request, get_settings().max_mapping_bytes)
    if not isinstance(body, dict):
        raise _invalid_mapping([field_error(None, "The mapping must be a JSON object")])
    if not VERSION_PATTERN.fullmatch(version):
        raise _invalid_mapping(
            [
                field_error(
                    "version",
                    f"{version!r} is not a schema version: 1-32 characters, letters, digits, '.', '_' or '-'",
                )
            ]
        )
    if body.setdefault("version", version) != version:
        raise _invalid_mapping(
            [
                field_error(
                    "version", f"The mapping's version {body['version']!r} is not the path's {version!r}"
                )
            ]
        )
    mapping = _mapping(body)
    if found := schema_registry.unstorable(tenant_id, mapping):
        raise _unstorable(found)
    if schema_registry.register(tenant_id, mapping):
        return json_response(201, _document(version, mapping), headers={"Location": f"{BASE}/{version}"})
    existing = schema_registry.lookup(tenant_id, version)
    if existing is not None and existing.model_dump() == mapping.model_dump():
        return json_response(
            200, _document(version, existing)
        )  # the same registration again: nothing changes
    kind = "a built-in schema version" if version in BUILTIN else "registered with a different mapping"
    raise Problem(
        409,
        "schema-version-exists",
        "Conflict",
        f"Schema version {version!r} is {kind}; versions are immutable (jobs refer to them). "
        "Register the new mapping under a new version.",
    )


def preview_version(tenant_id: str, version: str, request: Request) -> Response:
    mapping = _registered(tenant_id, version)
    body = parse_body(PreviewRequest, read_json_document(request))
    check_metadata(body.metadata)
    return _preview(tenant_id, mapping, body)


def preview_mapping(tenant_id: str, request: Request) -> Response:
    """A mapping in the body needs no registry (the caller still needs a valid key)."""
    raw = read_json_document(request)
    if isinstance(raw, dict) and isinstance(raw.get("mapping"), dict):  # as sent: the model may change text
        _check_storable(raw["mapping"], "mapping")
    body = parse_body(MappingPreviewRequest, raw)
    check_metadata(body.metadata)
    mapping = _mapping({"version": PREVIEW, **body.mapping}, field_prefix="mapping")
    return _preview(tenant_id, mapping, body)


def _preview(tenant_id: str, mapping: SchemaMapping, body: PreviewRequest) -> Response:
    data = body.sample.encode("utf-8", "surrogatepass")
    limit = get_settings().max_preview_sample_bytes
    if len(data) > limit:
        raise Problem(
            413,
            "payload-too-large",
            "Payload too large",
            f"The sample is {len(data)} bytes; a preview takes at most {limit} bytes. Send the first rows only.",
            [field_error("sample", f"at most {limit} bytes of UTF-8")],
        )
    try:
        result = preview(
            mapping,
            data,
            body.format,
            body.metadata,
            lambda screen_ids: firestore.screen_zone_histories(tenant_id, screen_ids),  # the caller's screens
        )
    except PreviewRefused as exc:  # what an ingest of this file would refuse as a whole
        field = "metadata.timezone" if str(exc).startswith("metadata.timezone:") else "sample"
        raise validation_failed(
            f"The sample cannot be read as {body.format}: {exc}.",
            [field_error(field, str(exc))],
        ) from None
    return json_response(200, result)


def _registered(tenant_id: str, version: str) -> SchemaMapping:
    mapping = schema_registry.lookup(tenant_id, version)
    if mapping is None:  # the same answer for another tenant's version
        raise not_found(f"No schema version {version!r} exists for this API key; see GET {BASE}.")
    return mapping


def _document(version: str, mapping: SchemaMapping) -> SchemaDocument:
    return SchemaDocument(
        version=version, builtIn=version in BUILTIN, mapping=mapping.model_dump(mode="json")
    )


def _mapping(data: dict[str, Any], field_prefix: str | None = None) -> SchemaMapping:
    """A mapping from the request, or a 400 naming each wrong key. The mapping is first checked as
    sent: what Firestore could not store, and what validation would change on the way (a lone
    surrogate in a key becomes U+FFFD), is refused, never stored changed."""
    _check_storable(data, field_prefix)
    try:
        return load_mapping(data)
    except ValidationError as exc:
        raise _invalid_mapping(_mapping_errors(exc, field_prefix)) from None
    except ValueError as exc:  # a mapping check outside pydantic's (the v2 language may raise these)
        raise _invalid_mapping([field_error(field_prefix, str(exc))]) from None


def _mapping_errors(exc: ValidationError, prefix: str | None) -> list[FieldError]:
    """`{index, field, message}` per problem of `mapping_problems` ("key: what is wrong"), the key as `field`."""
    messages = mapping_problems(exc)
    locations = [".".join(str(p) for p in e["loc"]) for e in exc.errors(include_url=False)]
    if len(locations) != len(messages):  # one message per error is expected; if not, the messages alone
        locations = [""] * len(messages)
    return [
        field_error(
            ".".join(p for p in (prefix, loc) if p) or prefix,
            message.removeprefix(f"{loc}: ") if loc else message,
        )
        for loc, message in zip(locations, messages, strict=True)
    ]


def _check_storable(data: dict[str, Any], prefix: str | None) -> None:
    if found := firestore.unstorable(data, ""):
        raise _unstorable(found, prefix)


def _unstorable(found: tuple[str, str], prefix: str | None = None) -> Problem:
    where, why = found
    field = ".".join(p for p in (prefix, where) if p) or None
    said = f"{field or 'the mapping'} {why}"
    return validation_failed(f"The mapping cannot be stored as sent: {said}.", [field_error(field, said)])


def _invalid_mapping(errors: list[FieldError]) -> Problem:
    return invalid("The mapping", errors)
