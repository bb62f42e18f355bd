"""Cloud Function `worker`: one `pop-chunks` message (Pub/Sub push) per call."""

import functions_framework

from shared.pipeline import process_chunk
from shared.pubsub_events import chunk_message


@functions_framework.cloud_event
def worker(cloud_event):
    message = chunk_message(cloud_event)
    if message is not None:  # a malformed message is logged and acknowledged, never retried
        process_chunk(message)
