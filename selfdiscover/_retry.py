"""One overall deadline and the retry policy around it.

The first attempt runs without importing tenacity: on a healthy agent the
shim pays for nothing it does not use. Only a retryable failure brings in
tenacity, which then waits with full-jitter exponential backoff (so fifty
containers started together do not hit the agent in waves) and never sleeps
past the deadline.
"""

from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

from ._errors import RetryableError
from ._policy import Retry

T = TypeVar("T")

# The last attempt starts with at least this much time left: a try that has no
# time to connect only replaces the real cause in the error message.
_LAST_TRY = 0.05
# Readiness after an outage of T seconds lags by at most one wait: keeping each
# wait under _LAG_FLOOR + _LAG * (time spent so far) bounds the lag by
# 0.05 s + 10% of T, while the exponential cap still spreads a herd.
_LAG = 0.1
_LAG_FLOOR = 0.05


def call(
    fn: Callable[[], T],
    *,
    deadline: float,
    retry: Retry,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Run ``fn`` until it succeeds, raises a non-retryable error, or the
    deadline (a ``time.monotonic()`` value) leaves no time for another try.

    The last ``RetryableError`` is re-raised with the attempt count added, so
    the one-line message says how hard we tried.
    """
    start = time.monotonic()
    try:
        return fn()
    except RetryableError as first:
        if not retry.enabled or time.monotonic() >= deadline:
            raise _final(first, 1) from None
        pause = min(random.uniform(0, retry.initial), max(0.0, deadline - time.monotonic()))
        if on_retry is not None:
            on_retry(1, first, pause)
        time.sleep(pause)

    import tenacity  # deferred: only a failure pays for it

    attempts = 1

    def _before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                nxt = getattr(state, "next_action", None)
                on_retry(state.attempt_number + 1, exc, float(getattr(nxt, "sleep", 0.0) or 0.0))

    def _stop(state: tenacity.RetryCallState) -> bool:
        return deadline - time.monotonic() <= _LAST_TRY

    exponential = tenacity.wait_exponential(multiplier=retry.initial, max=retry.maximum)

    def _wait(state: tenacity.RetryCallState) -> float:
        # Full jitter under two caps: the exponential one and the lag bound.
        now = time.monotonic()
        high = min(exponential(state), _LAG_FLOOR + _LAG * (now - start))
        # Never sleep through the deadline: wake up in time for one last try.
        return max(0.0, min(random.uniform(0, high), deadline - now - _LAST_TRY))

    def _attempt() -> T:
        nonlocal attempts
        attempts += 1
        return fn()

    try:
        for attempt in tenacity.Retrying(
            stop=_stop,
            wait=_wait,
            retry=tenacity.retry_if_exception_type(RetryableError),
            before_sleep=_before_sleep,
            reraise=True,
        ):
            with attempt:
                return _attempt()
    except RetryableError as last:
        raise _final(last, attempts) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _final(err: RetryableError, attempts: int) -> RetryableError:
    plural = "s" if attempts != 1 else ""
    out = RetryableError(f"{err} (after {attempts} attempt{plural})", status=err.status)
    return out
