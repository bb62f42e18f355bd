"""Publishing accepted events to `pop-events`: one message per event, all confirmed or an error."""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Literal

from shared.events.models import PopEvent, PopEventMessage
from shared.platform.encoding import utc_now
from shared.platform.pubsub import publish_and_wait
from shared.platform.settings import get_settings


def derived_event_id(tenant_id: str, event: PopEvent) -> str:
    """A deterministic id for an event sent without one: the same event retried gets the same id."""
    content = json.dumps(event.model_dump(exclude_none=True), sort_keys=True, separators=(",", ":"))
    return "evt-" + hashlib.sha256(f"{tenant_id}\n{content}".encode()).hexdigest()[:32]


def to_message(
    tenant_id: str,
    event: PopEvent,
    source: Literal["api", "bulk"],
    ingested_at: str,
    job_id: str | None = None,
    row: int | None = None,
) -> PopEventMessage:
    # The event is already validated: construct, don't validate again (this is the hot path).
    return PopEventMessage.model_construct(
        **{name: getattr(event, name) for name in PopEvent.model_fields if name != "eventId"},
        eventId=event.eventId or derived_event_id(tenant_id, event),
        tenantId=tenant_id,
        source=source,
        ingestedAt=ingested_at,
        jobId=job_id,
        row=row,
    )


def publish(messages: Iterable[PopEventMessage]) -> int:
    """Publish events to pop-events and wait until Pub/Sub has confirmed each; raise PublishFailed otherwise."""
    return publish_and_wait(
        get_settings().events_topic,
        (
            (m.model_dump_json(exclude_none=True).encode(), {"tenantId": m.tenantId, "eventId": m.eventId, "source": m.source})
            for m in messages
        ),
    )


def publish_events(
    tenant_id: str,
    events: list[PopEvent],
    source: Literal["api", "bulk"],
    job_id: str | None = None,
    rows: list[int] | None = None,
) -> list[str]:
    """Publish canonical events for a tenant; returns their eventIds in order."""
    now = utc_now()
    messages = [
        to_message(tenant_id, e, source, now, job_id, rows[i] if rows else None) for i, e in enumerate(events)
    ]
    publish(messages)
    return [m.eventId for m in messages]
