"""Waiting for an eventual result, with google-cloud-testutils' retry helpers (test_utils.retry).

The tests poll for what happens asynchronously: a file planned by the splitter, a job ended, messages on
a subscription, rows in BigQuery, a process listening on its port. Each wait keeps the budget it always
had, `timeout` seconds with a try every `interval` seconds; these two functions turn it into
RetryErrors / RetryResult tries (a constant delay: backoff 1) and stop at the deadline, so a slow try
does not stretch a wait past its timeout. A wait that runs out still lets the test fail: with the last
try's own exception (`until_passes`), or with the last result for the caller's assertion to judge
(`until`).

test_utils logs each retry through `logger.warning`; here that goes to this module's logger at debug
level (see it with `pytest --log-level=DEBUG`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TypeVar

from test_utils.retry import RetryErrors, RetryResult

T = TypeVar("T")


class _DebugLog:
    warning = staticmethod(logging.getLogger(__name__).debug)


def _tries(timeout: float, interval: float) -> int:
    """Enough tries that the deadline, not the count, ends the wait: the last one starts after it."""
    assert timeout > 0 and interval > 0, (timeout, interval)
    return math.ceil(timeout / interval) + 1


def until_passes(
    attempt: Callable[[], T],
    *,
    timeout: float,
    interval: float,
    exceptions: type[BaseException] | tuple[type[BaseException], ...] = AssertionError,
) -> T:
    """Call attempt() until it raises none of `exceptions` (by default: until its assertions hold) and
    return what it returns. After `timeout` seconds the last try's exception propagates."""
    deadline = time.monotonic() + timeout
    retry = RetryErrors(
        exceptions,
        error_predicate=lambda _error: time.monotonic() < deadline,
        max_tries=_tries(timeout, interval),
        delay=interval,
        backoff=1,
        logger=_DebugLog,
    )
    return retry(attempt)()


def until(fetch: Callable[[], T], done: Callable[[T], bool], *, timeout: float, interval: float) -> T:
    """Call fetch() until done(result) holds and return that result. After `timeout` seconds return the
    last result: the caller asserts on it, so a failure shows what was there instead."""
    deadline = time.monotonic() + timeout

    def settled(result: T) -> bool:
        return done(result) or time.monotonic() >= deadline

    settled.__name__ = getattr(done, "__name__", "done")  # test_utils names the predicate in its log
    retry = RetryResult(
        settled, max_tries=_tries(timeout, interval), delay=interval, backoff=1, logger=_DebugLog
    )
    return retry(fetch)()
