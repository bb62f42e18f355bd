"""RFC 9457 problem details: every error an HTTP function returns is one of these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

PROBLEM_BASE = "https://coatro.dev/problems/"


class FieldError(TypedDict):
    """One item of a problem's `errors`: which event of a batch (`index`, else None), which field (a dotted
    path or a query parameter; None: the body as a whole) and what is wrong with it."""

    index: int | None
    field: str | None
    message: str


def field_error(field: str | None, message: str, index: int | None = None) -> FieldError:
    """The one way to write an `errors` item (its keys in this order: response bodies depend on it)."""
    return {"index": index, "field": field, "message": message}


@dataclass
class Problem(Exception):
    status: int
    slug: str
    title: str
    detail: str
    errors: Sequence[FieldError] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            doc["errors"] = list(self.errors)
        return doc


def unauthorized() -> Problem:
    # One body for missing, unknown and revoked keys: the answer never says which. The challenge names
    # the other way in (RFC 6750 §3: no error code when the request carried no token).
    return Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "A valid X-API-Key header or Bearer access token is required.",
        headers={"WWW-Authenticate": 'Bearer realm="coatro"'},
    )


def invalid_token(detail: str) -> Problem:
    """RFC 6750 §3.1 invalid_token: the access token is expired, malformed or otherwise not valid."""
    return Problem(
        401,
        "invalid-token",
        "Unauthorized",
        detail,
        headers={
            "WWW-Authenticate": f'Bearer realm="coatro", error="invalid_token", error_description="{detail}"'
        },
    )


def insufficient_scope(scope: str) -> Problem:
    """RFC 6750 §3.1 insufficient_scope: a valid token that does not hold the scope this endpoint needs."""
    detail = f"This endpoint needs the scope {scope}; the access token does not hold it."
    return Problem(
        403,
        "insufficient-scope",
        "Forbidden",
        detail,
        headers={"WWW-Authenticate": f'Bearer realm="coatro", error="insufficient_scope", scope="{scope}"'},
    )


def method_not_allowed(allowed: list[str]) -> Problem:
    return Problem(
        405,
        "method-not-allowed",
        "Method not allowed",
        f"This endpoint accepts {', '.join(allowed)}.",
        headers={"Allow": ", ".join(allowed)},
    )


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", "Not found", detail)


def bad_request(
    detail: str, errors: Sequence[FieldError] | None = None, slug: str = "bad-request"
) -> Problem:
    return Problem(400, slug, "Bad request", detail, errors)


def validation_failed(detail: str, errors: Sequence[FieldError]) -> Problem:
    return Problem(400, "validation-failed", "Validation failed", detail, errors)


def invalid(what: str, errors: Sequence[FieldError]) -> Problem:
    """A 400 for a body with errors: the detail says the first five ("The mapping is invalid: a: ...; b: ...")."""
    said = [f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors]
    return validation_failed(
        f"{what} is invalid: " + "; ".join(said[:5]) + ("; ..." if len(said) > 5 else ""), errors
    )


def too_large(detail: str) -> Problem:
    return Problem(413, "payload-too-large", "Payload too large", detail)


def unsupported_media_type(detail: str) -> Problem:
    return Problem(415, "unsupported-media-type", "Unsupported media type", detail)


def unavailable(detail: str, retry_after: int) -> Problem:
    return Problem(
        503, "unavailable", "Service unavailable", detail, headers={"Retry-After": str(retry_after)}
    )
