"""infra/openapi.yaml stays valid Swagger 2.0 (all API Gateway accepts) and describes every body."""

from __future__ import annotations

import copy

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


def _error_body(operation) -> str:
    # The OAuth2 token endpoint answers as RFC 6749 section 5.2 says, which OAuth2 client libraries parse.
    return (
        "#/definitions/OAuthError"
        if operation.get("operationId") == "issueToken"
        else "#/definitions/Problem"
    )


def test_the_document_is_valid_swagger_2(openapi):
    assert openapi["swagger"] == "2.0"
    # One known deviation, as Google documents it: a JWT security definition's authorizationUrl is ""
    # (https://cloud.google.com/api-gateway/docs/authenticating-users-jwt), where Swagger 2.0 wants a URI.
    spec = copy.deepcopy(openapi)
    for definition in spec.get("securityDefinitions", {}).values():
        if definition.get("authorizationUrl") == "" and "x-google-issuer" in definition:
            definition["authorizationUrl"] = "https://unused.invalid/"
    validate(spec, cls=OpenAPIV2SpecValidator)


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
            elif status.startswith(("4", "5")) and response["schema"] != {"$ref": _error_body(operation)}:
                problems.append(f"{name} {status}: errors are {_error_body(operation)}")
    assert problems == []
