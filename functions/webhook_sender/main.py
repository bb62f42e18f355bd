"""Cloud Function `webhook_sender`: fed by two push subscriptions. A `pop-webhook-events` message (a
`WebhookEvent`) is fanned out to the tenant's endpoints and attempted; a `pop-webhook-ticks` tick
(Cloud Scheduler, every minute) retries the deliveries that are due (shared/notify/delivery.py)."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.notify.delivery import SenderMessage, handle_message
from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def webhook_sender(cloud_event: CloudEvent) -> None:
    handle_event(cloud_event, lambda: handle_message(pubsub_message(cloud_event, SenderMessage)))
