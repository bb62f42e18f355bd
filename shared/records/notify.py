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
    (`job.completed` of job J is `evt_job_J_completed`), so a publisher that runs twice publishes the
    same id and a receiver deduplicates on the `webhook-id` header it becomes. `timestamp` is when it
    happened (ISO 8601, UTC); `data` is the event's own body (Standard Webhooks' `data`)."""

    id: str = Field(min_length=1, max_length=200)
    type: WebhookEventType
    tenantId: str
    timestamp: str
    data: dict[str, Any]
