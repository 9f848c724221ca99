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

tenacity is imported on the first retry, not with this module: it adds about
23 M instructions (5 ms) to a shim start whose first request succeeds, more
than half the shim's own cost. A ``tenacity.Retrying`` loop would need it
before attempt 1, so this is a plain loop that keeps tenacity's
``RetryCallState`` from the first failure on and draws each wait with
``wait_random_exponential``; every attempt is one call of ``fn``. Works with
tenacity 8.0 and later.
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
    state: tenacity.RetryCallState | None = None  # from the first failure on
    error: RetryableError | None = None
    cut = False  # the wait before this attempt was cut short by the deadline
    while True:
        try:
            return fn()
        except RetryableError as e:
            error = prefer_answer(e, error, clock(), deadline)
        n = 1 if state is None else state.attempt_number
        now = clock()
        room = deadline - _LAST_TRY - now  # the longest wait that keeps the reserve
        if cut or not retry.enabled or room <= 0:
            raise _final(error, n) from None
        import tenacity  # on the first retry: see the module docstring

        if state is None:  # tenacity's count of attempts; the Retrying it names is never run
            state = tenacity.RetryCallState(tenacity.Retrying(), fn, (), {})
        window = min(retry.maximum, _LAG_FLOOR + _LAG * (now - start))
        wait = tenacity.wait_random_exponential(multiplier=retry.initial, max=window)(state)
        cut = wait >= room
        wait = min(wait, room)
        if on_retry is not None:
            on_retry(n, error, wait)
        sleep(wait)
        state.prepare_for_next_attempt()


def prefer_answer(
    err: RetryableError, previous: RetryableError | None, now: float, deadline: float
) -> RetryableError:
    """The error to report for an attempt: when the deadline cut it short (a
    transport error at or past the deadline), the earlier failure (a 404, 500
    or 429 from the server, a reset, a refusal) says more about what is wrong
    than "timed out", which only says that time ran out."""
    if previous is not None and err.status is None and now >= deadline:
        return previous
    return err


def _final(err: RetryableError, attempts: int) -> RetryableError:
    plural = "s" if attempts != 1 else ""
    return RetryableError(f"{err} (after {attempts} attempt{plural})", status=err.status)
