"""Google Cloud clients, created lazily and once per process.

Nothing connects at import time. Tests reset the cache with `reset()` after changing settings.
The emulator environment variables (FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST,
STORAGE_EMULATOR_HOST) are honoured by the client libraries themselves; BigQuery's client has no such
variable, so `bigquery()` reads BIGQUERY_EMULATOR_HOST through the settings.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.platform.settings import get_settings

if TYPE_CHECKING:  # the libraries are imported when a client is first made, not with this module
    import google.cloud.pubsub_v1 as pubsub_v1  # no type information: Any
    import google.cloud.storage as gcs  # no type information: Any
    from google.cloud import bigquery as bq
    from google.cloud import firestore as fs


@lru_cache
def firestore() -> fs.Client:
    from google.cloud import firestore as fs

    return fs.Client(project=get_settings().project_id)


@lru_cache
def publisher() -> pubsub_v1.PublisherClient:
    """The Pub/Sub publisher; `shared.platform.pubsub` publishes through its GAPIC layer (the generated client it extends)."""
    import google.cloud.pubsub_v1 as pubsub_v1

    return pubsub_v1.PublisherClient()


@lru_cache
def storage() -> gcs.Client:
    import google.cloud.storage as gcs

    return gcs.Client(project=get_settings().project_id)


@lru_cache
def bigquery() -> bq.Client:
    """The BigQuery client; against the local emulator with anonymous credentials and its http:// address."""
    from google.cloud import bigquery as bq

    settings = get_settings()
    if settings.bigquery_emulator_host:
        from google.auth.credentials import AnonymousCredentials

        return bq.Client(
            project=settings.project_id,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": settings.bigquery_emulator_host},
        )
    return bq.Client(project=settings.project_id)


def events_table() -> str:
    """`project.dataset.table` of the events the BigQuery subscription writes."""
    settings = get_settings()
    return f"{settings.project_id}.{settings.bigquery_dataset}.{settings.events_table}"


def screens_table() -> str:
    """`project.dataset.table` of the screen registry's versions (shared/screens/dimension.py)."""
    settings = get_settings()
    return f"{settings.project_id}.{settings.bigquery_dataset}.{settings.screens_table}"


def rollups_table() -> str:
    """`project.dataset.table` of the hourly rollups (shared/reports/rollups.py)."""
    settings = get_settings()
    return f"{settings.project_id}.{settings.bigquery_dataset}.{settings.rollups_table}"


def topic_path(topic: str) -> str:
    return f"projects/{get_settings().project_id}/topics/{topic}"


def reset() -> None:
    """Forget settings and clients (tests change the environment between cases)."""
    get_settings.cache_clear()
    for factory in (firestore, publisher, storage, bigquery):
        factory.cache_clear()
