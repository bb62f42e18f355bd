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

from pydantic_core import PydanticSerializationError

from shared.events.models import PopEvent
from shared.platform.pubsub import MAX_REQUEST_BYTES, publish_and_wait
from shared.platform.settings import get_settings

Source = Literal["api", "bulk"]
MAX_MESSAGE_BYTES = MAX_REQUEST_BYTES - 64 * 1024  # one message must fit in one publish request


def derived_event_id(tenant_id: str, event: PopEvent) -> str:
    """A deterministic id for an event sent without one: the same event retried gets the same id."""
    content = json.dumps(event.model_dump(exclude_none=True), sort_keys=True, separators=(",", ":"))
    return "evt-" + hashlib.sha256(f"{tenant_id}\n{content}".encode()).hexdigest()[:32]


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


class Unpublishable(ValueError):
    """An event that passed validation but cannot become a message (say a lone surrogate in
    `context`, or nesting too deep to serialize, or a message over Pub/Sub's size limit)."""

    def __init__(self, reason: str, too_large: bool = False, index: int | None = None):
        super().__init__(reason)
        self.too_large, self.index = too_large, index


def encode(tenant_id: str, event: PopEvent, source: Source, ingested_at: str,
           job_id: str | None = None, row: int | None = None) -> tuple[bytes, dict[str, str]]:
    """(data, attributes) of the `pop-events` message of one event, or Unpublishable."""
    origin = f',"tenantId":{_text(tenant_id)},"source":"{source}","ingestedAt":"{ingested_at}"'
    if job_id is not None:
        origin += f',"jobId":{_text(job_id)}'
    return _encode(tenant_id, event, source, origin if row is None else f'{origin},"row":{row}')


def _encode(tenant_id: str, event: PopEvent, source: Source, tail: str) -> tuple[bytes, dict[str, str]]:
    try:
        body = event.model_dump_json(exclude_none=True)
    except PydanticSerializationError as exc:
        raise Unpublishable(f"the event cannot be stored as JSON: {str(exc).removeprefix('Error serializing to JSON: ')}") from None
    event_id = event.eventId
    if event_id is None:  # eventId is the first field of the event, as in PopEventMessage
        event_id = derived_event_id(tenant_id, event)
        body = '{"eventId":' + _text(event_id) + ("," + body[1:] if body != "{}" else "}")
    data = (body[:-1] + tail + "}").encode()
    if len(data) > MAX_MESSAGE_BYTES:
        raise Unpublishable(f"its message would be {len(data)} bytes; Pub/Sub takes at most {MAX_MESSAGE_BYTES}", too_large=True)
    return data, {"tenantId": tenant_id, "eventId": event_id, "source": source}


def messages(
    tenant_id: str,
    events: list[PopEvent],
    source: Source,
    ingested_at: str,
    job_id: str | None = None,
    rows: list[int] | None = None,
) -> Iterator[tuple[bytes, dict[str, str]]]:
    """(data, attributes) of the `pop-events` message of each event; Unpublishable names the index."""
    for i, event in enumerate(events):
        try:
            yield encode(tenant_id, event, source, ingested_at, job_id, None if rows is None else rows[i])
        except Unpublishable as exc:
            exc.index = i
            raise


def publish(items: list[tuple[bytes, dict[str, str]]]) -> int:
    """Publish encoded messages to pop-events and wait until every one is confirmed (PublishFailed if not)."""
    return publish_and_wait(get_settings().events_topic, items)
