"""Create what the cloud gets from Terraform, in the emulators: topics, subscriptions, bucket, table, a key."""

from __future__ import annotations

import json
from pathlib import Path

from google.api_core import exceptions

from local import bigquery, bigquery_subscription
from shared.auth import api_keys, oauth_clients
from shared.auth.callers import SCOPES
from shared.platform import clients
from shared.platform.settings import get_settings

EVENTS_TAIL_SUBSCRIPTION = "pop-events-tail"
CHUNKS_DEAD_TOPIC = "pop-chunks-dead"
WORKER_SUBSCRIPTION = "pop-chunks-worker"
DEAD_LETTER_SUBSCRIPTION = "pop-chunks-dead-letter"
SWEEPER_SUBSCRIPTION = "pop-sweeps-sweeper"
EXPORTER_SUBSCRIPTION = "pop-exports-exporter"
EXPORTS_DEAD_TOPIC = (
    "pop-exports-dead"  # as infra/pubsub.tf: kept for an operator, the export's deadline fails it
)
WEBHOOK_EVENTS_DEAD_TOPIC = "pop-webhook-events-dead"
WEBHOOK_SENDER_SUBSCRIPTION = "pop-webhook-events-sender"
WEBHOOK_RETRIES_SUBSCRIPTION = "pop-webhook-ticks-retries"
ROLLUPS_SUBSCRIPTION = "pop-rollups-rollups"
REPORT_DROPS_SUBSCRIPTION = "pop-report-ticks-drops"
MAX_DELIVERY_ATTEMPTS = 5


def _subscriber():
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient()


def _sub_path(name: str) -> str:
    return f"projects/{get_settings().project_id}/subscriptions/{name}"


def ensure_topic(name: str) -> None:
    try:
        clients.publisher().create_topic(name=clients.topic_path(name))
    except exceptions.AlreadyExists:
        pass


def ensure_subscription(name: str, topic: str, **config) -> None:
    with _subscriber() as subscriber:
        try:
            subscriber.create_subscription(
                request={"name": _sub_path(name), "topic": clients.topic_path(topic), **config}
            )
        except exceptions.AlreadyExists:
            pass


def resources(reports: bool = True) -> None:
    settings = get_settings()
    for topic in (
        settings.events_topic,
        settings.chunks_topic,
        CHUNKS_DEAD_TOPIC,
        settings.sweeps_topic,
        settings.rollups_topic,
        settings.webhook_events_topic,
        settings.exports_topic,
        EXPORTS_DEAD_TOPIC,
        WEBHOOK_EVENTS_DEAD_TOPIC,
        settings.webhook_ticks_topic,
        settings.report_ticks_topic,
    ):
        ensure_topic(topic)
    ensure_subscription(EVENTS_TAIL_SUBSCRIPTION, settings.events_topic, ack_deadline_seconds=60)
    if reports:
        # What the cloud's BigQuery subscription does, local/bigquery_subscription.py does from this one,
        # with its dead-letter policy (infra/pubsub.tf): a message it cannot write goes to pop-events-dead
        # after MAX_DELIVERY_ATTEMPTS, where pop-events-dead-inspect keeps it. The backoff is the local
        # push subscriptions' short one rather than the cloud's 10-600 s.
        ensure_topic(bigquery_subscription.DEAD_LETTER_TOPIC)
        ensure_subscription(
            bigquery_subscription.DEAD_LETTER_INSPECT,
            bigquery_subscription.DEAD_LETTER_TOPIC,
            ack_deadline_seconds=60,
        )
        ensure_subscription(
            bigquery_subscription.SUBSCRIPTION,
            settings.events_topic,
            ack_deadline_seconds=60,
            retry_policy={"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 10}},
            dead_letter_policy={
                "dead_letter_topic": clients.topic_path(bigquery_subscription.DEAD_LETTER_TOPIC),
                "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
            },
        )
        bigquery.create_tables()
    for bucket in (settings.uploads_bucket, settings.exports_bucket, settings.drops_bucket):
        try:
            clients.storage().create_bucket(bucket)
        except exceptions.Conflict:
            pass


def push_subscriptions(stack) -> None:
    """The worker, the dead-letter handler, the sweeper, the exporter, the webhook functions and the
    rollups and report_drops are fed by push, as in the cloud."""
    settings = get_settings()
    retry = {"retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 10}}}
    feeds = {  # function: (subscription, topic, its settings)
        "worker": (
            WORKER_SUBSCRIPTION,
            settings.chunks_topic,
            {
                "ack_deadline_seconds": 600,
                **retry,
                "dead_letter_policy": {
                    "dead_letter_topic": clients.topic_path(CHUNKS_DEAD_TOPIC),
                    "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
                },
            },
        ),
        "dead_letter": (DEAD_LETTER_SUBSCRIPTION, CHUNKS_DEAD_TOPIC, {"ack_deadline_seconds": 60}),
        "sweeper": (SWEEPER_SUBSCRIPTION, settings.sweeps_topic, {"ack_deadline_seconds": 600, **retry}),
        "exporter": (
            EXPORTER_SUBSCRIPTION,
            settings.exports_topic,
            {
                "ack_deadline_seconds": 600,
                **retry,
                "dead_letter_policy": {
                    "dead_letter_topic": clients.topic_path(EXPORTS_DEAD_TOPIC),
                    "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
                },
            },
        ),
        "webhook_sender": (
            WEBHOOK_SENDER_SUBSCRIPTION,
            settings.webhook_events_topic,
            {
                "ack_deadline_seconds": 310,
                **retry,
                "dead_letter_policy": {
                    "dead_letter_topic": clients.topic_path(WEBHOOK_EVENTS_DEAD_TOPIC),
                    "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
                },
            },
        ),
        "webhook_retries": (
            WEBHOOK_RETRIES_SUBSCRIPTION,
            settings.webhook_ticks_topic,
            {"ack_deadline_seconds": 310, **retry},
        ),
    }
    if stack.reports:  # the rollups live in BigQuery, which a stack without reports does not run
        feeds["rollups"] = (
            ROLLUPS_SUBSCRIPTION,
            settings.rollups_topic,
            {"ack_deadline_seconds": 600, **retry},
        )
        # Scheduled report drops run reports (shared/reports/drops.py).
        feeds["report_drops"] = (
            REPORT_DROPS_SUBSCRIPTION,
            settings.report_ticks_topic,
            {"ack_deadline_seconds": 600, **retry},
        )
    for function, (subscription, topic, config) in feeds.items():
        if function in stack.function_ports:
            endpoint = f"http://127.0.0.1:{stack.function_ports[function]}/"
            ensure_subscription(subscription, topic, push_config={"push_endpoint": endpoint}, **config)


def dev_key(api_key: str, tenant_id: str) -> None:
    api_keys.create_key(tenant_id, label="local development", api_key=api_key)


def dev_client(client_id: str, secret: str, tenant_id: str) -> None:
    """An OAuth2 client of the dev tenant with every scope, so the token example of docs/auth.md works as written."""
    try:
        oauth_clients.create_client(
            tenant_id, list(SCOPES), label="local development", client_id=client_id, secret=secret
        )
    except exceptions.AlreadyExists:
        pass


def signing_key(path: Path) -> None:
    """A throwaway service-account key for signing upload URLs locally; generated, never committed."""
    if path.exists():
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    project = get_settings().project_id
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": project,
                "private_key_id": "local",
                "private_key": pem,
                "client_email": f"local-signer@{project}.iam.gserviceaccount.com",
                "client_id": "0",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    path.chmod(0o600)
