"""The test factories produce what functions-framework hands a @cloud_event function."""

from __future__ import annotations

import base64
import json

import functions_framework

from tests import cloudevents

RECEIVER = '''
import json, functions_framework

@functions_framework.cloud_event
def receive(cloud_event):
    with open({out!r}, "w") as f:
        json.dump({{"type": cloud_event["type"], "source": cloud_event["source"],
                   "subject": cloud_event.get("subject"), "data": cloud_event.data}}, f)
'''


def _receiver(tmp_path):
    out = tmp_path / "received.json"
    source = tmp_path / "main.py"
    source.write_text(RECEIVER.format(out=str(out)))
    client = functions_framework.create_app(target="receive", source=str(source), signature_type="cloudevent").test_client()
    return client, out


def test_storage_event_arrives_as_eventarc_sends_it(tmp_path):
    client, out = _receiver(tmp_path)
    headers, body = cloudevents.storage_finalized("b", "uploads/t/f", 123, 45, "crc==")
    assert cloudevents.post_storage_event(client, headers, body).status_code == 200
    got = json.loads(out.read_text())
    assert got["type"] == "google.cloud.storage.object.v1.finalized"
    assert (got["source"], got["subject"]) == ("//storage.googleapis.com/projects/_/buckets/b", "objects/uploads/t/f")
    data = got["data"]
    assert (data["bucket"], data["name"], data["generation"], data["size"], data["crc32c"]) == ("b", "uploads/t/f", "123", "45", "crc==")


def test_pubsub_push_becomes_a_message_published_event(tmp_path):
    client, out = _receiver(tmp_path)
    envelope = cloudevents.pubsub_push(b'{"a": 1}', {"jobId": "j"}, subscription="projects/p/subscriptions/s")
    assert cloudevents.post_pubsub_push(client, envelope).status_code == 200
    got = json.loads(out.read_text())
    assert got["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert got["source"] == "//pubsub.googleapis.com/"  # a push URL without the topic in its path
    message = got["data"]["message"]
    assert base64.b64decode(message["data"]) == b'{"a": 1}' and message["attributes"] == {"jobId": "j"}


def test_dropping_a_field_makes_a_malformed_event():
    _, body = cloudevents.storage_finalized("b", "n", 1, 2, drop=("generation",))
    assert "generation" not in json.loads(body)
