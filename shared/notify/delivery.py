"""Delivering webhook events: fan-out to endpoints, one attempt at a time, retries driven by a tick.

Why not Pub/Sub's own retries: a push subscription backs off at most 600 s between deliveries and
dead-letters after at most 100 attempts, so it cannot space attempts over 24 hours and more, and it
would retry every endpoint of an event together. Instead (docs/webhooks.md, "Delivery"):

1. A `pop-webhook-events` message (`WebhookEvent`) reaches `deliver_event` (function webhook_sender), which creates one delivery
   document per subscribed endpoint (`DeliveryRecord`, its id derived from the event, created once:
   a duplicate message finds it) and attempts each at once.
2. An attempt first claims the delivery in a transaction (state pending, due; it moves `nextAttemptAt`
   a lease ahead, so two instances never send the same attempt and an instance that dies mid-attempt
   is retried when the lease ends), POSTs the signed body, then records the attempt in another
   transaction: succeeded (never sent again), or the next attempt's time from the backoff schedule
   (shared/notify/schedule.py), or failed once the schedule is used up: the dead letter, kept and
   listed by `GET .../webhooks/{id}/deliveries`.
3. A tick (Cloud Scheduler, every minute, `pop-webhook-ticks`) reaches `retry_due` (function webhook_retries), which attempts the
   deliveries whose `nextAttemptAt` has come.

Every attempt of a delivery carries the same `webhook-id` (the event's id) and body; only the
`webhook-timestamp` (and so the signature) is the attempt's own, as the Standard Webhooks spec says.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from shared.notify import addresses, schedule, sending, signing
from shared.platform import logs
from shared.platform.settings import get_settings
from shared.records.notify import DeliveryAttempt, DeliveryRecord, WebhookEndpointRecord, WebhookEvent
from shared.storage import notify as store

MAX_ENDPOINTS_PER_TENANT = 20  # endpoints a tenant may register; an event fans out to at most these
PARALLEL_ATTEMPTS = 10
LEASE_EXTRA_SECONDS = 50  # a claimed attempt not recorded after its timeout plus this is tried again


class WebhookTick(BaseModel):
    """A `pop-webhook-ticks` message: `{}` from Cloud Scheduler."""

    model_config = ConfigDict(extra="forbid")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_id(event_id: str) -> str:
    """The `webhook-id`: the event's id, or, if it holds a `.` (which the spec forbids in a message
    id), a digest of it; deterministic either way."""
    if "." not in event_id:
        return event_id
    return "evt_" + hashlib.sha256(event_id.encode()).hexdigest()[:32]


_LAST_MICROSECOND = 10**18 - 1


def delivery_id(event: WebhookEvent) -> str:
    """`<time to come>-<digest of the event id>`: derived from the event, so a duplicate finds it.
    The first part is 10^18 - 1 minus the event's Unix time in microseconds (18 digits): ascending
    document order is newest event first (Firestore cannot scan document names in descending order)."""
    try:
        moment = datetime.fromisoformat(event.timestamp.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        micros = max(0, round(moment.timestamp() * 1_000_000))
    except (ValueError, OverflowError):
        micros = 0
    return f"{_LAST_MICROSECOND - micros:018d}-{hashlib.sha256(event.id.encode()).hexdigest()[:24]}"


def deliver_event(event: WebhookEvent) -> int:
    """Create the event's deliveries (once each) and attempt those due; returns how many endpoints it has."""
    endpoints = store.endpoints_for(event.tenantId, event.type, MAX_ENDPOINTS_PER_TENANT)
    if not endpoints:
        return 0
    now = datetime.now(UTC)
    body = signing.payload(event.type, event.timestamp, event.data).decode("utf-8")
    ids = delivery_id(event)
    for endpoint in endpoints:
        created = store.create_delivery(
            DeliveryRecord(
                deliveryId=ids,
                tenantId=event.tenantId,
                webhookId=endpoint.webhookId,
                eventId=event.id,
                eventType=event.type,
                body=body,
                createdAt=_iso(now),
                nextAttemptAt=now,
                expireAt=now + timedelta(days=get_settings().retention_days),
            )
        )
        if not created:
            logs.info("webhook delivery exists already", webhookId=endpoint.webhookId, eventId=event.id)
    _attempt_all([(event.tenantId, e.webhookId, ids) for e in endpoints])
    return len(endpoints)


def retry_due() -> int:
    """Attempt the deliveries whose next attempt has come (one tick's batch); returns how many."""
    due = store.due_deliveries(datetime.now(UTC), get_settings().webhook_tick_batch)
    _attempt_all([(d.tenantId, d.webhookId, d.deliveryId) for d in due])
    if due:
        logs.info("webhook retries attempted", deliveries=len(due))
    return len(due)


def _attempt_all(keys: list[tuple[str, str, str]]) -> None:
    if len(keys) == 1:
        attempt(*keys[0])
        return
    with ThreadPoolExecutor(max_workers=PARALLEL_ATTEMPTS) as pool:
        for future in [pool.submit(attempt, *key) for key in keys]:
            future.result()  # a Firestore failure is raised: the message or tick comes again


def active_secrets(endpoint: WebhookEndpointRecord, now: datetime) -> list[str]:
    """The secrets that sign now: the current one and any still in its rotation overlap, newest first."""
    return [
        s.secret
        for s in reversed(endpoint.secrets)
        if s.expiresAt is None or datetime.fromisoformat(s.expiresAt.replace("Z", "+00:00")) > now
    ]


def attempt(tenant_id: str, webhook_id: str, delivery: str) -> DeliveryRecord | None:
    """One attempt of a delivery if it is pending and due (else nothing); returns it as recorded."""
    settings = get_settings()
    now = datetime.now(UTC)
    lease = timedelta(seconds=settings.webhook_timeout_seconds + LEASE_EXTRA_SECONDS)

    def claim(current: DeliveryRecord) -> DeliveryRecord | None:
        if current.state != "pending" or current.nextAttemptAt is None or current.nextAttemptAt > now:
            return None
        return current.model_copy(update={"nextAttemptAt": now + lease})

    claimed = store.change_delivery(tenant_id, webhook_id, delivery, claim)
    if claimed is None:
        return None
    with logs.context(webhookId=webhook_id, eventId=claimed.eventId):
        endpoint = store.get_endpoint(tenant_id, webhook_id)
        if endpoint is None:
            return _finish(claimed, None, "the endpoint was deleted")
        outcome = _send(endpoint, claimed, now)
        return _record(claimed, outcome)


def _send(endpoint: WebhookEndpointRecord, delivery: DeliveryRecord, now: datetime) -> sending.Outcome:
    settings = get_settings()
    try:  # again at every attempt: what the name resolves to now is what is dialled
        target = addresses.check(endpoint.url, settings.webhooks_allow_loopback)
    except addresses.Refused as exc:
        return sending.Outcome(None, f"refused: {exc}", 0)
    body = delivery.body.encode("utf-8")
    headers = signing.headers(
        active_secrets(endpoint, now), message_id(delivery.eventId), int(time.time()), body
    )
    return sending.post(target, body, headers, settings.webhook_timeout_seconds)


def _record(claimed: DeliveryRecord, outcome: sending.Outcome) -> DeliveryRecord | None:
    settings = get_settings()
    now = datetime.now(UTC)
    tried = DeliveryAttempt(
        at=_iso(now), statusCode=outcome.status, error=outcome.error, latencyMs=outcome.latency_ms
    )

    def record(current: DeliveryRecord) -> DeliveryRecord | None:
        if current.state != "pending":
            return None
        attempts = [*current.attempts, tried]
        if outcome.delivered:
            return current.model_copy(
                update={
                    "attempts": attempts,
                    "state": "succeeded",
                    "nextAttemptAt": None,
                    "finishedAt": _iso(now),
                }
            )
        if outcome.status == 410:  # Standard Webhooks: 410 Gone, the receiver wants no more
            return _failed(current, attempts, now, "the endpoint answered 410 Gone")
        following = schedule.next_attempt(
            settings.webhook_retry_delays_seconds,
            current.deliveryId,
            len(attempts),
            now,
            schedule.retry_after_seconds(outcome.retry_after),
        )
        if following is None:
            return _failed(current, attempts, now, f"no success in {len(attempts)} attempts")
        return current.model_copy(update={"attempts": attempts, "nextAttemptAt": following})

    written = store.change_delivery(claimed.tenantId, claimed.webhookId, claimed.deliveryId, record)
    if written is not None:
        logs.info(
            "webhook attempt",
            state=written.state,
            statusCode=outcome.status,
            error=outcome.error,
            latencyMs=outcome.latency_ms,
        )
    return written


def _failed(
    current: DeliveryRecord, attempts: list[DeliveryAttempt], now: datetime, reason: str
) -> DeliveryRecord:
    logs.warning("webhook delivery dead-lettered", reason=reason, attempts=len(attempts))
    return current.model_copy(
        update={
            "attempts": attempts,
            "state": "failed",
            "nextAttemptAt": None,
            "finishedAt": _iso(now),
            "failureReason": reason,
        }
    )


def _finish(claimed: DeliveryRecord, _outcome: None, reason: str) -> DeliveryRecord | None:
    now = datetime.now(UTC)

    def fail(current: DeliveryRecord) -> DeliveryRecord | None:
        return _failed(current, current.attempts, now, reason) if current.state == "pending" else None

    return store.change_delivery(claimed.tenantId, claimed.webhookId, claimed.deliveryId, fail)
