"""Issue 16: whatever a tenant's mapping does with one record, that record is one row error; the
chunk is not retried, no valid row is lost, and none is published twice.

Each trigger once raised out of the mapping code: the worker answered 500, Pub/Sub delivered the
chunk five times (re-publishing the rows before the poison one each time) and then dead-lettered it,
so the job ended `failed` with false counts and the rows after the poison one never sent."""

from __future__ import annotations

from collections import Counter

import pytest

from shared.bulk import schema_registry
from shared.bulk.schemas import load_mapping
from tests.integration.conftest import Bulk, assert_counts
from tests.poison_rows import TRIGGERS, poison_file

ROWS, POISON_ROW = 3_000, 1_500
MAX_DELIVERY_ATTEMPTS = 5  # infra/pubsub.tf: the pop-chunks dead-letter policy


def deliver_as_pubsub_does(bulk: Bulk, messages) -> int:
    """Each chunk until the worker acknowledges it, at most five times, then to dead_letter.
    Returns how many deliveries failed."""
    failures = 0
    for message in messages:
        for _attempt in range(MAX_DELIVERY_ATTEMPTS):
            if bulk.deliver(message).status_code == 200:
                break
            failures += 1
        else:
            assert bulk.deliver(message, "dead_letter").status_code == 200
    return failures


@pytest.fixture
def big_chunks(stack, tenant):
    return Bulk(*tenant, chunk_rows=1_000)


@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_one_poison_row_is_one_row_error_and_every_valid_row_is_published_once(
    trigger, big_chunks, events_sink
):
    bulk = big_chunks
    mapping, _record, message = TRIGGERS[trigger]
    version = f"poison-{abs(hash(trigger)) % 10**6}"
    assert schema_registry.register(bulk.tenant_id, load_mapping({"version": version, **mapping}))
    content, valid_ids = poison_file(trigger, ROWS, POISON_ROW)
    job_id = bulk.start("ndjson", content, version)

    assert deliver_as_pubsub_does(bulk, bulk.chunk_messages()) == 0  # no chunk was ever retried

    status = bulk.status(job_id)
    assert_counts(status, "partially_completed", ROWS, ROWS - 1, 1)
    [error] = status["errors"]
    assert error["row"] == POISON_ROW and message in error["error"], error
    got = events_sink.pull(bulk.tenant_id, until=lambda ms: len(ms) >= ROWS - 1)
    published = Counter(m["attributes"]["eventId"] for m in got)
    assert set(published) == valid_ids
    assert max(published.values()) == 1
