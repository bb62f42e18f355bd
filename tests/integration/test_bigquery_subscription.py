"""Every shape of `pop-events` message the functions publish becomes the right row in BigQuery.

The functions publish (events endpoint, bulk worker) to the Pub/Sub emulator; the local stand-in of
the BigQuery subscription (local/bigquery_subscription.py, started by the stack) writes the rows into
the BigQuery emulator's table made from infra/bigquery/pop_events.schema.json; the test reads them
back through google-cloud-bigquery and checks each column's value and type.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.api_core.retry import Retry
from google.cloud import pubsub_v1

from local.bigquery import add_missing_columns, schema_fields
from local.bigquery_subscription import SUBSCRIPTION
from shared.canonical.event import PopEvent
from shared.canonical.messages import derived_event_id
from shared.platform import clients
from tests import polling
from tests.conftest import bigquery_rows, unique
from tests.integration.conftest import assert_counts

UTC = UTC
FULL = {
    "screenId": "screen-001",
    "siteId": "site-001",
    "campaignId": "campaign-001",
    "creativeId": "creative-001",
    "playedAt": "2025-01-27T11:00:00+01:00",
    "durationMs": 30000,
    "plannedDurationMs": 30500,
    "impressions": {"ageBuckets": {"total": 150.5, "male": 80.0, "female": 70.5}},
    "context": {"weather": "sunny", "nested": {"list": [1, "two", None, True], "n": 1.5}},
    "device": {"model": "X1", "firmware": {"major": 3}},
}


def _post(events_client, key, events):
    response = events_client.post(
        "/coatro/v1/pop/events", json={"events": events}, headers={"X-API-Key": key}
    )
    assert response.status_code == 202, response.get_json()


def _metadata_ok(row: dict, source: str, tenant_id: str) -> None:
    project = clients.bigquery().project
    assert row["subscription_name"] == f"projects/{project}/subscriptions/{SUBSCRIPTION}"
    assert isinstance(row["message_id"], str) and row["message_id"]
    assert isinstance(row["publish_time"], datetime) and row["publish_time"].tzinfo is not None
    assert row["attributes"] == {"tenantId": tenant_id, "eventId": row["eventId"], "source": source}
    assert isinstance(row["ingestedAt"], datetime)


def test_api_messages_full_and_minimal_become_typed_rows(events_client, tenant):
    tenant_id, key = tenant
    minimal = {"screenId": "screen-min"}  # no eventId: the function derives one
    _post(events_client, key, [{"eventId": "evt-full", **FULL}, minimal])
    rows = {r["eventId"]: r for r in bigquery_rows(tenant_id, 2)}
    derived = derived_event_id(tenant_id, PopEvent.model_validate(minimal))
    assert set(rows) == {"evt-full", derived}

    full = rows["evt-full"]
    _metadata_ok(full, "api", tenant_id)
    assert (full["tenantId"], full["source"], full["jobId"], full["row"]) == (tenant_id, "api", None, None)
    for name in ("screenId", "siteId", "campaignId", "creativeId"):
        assert full[name] == FULL[name]
    assert full["playedAt"] == datetime(2025, 1, 27, 10, 0, tzinfo=UTC)  # TIMESTAMP, stored in UTC
    assert full["durationMs"] == 30000 and type(full["durationMs"]) is int
    assert full["plannedDurationMs"] == 30500 and type(full["plannedDurationMs"]) is int
    assert full["impressions"] == FULL["impressions"]
    assert all(type(v) is float for v in full["impressions"]["ageBuckets"].values())
    assert (
        full["context"] == FULL["context"] and full["device"] == FULL["device"]
    )  # JSON columns, any nesting
    assert full["playCount"] is None

    small = rows[derived]
    _metadata_ok(small, "api", tenant_id)
    assert small["screenId"] == "screen-min"
    for name in (
        "siteId",
        "campaignId",
        "creativeId",
        "playedAt",
        "durationMs",
        "plannedDurationMs",
        "impressions",
        "context",
        "device",
        "jobId",
        "row",
        "playCount",
    ):
        assert small[name] is None, name


def test_bulk_messages_carry_job_and_row(bulk):
    lines = [{"eventId": "b-1", **FULL}, {"eventId": "b-2", "durationMs": 5, "context": {"k": "v"}}]
    job_id = bulk.start("ndjson", "\n".join(json.dumps(line) for line in lines).encode())
    bulk.run_all()
    assert_counts(bulk.status(job_id), "completed", 2, 2, 0)
    rows = {r["eventId"]: r for r in bigquery_rows(bulk.tenant_id, 2)}
    assert set(rows) == {"b-1", "b-2"}
    for event_id, row_number in (("b-1", 1), ("b-2", 2)):
        row = rows[event_id]
        _metadata_ok(row, "bulk", bulk.tenant_id)
        assert (row["source"], row["jobId"], row["row"]) == ("bulk", job_id, row_number)
        assert type(row["row"]) is int
    assert rows["b-1"]["context"] == FULL["context"] and rows["b-1"]["device"] == FULL["device"]
    assert rows["b-1"]["impressions"] == FULL["impressions"]
    assert rows["b-2"]["context"] == {"k": "v"} and rows["b-2"]["durationMs"] == 5
    assert rows["b-1"]["plannedDurationMs"] == 30500 and rows["b-2"]["plannedDurationMs"] is None


def test_play_count_and_unknown_fields(stack):
    """An aggregated row's playCount lands in its column; a field the table lacks is dropped
    (drop_unknown_fields), not a failed write."""
    tenant_id = unique("tenant")
    data = {
        "eventId": "agg-1",
        "playedAt": "2025-01-27T10:00:00.000Z",
        "playCount": 12,
        "notAColumn": {"x": 1},
        "tenantId": tenant_id,
        "source": "api",
        "ingestedAt": "2025-01-27T10:00:01.000Z",
    }
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(
        clients.topic_path("pop-events"),
        json.dumps(data).encode(),
        tenantId=tenant_id,
        eventId="agg-1",
        source="api",
    ).result(timeout=30)
    [row] = bigquery_rows(tenant_id, 1)
    assert row["playCount"] == 12 and "notAColumn" not in row


def test_the_table_has_exactly_the_columns_of_the_schema_file(stack):
    table = clients.bigquery().get_table(clients.events_table())
    got = [(f.name, f.field_type, f.mode) for f in table.schema]
    assert got == [(f["name"], f["type"], f["mode"]) for f in schema_fields()]
    assert table.time_partitioning.field == "playedAt" and table.clustering_fields == [
        "tenantId",
        "campaignId",
    ]


_ONCE = Retry(timeout=10)  # the emulator answers a row its table cannot take with a 500, retried by default


def test_a_table_made_before_a_column_was_added_gains_it(stack):
    """A local table made from an older schema file (plannedDurationMs, issue 18, came later) gets the
    missing columns when the stack starts (local.bigquery.create_tables), appended as BigQuery
    appends them, so it ends with the columns of a table made afresh and keeps its rows."""
    from google.cloud import bigquery

    client = clients.bigquery()
    table_id = f"{clients.events_table()}_old_{unique('t').split('-')[1]}"
    old = [f for f in schema_fields() if f["name"] != "plannedDurationMs"]
    table = bigquery.Table(table_id, schema=[bigquery.SchemaField.from_api_repr(f) for f in old])
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field="playedAt"
    )
    table.clustering_fields = ["tenantId", "campaignId"]
    table = client.create_table(table)
    try:
        row = {"tenantId": "t", "eventId": "before", "durationMs": 10}
        assert client.insert_rows_json(table_id, [row], retry=_ONCE) == []
        assert add_missing_columns(table) == ["plannedDurationMs"]
        got = client.get_table(table_id)
        assert [(f.name, f.field_type, f.mode) for f in got.schema] == [
            (f["name"], f["type"], f["mode"]) for f in schema_fields()
        ]
        assert add_missing_columns(got) == []  # once is enough
        after = {"tenantId": "t", "eventId": "after", "durationMs": 10, "plannedDurationMs": 15000}
        assert client.insert_rows_json(table_id, [after], retry=_ONCE) == []
        rows = {
            r["eventId"]: r["plannedDurationMs"]
            for r in client.query_and_wait(f"SELECT eventId, plannedDurationMs FROM `{table_id}`")
        }
        assert rows == {"before": None, "after": 15000}
    finally:
        client.delete_table(table_id, not_found_ok=True)


def _publish_raw(messages: list[tuple[bytes, dict]]) -> None:
    """Publish several messages at once (one publish batch, so the stand-in pulls them together)."""
    publisher = pubsub_v1.PublisherClient()
    futures = [
        publisher.publish(clients.topic_path("pop-events"), data, **attributes)
        for data, attributes in messages
    ]
    for future in futures:
        future.result(timeout=60)


def _event(tenant_id: str, event_id: str, **fields) -> tuple[bytes, dict]:
    data = {
        "eventId": event_id,
        "playedAt": "2025-01-27T10:00:00.000Z",
        "tenantId": tenant_id,
        "source": "api",
        "ingestedAt": "2025-01-27T10:00:01.000Z",
        **fields,
    }
    return json.dumps(data).encode(), {"tenantId": tenant_id, "eventId": event_id, "source": "api"}


def test_a_9_mb_event_lands_in_the_table(stack):
    """Pub/Sub takes messages up to 10 MB; the stand-in used to fail pulling one over gRPC's default 4 MiB
    ("larger than max 4194304") and so never wrote it, nor anything pulled with it."""
    tenant_id = unique("tenant")
    blob = "x" * 9_000_000
    _publish_raw([_event(tenant_id, "big-1", context={"blob": blob}), _event(tenant_id, "small-1")])
    rows = {r["eventId"]: r for r in bigquery_rows(tenant_id, 2, timeout=60)}
    assert set(rows) == {"big-1", "small-1"}
    assert rows["big-1"]["context"] == {"blob": blob}


def test_an_unwritable_message_does_not_hold_back_the_others_pulled_with_it(stack):
    """A message BigQuery rejects (a value that does not fit its column), or that is not a JSON object at
    all, is left to Pub/Sub's redelivery and dead-lettering; the rows pulled with it are written at once."""
    tenant_id = unique("tenant")
    good = [_event(tenant_id, f"good-{i}") for i in range(5)]
    unfit = _event(tenant_id, "unfit", durationMs="not a number")
    not_json = (b"\xff not json", {"tenantId": tenant_id, "eventId": "not-json", "source": "api"})
    _publish_raw([unfit, *good[:2], not_json, *good[2:]])
    rows = bigquery_rows(tenant_id, 5, timeout=20)
    assert sorted(r["eventId"] for r in rows) == [f"good-{i}" for i in range(5)]


def test_an_unwritable_message_is_dead_lettered_after_its_delivery_attempts(stack):
    """As the cloud subscription's dead-letter policy does (infra/pubsub.tf): the stand-in nacks what it
    cannot write, and after max_delivery_attempts Pub/Sub moves it to pop-events-dead."""
    from local.bigquery_subscription import DEAD_LETTER_INSPECT

    tenant_id = unique("tenant")
    _publish_raw([_event(tenant_id, "unfit", durationMs="not a number"), _event(tenant_id, "fine")])
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(clients.bigquery().project, DEAD_LETTER_INSPECT)
    dead = []

    def pull_dead() -> list:
        response = subscriber.pull(request={"subscription": path, "max_messages": 100}, timeout=30)
        if response.received_messages:
            subscriber.acknowledge(
                request={"subscription": path, "ack_ids": [m.ack_id for m in response.received_messages]}
            )
        dead.extend(
            m.message for m in response.received_messages if m.message.attributes.get("tenantId") == tenant_id
        )
        return dead

    polling.until(pull_dead, bool, timeout=120, interval=0.05)
    assert [m.attributes["eventId"] for m in dead] == ["unfit"]
    assert [r["eventId"] for r in bigquery_rows(tenant_id, 1)] == ["fine"]
