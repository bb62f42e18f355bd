"""BigQuery in the local stack: the emulator's one-time setup, and the events table Terraform also creates.

The emulator is `bqemulator` (PyPI, DuckDB-backed), reached through the real google-cloud-bigquery
client (`shared.platform.clients.bigquery`). The table is made from the same schema file Terraform
reads (infra/bigquery/pop_events.schema.json), with the same partitioning and clustering, so the
local table and the cloud one cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "infra" / "bigquery" / "pop_events.schema.json"
PARTITION_FIELD = "playedAt"  # as infra/bigquery.tf
CLUSTERING = ["tenantId", "campaignId"]


def schema_fields() -> list[dict]:
    """The table's columns as the BigQuery API writes them ({name, type, mode, fields?, description?})."""
    return json.loads(SCHEMA_FILE.read_text())


def install_spatial_extension() -> None:
    """bqemulator loads DuckDB's spatial extension at start and would download it; install it from the
    PyPI package instead (once per machine, into ~/.duckdb; repeating it is harmless), so the stack
    starts offline."""
    import duckdb
    import duckdb_extensions

    with duckdb.connect() as connection:
        duckdb_extensions.import_extension("spatial", con=connection)


def create_events_table() -> None:
    """The dataset and the partitioned, clustered events table, if missing."""
    from google.cloud import bigquery

    from shared.platform import clients
    from shared.platform.settings import get_settings

    client = clients.bigquery()
    client.create_dataset(get_settings().bigquery_dataset, exists_ok=True)
    table = bigquery.Table(
        clients.events_table(), schema=[bigquery.SchemaField.from_api_repr(f) for f in schema_fields()]
    )
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=PARTITION_FIELD
    )
    table.clustering_fields = CLUSTERING
    client.create_table(table, exists_ok=True)
