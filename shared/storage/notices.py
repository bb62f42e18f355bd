"""Publishing webhook events (`WebhookEvent`) to the `pop-webhook-events` topic, for `shared.notify`.

Any domain may publish: this sits in storage, beside Firestore and the uploads bucket, so that a
domain (the bulk pipeline, reports, bookings) never imports another to say what happened.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.platform import pubsub
from shared.platform.settings import get_settings
from shared.records.notify import WebhookEvent


def publish(events: Iterable[WebhookEvent]) -> int:
    """Publish events and wait until Pub/Sub confirms each (else `pubsub.PublishFailed`). The message
    attributes carry the tenant and the type, so a subscription could filter on them."""
    items = (
        (event.model_dump_json().encode(), {"tenantId": event.tenantId, "type": event.type})
        for event in events
    )
    return pubsub.publish_and_wait(get_settings().webhook_events_topic, items)
