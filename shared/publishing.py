"""Publishing accepted events to `pop-events`: one message per event, all confirmed or an error."""

from __future__ import annotations

import hashlib
import json
from concurrent import futures
from typing import Iterable, Literal

from shared import clients, logs
from shared.models import PopEvent, PopEventMessage, utc_now
from shared.settings import get_settings


class PublishFailed(Exception):
    """Some messages were not confirmed; the caller must not claim the events were accepted."""


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


def publish_and_wait(topic: str, items: Iterable[tuple[bytes, dict[str, str]]]) -> int:
    """Publish (data, attributes) items to a topic; return once every one is confirmed, else raise PublishFailed."""
    settings = get_settings()
    client = clients.publisher()
    path = clients.topic_path(topic)
    pending = [client.publish(path, data, **attributes) for data, attributes in items]
    done, not_done = futures.wait(pending, timeout=settings.publish_timeout_seconds)
    failed = len(not_done) + sum(1 for f in done if f.exception() is not None)
    if failed:
        first = next((f.exception() for f in done if f.exception() is not None), "timed out")
        logs.error("publish failed", topic=path, failed=failed, total=len(pending), cause=str(first))
        raise PublishFailed(f"{failed} of {len(pending)} messages were not confirmed")
    return len(pending)


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
