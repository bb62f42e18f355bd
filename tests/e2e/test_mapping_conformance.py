"""Schemathesis against the local stack, aimed at what a tenant stores: schema mapping bodies (register
and preview) and ingest metadata. No generated body gets a server error; every refusal is problem+json.

infra/openapi.yaml declares a mapping as an open object and metadata as any object, so generation from
it alone almost never gets past validation to what is stored. This run generates from a copy whose
SchemaMapping is mostly valid mappings with any JSON where a tenant may put anything (constants, where
values, zone keys), and whose metadata has a `timezone` of any type; the requests still satisfy the
real document. Examples are few per operation (about half a minute with the stack's start);
SCHEMATHESIS_EXAMPLES=300 digs deeper.
"""

from __future__ import annotations

import os

import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from local.gateway import OPENAPI

EXAMPLES_PER_OPERATION = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
OPERATIONS = ["registerSchema", "previewMapping", "previewSchema", "startIngest", "startCanonicalIngest"]

ANY: dict = {}  # any JSON value: nested arrays, big integers, deep objects, odd keys
ZONES = ["UTC", "Europe/Paris", "America/Toronto", "screen", "right/UTC", "posixrules", "Mars/Olympus"]
TARGETS = [
    "screenId",
    "siteId",
    "campaignId",
    "creativeId",
    "playedAt",
    "durationMs",
    "context.a",
    "device.b",
]
# Mostly valid mappings (only the language's keys, values of the right shape), so that most get past
# validation to what is stored; the values a tenant chooses freely (constants, where values, zone keys)
# are any JSON at all.
MAPPING = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "fields": {
            "type": "object",
            "maxProperties": 3,
            "propertyNames": {"pattern": "^[a-z_]{1,8}$"},
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "enum": TARGETS},
                    {
                        "type": "object",
                        "required": ["to"],
                        "additionalProperties": False,
                        "properties": {
                            "to": {"type": "string", "enum": TARGETS},
                            "null_values": {"type": "array", "items": {"type": "string"}},
                            "fallback": {
                                "type": "array",
                                "items": {"type": "string", "pattern": "^[a-z]{1,5}$"},
                            },
                        },
                    },
                ]
            },
        },
        "constants": {
            "type": "object",
            "maxProperties": 3,
            "propertyNames": {"pattern": "^(context|device)\\.[a-z]{1,4}$"},
            "additionalProperties": ANY,
        },
        "timezone": {"anyOf": [{"type": "string", "enum": ZONES}, ANY]},
        "timezone_lookup": {
            "type": "object",
            "required": ["field", "zones"],
            "additionalProperties": False,
            "properties": {
                "field": {"type": "string", "enum": ["player", "site"]},
                "zones": {
                    "type": "object",
                    "propertyNames": {"pattern": "^[0-9a-z_]{0,6}$"},
                    "additionalProperties": {"type": "string", "enum": ZONES},
                },
            },
        },
        "null_values": {"type": "array", "items": {"type": "string"}},
        "where": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "required": ["field", "equals"],
                "additionalProperties": False,
                "properties": {"field": {"type": "string", "enum": ["kind", "site"]}, "equals": ANY},
            },
        },
        "unmapped": {"type": "string", "enum": ["context", "reject"]},
    },
}
METADATA = {
    "type": "object",
    "x-nullable": True,
    "properties": {"timezone": ANY},
    "additionalProperties": ANY,
}


def _generation_document() -> dict:
    document = yaml.safe_load(OPENAPI.read_text())
    definitions = document["definitions"]
    definitions["SchemaMapping"] = MAPPING
    for name in ("IngestRequest", "CanonicalIngestRequest", "PreviewRequest", "MappingPreviewRequest"):
        definitions[name]["properties"]["metadata"] = METADATA
    for parameter in document["paths"]["/coatro/v1/pop/dynamic/schemas/{version}"]["put"]["parameters"]:
        if parameter.get("name") == "version":  # mostly names a version can have, so the body is read
            parameter["pattern"] = "^[A-Za-z0-9._-]{1,32}$"
    return document


schema = schemathesis.openapi.from_dict(_generation_document()).include(operation_id=OPERATIONS)


def assert_refusal_is_a_problem(response) -> None:
    if 400 <= response.status_code < 500:
        values = {k.lower(): v for k, v in response.headers.items()}.get("content-type") or [""]
        media_type = values[0] if isinstance(values, list) else values
        assert media_type.startswith("application/problem+json"), f"{response.status_code} as {media_type!r}"


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_mapping_or_metadata_gets_a_server_error(case, stack, tenant):
    response = case.call(base_url=stack.gateway_url, headers={"X-API-Key": tenant[1]}, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
    assert_refusal_is_a_problem(response)
