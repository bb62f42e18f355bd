"""BigQuery in the local stack: the emulator's one-time setup, and the tables Terraform also creates.

The emulator is `bqemulator` (PyPI, DuckDB-backed), reached through the real google-cloud-bigquery
client (`shared.platform.clients.bigquery`). Each table is made from the same schema file Terraform
reads (infra/bigquery/pop_events.schema.json for the events, screens.schema.json for the screen
registry's versions, rollups.schema.json for the hourly rollups), with the same partitioning and clustering, so the local tables and the cloud
ones cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "infra" / "bigquery" / "pop_events.schema.json"
PARTITION_FIELD = "playedAt"  # as infra/bigquery.tf
CLUSTERING = ["tenantId", "campaignId"]
SCREENS_SCHEMA_FILE = ROOT / "infra" / "bigquery" / "screens.schema.json"
SCREENS_CLUSTERING = ["tenantId", "screenId"]  # as infra/bigquery.tf
ROLLUPS_SCHEMA_FILE = ROOT / "infra" / "bigquery" / "rollups.schema.json"
ROLLUPS_PARTITION_FIELD = "hour"  # as infra/bigquery.tf
ROLLUPS_CLUSTERING = ["tenantId", "screenId"]  # as infra/bigquery.tf


def schema_fields(schema_file: Path = SCHEMA_FILE) -> list[dict]:
    """A table's columns as the BigQuery API writes them ({name, type, mode, fields?, description?})."""
    return json.loads(schema_file.read_text())


def install_spatial_extension() -> None:
    """bqemulator loads DuckDB's spatial extension at start and would download it; install it from the
    PyPI package instead (once per machine, into ~/.duckdb; repeating it is harmless), so the stack
    starts offline."""
    import duckdb
    import duckdb_extensions

    with duckdb.connect() as connection:
        duckdb_extensions.import_extension("spatial", con=connection)


def create_tables() -> None:
    """The dataset, the partitioned, clustered events table, the screens table and the rollups table,
    if missing; a table made from an older schema file gains the columns added since
    (`add_missing_columns`)."""
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
    add_missing_columns(client.create_table(table, exists_ok=True))
    screens = bigquery.Table(
        clients.screens_table(),
        schema=[bigquery.SchemaField.from_api_repr(f) for f in schema_fields(SCREENS_SCHEMA_FILE)],
    )
    screens.clustering_fields = SCREENS_CLUSTERING
    add_missing_columns(client.create_table(screens, exists_ok=True), SCREENS_SCHEMA_FILE)
    rollups = bigquery.Table(
        clients.rollups_table(),
        schema=[bigquery.SchemaField.from_api_repr(f) for f in schema_fields(ROLLUPS_SCHEMA_FILE)],
    )
    rollups.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=ROLLUPS_PARTITION_FIELD
    )
    rollups.clustering_fields = ROLLUPS_CLUSTERING
    add_missing_columns(client.create_table(rollups, exists_ok=True), ROLLUPS_SCHEMA_FILE)


# The SQL type of a column the local table may gain (a RECORD column needs `make clean`).
_SQL_TYPES = {
    "STRING": "STRING",
    "INTEGER": "INT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "TIMESTAMP": "TIMESTAMP",
    "JSON": "JSON",
}


def add_missing_columns(table: Any, schema_file: Path = SCHEMA_FILE) -> list[str]:
    """Add to an existing table (a `bigquery.Table`) the schema file's columns it lacks, as the cloud
    table gains them when Terraform applies the file: NULLABLE, after its columns (BigQuery adds a
    column at the end), NULL in the rows already written. New columns go last in the file too, so a
    table brought up to date this way has the columns, in order, of one made afresh. Returns the
    names of the columns added.

    The emulator keeps a table's schema (what the API answers) apart from its DuckDB table (what
    insertAll and queries use), and changes each on its own: `ALTER TABLE` through a query changes
    only the DuckDB table, a tables.patch only the schema. So both are done; the ALTER is
    `IF NOT EXISTS`, so a start interrupted between the two completes on the next one."""
    from google.cloud import bigquery

    from shared.platform import clients

    have = {field.name for field in table.schema}
    missing = [f for f in schema_fields(schema_file) if f["name"] not in have]
    if not missing:
        return []
    unaddable = [f["name"] for f in missing if f["mode"] != "NULLABLE" or f["type"] not in _SQL_TYPES]
    if unaddable:
        raise RuntimeError(
            f"the local table {table.table_id} lacks the columns {unaddable}, which cannot be added to it: "
            "run `make clean` (it deletes the local stack's data)"
        )
    client = clients.bigquery()
    name = f"{table.project}.{table.dataset_id}.{table.table_id}"
    for f in missing:
        client.query_and_wait(
            f"ALTER TABLE `{name}` ADD COLUMN IF NOT EXISTS `{f['name']}` {_SQL_TYPES[f['type']]}"
        )
    table.schema = [*table.schema, *(bigquery.SchemaField.from_api_repr(f) for f in missing)]
    client.update_table(table, ["schema"])
    return [f["name"] for f in missing]
