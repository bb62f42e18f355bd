"""Print what lands on `pop-events` (through the pull subscription the local stack creates).

Usage: python -m local.tail [--once]
"""

from __future__ import annotations

import argparse
import json

from local.bigquery_subscription import subscriber_client
from local.provision import EVENTS_TAIL_SUBSCRIPTION
from shared.platform.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="print what is waiting, then stop")
    args = parser.parse_args()
    subscriber = subscriber_client()  # takes events up to Pub/Sub's 10 MB
    path = subscriber.subscription_path(get_settings().project_id, EVENTS_TAIL_SUBSCRIPTION)
    print(f"reading {path} (Ctrl-C to stop)", flush=True)
    while True:
        response = subscriber.pull(request={"subscription": path, "max_messages": 500}, timeout=30)
        for received in response.received_messages:
            message = received.message
            print(
                json.dumps({"attributes": dict(message.attributes), "data": json.loads(message.data)}),
                flush=True,
            )
        if response.received_messages:
            subscriber.acknowledge(
                request={"subscription": path, "ack_ids": [m.ack_id for m in response.received_messages]}
            )
        elif args.once:
            return


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
