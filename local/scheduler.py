"""Local stand-in for Cloud Scheduler: publishes a sweep message (`{}`) to `pop-sweeps` every
`sweep_interval_seconds`, as the `<prefix>-sweep` Cloud Scheduler job does in the cloud (infra/pubsub.tf)."""

from __future__ import annotations

import time

from shared.platform import clients, logs
from shared.platform.settings import get_settings

SWEEP_MESSAGE = b"{}"


def main() -> None:
    settings = get_settings()
    topic = clients.topic_path(settings.sweeps_topic)
    while True:
        time.sleep(settings.sweep_interval_seconds)
        try:
            clients.publisher().publish(topic, SWEEP_MESSAGE).result(timeout=30)
        except Exception as exc:  # the emulator may be restarting; the next tick tries again
            logs.warning("could not publish a sweep", error=repr(exc))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
