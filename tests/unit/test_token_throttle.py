"""The token endpoint's hold-off rule (shared.auth.throttle.next_record), without Firestore."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from shared.auth.throttle import backoff_seconds, next_record
from shared.platform import clients

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def small_settings():
    os.environ.update(
        {
            "COATRO_TOKEN_FAILURE_LIMIT": "3",
            "COATRO_TOKEN_BACKOFF_SECONDS": "2",
            "COATRO_TOKEN_BACKOFF_MAX_SECONDS": "60",
            "COATRO_TOKEN_FAILURE_WINDOW_SECONDS": "100",
        }
    )
    clients.reset()


def test_backoff_starts_at_the_limit_doubles_and_is_capped():
    assert [backoff_seconds(n) for n in range(1, 10)] == [0, 0, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_seconds(10**9) == 60  # no overflow, however long an attacker goes on


def test_failures_count_in_a_row_within_the_window():
    record, now = None, T0
    for expected in (1, 2, 3):
        record = next_record(record, now)
        now += timedelta(seconds=50)
        assert record.failures == expected
    assert record.blockedUntil == T0 + timedelta(seconds=100 + 2)
    assert record.expireAt == record.blockedUntil + timedelta(seconds=100)
    # Long after the hold-off and the window, a failure starts the count again.
    later = next_record(record, record.blockedUntil + timedelta(seconds=101))
    assert (later.failures, later.blockedUntil) == (1, None)
    # Within the window after a hold-off, it goes on (and the hold-off doubles).
    again = next_record(record, record.blockedUntil + timedelta(seconds=1))
    assert again.failures == 4 and again.blockedUntil == record.blockedUntil + timedelta(seconds=1 + 4)


def test_a_failure_that_raced_past_a_hold_off_never_shortens_it():
    record = next_record(None, T0).model_copy(
        update={"failures": 7, "blockedUntil": T0 + timedelta(seconds=60)}
    )
    raced = next_record(record, T0 + timedelta(seconds=1))
    assert raced.failures == 8 and raced.blockedUntil == T0 + timedelta(
        seconds=61
    )  # min(60, 2*2**5) = 60 from now
    shorter = next_record(record.model_copy(update={"failures": 2}), T0 + timedelta(seconds=1))
    assert shorter.blockedUntil == T0 + timedelta(seconds=60)  # its own would be 2 s
