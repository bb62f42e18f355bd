"""Publishing accepted events to `pop-events`: one message per event, all confirmed or an error.

The message data is the canonical event as JSON (UTC timestamps, no nulls) followed by where it
came from: `tenantId`, `source`, `ingestedAt`, and for bulk `jobId` and `row` — the fields of
`PopEventMessage`, in its order. It is written by splicing those few fields onto the event's own
JSON rather than building a second model per event: this is the hot path of both functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic_core import PydanticSerializationError

from shared.canonical.event import PopEvent
from shared.platform.encoding import STRICT_JSON
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


def _check_kept_exactly(event: PopEvent, body: str) -> None:
    """Unpublishable if the JSON written differs from what was sent: a number beyond a double's range
    (1e400 would become Infinity, which JSON cannot hold) or a lone surrogate in a key of `context` or
    `device` (it would become U+FFFD). The strings "Infinity" and U+FFFD themselves are fine."""
    try:
        STRICT_JSON.decode(body)
    except ValueError:
        raise Unpublishable(
            "a number is beyond the range JSON numbers can be stored in (e.g. 1e400)"
        ) from None
    for name in ("context", "device"):
        if (path := _surrogate_key(getattr(event, name))) is not None:
            raise Unpublishable(f"{name}.{path}: a key holds a lone UTF-16 surrogate, which is not text")


def _surrogate_key(value: Any) -> str | None:
    """The path of the first key holding a lone surrogate, or None."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        if isinstance(key, str) and not key.isascii():
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                return ascii(key)
        if (inner := _surrogate_key(child)) is not None:
            return f"{key}.{inner}"
    return None


class MessageEncoder:
    """Writes the `pop-events` messages of one tenant's events from one source and moment (one
    request, or one chunk): the provenance fields are written once here, not once per event."""

    def __init__(self, tenant_id: str, source: Source, ingested_at: str, job_id: str | None = None):
        self.tenant_id, self.source = tenant_id, source
        self._origin = f',"tenantId":{_text(tenant_id)},"source":"{source}","ingestedAt":"{ingested_at}"'
        if job_id is not None:
            self._origin += f',"jobId":{_text(job_id)}'

    def encode(self, event: PopEvent, row: int | None = None) -> tuple[bytes, dict[str, str]]:
        """(data, attributes) of one event's message, or Unpublishable."""
        try:
            body = event.model_dump_json(exclude_none=True)
        except PydanticSerializationError as exc:
            reason = str(exc).removeprefix("Error serializing to JSON: ")
            if "surrogates not allowed" in reason:
                reason = "a string or key holds a lone UTF-16 surrogate, which is not text"
            elif "serialization depth" in reason:
                reason = "context or device nests objects and arrays too deeply to store"
            raise Unpublishable(f"the event cannot be stored as JSON: {reason}") from None
        if "Infinity" in body or "NaN" in body or "\ufffd" in body:  # rare: look closer
            _check_kept_exactly(event, body)
        event_id = event.eventId
        if event_id is None:  # eventId is the first field of the event, as in PopEventMessage
            event_id = derived_event_id(self.tenant_id, event)
            body = '{"eventId":' + _text(event_id) + ("," + body[1:] if body != "{}" else "}")
        tail = self._origin if row is None else f'{self._origin},"row":{row}'
        data = (body[:-1] + tail + "}").encode()
        if len(data) > MAX_MESSAGE_BYTES:
            raise Unpublishable(
                f"its message would be {len(data)} bytes; Pub/Sub takes at most {MAX_MESSAGE_BYTES}",
                too_large=True,
            )
        return data, {"tenantId": self.tenant_id, "eventId": event_id, "source": self.source}


def messages(
    tenant_id: str,
    events: list[PopEvent],
    source: Source,
    ingested_at: str,
    job_id: str | None = None,
    rows: list[int] | None = None,
) -> Iterator[tuple[bytes, dict[str, str]]]:
    """(data, attributes) of the `pop-events` message of each event; Unpublishable names the index."""
    encode = MessageEncoder(tenant_id, source, ingested_at, job_id).encode
    for i, event in enumerate(events):
        try:
            yield encode(event, None if rows is None else rows[i])
        except Unpublishable as exc:
            exc.index = i
            raise


def publish(items: list[tuple[bytes, dict[str, str]]]) -> int:
    """Publish encoded messages to pop-events and wait until every one is confirmed (PublishFailed if not)."""
    return publish_and_wait(get_settings().events_topic, items)
