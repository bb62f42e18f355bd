"""Publishing to a topic and waiting until Pub/Sub has confirmed every message."""

from __future__ import annotations

from concurrent import futures
from typing import Iterable

from shared.platform import clients, logs
from shared.platform.settings import get_settings


class PublishFailed(Exception):
    """Some messages were not confirmed; the caller must not claim they were accepted."""


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
