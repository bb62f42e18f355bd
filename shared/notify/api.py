"""Webhook endpoints over the API, tenant-scoped (docs/webhooks.md):

    PUT    /coatro/v1/pop/webhooks/{webhookId}                 create (201, with its secret) or replace (200)
    GET    /coatro/v1/pop/webhooks/{webhookId}                 one endpoint (never its secret)
    DELETE /coatro/v1/pop/webhooks/{webhookId}                 delete (200, the endpoint as it was)
    GET    /coatro/v1/pop/webhooks                             the tenant's endpoints, a page at a time
    POST   /coatro/v1/pop/webhooks/{webhookId}/rotate-secret   a new secret (shown once); the old one
                                                               keeps signing for the overlap
    GET    /coatro/v1/pop/webhooks/{webhookId}/deliveries      deliveries with their attempts, newest first

Another tenant's endpoint is answered exactly as an unknown one (404). Writing needs `webhooks:write`,
reading `webhooks:read` (an API key holds both).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Request, Response
from pydantic import BaseModel

from shared.auth import callers
from shared.notify import addresses, delivery, signing
from shared.platform import pages
from shared.platform.encoding import utc_now
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
from shared.records.notify import WEBHOOK_EVENT_TYPES, DeliveryRecord, WebhookEndpointRecord, WebhookSecret
from shared.storage import notify as store

BASE = "/coatro/v1/pop/webhooks"
MAX_BODY_BYTES = 16 * 1024
MAX_DESCRIPTION = 500
MAX_OVERLAP_SECONDS = 7 * 86_400
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
PAGE_PARAMETERS = ("pageSize", "pageToken")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PATH = re.compile(r"^(?:/(?P<id>[^/]+)(?:/(?P<sub>rotate-secret|deliveries))?)?/?$")
_DELIVERY_ID = re.compile(r"[0-9]{18}-[0-9a-f]{24}")


class EndpointList(BaseModel):
    webhooks: list[dict[str, Any]]
    nextPageToken: str | None


class DeliveryList(BaseModel):
    webhookId: str
    deliveries: list[dict[str, Any]]
    nextPageToken: str | None


def handle(request: Request) -> Response:
    """Route a request under BASE to its operation."""
    match = _PATH.match(request.path.removeprefix(BASE)) if request.path.startswith(BASE) else None
    if match is None:
        raise not_found(f"No API path {request.path}.")
    webhook_id, sub = match["id"], match["sub"]
    if webhook_id is None:
        operations = {"GET": lambda: list_endpoints(request)}
    elif sub == "rotate-secret":
        operations = {"POST": lambda: rotate_secret(request, webhook_id)}
    elif sub == "deliveries":
        operations = {"GET": lambda: list_deliveries(request, webhook_id)}
    else:
        operations = {
            "GET": lambda: get_endpoint(request, webhook_id),
            "PUT": lambda: put_endpoint(request, webhook_id),
            "DELETE": lambda: delete_endpoint(request, webhook_id),
        }
    if request.method not in operations:
        raise method_not_allowed(list(operations))
    return operations[request.method]()


def document(record: WebhookEndpointRecord) -> dict[str, Any]:
    """An endpoint as the API shows it: never a secret."""
    current = record.secrets[-1]
    return {
        "webhookId": record.webhookId,
        "url": record.url,
        "events": record.events,
        "description": record.description,
        "createdAt": record.createdAt,
        "updatedAt": record.updatedAt,
        "secretCreatedAt": current.createdAt,
        "secretsInOverlap": len(delivery.active_secrets(record, datetime.now(UTC))) - 1,
    }


def delivery_document(record: DeliveryRecord) -> dict[str, Any]:
    next_at = record.nextAttemptAt
    return {
        "deliveryId": record.deliveryId,
        "eventId": record.eventId,
        "eventType": record.eventType,
        "state": record.state,
        "createdAt": record.createdAt,
        "nextAttemptAt": next_at.astimezone(UTC).isoformat().replace("+00:00", "Z") if next_at else None,
        "finishedAt": record.finishedAt,
        "failureReason": record.failureReason,
        "attempts": [a.model_dump() for a in record.attempts],
    }


def parse_endpoint(
    body: Any, allow_loopback: bool, resolver: addresses.Resolver | None = None
) -> tuple[str, list[str], str | None] | list[FieldError]:
    """(url, events, description) of a PUT body, or every error found, each naming its field."""
    if not isinstance(body, dict):
        return [field_error(None, "the body is a JSON object with url, events and an optional description")]
    errors: list[FieldError] = []
    for name in sorted(set(body) - {"url", "events", "description", "webhookId"}):
        errors.append(field_error(name, "unknown field; an endpoint has url, events and description"))
    url, events, description = body.get("url"), body.get("events"), body.get("description")
    if not isinstance(url, str) or not url:
        errors.append(field_error("url", "url is required: the https:// URL that receives the events"))
    else:
        try:
            addresses.check(url, allow_loopback, resolver)
        except addresses.Refused as exc:
            errors.append(field_error("url", str(exc)))
    if not isinstance(events, list) or not events:
        errors.append(
            field_error("events", f"events is a non-empty list of {', '.join(WEBHOOK_EVENT_TYPES)}")
        )
        events = []
    else:
        for index, item in enumerate(events):
            if item not in WEBHOOK_EVENT_TYPES:
                errors.append(
                    field_error(
                        f"events[{index}]",
                        f"{str(item)[:60]!r} is not an event type; use {', '.join(WEBHOOK_EVENT_TYPES)}",
                    )
                )
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        errors.append(
            field_error("description", f"description is a string of at most {MAX_DESCRIPTION} characters")
        )
    if errors:
        return errors
    assert isinstance(url, str)
    return url, sorted(set(events), key=WEBHOOK_EVENT_TYPES.index), description


def put_endpoint(request: Request, webhook_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.WEBHOOKS_WRITE)
    _check_id(webhook_id)
    body = read_json_document(request, MAX_BODY_BYTES)
    if isinstance(body, dict) and body.get("webhookId", webhook_id) != webhook_id:
        raise invalid("The webhook", [field_error("webhookId", "webhookId differs from the path's")])
    parsed = parse_endpoint(body, get_settings().webhooks_allow_loopback)
    if isinstance(parsed, list):
        raise invalid("The webhook", parsed)
    url, events, description = parsed
    now = utc_now()
    existing = store.get_endpoint(tenant_id, webhook_id)
    if existing is None and store.count_endpoints(tenant_id) >= delivery.MAX_ENDPOINTS_PER_TENANT:
        raise validation_failed(
            f"A tenant has at most {delivery.MAX_ENDPOINTS_PER_TENANT} webhook endpoints; delete one first.",
            [field_error("webhookId", f"at most {delivery.MAX_ENDPOINTS_PER_TENANT} endpoints per tenant")],
        )
    secret = signing.new_secret()

    def change(current: WebhookEndpointRecord | None) -> WebhookEndpointRecord | None:
        if current is None:
            return WebhookEndpointRecord(
                tenantId=tenant_id,
                webhookId=webhook_id,
                url=url,
                events=events,
                description=description,
                secrets=[WebhookSecret(secret=secret, createdAt=now)],
                createdAt=now,
                updatedAt=now,
            )
        if (current.url, current.events, current.description) == (url, events, description):
            return None
        return current.model_copy(
            update={"url": url, "events": events, "description": description, "updatedAt": now}
        )

    before, written = store.change_endpoint(tenant_id, webhook_id, change)
    if before is None:
        assert written is not None
        return json_response(
            201, {**document(written), "secret": secret}, headers={"Location": f"{BASE}/{webhook_id}"}
        )
    return json_response(200, document(written or before))


def get_endpoint(request: Request, webhook_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.WEBHOOKS_READ)
    return json_response(200, document(_current(tenant_id, webhook_id)))


def delete_endpoint(request: Request, webhook_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.WEBHOOKS_WRITE)
    record = _current(tenant_id, webhook_id)
    store.delete_endpoint(tenant_id, webhook_id)
    return json_response(200, document(record))


def rotate_secret(request: Request, webhook_id: str) -> Response:
    """A new secret; the current one keeps signing for `overlapSeconds` (default the setting, at most 7 days)."""
    tenant_id = callers.tenant_for(request, callers.WEBHOOKS_WRITE)
    body = read_json_document(request, MAX_BODY_BYTES) if request.content_length else {}
    overlap = get_settings().webhook_secret_overlap_seconds
    if not isinstance(body, dict) or set(body) - {"overlapSeconds"}:
        raise invalid("The rotation", [field_error(None, 'the body is empty or {"overlapSeconds": n}')])
    if "overlapSeconds" in body:
        given = body["overlapSeconds"]
        if not isinstance(given, int) or isinstance(given, bool) or not 0 <= given <= MAX_OVERLAP_SECONDS:
            raise invalid(
                "The rotation",
                [
                    field_error(
                        "overlapSeconds", f"overlapSeconds is an integer from 0 to {MAX_OVERLAP_SECONDS}"
                    )
                ],
            )
        overlap = given
    _current(tenant_id, webhook_id)
    now = datetime.now(UTC)
    stamp = now.isoformat().replace("+00:00", "Z")
    ends = (now + timedelta(seconds=overlap)).isoformat().replace("+00:00", "Z")
    secret = signing.new_secret()

    def change(current: WebhookEndpointRecord | None) -> WebhookEndpointRecord | None:
        if current is None:
            return None
        kept = [
            s.model_copy(update={"expiresAt": min(s.expiresAt or ends, ends)})
            for s in current.secrets
            if s.secret in delivery.active_secrets(current, now)
        ]
        if overlap == 0:
            kept = []
        return current.model_copy(
            update={"secrets": [*kept, WebhookSecret(secret=secret, createdAt=stamp)], "updatedAt": stamp}
        )

    _, written = store.change_endpoint(tenant_id, webhook_id, change)
    if written is None:
        raise _unknown(webhook_id)
    return json_response(
        200, {**document(written), "secret": secret, "previousSecretExpiresAt": ends if overlap else None}
    )


def list_endpoints(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.WEBHOOKS_READ)
    size, after = _page(request, _ID)
    page = store.list_endpoints(tenant_id, after, size + 1)
    token = pages.token_for(page[size - 1].webhookId) if len(page) > size else None
    return json_response(200, EndpointList(webhooks=[document(r) for r in page[:size]], nextPageToken=token))


def list_deliveries(request: Request, webhook_id: str) -> Response:
    tenant_id = callers.tenant_for(request, callers.WEBHOOKS_READ)
    size, after = _page(request, _DELIVERY_ID)
    _current(tenant_id, webhook_id)
    page = store.list_deliveries(tenant_id, webhook_id, after, size + 1)
    token = pages.token_for(page[size - 1].deliveryId) if len(page) > size else None
    return json_response(
        200,
        DeliveryList(
            webhookId=webhook_id, deliveries=[delivery_document(r) for r in page[:size]], nextPageToken=token
        ),
    )


def _check_id(webhook_id: str) -> None:
    if not _ID.fullmatch(webhook_id):
        raise validation_failed(
            "The webhookId is invalid.",
            [field_error("webhookId", "a webhookId is 1 to 64 letters, digits, '_' or '-'")],
        )


def _current(tenant_id: str, webhook_id: str) -> WebhookEndpointRecord:
    record = store.get_endpoint(tenant_id, webhook_id) if _ID.fullmatch(webhook_id) else None
    if record is None:  # the same answer for another tenant's endpoint
        raise _unknown(webhook_id)
    return record


def _unknown(webhook_id: str) -> Problem:
    return not_found(f"No webhook {webhook_id[:64]!r} exists for this API key; see GET {BASE}.")


def _page(request: Request, position: re.Pattern[str]) -> tuple[int, str | None]:
    errors: list[FieldError] = []
    unknown = sorted(
        k for k in request.args if k not in PAGE_PARAMETERS and k not in callers.CREDENTIAL_PARAMETERS
    )
    for name in unknown:
        errors.append(field_error(name, f"unknown parameter; use {', '.join(PAGE_PARAMETERS)}"))
    size = pages.page_size(request.args.get("pageSize"), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if size is None:
        errors.append(field_error("pageSize", f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}"))
    token = request.args.get("pageToken")
    after = pages.position_of(token) if token else None
    if token and (after is None or not position.fullmatch(after)):
        errors.append(field_error("pageToken", "pageToken is not one this API returned"))
    if errors:
        raise validation_failed("The query is invalid: " + "; ".join(e["message"] for e in errors), errors)
    return size or DEFAULT_PAGE_SIZE, after
