"""CloudEvents for the event-driven functions, built from saved sample payloads (tests/data/cloudevents).

- `storage_object_finalized.json`: what Eventarc delivers for a Cloud Storage object finalized in the
  uploads bucket, in binary content mode (`ce-*` headers, the StorageObjectData JSON as the body;
  Cloud Storage sends `generation` and `size` as strings). Shapes from
  https://cloud.google.com/eventarc/docs/cloudevents (google.cloud.storage.object.v1.finalized) and
  googleapis/google-cloudevents `proto/google/events/cloud/storage/v1/data.proto`; the values are
  placeholders.
- `pubsub_push.json`: the body of a Pub/Sub push request, wrapped (not unwrapped):
  https://cloud.google.com/pubsub/docs/push#receive_push. functions-framework turns such a raw
  push envelope, POSTed to a `@cloud_event` function, into a
  `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent whose data is `{"message", "subscription"}`
  (functions_framework/event_conversion.py); that is how `worker`, `dead_letter` and `sweeper` are fed,
  in the cloud (infra/pubsub.tf) and in the local stack alike.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "cloudevents"
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"


def _sample(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def storage_finalized(bucket: str, name: str, generation: int, size: int, crc32c: str | None = None,
                      drop: tuple[str, ...] = (), event_type: str = STORAGE_FINALIZED) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a binary-mode storage CloudEvent for one object generation; `drop` removes
    data fields to build a malformed event."""
    sample = _sample("storage_object_finalized.json")
    attributes, data = sample["attributes"], sample["data"]
    data.update(
        bucket=bucket, name=name, generation=str(generation), size=str(size),
        id=f"{bucket}/{name}/{generation}",
    )
    if crc32c is not None:
        data["crc32c"] = crc32c
    for field in drop:
        data.pop(field, None)
    headers = {
        "Content-Type": attributes["datacontenttype"],
        "ce-specversion": attributes["specversion"],
        "ce-type": event_type,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{name}",
        "ce-id": uuid.uuid4().hex,
        "ce-time": attributes["time"],
    }
    return headers, json.dumps(data).encode()


def pubsub_push(data: bytes, attributes: dict[str, str] | None = None,
                subscription: str = "projects/coatro-local/subscriptions/test") -> dict:
    """A Pub/Sub push request body carrying `data`, with a fresh message id."""
    envelope = copy.deepcopy(_sample("pubsub_push.json"))
    message = envelope["message"]
    message_id = str(uuid.uuid4().int % 10**16)
    message.update(data=base64.b64encode(data).decode(), attributes=dict(attributes or {}),
                   messageId=message_id, message_id=message_id)
    envelope["subscription"] = subscription
    return envelope


def post_storage_event(client, headers: dict[str, str], body: bytes):
    return client.post("/", headers=headers, data=body)


def post_pubsub_push(client, envelope: dict):
    return client.post("/", json=envelope)
