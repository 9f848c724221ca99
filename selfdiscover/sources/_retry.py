"""One overall deadline and the retry policy around it, stated once here.

When attempt ``n`` (1, 2, ...) fails with a ``RetryableError``, the next one
starts after a wait drawn uniformly from

    [0, min(initial * 2**(n-1), maximum, 0.05 s + 0.1 * elapsed)]

(``initial`` and ``maximum`` from ``Retry``; ``elapsed`` is the time since
attempt 1 began), cut short so that the next attempt starts with at least
0.05 s left before the deadline; an attempt after a wait so cut is the last.
No attempt starts with less: the call then re-raises the last error with the
attempt count added. ``Retry(enabled=False)``
means exactly one attempt.

* Full jitter under an exponential cap is tenacity's ``wait_random_exponential``:
  fifty containers started together do not hit the agent in waves.
* The lag cap is the rule tenacity lacks: readiness after an outage of T s
  lags by at most one wait, so by at most 0.05 s + 10% of T, while the
  exponential cap still spreads a herd. The cap is applied to the window
  before the draw, not to the drawn wait, so waits stay uniform instead of
  piling up on the cap.
* The deadline is a ``time.monotonic()`` value shared by every source of one
  discovery, not a delay counted from this loop's start as tenacity's stops
  are. The 0.05 s reserve exists because a try with no time to connect only
  replaces the real cause in the error message.

The first attempt runs before tenacity is imported, so on a healthy agent the
shim pays nothing for retries. Its failure is replayed into tenacity as
tenacity's own attempt 1: tenacity numbers the attempts as they happened and
computes every wait, the first one included, with the one formula above.
Works with tenacity 8.0 and later (``Retrying`` as an iterator,
``wait_random_exponential``, ``RetryCallState.next_action``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .._errors import RetryableError
from ._timing import Retry

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")

# The last attempt starts with at least this much time left.
_LAST_TRY = 0.05
# Each wait's window is at most _LAG_FLOOR + _LAG * (time spent so far).
_LAG = 0.1
_LAG_FLOOR = 0.05


def call(
    fn: Callable[[], T],
    *,
    deadline: float,
    retry: Retry,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn`` until it succeeds, raises a non-retryable error, or the
    deadline (a ``clock()`` value) leaves no time for another try.

    ``on_retry(n, error, wait)`` is told of each failed attempt that will be
    retried. The last ``RetryableError`` is re-raised with the attempt count
    added, so the one-line message says how hard we tried. ``clock`` and
    ``sleep`` exist so the policy can be simulated on a virtual clock.
    """
    start = clock()
    try:
        return fn()
    except RetryableError as exc:
        first = exc
    if not retry.enabled or deadline - clock() <= _LAST_TRY:
        raise _final(first, 1)
    return _retry_after(first, fn, start, deadline, retry, on_retry, clock, sleep)


def _retry_after(
    first: RetryableError,
    fn: Callable[[], T],
    start: float,
    deadline: float,
    retry: Retry,
    on_retry: Callable[[int, BaseException, float], None] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> T:
    import tenacity  # deferred: only a failure pays for it

    replay: list[RetryableError] = [first]
    attempts = 0
    previous = first
    last = float("inf")  # the number of the attempt a deadline-cut wait leads to

    def attempt() -> T:
        nonlocal attempts, previous
        attempts += 1
        if replay:
            raise replay.pop()  # attempt 1 ran before tenacity was imported
        try:
            return fn()
        except RetryableError as e:
            previous = prefer_answer(e, previous, clock(), deadline)
            raise previous from None

    def wait(retry_state: tenacity.RetryCallState) -> float:
        nonlocal last
        now = clock()
        jitter = tenacity.wait_random_exponential(
            multiplier=retry.initial, max=min(retry.maximum, _LAG_FLOOR + _LAG * (now - start))
        )(retry_state)
        if jitter < deadline - _LAST_TRY - now:
            return jitter
        last = min(last, retry_state.attempt_number + 1)
        return max(0.0, deadline - _LAST_TRY - now)

    def stop(retry_state: tenacity.RetryCallState) -> bool:
        # A wait cut short by the deadline leads to the last attempt, whatever
        # the clock says after it. Older tenacity calls stop before wait, newer
        # after it; ``last`` only ever decreases, so either order works. (The
        # parameters are called retry_state: tenacity 8.0 passes it by name.)
        return retry_state.attempt_number >= last or deadline - clock() <= _LAST_TRY

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        outcome, action = retry_state.outcome, retry_state.next_action
        exc = outcome.exception() if outcome is not None else None
        if on_retry is not None and exc is not None and action is not None:
            on_retry(retry_state.attempt_number, exc, action.sleep)

    try:
        for trial in tenacity.Retrying(
            stop=stop,
            wait=wait,
            sleep=sleep,
            retry=tenacity.retry_if_exception_type(RetryableError),
            before_sleep=before_sleep,
            reraise=True,
        ):
            with trial:
                return attempt()
    except RetryableError as last:
        raise _final(last, attempts) from None
    raise AssertionError("unreachable")  # pragma: no cover


def prefer_answer(
    err: RetryableError, previous: RetryableError | None, now: float, deadline: float
) -> RetryableError:
    """The error to report for an attempt: when the deadline cut it short (a
    transport error at or past the deadline), an earlier answer from the
    server (404, 500, 429) says more about what is wrong than "timed out"."""
    if previous is not None and previous.status is not None and err.status is None and now >= deadline:
        return previous
    return err


def _final(err: RetryableError, attempts: int) -> RetryableError:
    plural = "s" if attempts != 1 else ""
    return RetryableError(f"{err} (after {attempts} attempt{plural})", status=err.status)
