"""What a webhook delivers: one event of a tenant, as it travels on the `pop-webhook-events` topic.

Plain records (no behaviour). Whoever notices something (a bulk job ending, a report drop written, a
booking's pacing, a screen gone dark) publishes a `WebhookEvent` with `shared.storage.notices`;
`shared.notify` delivers it to every endpoint of the tenant that subscribed to its type.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

WebhookEventType = Literal[
    "job.completed",
    "job.partially_completed",
    "job.failed",
    "report.ready",
    "booking.underdelivering",
    "screen.dark",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = WebhookEventType.__args__  # type: ignore[attr-defined]


class WebhookEvent(BaseModel):
    """One event. `id` is chosen by the publisher from what happened, never at random
    (a job J's final state, `job.completed` or another, is `evt_job_J`: a job ends once), so a publisher that runs twice publishes the
    same id and a receiver deduplicates on the `webhook-id` header it becomes. `timestamp` is when it
    happened (ISO 8601, UTC); `data` is the event's own body (Standard Webhooks' `data`)."""

    id: str = Field(min_length=1, max_length=200)
    type: WebhookEventType
    tenantId: str
    timestamp: str
    data: dict[str, Any]


class WebhookSecret(BaseModel):
    """One signing secret of an endpoint (`whsec_<base64>`). Kept as-is, not hashed: the sender must
    compute HMACs with it (docs/webhooks.md, "Secrets"). `expiresAt` (ISO 8601) is set on the old
    secret when a rotation starts its overlap; deliveries are signed with every unexpired secret."""

    secret: str
    createdAt: str
    expiresAt: str | None = None


class WebhookEndpointRecord(BaseModel):
    """`webhooks/{tenantId}:{webhookId}`: where a tenant wants which events delivered."""

    tenantId: str
    webhookId: str
    url: str
    events: list[str]
    description: str | None = None
    secrets: list[WebhookSecret]
    createdAt: str
    updatedAt: str


DeliveryState = Literal["pending", "succeeded", "failed"]


class DeliveryAttempt(BaseModel):
    """One POST of a delivery: when, what came back (`statusCode`, or `error` when no answer did), how long."""

    at: str
    statusCode: int | None = None
    error: str | None = None
    latencyMs: int


class DeliveryRecord(BaseModel):
    """`webhooks/{tenantId}:{webhookId}/webhookDeliveries/{deliveryId}`: one event for one endpoint,
    created once (its id is derived from the event), attempted until it succeeds or its retry schedule
    runs out (`failed`: the dead letter, kept and listed). `body` is the exact bytes signed and sent
    (the same on every attempt); `nextAttemptAt` is set only while pending (the tick's query)."""

    deliveryId: str
    tenantId: str
    webhookId: str
    eventId: str
    eventType: str
    body: str
    state: DeliveryState = "pending"
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    createdAt: str
    nextAttemptAt: Any = None  # a datetime while pending, None once it succeeded or failed
    finishedAt: str | None = None
    failureReason: str | None = None
    expireAt: Any = None  # Firestore TTL (a datetime)
