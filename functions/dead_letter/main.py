"""Cloud Function `dead_letter`: a `pop-chunks` message that failed every delivery attempt."""

import functions_framework

from shared.pipeline import dead_letter_chunk
from shared.pubsub_events import chunk_message


@functions_framework.cloud_event
def dead_letter(cloud_event):
    message = chunk_message(cloud_event)
    if message is not None:  # a malformed message is logged and acknowledged, never retried
        dead_letter_chunk(message)
