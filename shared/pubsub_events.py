"""Decoding Pub/Sub CloudEvents (`google.cloud.pubsub.topic.v1.messagePublished`)."""

from __future__ import annotations

import base64

from pydantic import ValidationError

from shared import logs
from shared.bulk_models import ChunkMessage


def chunk_message(cloud_event) -> ChunkMessage | None:
    data = base64.b64decode(cloud_event.data["message"]["data"])
    try:
        return ChunkMessage.model_validate_json(data)
    except ValidationError as exc:
        logs.error("malformed chunk message", error=str(exc)[:500])
        return None
