"""Local stand-in for the Eventarc storage trigger (the storage emulator sends no notifications).

A small fake, named as such: it polls the uploads bucket and, for every new object generation,
POSTs a `google.cloud.storage.object.v1.finalized` CloudEvent to the splitter, retrying failures
with backoff as Eventarc does.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

import requests

from shared.platform import clients, logs
from shared.platform.settings import get_settings

EVENT_TYPE = "google.cloud.storage.object.v1.finalized"


def storage_event(bucket: str, blob) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a binary-mode CloudEvent, as Eventarc delivers it."""
    headers = {
        "Content-Type": "application/json",
        "ce-id": uuid.uuid4().hex,
        "ce-specversion": "1.0",
        "ce-type": EVENT_TYPE,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{blob.name}",
        "ce-time": blob.updated.isoformat() if blob.updated else "",
    }
    body = {
        "bucket": bucket,
        "name": blob.name,
        "generation": str(blob.generation),
        "size": str(blob.size),
        "contentType": blob.content_type,
        "crc32c": blob.crc32c,
        "md5Hash": blob.md5_hash,
    }
    return headers, json.dumps(body).encode()


def run(splitter_url: str, interval: float = 0.25) -> None:
    bucket = get_settings().uploads_bucket
    seen: set[tuple[str, int]] = set()
    pending: dict[tuple[str, int], tuple[float, float, object]] = {}  # key -> (due, backoff, blob)
    session = requests.Session()
    while True:
        for blob in clients.storage().list_blobs(bucket):
            key = (blob.name, blob.generation)
            if key not in seen:
                seen.add(key)
                pending[key] = (0.0, 1.0, blob)
        now = time.monotonic()
        for key, (due, backoff, blob) in list(pending.items()):
            if due > now:
                continue
            headers, body = storage_event(bucket, blob)
            try:
                ok = session.post(splitter_url, data=body, headers=headers, timeout=600).ok
            except requests.RequestException:
                ok = False
            if ok:
                del pending[key]
            else:
                logs.warning("splitter failed; retrying", object=key[0], in_seconds=backoff)
                pending[key] = (now + backoff, min(backoff * 2, 30.0), blob)
        time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splitter", required=True, help="the splitter function's URL")
    run(parser.parse_args().splitter)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
