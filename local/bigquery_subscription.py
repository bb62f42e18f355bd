"""Local stand-in for the `pop-events` BigQuery subscription (the Pub/Sub emulator has none).

A small fake, named as such. It pulls `pop-events` through its own pull subscription and writes each
message as one row of the events table with the semantics Terraform configures on the real one
(infra/pubsub.tf: use_table_schema, write_metadata, drop_unknown_fields), as the Pub/Sub docs state
them (https://cloud.google.com/pubsub/docs/bigquery, "Properties of a BigQuery subscription";
BigQueryConfig in https://cloud.google.com/python/docs/reference/pubsub/latest):

- use table schema: the message data is a JSON object whose top-level fields are written to the
  columns of the same name; nested objects go to RECORD columns field by field, any JSON value to a
  JSON column; fields the table lacks are dropped (drop_unknown_fields), absent ones are NULL;
- write metadata: `subscription_name`, `message_id` and `publish_time` get their own columns, the
  message's attributes go to the `attributes` column as one JSON object.

Delivery is at least once, as in the cloud: a row is acknowledged only once BigQuery accepted it, so
a crash between the two writes it again (readers deduplicate on tenantId and eventId).

A message it cannot write (not a JSON object, or a row BigQuery rejects, such as a value that does not
fit its column) never holds back the messages pulled with it: those are written and acknowledged in
the same pass, and the unwritable one is nacked, so Pub/Sub delivers it again and, after the
subscription's max_delivery_attempts, moves it to pop-events-dead, as the cloud subscription's
dead-letter policy does (infra/pubsub.tf; local/provision.py sets up the same policy locally). To find
it among the others, a rejected insert is split in halves until each failing row stands alone (the
emulator answers a value it cannot store with a 500 for the whole insert, where BigQuery names the
row). Only a BigQuery that cannot be reached at all leaves the whole pull unacknowledged, for the
next attempt.

Messages are pulled up to Pub/Sub's 10 MB: the emulator's gRPC channel is opened without gRPC's
default 4 MiB receive limit, which the client library's own emulator channel keeps.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import requests
from google.api_core.exceptions import GoogleAPICallError
from google.cloud.bigquery import AutoRowIDs

from local.bigquery import schema_fields
from shared.platform import clients, logs
from shared.platform.encoding import iso_utc
from shared.platform.settings import get_settings

SUBSCRIPTION = "pop-events-bigquery"
DEAD_LETTER_TOPIC = "pop-events-dead"  # as infra/pubsub.tf
DEAD_LETTER_INSPECT = "pop-events-dead-inspect"
INSERT_TIMEOUT_SECONDS = 120.0
METADATA_COLUMNS = ("subscription_name", "message_id", "publish_time", "attributes")


class RowMapper:
    """Message -> row, by the table's own columns (read from the one schema file)."""

    def __init__(self, subscription_path: str):
        fields = schema_fields()
        self.subscription_path = subscription_path
        self.columns = {f["name"] for f in fields} - set(METADATA_COLUMNS)
        self.json_columns = {f["name"] for f in fields if f["type"] == "JSON"}

    def row(self, message) -> dict:
        """The row of one Pub/Sub message (a `google.pubsub_v1.PubsubMessage`)."""
        data = json.loads(message.data)
        if not isinstance(data, dict):
            raise ValueError("the message data is not a JSON object")
        row = {}
        for name, value in data.items():
            if name not in self.columns:
                continue  # drop_unknown_fields
            # insertAll takes a JSON column's value as JSON text.
            row[name] = json.dumps(value) if name in self.json_columns else value
        row["subscription_name"] = self.subscription_path
        row["message_id"] = message.message_id
        row["publish_time"] = iso_utc(message.publish_time, "microseconds")
        row["attributes"] = json.dumps(dict(message.attributes))
        return row


def subscriber_client():
    """A Pub/Sub subscriber that takes messages of any size Pub/Sub allows (10 MB). Against the emulator
    the client library opens a plain channel with gRPC's default 4 MiB receive limit; its own channel
    to the real service has no limit (pubsub_v1 SubscriberGrpcTransport.create_channel)."""
    from google.cloud import pubsub_v1

    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not host:
        return pubsub_v1.SubscriberClient()
    import grpc
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    channel = grpc.insecure_channel(
        host, options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    )
    return pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))


def insert(rows: list[dict]) -> dict[int, object]:
    """Insert rows; {index: why} of the ones BigQuery did not take (the rest are written). Raises only
    when BigQuery cannot be reached at all."""
    return _insert(rows, list(range(len(rows))))


def _insert(rows: list[dict], indices: list[int]) -> dict[int, object]:
    if not indices:
        return {}
    try:
        errors = _insert_request([rows[i] for i in indices])
    except GoogleAPICallError as exc:  # the whole insert refused: find the row(s) it was refused for
        if len(indices) == 1:
            return {indices[0]: str(exc)}
        half = len(indices) // 2
        return {**_insert(rows, indices[:half]), **_insert(rows, indices[half:])}
    failed, held_back = {}, []
    for error in errors:
        reasons = {e.get("reason") for e in error.get("errors", [])}
        if reasons == {"stopped"}:  # a valid row BigQuery did not write because another one was invalid
            held_back.append(indices[error["index"]])
        else:
            failed[indices[error["index"]]] = error.get("errors")
    if len(held_back) < len(indices):
        failed.update(_insert(rows, held_back))
    elif len(held_back) == 1:
        failed[held_back[0]] = "stopped"
    else:  # every row stopped and none named as the cause: split as for a refused insert
        half = len(held_back) // 2
        failed.update({**_insert(rows, held_back[:half]), **_insert(rows, held_back[half:])})
    return failed


def _insert_request(rows: list[dict]) -> list[dict]:
    """One insertAll; no insertId (the subscription does not deduplicate either) and no retry of a
    refused insert (it is split instead). The emulator closes the connection after a 500, so the next
    request on it is reset: that one is tried once more on a fresh connection; a second failure means
    BigQuery cannot be reached."""
    for attempt in (1, 2):
        try:
            return clients.bigquery().insert_rows_json(
                clients.events_table(),
                rows,
                row_ids=AutoRowIDs.DISABLED,
                retry=None,
                timeout=INSERT_TIMEOUT_SECONDS,
            )
        except requests.ConnectionError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def deliver_once(subscriber, mapper: RowMapper, max_rows: int = 2000) -> int:
    """Pull up to max_rows messages, write them in one insert, acknowledge what was written and nack
    what could not be; the number of rows written. (The emulator hands out 100 messages a pull, and
    each insert costs the emulator about as much as 1,000 rows: gathering several pulls per insert is
    what keeps up with a bulk job.)"""
    received = []
    while len(received) < max_rows:
        # The first pull waits for messages; the next ones take only what is already there, or a
        # lone event would wait for the pull's deadline.
        response = subscriber.pull(
            request={
                "subscription": mapper.subscription_path,
                "max_messages": min(1000, max_rows - len(received)),
                "return_immediately": bool(received),
            },
            timeout=30,
        )
        if not response.received_messages:
            break
        received += response.received_messages
    if not received:
        return 0
    rows, mapped, rejected = [], [], []
    for m in received:
        try:
            rows.append(mapper.row(m.message))
            mapped.append(m)
        except ValueError as exc:  # not JSON: the real subscription cannot write it either
            logs.warning(
                "message is not a JSON object; nacked (dead-lettered after its delivery attempts)",
                message_id=m.message.message_id,
                delivery_attempt=m.delivery_attempt,
                reason=str(exc),
            )
            rejected.append(m.ack_id)
    failed = insert(rows)
    for index, why in sorted(failed.items()):
        logs.warning(
            "BigQuery rejected a row; nacked (dead-lettered after its delivery attempts)",
            message_id=mapped[index].message.message_id,
            delivery_attempt=mapped[index].delivery_attempt,
            errors=why,
        )
    written = [m.ack_id for i, m in enumerate(mapped) if i not in failed]
    if written:
        subscriber.acknowledge(request={"subscription": mapper.subscription_path, "ack_ids": written})
    nacked = rejected + [mapped[i].ack_id for i in sorted(failed)]
    if nacked:  # a nack: Pub/Sub counts the attempt and redelivers after the subscription's backoff
        subscriber.modify_ack_deadline(
            request={"subscription": mapper.subscription_path, "ack_ids": nacked, "ack_deadline_seconds": 0}
        )
    return len(written)


def run(workers: int = 2, interval: float = 0.2) -> None:
    """Pull and write in a few threads side by side, as the service writes many streams at once: one
    pull-insert-acknowledge loop alone falls minutes behind a bulk job."""
    import threading

    subscriber = subscriber_client()
    mapper = RowMapper(subscriber.subscription_path(get_settings().project_id, SUBSCRIPTION))

    def loop() -> None:
        while True:
            try:
                if deliver_once(subscriber, mapper) == 0:
                    time.sleep(interval)
            except Exception as exc:  # an emulator restarting: try again, as the service would
                logs.exception("writing pop-events to BigQuery failed; retrying", exc)
                time.sleep(1)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    run()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
