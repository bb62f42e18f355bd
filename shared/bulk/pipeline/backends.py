"""What the pipeline's stages touch outside the process, in one object they are given."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shared.canonical.messages import publish
from shared.platform.pubsub import publish_and_wait
from shared.platform.settings import get_settings
from shared.records.notify import WebhookEvent
from shared.records.screens import ScreenRecord
from shared.storage import firestore, notices
from shared.storage.protocols import JobStore, Uploads
from shared.storage.uploads import CloudUploads

Message = tuple[bytes, dict[str, str]]  # a Pub/Sub message's data and attributes


@dataclass(frozen=True)
class Backends:
    store: JobStore  # files, jobs and chunk results
    uploads: Uploads  # the uploads bucket
    publish_chunks: Callable[[Iterable[Message]], None]  # to pop-chunks, waiting for every confirmation
    publish_events: Callable[[list[Message]], int]  # to pop-events; returns how many were published
    # A tenant's screens with their zone history, by id (one batched read): "timezone": "screen"
    screens: Callable[[str, list[str]], dict[str, list[ScreenRecord]]] = firestore.screen_zone_histories
    # to pop-webhook-events (job.* events when a job ends), waiting for every confirmation
    publish_notices: Callable[[list[WebhookEvent]], int] = notices.publish


def cloud() -> Backends:
    """Firestore, Cloud Storage and Pub/Sub through the lazy clients of `shared.platform.clients`."""

    def publish_chunks(items: Iterable[Message]) -> None:
        publish_and_wait(get_settings().chunks_topic, items)

    return Backends(
        store=firestore, uploads=CloudUploads(), publish_chunks=publish_chunks, publish_events=publish
    )
