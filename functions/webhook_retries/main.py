"""Cloud Function `webhook_retries`: a `pop-webhook-ticks` message (Cloud Scheduler, every minute)
attempts the webhook deliveries whose retry is due (shared/notify/delivery.py)."""

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from shared.notify.delivery import WebhookTick, retry_due
from shared.platform.cloudevents import handle_event, pubsub_message
from shared.platform.http import http_error_response

functions_framework.errorhandler(HTTPException)(http_error_response)


@functions_framework.cloud_event
def webhook_retries(cloud_event: CloudEvent) -> None:
    def retry() -> None:
        pubsub_message(cloud_event, WebhookTick)
        retry_due()

    handle_event(cloud_event, retry)
