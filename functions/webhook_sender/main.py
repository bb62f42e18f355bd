"""Cloud Function `webhook_sender`: a `pop-webhook-events` message (a `WebhookEvent`) is fanned out to
the tenant's subscribed endpoints, one delivery each (created once), and attempted
(shared/notify/delivery.py); the retries are `webhook_retries`'."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.notify.delivery import deliver_event
from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response
from shared.records.notify import WebhookEvent

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def webhook_sender(cloud_event: CloudEvent) -> None:
    handle_event(cloud_event, lambda: deliver_event(pubsub_message(cloud_event, WebhookEvent)))
