"""infra/openapi.yaml stays valid Swagger 2.0 (all API Gateway accepts) and describes every body."""

from __future__ import annotations

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def _resolve(spec, node):
    while "$ref" in node:
        _, section, name = node["$ref"].split("/")
        node = spec[section][name]
    return node


def test_the_document_is_valid_swagger_2(openapi):
    assert openapi["swagger"] == "2.0"
    validate(openapi, cls=OpenAPIV2SpecValidator)


def test_every_operation_describes_its_bodies_and_errors(openapi):
    assert set(openapi["produces"]) == {"application/json", "application/problem+json"}
    problems = []
    for name, operation in _operations(openapi):
        if "x-google-backend" not in operation:
            problems.append(f"{name}: no x-google-backend")
        parameters = [_resolve(openapi, p) for p in operation.get("parameters", [])]
        if name.startswith("POST") and not any(
            (p["in"] == "body" and "schema" in p) or p["in"] == "formData" for p in parameters
        ):
            problems.append(f"{name}: no request body schema (a body parameter, or formData parameters)")
        for status, response in operation["responses"].items():
            response = _resolve(openapi, response)
            if "schema" not in response:
                problems.append(f"{name} {status}: no response schema")
            elif status.startswith(("4", "5")) and response["schema"] != {"$ref": "#/definitions/Problem"}:
                problems.append(f"{name} {status}: errors are Problems")
    assert problems == []
