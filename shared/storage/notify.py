"""Firestore documents of webhooks (shared/notify, docs/webhooks.md).

Documents:
- `webhooks/{tenantId}:{webhookId}`: `WebhookEndpointRecord`, an endpoint with its signing secrets
  (as-is: the sender computes HMACs with them; never returned by the API after creation or rotation)
- `webhooks/{tenantId}:{webhookId}/webhookDeliveries/{deliveryId}`: `DeliveryRecord`, one event for one
  endpoint, created once. `deliveryId` is `<10^18-1 minus the event's Unix microseconds>-<sha256 of the
  event id, 24 hex>`, so it is derived from the event (a duplicate Pub/Sub delivery finds it) and
  document order is newest event first.
  `nextAttemptAt` is set only while pending: the tick's collection-group query reads that one field
  (its index is in infra/firestore.tf). TTL `expireAt` (retention_days after creation).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions

from shared.platform import clients
from shared.records.notify import DeliveryRecord, WebhookEndpointRecord
from shared.storage.firestore import bounded, in_transaction, read

if TYPE_CHECKING:
    from google.cloud.firestore_v1.collection import CollectionReference
    from google.cloud.firestore_v1.document import DocumentReference

WEBHOOKS, DELIVERIES = "webhooks", "webhookDeliveries"
NEXT_ATTEMPT = "nextAttemptAt"


def _endpoint_id(tenant_id: str, webhook_id: str) -> str:
    return f"{tenant_id}:{webhook_id}"


def _endpoint(tenant_id: str, webhook_id: str) -> DocumentReference:
    return clients.firestore().collection(WEBHOOKS).document(_endpoint_id(tenant_id, webhook_id))


def _deliveries(tenant_id: str, webhook_id: str) -> CollectionReference:
    deliveries: CollectionReference = _endpoint(tenant_id, webhook_id).collection(DELIVERIES)
    return deliveries


def get_endpoint(tenant_id: str, webhook_id: str) -> WebhookEndpointRecord | None:
    return read(_endpoint(tenant_id, webhook_id), WebhookEndpointRecord)


EndpointChange = Callable[[WebhookEndpointRecord | None], WebhookEndpointRecord | None]


def change_endpoint(
    tenant_id: str, webhook_id: str, change: EndpointChange
) -> tuple[WebhookEndpointRecord | None, WebhookEndpointRecord | None]:
    """In one transaction: (the endpoint before, what `change` made of it and was written; None: nothing written)."""
    ref = _endpoint(tenant_id, webhook_id)

    def work(transaction: Any) -> tuple[WebhookEndpointRecord | None, WebhookEndpointRecord | None]:
        before = read(ref, WebhookEndpointRecord, transaction)
        after = change(before)
        if after is not None:
            transaction.set(ref, after.model_dump())
        return before, after

    return in_transaction(work)


def delete_endpoint(tenant_id: str, webhook_id: str) -> None:
    """Delete the endpoint; its deliveries stay until their TTL (pending ones end as failed when tried)."""
    _endpoint(tenant_id, webhook_id).delete(**bounded())


def list_endpoints(tenant_id: str, after: str | None, limit: int) -> list[WebhookEndpointRecord]:
    """Up to `limit` endpoints of a tenant in webhookId order, after webhookId `after`."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = clients.firestore().collection(WEBHOOKS)
    query = collection.where(filter=FieldFilter("tenantId", "==", tenant_id)).order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": collection.document(_endpoint_id(tenant_id, after))})
    return [
        WebhookEndpointRecord.model_validate(snap.to_dict())
        for snap in query.limit(limit).stream(**bounded())
    ]


def count_endpoints(tenant_id: str) -> int:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = clients.firestore().collection(WEBHOOKS).where(filter=FieldFilter("tenantId", "==", tenant_id))
    results: Any = query.count(alias="n").get(**bounded())
    values = {r.alias: r.value for r in results[0]}
    return int(values["n"])


def endpoints_for(tenant_id: str, event_type: str, limit: int) -> list[WebhookEndpointRecord]:
    """The tenant's endpoints subscribed to `event_type` (an equality and an array-contains filter:
    merged single-field indexes)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore()
        .collection(WEBHOOKS)
        .where(filter=FieldFilter("tenantId", "==", tenant_id))
        .where(filter=FieldFilter("events", "array_contains", event_type))
    )
    return [
        WebhookEndpointRecord.model_validate(snap.to_dict())
        for snap in query.limit(limit).stream(**bounded())
    ]


# -- deliveries -----------------------------------------------------------------------------------


def create_delivery(record: DeliveryRecord) -> bool:
    """Create a delivery once (one atomic create); False if it exists (a duplicate event)."""
    ref = _deliveries(record.tenantId, record.webhookId).document(record.deliveryId)
    try:
        ref.create(record.model_dump(), **bounded())
    except exceptions.AlreadyExists:
        return False
    return True


def get_delivery(tenant_id: str, webhook_id: str, delivery_id: str) -> DeliveryRecord | None:
    return read(_deliveries(tenant_id, webhook_id).document(delivery_id), DeliveryRecord)


DeliveryChange = Callable[[DeliveryRecord], DeliveryRecord | None]


def change_delivery(
    tenant_id: str, webhook_id: str, delivery_id: str, change: DeliveryChange
) -> DeliveryRecord | None:
    """In one transaction: what `change` made of the delivery and was written (None: nothing written,
    or no such delivery)."""
    ref = _deliveries(tenant_id, webhook_id).document(delivery_id)

    def work(transaction: Any) -> DeliveryRecord | None:
        current = read(ref, DeliveryRecord, transaction)
        if current is None:
            return None
        after = change(current)
        if after is not None:
            transaction.set(ref, after.model_dump())
        return after

    return in_transaction(work)


def list_deliveries(tenant_id: str, webhook_id: str, after: str | None, limit: int) -> list[DeliveryRecord]:
    """Up to `limit` deliveries of an endpoint, newest event first (their ids' order), after deliveryId `after`."""
    deliveries = _deliveries(tenant_id, webhook_id)
    query = deliveries.order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": deliveries.document(after)})
    return [DeliveryRecord.model_validate(snap.to_dict()) for snap in query.limit(limit).stream(**bounded())]


def due_deliveries(now: datetime, limit: int) -> list[DeliveryRecord]:
    """Up to `limit` pending deliveries, of every tenant, whose next attempt is due, the most overdue
    first (a collection-group range query on one field)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore()
        .collection_group(DELIVERIES)
        .where(filter=FieldFilter(NEXT_ATTEMPT, "<=", now))
        .order_by(NEXT_ATTEMPT)
        .limit(limit)
    )
    return [DeliveryRecord.model_validate(snap.to_dict()) for snap in query.stream(**bounded())]
