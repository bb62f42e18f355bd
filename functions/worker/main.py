"""Cloud Function `worker`: one `pop-chunks` message (Pub/Sub push) per call."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.bulk.models import ChunkMessage
from shared.bulk.pipeline.worker import process_chunk
from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def worker(cloud_event: CloudEvent) -> None:
    handle_event(cloud_event, lambda: process_chunk(pubsub_message(cloud_event, ChunkMessage)))
