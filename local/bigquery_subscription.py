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
a crash between the two writes it again (readers deduplicate on tenantId and eventId). A message
BigQuery rejects is not acknowledged (the cloud subscription dead-letters it after 5 attempts).
"""

from __future__ import annotations

import argparse
import json
import time

from google.cloud.bigquery import AutoRowIDs

from local.bigquery import schema_fields
from shared.platform import clients, logs
from shared.platform.encoding import iso_utc
from shared.platform.settings import get_settings

SUBSCRIPTION = "pop-events-bigquery"
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


def deliver_once(subscriber, mapper: RowMapper, max_rows: int = 2000) -> int:
    """Pull up to max_rows messages, write them in one insert, acknowledge what was written; the number
    of rows written. (The emulator hands out 100 messages a pull, and each insert costs the emulator
    about as much as 1,000 rows: gathering several pulls per insert is what keeps up with a bulk job.)"""
    received = []
    while len(received) < max_rows:
        # The first pull waits for messages; the next ones take only what is already there, or a
        # lone event would wait for the pull's deadline.
        response = subscriber.pull(request={"subscription": mapper.subscription_path,
                                            "max_messages": min(1000, max_rows - len(received)),
                                            "return_immediately": bool(received)}, timeout=30)
        if not response.received_messages:
            break
        received += response.received_messages
    if not received:
        return 0
    rows, ack_ids, rejected = [], [], []
    for m in received:
        try:
            rows.append(mapper.row(m.message))
            ack_ids.append(m.ack_id)
        except ValueError as exc:  # not JSON: the real subscription cannot write it either
            logs.warning("message is not a JSON object; left for redelivery", message_id=m.message.message_id,
                         reason=str(exc))
            rejected.append(m.ack_id)
    errors = []
    if rows:  # no insertId: the subscription does not deduplicate either
        errors = clients.bigquery().insert_rows_json(clients.events_table(), rows, row_ids=AutoRowIDs.DISABLED)
    failed = {e["index"] for e in errors}
    for index in sorted(failed):
        logs.warning("BigQuery rejected a row; left for redelivery", message_id=rows[index]["message_id"],
                     errors=errors)
    written = [ack for i, ack in enumerate(ack_ids) if i not in failed]
    if written:
        subscriber.acknowledge(request={"subscription": mapper.subscription_path, "ack_ids": written})
    nacked = rejected + [ack_ids[i] for i in failed]
    if nacked:
        subscriber.modify_ack_deadline(request={"subscription": mapper.subscription_path, "ack_ids": nacked,
                                                "ack_deadline_seconds": 10})
    return len(written)


def run(workers: int = 2, interval: float = 0.2) -> None:
    """Pull and write in a few threads side by side, as the service writes many streams at once: one
    pull-insert-acknowledge loop alone falls minutes behind a bulk job."""
    import threading

    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
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
