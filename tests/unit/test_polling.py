"""tests/polling.py: a wait ends as soon as its result is there, and at its timeout it still fails."""

from __future__ import annotations

import time

import pytest

from tests import polling


def counter():
    calls = []

    def fetch() -> int:
        calls.append(time.monotonic())
        return len(calls)

    return calls, fetch


def test_until_returns_the_first_result_that_is_done():
    calls, fetch = counter()
    assert polling.until(fetch, lambda n: n >= 3, timeout=5, interval=0.01) == 3
    assert len(calls) == 3


def test_until_returns_the_last_result_at_its_timeout_for_the_caller_to_judge():
    calls, fetch = counter()
    started = time.monotonic()
    result = polling.until(fetch, lambda n: False, timeout=0.3, interval=0.05)
    took = time.monotonic() - started
    assert result == len(calls) and 0.3 <= took < 1.5, (result, took)


def test_a_slow_try_does_not_stretch_the_wait_past_its_timeout():
    def slow() -> None:
        time.sleep(0.2)

    started = time.monotonic()
    polling.until(slow, lambda _: False, timeout=0.3, interval=0.01)  # 31 tries would take 6 s
    assert time.monotonic() - started < 1


def test_until_passes_returns_once_the_assertions_hold():
    calls, fetch = counter()

    def attempt() -> int:
        n = fetch()
        assert n >= 2, n
        return n

    assert polling.until_passes(attempt, timeout=5, interval=0.01) == 2


def test_until_passes_lets_the_last_failure_through_at_its_timeout():
    def attempt() -> None:
        raise AssertionError("still not there")

    started = time.monotonic()
    with pytest.raises(AssertionError, match="still not there"):
        polling.until_passes(attempt, timeout=0.3, interval=0.05)
    assert 0.3 <= time.monotonic() - started < 1.5


def test_until_passes_retries_only_the_named_exceptions():
    calls, fetch = counter()

    def attempt() -> None:
        fetch()
        raise KeyError("not retried")

    with pytest.raises(KeyError):
        polling.until_passes(attempt, timeout=5, interval=0.01, exceptions=OSError)
    assert len(calls) == 1
