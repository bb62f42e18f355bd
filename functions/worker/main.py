"""Cloud Function `worker`: one `pop-chunks` message (Pub/Sub push) per call."""

import functions_framework

from shared.bulk.models import ChunkMessage
from shared.bulk.pipeline import process_chunk
from shared.platform.cloudevents import handle_event, pubsub_message


@functions_framework.cloud_event
def worker(cloud_event):
    handle_event(cloud_event, lambda: process_chunk(pubsub_message(cloud_event, ChunkMessage)))
