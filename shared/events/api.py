"""`POST /coatro/v1/pop/events`: validate a batch of canonical events and publish each one."""

from __future__ import annotations

import json
from typing import Any

from flask import Request, Response
from pydantic import ValidationError

from shared.auth import callers
from shared.canonical.event import EventsAccepted, PopEvent, events_batch, field_errors, pop_event_list
from shared.canonical.messages import Unpublishable, messages, publish
from shared.platform.encoding import utc_now
from shared.platform.http import decode_json, json_response, read_json_bytes
from shared.platform.problems import field_error, too_large, unavailable, validation_failed
from shared.platform.pubsub import PublishFailed
from shared.platform.settings import get_settings


def parse_batch(body: Any) -> list[PopEvent]:
    """The events of a request body, or a Problem listing every invalid event by index and field."""
    settings = get_settings()
    if not isinstance(body, dict):
        raise validation_failed(
            "The body must be a JSON object with an events array.",
            [field_error(None, "Input should be a JSON object")],
        )
    problems = [
        field_error(key, "Unknown field; the body holds only events") for key in body if key != "events"
    ]
    events = body.get("events")
    if "events" not in body:
        problems.append(field_error("events", "Field required"))
    elif not isinstance(events, list):
        problems.append(field_error("events", "Input should be an array of events"))
    elif not events:
        problems.append(field_error("events", "Input should hold at least one event"))
    if not isinstance(events, list) or not events:
        raise validation_failed("The request body is not a valid batch of events.", problems)
    if len(events) > settings.max_events_per_request:
        raise too_large(
            f"A request holds at most {settings.max_events_per_request} events; this one has {len(events)}."
        )
    try:
        batch = pop_event_list.validate_python(events)
    except ValidationError as exc:
        errors = field_errors(exc)
        bad = len({e["index"] for e in errors})
        raise validation_failed(
            f"{bad} of {len(events)} events are invalid; nothing was accepted.", problems + errors
        ) from None
    if problems:
        raise validation_failed("The request body is not a valid batch of events.", problems)
    return batch


class _Members(list[tuple[str, Any]]):
    """A JSON object's members as (name, value) pairs, duplicates kept."""


def _events_member_once(raw: bytes) -> None:
    """A 400 if the body's object has `events` twice: JSON parsers would keep one array silently.
    (Inside an event, a repeated name keeps its last value, as everywhere in Coatro; see docs/events.md.)"""
    try:
        body = json.loads(raw, object_pairs_hook=_Members)
    except (ValueError, RecursionError):
        return  # not JSON: the full path says what is wrong
    if isinstance(body, _Members) and sum(name == "events" for name, _ in body) > 1:
        raise validation_failed(
            "The request body is not a valid batch of events.",
            [field_error("events", "Field given more than once; send one events array")],
        )


def parse_body(raw: bytes) -> list[PopEvent]:
    """The events of a raw request body.

    Fast path: pydantic validates the bytes in one pass (no Python dicts in between). Whatever it
    does not accept as it is goes through the full path (`decode_json` + `parse_batch`), which
    names every problem; so does a body that may hold NaN or Infinity, which pydantic's JSON parser
    would take but JSON does not allow. Both paths accept exactly the same bodies.
    """
    if raw.count(b'"events"') > 1:  # rare: the name may be a member twice (or just appear in a value)
        _events_member_once(raw)
    if b"NaN" not in raw and b"Infinity" not in raw:
        try:
            events = events_batch.validate_json(raw).events
        except ValidationError:
            events = None
        if events is not None:
            limit = get_settings().max_events_per_request
            if len(events) > limit:
                raise too_large(f"A request holds at most {limit} events; this one has {len(events)}.")
            return events
    return parse_batch(decode_json(raw))


def accept_events(request: Request) -> Response:
    tenant_id = callers.tenant_for(request, callers.POP_WRITE)
    events = parse_body(read_json_bytes(request))
    try:  # every message is written before the first is sent: an unpublishable event stops the batch whole
        items = list(messages(tenant_id, events, "api", utc_now()))
    except Unpublishable as exc:
        if exc.too_large:
            raise too_large(f"Event {exc.index} is too large to store: {exc}.") from None
        raise validation_failed(
            f"Event {exc.index} cannot be stored; nothing was accepted.",
            [field_error(None, str(exc), index=exc.index)],
        ) from None
    try:
        publish(items)
    except PublishFailed:
        # Some events may have gone out; a retry republishes them with the same eventIds.
        raise unavailable(
            "The events could not be stored; none were accepted. Retry the same request.",
            get_settings().retry_after_seconds,
        ) from None
    return json_response(202, EventsAccepted(acceptedAt=utc_now(), eventCount=len(events)))
