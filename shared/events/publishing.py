"""Publishing accepted events to `pop-events`: one message per event, all confirmed or an error.

The message data is the canonical event as JSON (UTC timestamps, no nulls) followed by where it
came from: `tenantId`, `source`, `ingestedAt`, and for bulk `jobId` and `row` — the fields of
`PopEventMessage`, in its order. It is written by splicing those few fields onto the event's own
JSON rather than building a second model per event: this is the hot path of both functions.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterator, Literal

from shared.events.models import PopEvent
from shared.platform.encoding import utc_now
from shared.platform.pubsub import publish_and_wait
from shared.platform.settings import get_settings

Source = Literal["api", "bulk"]


def derived_event_id(tenant_id: str, event: PopEvent) -> str:
    """A deterministic id for an event sent without one: the same event retried gets the same id."""
    content = json.dumps(event.model_dump(exclude_none=True), sort_keys=True, separators=(",", ":"))
    return "evt-" + hashlib.sha256(f"{tenant_id}\n{content}".encode()).hexdigest()[:32]


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def messages(
    tenant_id: str,
    events: list[PopEvent],
    source: Source,
    ingested_at: str,
    job_id: str | None = None,
    rows: list[int] | None = None,
) -> Iterator[tuple[bytes, dict[str, str]]]:
    """(data, attributes) of the `pop-events` message of each event."""
    origin = f',"tenantId":{_text(tenant_id)},"source":"{source}","ingestedAt":"{ingested_at}"'
    if job_id is not None:
        origin += f',"jobId":{_text(job_id)}'
    for i, event in enumerate(events):
        body = event.model_dump_json(exclude_none=True)
        event_id = event.eventId
        if event_id is None:  # eventId is the first field of the event, as in PopEventMessage
            event_id = derived_event_id(tenant_id, event)
            body = '{"eventId":' + _text(event_id) + ("," + body[1:] if body != "{}" else "}")
        tail = origin if rows is None else f'{origin},"row":{rows[i]}'
        yield (body[:-1] + tail + "}").encode(), {"tenantId": tenant_id, "eventId": event_id, "source": source}


def publish_events(
    tenant_id: str,
    events: list[PopEvent],
    source: Source,
    job_id: str | None = None,
    rows: list[int] | None = None,
) -> int:
    """Publish canonical events for a tenant and wait until every one is confirmed (PublishFailed if not)."""
    return publish_and_wait(get_settings().events_topic, messages(tenant_id, events, source, utc_now(), job_id, rows))
