"""Publishing to a topic and waiting until Pub/Sub has confirmed every message.

The messages go out as raw protobuf `PublishRequest`s (at most 1,000 messages and 9 MiB each, inside
Pub/Sub's 1,000 / 10 MB limits) through the GAPIC layer of google-cloud-pubsub, one call per request,
retried on transient errors within `publish_timeout_seconds`. A request is confirmed when its
response carries one message id per message. This is the same API the library's batching publisher
calls, without its per-message futures and proto-plus wrappers, which cost about 80 µs of CPU per
message (googleapis/python-pubsub#158, googleapis/proto-plus-python#222); a raw message costs a few.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from google.api_core import exceptions as google_errors
from google.api_core import retry as retries

from shared.platform import clients, logs
from shared.platform.settings import get_settings

MAX_MESSAGES = 1_000
MAX_REQUEST_BYTES = 9 * 1024 * 1024  # below Pub/Sub's 10 MB, leaving room for the request's framing
_MESSAGE_OVERHEAD = 64  # the bytes a message and its attributes add around their contents (generous)


class PublishFailed(Exception):
    """Some messages were not confirmed; the caller must not claim they were accepted."""


def publish_requests(topic_path: str, items: Iterable[tuple[bytes, dict[str, str]]]) -> Iterator[Any]:
    """The PublishRequest protobufs `publish_and_wait` sends for `items`, each within Pub/Sub's limits
    (MAX_MESSAGES, MAX_REQUEST_BYTES). Public so the benchmarks can time building them apart."""
    from google.pubsub_v1.types import pubsub

    request_type = pubsub.PublishRequest.pb()
    request, count, size = (
        request_type(topic=topic_path),
        0,
        0,
    )  # counted here: len() of a protobuf list costs
    for data, attributes in items:
        cost = len(data) + _MESSAGE_OVERHEAD
        if count and (count >= MAX_MESSAGES or size + cost > MAX_REQUEST_BYTES):
            yield request
            request, count, size = request_type(topic=topic_path), 0, 0
        message_attributes = request.messages.add(data=data).attributes
        for key, value in attributes.items():  # item by item: MutableMapping.update is slower here
            message_attributes[key] = value
            cost += len(key) + len(value)
        count += 1
        size += cost
    if count:
        yield request


def publish_and_wait(topic: str, items: Iterable[tuple[bytes, dict[str, str]]]) -> int:
    """Publish (data, attributes) items to a topic; return once every one is confirmed, else raise PublishFailed."""
    from google.pubsub_v1.types import pubsub

    settings = get_settings()
    api = clients.publisher().api
    path = clients.topic_path(topic)
    deadline = settings.publish_timeout_seconds
    retry = retries.Retry(predicate=retries.if_transient_error, initial=0.1, maximum=2.0, timeout=deadline)
    confirmed = 0
    for request in publish_requests(path, items):
        try:
            response = api.publish(request=pubsub.PublishRequest.wrap(request), retry=retry, timeout=deadline)
        except google_errors.GoogleAPIError as exc:  # RetryError when the deadline passed
            logs.error("publish failed", topic=path, confirmed=confirmed, cause=repr(exc)[:300])
            raise PublishFailed(
                f"{confirmed} messages were confirmed before a publish to {topic} failed"
            ) from exc
        if len(response.message_ids) != len(request.messages):
            logs.error(
                "publish half confirmed",
                topic=path,
                sent=len(request.messages),
                ids=len(response.message_ids),
            )
            raise PublishFailed(
                f"Pub/Sub confirmed {len(response.message_ids)} of {len(request.messages)} messages"
            )
        confirmed += len(request.messages)
    return confirmed
