"""The test factories (tests/cloudevents.py) produce what functions-framework hands a @cloud_event function.

A throwaway function writes down the CloudEvent it receives; the factories' requests go through
functions-framework's real HTTP handling (test client), as Eventarc's and Pub/Sub's requests do.
"""

from __future__ import annotations

import base64
import json

import functions_framework
import pytest

from tests import cloudevents

# Not named main.py: functions-framework registers the module under its file name in sys.modules,
# and the project's functions are all main.py.
CAPTURE = """
import json
import functions_framework

@functions_framework.cloud_event
def capture_cloud_event(cloud_event):
    with open({out!r}, "w") as f:
        json.dump({{"attributes": dict(cloud_event.get_attributes()), "data": cloud_event.data}}, f)
"""

STORAGE_DATA_FIELDS = {
    "kind",
    "id",
    "selfLink",
    "name",
    "bucket",
    "generation",
    "metageneration",
    "contentType",
    "timeCreated",
    "updated",
    "storageClass",
    "timeStorageClassUpdated",
    "size",
    "md5Hash",
    "mediaLink",
    "crc32c",
    "etag",
}


class Capture:
    def __init__(self, tmp_path):
        self.out = tmp_path / "received.json"
        source = tmp_path / "capture_cloudevents_fn.py"
        source.write_text(CAPTURE.format(out=str(self.out)))
        self.client = functions_framework.create_app(
            target="capture_cloud_event", source=str(source)
        ).test_client()

    def received(self) -> dict | None:
        if not self.out.exists():
            return None
        got = json.loads(self.out.read_text())
        self.out.unlink()
        return got


@pytest.fixture
def capture(tmp_path):
    return Capture(tmp_path)


def _decode_etag(etag: str) -> tuple[int, int]:
    raw, values, i = base64.b64decode(etag), [], 0
    for tag in (0x08, 0x10):
        assert raw[i] == tag
        i, value, shift = i + 1, 0, 0
        while True:
            value |= (raw[i] & 0x7F) << shift
            shift, i = shift + 7, i + 1
            if not raw[i - 1] & 0x80:
                break
        values.append(value)
    assert i == len(raw)
    return values[0], values[1]


# -- the saved samples --------------------------------------------------------------------------------


def test_storage_sample_is_one_consistent_eventarc_event():
    saved = cloudevents.sample("storage_object_finalized.json")
    attributes, data = saved["attributes"], saved["data"]
    assert set(data) == STORAGE_DATA_FIELDS
    assert attributes["type"] == "google.cloud.storage.object.v1.finalized"
    assert attributes["source"] == f"//storage.googleapis.com/projects/_/buckets/{data['bucket']}"
    assert attributes["subject"] == f"objects/{data['name']}"
    assert attributes["bucket"] == data["bucket"] == cloudevents.SAMPLE_BUCKET
    assert data["name"] == cloudevents.SAMPLE_OBJECT
    assert data["id"] == f"{data['bucket']}/{data['name']}/{data['generation']}"
    assert all(
        isinstance(data[k], str) and data[k].isdigit() for k in ("generation", "metageneration", "size")
    )
    assert _decode_etag(data["etag"]) == (int(data["generation"]), int(data["metageneration"]))
    assert data["kind"] == "storage#object"


def test_pubsub_sample_is_a_wrapped_push_body():
    saved = cloudevents.sample("pubsub_push.json")
    message = saved["message"]
    assert saved["subscription"] == cloudevents.SAMPLE_SUBSCRIPTION
    assert message["messageId"] == message["message_id"] and message["publishTime"] == message["publish_time"]
    assert json.loads(base64.b64decode(message["data"])) == {"sample": True}


# -- Cloud Storage (Eventarc, binary content mode) ----------------------------------------------------


def test_storage_finalized_arrives_as_the_event_eventarc_delivers(capture):
    bucket, generation = "coatro-uploads-test", 1740787200123456
    name = "uploads/tenant-7/file-dynamic-20250301-00112233445566aa"
    headers, body = cloudevents.storage_finalized(bucket, name, generation, 4096, "AAAAAA==")

    response = cloudevents.post_storage_event(capture.client, headers, body)

    assert response.status_code == 200, response.get_data(as_text=True)
    got = capture.received()
    attributes, data = got["attributes"], got["data"]
    assert attributes["type"] == "google.cloud.storage.object.v1.finalized"
    assert attributes["source"] == "//storage.googleapis.com/projects/_/buckets/coatro-uploads-test"
    assert attributes["subject"] == "objects/uploads/tenant-7/file-dynamic-20250301-00112233445566aa"
    assert attributes["specversion"] == "1.0" and attributes["datacontenttype"] == "application/json"
    assert attributes["id"] == headers["ce-id"] and attributes["id"].isdigit()
    assert attributes["time"] == "2025-01-27T10:00:01.295Z"
    assert attributes["bucket"] == bucket  # the ce-bucket extension
    assert set(data) == STORAGE_DATA_FIELDS
    assert (data["bucket"], data["name"], data["generation"], data["size"], data["crc32c"]) == (
        bucket,
        name,
        "1740787200123456",
        "4096",
        "AAAAAA==",
    )
    assert data["id"] == f"{bucket}/{name}/1740787200123456"
    assert data["selfLink"] == (
        "https://www.googleapis.com/storage/v1/b/coatro-uploads-test/o/"
        "uploads%2Ftenant-7%2Ffile-dynamic-20250301-00112233445566aa"
    )
    assert data["mediaLink"].endswith(
        "uploads%2Ftenant-7%2Ffile-dynamic-20250301-00112233445566aa?generation=1740787200123456&alt=media"
    )
    assert _decode_etag(data["etag"]) == (generation, 1)
    assert data["contentType"] == "application/x-ndjson"  # the rest is the sample's


def test_storage_events_get_fresh_ids_and_keep_the_sample_crc_when_none_is_given():
    (first, body), (second, _) = (cloudevents.storage_finalized("b", "uploads/t/f", 1, 2) for _ in range(2))
    assert first["ce-id"] != second["ce-id"]
    assert json.loads(body)["crc32c"] == cloudevents.sample("storage_object_finalized.json")["data"]["crc32c"]


def test_storage_overrides_and_drops_reach_the_function(capture):
    headers, body = cloudevents.storage_finalized(
        "b", "uploads/t/f", 7, 10, drop=("generation", "size"), contentType="text/csv", metageneration="3"
    )
    assert cloudevents.post_storage_event(capture.client, headers, body).status_code == 200
    data = capture.received()["data"]
    assert "generation" not in data and "size" not in data
    assert (data["contentType"], data["metageneration"]) == ("text/csv", "3")
    assert _decode_etag(data["etag"]) == (7, 3)


def test_dropping_a_field_the_sample_lacks_is_refused():
    with pytest.raises(ValueError, match="generations"):
        cloudevents.storage_finalized("b", "n", 1, 2, drop=("generations",))


def test_foreign_storage_event_arrives_with_its_own_type(capture):
    headers, body = cloudevents.foreign_cloud_event()
    assert cloudevents.post_storage_event(capture.client, headers, body).status_code == 200
    got = capture.received()
    assert got["attributes"]["type"] == "google.cloud.storage.object.v1.deleted"
    assert got["attributes"]["source"] == "//storage.googleapis.com/projects/_/buckets/sample-bucket"
    assert got["attributes"]["subject"] == f"objects/{cloudevents.SAMPLE_OBJECT}"
    assert got["data"]["generation"] == "1737972001291642"


def test_foreign_eventarc_pubsub_event_keeps_the_subscription(capture):
    headers, body = cloudevents.foreign_cloud_event("google.cloud.pubsub.topic.v1.messagePublished")
    assert cloudevents.post_storage_event(capture.client, headers, body).status_code == 200
    got = capture.received()
    assert got["attributes"]["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert (
        got["attributes"]["source"] == "//pubsub.googleapis.com/projects/sample-project/topics/sample-topic"
    )
    assert got["data"]["subscription"] == cloudevents.SAMPLE_SUBSCRIPTION
    assert base64.b64decode(got["data"]["message"]["data"]) == b'{"sample": true}'


def test_foreign_event_of_an_unknown_type_is_refused():
    with pytest.raises(ValueError):
        cloudevents.foreign_cloud_event("google.cloud.audit.log.v1.written")


# -- Pub/Sub push (raw envelope converted by functions-framework) --------------------------------------


def test_pubsub_push_becomes_a_message_published_event(capture):
    payload = b'{"jobId": "job-dynamic-pop-20250301-00112233445566aa"}'
    envelope = cloudevents.pubsub_push(
        payload,
        {"jobId": "job-dynamic-pop-20250301-00112233445566aa"},
        subscription="projects/p/subscriptions/s",
    )
    message = envelope["message"]
    assert envelope["subscription"] == "projects/p/subscriptions/s" and envelope["deliveryAttempt"] == 1
    assert message["messageId"] == message["message_id"] and message["publishTime"] == message["publish_time"]

    response = cloudevents.post_pubsub_push(capture.client, envelope)

    assert response.status_code == 200, response.get_data(as_text=True)
    got = capture.received()
    attributes = got["attributes"]
    assert attributes["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert attributes["source"] == "//pubsub.googleapis.com/"  # the push URL names no topic
    assert (attributes["id"], attributes["time"]) == (message["messageId"], message["publishTime"])
    assert "subject" not in attributes
    # Exactly this: the subscription, deliveryAttempt and the snake_case duplicates are dropped.
    assert got["data"] == {
        "message": {
            "@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
            "data": message["data"],
            "attributes": {"jobId": "job-dynamic-pop-20250301-00112233445566aa"},
            "messageId": message["messageId"],
            "publishTime": message["publishTime"],
        }
    }
    assert base64.b64decode(got["data"]["message"]["data"]) == payload


def test_pubsub_push_without_attributes_carries_binary_data(capture):
    payload = bytes(range(256))
    envelope = cloudevents.pubsub_push(payload)
    assert "attributes" not in envelope["message"]
    assert envelope["subscription"] == cloudevents.SAMPLE_SUBSCRIPTION
    assert cloudevents.post_pubsub_push(capture.client, envelope).status_code == 200
    message = capture.received()["data"]["message"]
    assert message["attributes"] == {}
    assert base64.b64decode(message["data"]) == payload


def test_pubsub_push_messages_get_fresh_ids():
    first, second = (cloudevents.pubsub_push(b"x")["message"] for _ in range(2))
    assert first["messageId"] != second["messageId"]


def test_a_topic_in_the_push_path_becomes_the_event_source(capture):
    envelope = cloudevents.pubsub_push(b"{}")
    topic = "projects/sample-project/topics/pop-chunks"
    assert cloudevents.post_pubsub_push(capture.client, envelope, path=f"/{topic}").status_code == 200
    assert capture.received()["attributes"]["source"] == f"//pubsub.googleapis.com/{topic}"


def test_a_push_without_json_content_type_never_reaches_the_function(capture):
    envelope = cloudevents.pubsub_push(b"{}")
    response = capture.client.post("/", data=json.dumps(envelope))  # no Content-Type
    assert response.status_code == 415
    assert capture.received() is None


def test_a_push_whose_message_has_no_data_field_never_reaches_the_function(capture):
    envelope = cloudevents.pubsub_push(b"", {"only": "attributes"})
    del envelope["message"]["data"]
    response = cloudevents.post_pubsub_push(capture.client, envelope)
    assert response.status_code == 400
    assert capture.received() is None
