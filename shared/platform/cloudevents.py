"""Running an event-driven function: decode its CloudEvent, call the handler, decide retry or not.

- An event that is malformed or not ours (missing fields, a message that is not the expected
  JSON, another bucket's object) is logged and acknowledged: retrying it could never succeed, and
  Pub/Sub or Eventarc would otherwise redeliver it for days.
- Any other exception is logged with its traceback in Error Reporting's format and re-raised, so
  the trigger delivers the event again (the handlers are idempotent).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.platform import logs

if TYPE_CHECKING:
    from cloudevents.http import CloudEvent

Message = TypeVar("Message", bound=BaseModel)


class MalformedEvent(Exception):
    """The event cannot be handled however often it is delivered."""


class StorageObject(BaseModel):
    """The fields of a `google.cloud.storage.object.v1.finalized` event's data that we use
    (Cloud Storage sends generation and size as strings)."""

    model_config = ConfigDict(extra="ignore")

    bucket: str = Field(min_length=1)
    name: str = Field(min_length=1)
    generation: int
    size: int = Field(ge=0)
    crc32c: str | None = None


def _problem(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors(include_url=False)
    )[:500]


def storage_object(cloud_event: CloudEvent) -> StorageObject:
    try:
        return StorageObject.model_validate(cloud_event.data)
    except ValidationError as exc:
        raise MalformedEvent(f"not a storage object event: {_problem(exc)}") from None


def pubsub_message(cloud_event: CloudEvent, model: type[Message]) -> Message:
    """The data of a `messagePublished` event (what functions-framework makes of a push request)."""
    data = cloud_event.data
    message = data.get("message") if isinstance(data, dict) else None
    encoded = message.get("data") if isinstance(message, dict) else None
    if not isinstance(encoded, str):
        raise MalformedEvent("not a Pub/Sub message event: no message.data")
    try:
        return model.model_validate_json(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        detail = _problem(exc) if isinstance(exc, ValidationError) else str(exc)
        raise MalformedEvent(f"not a {model.__name__}: {detail}") from None


def handle_event(cloud_event: CloudEvent, handler: Callable[[], object]) -> None:
    """Run `handler` (which decodes the event and acts on it; what it returns is dropped) with the rules
    of this module."""
    about = {"eventType": cloud_event["type"], "eventId": cloud_event["id"]}
    try:
        handler()
    except MalformedEvent as exc:
        logs.error("malformed or foreign event acknowledged without retry", reason=str(exc), **about)
    except Exception as exc:
        logs.exception("event handler failed; the trigger will deliver the event again", exc, **about)
        raise
