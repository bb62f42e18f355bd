"""The integration tier: each function through functions-framework's test client, against the emulators.

`Bulk` drives one tenant's files through the pipeline in-process with its own bucket and chunks
topic, so the local stack's bridge and worker never see its files: the test itself plays Eventarc
(delivers the finalize event) and Pub/Sub (delivers chunk messages).
"""

from __future__ import annotations

import os

import functions_framework
import pytest
import requests
from google.cloud import pubsub_v1

from shared.bulk.models import ChunkMessage
from shared.platform import clients
from tests import cloudevents
from tests.conftest import ROOT, unique

BULK = "/coatro/v1/pop/dynamic/bulk"


def _client(name: str):
    return functions_framework.create_app(
        target=name, source=str(ROOT / f"functions/{name}/main.py")
    ).test_client()


class Bulk:
    """Drives one tenant's files through the pipeline in-process."""

    def __init__(self, tenant_id: str, key: str, chunk_rows: int):
        self.tenant_id, self.headers = tenant_id, {"X-API-Key": key}
        os.environ["COATRO_UPLOADS_BUCKET"] = unique("uploads")
        os.environ["COATRO_CHUNKS_TOPIC"] = unique("chunks")
        os.environ["COATRO_CHUNK_ROWS"] = str(chunk_rows)
        clients.reset()
        clients.storage().create_bucket(os.environ["COATRO_UPLOADS_BUCKET"])
        clients.publisher().create_topic(name=clients.topic_path(os.environ["COATRO_CHUNKS_TOPIC"]))
        self.subscriber = pubsub_v1.SubscriberClient()
        self.chunks_sub = self.subscriber.subscription_path(
            os.environ["GOOGLE_CLOUD_PROJECT"], unique("chunks-sub")
        )
        self.subscriber.create_subscription(
            request={"name": self.chunks_sub, "topic": clients.topic_path(os.environ["COATRO_CHUNKS_TOPIC"])}
        )
        self.upload_url, self.ingest_fn, self.status_fn = (
            _client("upload_url"),
            _client("ingest"),
            _client("job_status"),
        )
        self.splitter_fn, self.worker_fn, self.dead_letter_fn = (
            _client("splitter"),
            _client("worker"),
            _client("dead_letter"),
        )

    def request_upload(self, fmt: str, **body):
        return self.upload_url.post(
            f"{BULK}/upload-url", json={"fileName": f"f.{fmt}", "format": fmt, **body}, headers=self.headers
        )

    def put(self, upload: dict, content: bytes) -> None:
        response = requests.put(
            upload["uploadUrl"], data=content, headers={"Content-Type": upload["contentType"]}, timeout=120
        )
        assert response.status_code == 200

    def upload(self, fmt: str, content: bytes, split: bool = True) -> str:
        response = self.request_upload(fmt)
        assert response.status_code == 200, response.get_json()
        upload = response.get_json()
        self.put(upload, content)
        if split:
            self.split(upload["fileId"])
        self.last_upload = upload
        return upload["fileId"]

    def split(self, file_id: str) -> None:
        """Deliver the object's finalize event to the splitter, as Eventarc does."""
        name = f"uploads/{self.tenant_id}/{file_id}"
        blob = clients.storage().bucket(os.environ["COATRO_UPLOADS_BUCKET"]).get_blob(name)
        headers, body = cloudevents.storage_finalized(
            blob.bucket.name, name, blob.generation, blob.size, blob.crc32c
        )
        response = cloudevents.post_storage_event(self.splitter_fn, headers, body)
        assert response.status_code == 200, response.get_data(as_text=True)

    def ingest(self, file_id: str, version: str = "1.0", **extra):
        return self.ingest_fn.post(
            f"{BULK}/ingest",
            json={"fileId": file_id, "schemaVersion": version, **extra},
            headers=self.headers,
        )

    def start(self, fmt: str, content: bytes, version: str = "1.0") -> str:
        response = self.ingest(self.upload(fmt, content), version)
        assert response.status_code == 202, response.get_json()
        return response.get_json()["jobId"]

    def chunk_messages(self) -> list[ChunkMessage]:
        out = []
        while True:
            response = self.subscriber.pull(
                request={"subscription": self.chunks_sub, "max_messages": 1000}, timeout=5
            )
            if not response.received_messages:
                return sorted(out, key=lambda m: m.chunk.index)
            self.subscriber.acknowledge(
                request={
                    "subscription": self.chunks_sub,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
            out += [ChunkMessage.model_validate_json(m.message.data) for m in response.received_messages]

    def deliver(self, message: ChunkMessage, function: str = "worker"):
        """Push one pop-chunks message to the worker (or dead_letter) as Pub/Sub does; the response
        tells Pub/Sub whether to deliver it again (any non-2xx)."""
        target = self.worker_fn if function == "worker" else self.dead_letter_fn
        envelope = cloudevents.pubsub_push(message.model_dump_json().encode(), {"jobId": message.jobId})
        return cloudevents.post_pubsub_push(target, envelope)

    def run_all(self) -> list[ChunkMessage]:
        messages = self.chunk_messages()
        for message in messages:
            response = self.deliver(message)
            assert response.status_code == 200, response.get_data(as_text=True)
        return messages

    def status(self, job_id: str) -> dict:
        response = self.status_fn.get(f"{BULK}/jobs/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def all_errors(self, job_id: str, page_size: int) -> list[dict]:
        errors, token = [], None
        while True:
            query = f"pageSize={page_size}" + (f"&pageToken={token}" if token else "")
            page = self.status_fn.get(f"{BULK}/jobs/{job_id}/errors?{query}", headers=self.headers).get_json()
            errors += page["errors"]
            token = page["nextPageToken"]
            if not token:
                return errors


@pytest.fixture
def events_client(stack):
    return _client("events")


@pytest.fixture
def bulk(stack, tenant):
    return Bulk(*tenant, chunk_rows=25)


def assert_counts(status: dict, state: str, total: int, processed: int, errors: int) -> None:
    assert (status["status"], status["totalRows"], status["processedRows"], status["errorRows"]) == (
        state,
        total,
        processed,
        errors,
    ), status
