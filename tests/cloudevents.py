"""CloudEvents for the event-driven functions, built from saved sample payloads (tests/data/cloudevents).

The tests play Eventarc and Pub/Sub: they POST to a function's functions-framework test client
exactly what those services POST to the deployed function.

Samples (placeholder values: bucket `sample-bucket`, object `uploads/sample-tenant/file-dynamic-…`,
project `sample-project`):

- `storage_object_finalized.json` = {"attributes": CloudEvent attributes, "data": StorageObjectData}
  of a `google.cloud.storage.object.v1.finalized` event as Eventarc delivers it, in binary content
  mode: the attributes travel as `ce-*` headers (`datacontenttype` as `Content-Type`) and the data
  is the JSON body. `source` is `//storage.googleapis.com/projects/_/buckets/BUCKET`, `subject` is
  `objects/NAME`, and `bucket` is an extension attribute (`ce-bucket`). Cloud Storage writes the
  int64 fields (`generation`, `metageneration`, `size`) as JSON strings; `etag` is the base64 of
  the protobuf (field 1 = generation, field 2 = metageneration), so the factory recomputes it.
- `pubsub_push.json` = the body of a Pub/Sub push request, wrapped (not "unwrapped"/no-wrapper):
  `{"message": {"attributes", "data" (base64), "messageId", "message_id", "publishTime",
  "publish_time"}, "subscription", "deliveryAttempt"}` (`deliveryAttempt` is sent because the
  worker's subscription has a dead-letter policy; a message published without attributes arrives
  without the `attributes` key).

What functions-framework 3.10.2 makes of a push envelope POSTed to a `@cloud_event` function
(functions_framework/event_conversion.py, `marshal_background_event_data` and
`background_event_to_cloud_event`; checked by tests/unit/test_cloudevents_factories.py):

- `from_http` fails first (no `ce-*` headers, no `specversion` in the body), then the body is read
  with Flask's `request.get_json()`, so the request MUST carry `Content-Type: application/json`
  (otherwise 415, and the function is never called). Pub/Sub sends that header; `post_pubsub_push`
  uses the test client's `json=`.
- The envelope is recognised as "raw Pub/Sub" only if it has `subscription`, `message`,
  `message.data` and `message.messageId` (else 400, function not called).
- The resulting CloudEvent: type `google.cloud.pubsub.topic.v1.messagePublished`, id = messageId,
  time = publishTime, no subject, source `//pubsub.googleapis.com/` + the topic only if the request
  path contains `projects/P/topics/T` (a push endpoint that is the function's bare URL gives
  `//pubsub.googleapis.com/`). `cloud_event.data` is
  `{"message": {"@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage", "data", "attributes"
  ({} when absent), "messageId", "publishTime"}}`: `subscription`, `deliveryAttempt`, `message_id`,
  `publish_time` and `orderingKey` are dropped (unlike an Eventarc Pub/Sub trigger, whose data keeps
  `subscription`).

_source:
- https://cloud.google.com/eventarc/docs/cloudevents (binary HTTP binding: `ce-id`, `ce-source`,
  `ce-specversion`, `ce-type`, `ce-time` headers, sent to `/`) and
  https://cloud.google.com/eventarc/docs/cloudevents-json (the Pub/Sub event data shape).
- googleapis/google-cloudevents `proto/google/events/cloud/storage/v1/data.proto` (StorageObjectData)
  and `testdata/google/events/cloud/storage/v1/StorageObjectData-complex.json`.
- GoogleCloudPlatform/functions-framework-conformance `events/generate/data/storage-cloudevent-input.json`
  (StorageObjectData as JSON: generation/metageneration/size as strings, id = bucket/name/generation).
- GGonryun/worksheets.dev `apps/unzip/src/types/storage-object-data.d.ts` (a captured Eventarc
  finalized event: source/subject split, `bucket` extension, field order, mediaLink on
  storage.googleapis.com, 17-digit ids).
- https://cloud.google.com/pubsub/docs/push (push request body) and the real push body quoted in
  GoogleCloudPlatform/functions-framework-python issue #170 (no `attributes` key, both
  messageId/message_id and publishTime/publish_time); `deliveryAttempt` as in the push body example
  of https://razorpay.github.io/metro/docs/guides/receiving/push.html (a Pub/Sub-compatible service
  documenting the same format).
- GoogleCloudPlatform/functions-framework-python `src/functions_framework/event_conversion.py`
  (PR #121 "fix local development with the Pub/Sub emulator") and `tests/test_convert.py`
  (`raw_pubsub_request`, `test_pubsub_emulator_request_to_cloud_event`), read here in
  .venv/lib/python3.11/site-packages/functions_framework/.
- GoogleCloudPlatform/python-docs-samples `functions/v2/storage/main_test.py`,
  `functions/v2/pubsub/main_test.py` (the samples build `CloudEvent(attributes, data)` by hand; these
  factories go one step further and go through functions-framework's HTTP handling).
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

DATA = Path(__file__).resolve().parent / "data" / "cloudevents"

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
STORAGE_DELETED = "google.cloud.storage.object.v1.deleted"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
PUBSUB_MESSAGE_TYPE = "type.googleapis.com/google.pubsub.v1.PubsubMessage"

SAMPLE_BUCKET = "sample-bucket"
SAMPLE_OBJECT = "uploads/sample-tenant/file-dynamic-20250127-0123456789abcdef"
SAMPLE_SUBSCRIPTION = "projects/sample-project/subscriptions/pop-chunks-worker"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of a saved sample (`storage_object_finalized.json` or `pubsub_push.json`)."""
    return json.loads((DATA / name).read_text())


def _event_id() -> str:
    """A numeric id like the ones Eventarc and Pub/Sub assign (16-17 digits)."""
    return str(10**15 + secrets.randbelow(9 * 10**16))


def _now() -> str:
    """RFC 3339 UTC with milliseconds, as Pub/Sub writes publishTime."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 as protobuf encodes it
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def storage_etag(generation: int, metageneration: int) -> str:
    """The etag Cloud Storage gives an object generation: base64 of the protobuf
    {1: generation, 2: metageneration}."""
    return base64.b64encode(b"\x08" + _varint(generation) + b"\x10" + _varint(metageneration)).decode()


def _storage_event(
    type_: str,
    bucket: str,
    name: str,
    generation: int,
    size: int,
    crc32c: str | None,
    drop: tuple[str, ...],
    data_overrides: dict[str, Any],
) -> tuple[dict[str, str], bytes]:
    saved = sample("storage_object_finalized.json")
    attributes, data = saved["attributes"], saved["data"]
    unknown = set(drop) - set(data) - set(data_overrides)
    if unknown:
        raise ValueError(f"cannot drop {sorted(unknown)}: not StorageObjectData fields of the sample")
    quoted = quote(name, safe="")
    data.update(
        id=f"{bucket}/{name}/{generation}",
        selfLink=f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{quoted}",
        name=name,
        bucket=bucket,
        generation=str(generation),
        size=str(size),
        mediaLink=f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{quoted}"
        f"?generation={generation}&alt=media",
    )
    if crc32c is not None:
        data["crc32c"] = crc32c
    data.update(data_overrides)
    if "etag" not in data_overrides:
        try:
            data["etag"] = storage_etag(generation, int(data["metageneration"]))
        except (KeyError, TypeError, ValueError):
            pass  # a deliberately odd metageneration: keep the sample's etag
    for key in drop:
        data.pop(key, None)
    headers = {
        "Content-Type": attributes["datacontenttype"],
        "ce-specversion": attributes["specversion"],
        "ce-type": type_,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{name}",
        "ce-id": _event_id(),
        "ce-time": attributes["time"],
        "ce-bucket": bucket,
    }
    return headers, json.dumps(data).encode()


def storage_finalized(
    bucket: str,
    name: str,
    generation: int,
    size: int,
    crc32c: str | None = None,
    drop: tuple[str, ...] = (),
    **data_overrides: Any,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of the binary-mode CloudEvent Eventarc POSTs for a finalized object.

    Built from the saved sample with `bucket`, `name`, `generation` and `size` (both sent as strings,
    as Cloud Storage does) and, if given, `crc32c` replaced; `id`, `selfLink`, `mediaLink`, `etag`,
    `ce-source`, `ce-subject` and `ce-bucket` follow them, and `ce-id` is fresh. `data_overrides`
    set further StorageObjectData fields (e.g. `contentType="text/csv"`, `metageneration="2"`);
    `drop` then removes fields, to build a malformed event (an unknown field name is a ValueError).
    """
    return _storage_event(STORAGE_FINALIZED, bucket, name, generation, size, crc32c, drop, data_overrides)


def foreign_cloud_event(
    type_: str = STORAGE_DELETED, bucket: str = SAMPLE_BUCKET, name: str = SAMPLE_OBJECT
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of an event a finalized-object function must ignore.

    - a Cloud Storage type other than finalized (`google.cloud.storage.object.v1.deleted`,
      `.archived`, `.metadataUpdated`): the sample object's data with that `ce-type`;
    - `google.cloud.pubsub.topic.v1.messagePublished`: the binary CloudEvent an Eventarc Pub/Sub
      trigger delivers (data `{"message", "subscription"}`, source the topic).

    An object in another bucket is a finalized event with another bucket:
    `storage_finalized("someone-elses-bucket", ...)`.
    """
    if type_.startswith("google.cloud.storage.object.v1."):
        saved = sample("storage_object_finalized.json")["data"]
        return _storage_event(type_, bucket, name, int(saved["generation"]), int(saved["size"]), None, (), {})
    if type_ == PUBSUB_PUBLISHED:
        envelope = pubsub_push(b'{"sample": true}', {"origin": "eventarc"})
        message = envelope["message"]
        data = {
            "message": {k: message[k] for k in ("attributes", "data", "messageId", "publishTime")},
            "subscription": envelope["subscription"],
        }
        headers = {
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-type": PUBSUB_PUBLISHED,
            "ce-source": "//pubsub.googleapis.com/projects/sample-project/topics/sample-topic",
            "ce-id": message["messageId"],
            "ce-time": message["publishTime"],
        }
        return headers, json.dumps(data).encode()
    raise ValueError(f"no sample for event type {type_!r}")


def pubsub_push(
    data: bytes, attributes: dict[str, str] | None = None, subscription: str = SAMPLE_SUBSCRIPTION
) -> dict[str, Any]:
    """The JSON body of a Pub/Sub push request (wrapped) delivering one message.

    `data` is base64-encoded into `message.data`; the message gets a fresh `messageId`/`message_id`
    and `publishTime`/`publish_time` of now. Without `attributes` the `attributes` key is left out,
    as Pub/Sub does for a message published without any.
    """
    envelope = sample("pubsub_push.json")
    message = envelope["message"]
    message_id, published = _event_id(), _now()
    message.update(
        data=base64.b64encode(data).decode(),
        messageId=message_id,
        message_id=message_id,
        publishTime=published,
        publish_time=published,
    )
    if attributes:
        message["attributes"] = dict(attributes)
    else:
        message.pop("attributes", None)
    envelope["subscription"] = subscription
    return envelope


def post_storage_event(client, headers: dict[str, str], body: bytes):
    """POST a binary-mode CloudEvent to `/` of a functions-framework test client, as Eventarc does;
    returns the Flask response."""
    return client.post("/", headers=headers, data=body)


def post_pubsub_push(client, envelope: dict[str, Any], path: str = "/"):
    """POST a push envelope to a functions-framework test client as Pub/Sub does (JSON,
    `Content-Type: application/json`); returns the Flask response. The push endpoint is the
    function's URL, so `path` is `/`; a path containing `projects/P/topics/T` would make
    functions-framework put that topic in the event's source."""
    return client.post(path, json=envelope)
