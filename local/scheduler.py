"""Local stand-in for Cloud Scheduler: every `sweep_interval_seconds`, publishes a tick (`{}`) to each
topic Cloud Scheduler jobs publish to in the cloud (`pop-sweeps`: the `<prefix>-sweep` job of
infra/pubsub.tf; `pop-rollups`: the `<prefix>-rollup` job). A scheduled function adds its topic's setting name to TICKED_TOPICS. Locally every
topic ticks at the same interval; the cloud's own schedules are in Terraform."""

from __future__ import annotations

import time

from shared.platform import clients, logs
from shared.platform.settings import get_settings

SWEEP_MESSAGE = b"{}"
TICKED_TOPICS = (
    "sweeps_topic",
    "webhook_ticks_topic",
    "rollups_topic",
    "report_ticks_topic",
)  # settings attributes naming topics


def main() -> None:
    settings = get_settings()
    topics = [clients.topic_path(getattr(settings, name)) for name in TICKED_TOPICS]
    while True:
        time.sleep(settings.sweep_interval_seconds)
        for topic in topics:
            try:
                clients.publisher().publish(topic, SWEEP_MESSAGE).result(timeout=30)
            except Exception as exc:  # the emulator may be restarting; the next tick tries again
                logs.warning("could not publish a tick", topic=topic, error=repr(exc))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
