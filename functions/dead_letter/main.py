"""Cloud Function `dead_letter`: a `pop-chunks` message that failed every delivery attempt."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.bulk.models import ChunkMessage
from shared.bulk.pipeline.worker import dead_letter_chunk
from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def dead_letter(cloud_event: CloudEvent) -> None:
    handle_event(cloud_event, lambda: dead_letter_chunk(pubsub_message(cloud_event, ChunkMessage)))
