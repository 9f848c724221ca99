"""The retry policy of ``selfdiscover.sources._retry`` on a virtual clock: every wait,
the deadline and the attempt count, checked against the formula its module
docstring states, with no real sleeping. The request counts and time bounds
against a real agent are in test_agent.py and test_discover.py."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator

import pytest

from selfdiscover import Retry
from selfdiscover._errors import RetryableError
from selfdiscover.sources._retry import call

INITIAL, MAXIMUM, LAST_TRY = 0.05, 0.5, 0.05


class Clock:
    """A virtual ``time.monotonic`` and ``time.sleep``; each attempt costs ``cost`` seconds."""

    def __init__(self, cost: float = 0.0) -> None:
        self.now = 0.0
        self.cost = cost
        self.starts: list[float] = []
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def failing(self, until: float = float("inf")) -> str:
        """One attempt: fails while the virtual time is before ``until``."""
        self.starts.append(self.now)
        self.now += self.cost
        if self.starts[-1] < until:
            raise RetryableError("connection refused")
        return "ok"


@pytest.fixture(autouse=True)
def seeded() -> Iterator[None]:
    """tenacity draws from the global ``random``: seed it, and give it back as it was."""
    state = random.getstate()
    random.seed(20261201)
    yield
    random.setstate(state)


def window(n: int, elapsed: float) -> float:
    """The docstring's bound on the wait after attempt ``n``, written out independently."""
    return min(INITIAL * 2.0 ** (n - 1), MAXIMUM, 0.05 + 0.1 * elapsed)


def run(clock: Clock, deadline: float, until: float = float("inf")) -> tuple[str | None, str]:
    try:
        result = call(
            lambda: clock.failing(until), deadline=deadline, retry=Retry(), clock=clock, sleep=clock.sleep
        )
        return result, ""
    except RetryableError as e:
        return None, str(e)


def test_every_wait_is_uniform_below_the_three_caps() -> None:
    ratios: list[float] = []
    for _ in range(300):
        clock = Clock(cost=0.001)
        run(clock, deadline=3.0)
        assert len(clock.sleeps) == len(clock.starts) - 1
        for n, (start, wait) in enumerate(zip(clock.starts, clock.sleeps, strict=False), start=1):
            before = start + clock.cost  # when attempt n failed
            cap = min(window(n, before), 3.0 - LAST_TRY - before)
            assert 0 <= wait <= cap + 1e-12, (n, wait, cap)
            if cap == window(n, before):  # not cut by the deadline
                ratios.append(wait / cap)
    # Drawn below the cap, not clipped at it: the share of waits within 1% of
    # their cap is about 1%, and the mean is half the cap. (Clipping a wider
    # draw at the lag cap would put most waits exactly on it.)
    assert len(ratios) > 5000
    assert sum(r > 0.99 for r in ratios) / len(ratios) < 0.03
    assert 0.45 < sum(ratios) / len(ratios) < 0.55


def test_the_first_waits_double_from_initial() -> None:
    # An attempt costing 1 s makes the lag cap (0.05 + 10% of elapsed) wider
    # than the exponential one, which then shows alone: 0.05, 0.1, 0.2, 0.4, 0.5.
    highest = [0.0] * 6
    for _ in range(400):
        clock = Clock(cost=1.0)
        run(clock, deadline=7.5)
        for n, wait in enumerate(clock.sleeps[:6]):
            highest[n] = max(highest[n], wait)
    for n, high in enumerate(highest, start=1):
        bound = min(INITIAL * 2 ** (n - 1), MAXIMUM)
        assert 0.9 * bound < high <= bound, (n, high, bound)


def test_the_lag_cap_bounds_time_to_ready() -> None:
    for outage in (0.5, 2.0, 5.0):
        late = []
        for _ in range(200):
            clock = Clock()
            assert run(clock, deadline=60.0, until=outage)[0] == "ok"
            late.append(clock.starts[-1] - outage)
        # The last failure came before the outage ended, so the attempt after it
        # starts at most 0.05 s + 10% of the outage late.
        assert max(late) <= 0.05 + 0.1 * outage + 1e-9, (outage, max(late))
        assert max(late) > 0.5 * (0.05 + 0.1 * outage)  # and the bound is not loose by much


def test_no_attempt_starts_within_the_reserve_and_the_count_is_reported() -> None:
    for cost in (0.0, 0.01, 0.2):
        clock = Clock(cost=cost)
        result, message = run(clock, deadline=1.2)
        assert result is None
        assert all(start <= 1.2 - LAST_TRY + 1e-9 for start in clock.starts), clock.starts
        # It stopped only when the reserve was all that was left.
        assert clock.now >= 1.2 - LAST_TRY - 1e-9, clock.now
        assert message == f"connection refused (after {len(clock.starts)} attempts)"


def test_on_retry_hears_each_failed_attempt_and_its_wait() -> None:
    clock = Clock(cost=0.002)
    heard: list[tuple[int, str, float]] = []

    def on_retry(n: int, err: BaseException, wait: float) -> None:
        heard.append((n, str(err), wait))

    result = call(
        lambda: clock.failing(until=0.3),
        deadline=5.0,
        retry=Retry(),
        on_retry=on_retry,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result == "ok"
    assert [n for n, _, _ in heard] == list(range(1, len(clock.starts)))
    assert [w for _, _, w in heard] == clock.sleeps
    assert {e for _, e, _ in heard} == {"connection refused"}


@pytest.mark.parametrize(
    ("retry", "deadline"), [(Retry(enabled=False), 10.0), (Retry(), LAST_TRY)], ids=["off", "no-time-left"]
)
def test_one_attempt_when_retries_are_off_or_no_time_is_left(retry: Retry, deadline: float) -> None:
    clock = Clock()
    with pytest.raises(RetryableError, match=r"^connection refused \(after 1 attempt\)$") as e:
        call(clock.failing, deadline=deadline, retry=retry, clock=clock, sleep=clock.sleep)
    assert len(clock.starts) == 1 and clock.sleeps == []
    assert e.value.status is None


def test_a_non_retryable_error_ends_the_loop_at_once() -> None:
    clock = Clock()
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryableError("HTTP 503", status=503)
        raise LookupError("the agent answered, and badly")

    with pytest.raises(LookupError):
        call(fn, deadline=10.0, retry=Retry(), clock=clock, sleep=clock.sleep)
    assert len(calls) == 3 and len(clock.sleeps) == 2


def test_each_attempt_is_one_call_of_fn_and_tenacity_counts_the_calls() -> None:
    """No attempt is replayed: each error ``on_retry`` hears was raised once, by
    its own call of ``fn``, and the number it comes with is the count of calls so far."""
    clock = Clock(cost=0.01)
    raised: list[RetryableError] = []
    heard: list[tuple[int, BaseException, int]] = []

    def fn() -> str:
        clock.now += clock.cost
        if len(raised) == 5:
            return "ok"
        raised.append(RetryableError(f"connection refused #{len(raised) + 1}"))
        raise raised[-1]

    def on_retry(n: int, err: BaseException, wait: float) -> None:
        heard.append((n, err, len(raised)))

    assert call(fn, deadline=5.0, retry=Retry(), on_retry=on_retry, clock=clock, sleep=clock.sleep) == "ok"
    assert len(raised) == 5 and len(clock.sleeps) == 5  # six calls of fn, five waits
    assert [(n, calls) for n, _, calls in heard] == [(k, k) for k in range(1, 6)]
    assert all(err is mine for (_, err, _), mine in zip(heard, raised, strict=True))
    for err in raised:  # raised by fn and caught by the loop that called it, never raised again
        frames, tb = [], err.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        assert frames == ["call", "fn"], frames


def test_the_attempt_after_a_cut_wait_is_the_last() -> None:
    """Whatever the clock says after it: here each sleep advances the clock by
    only half the time asked, so time is still left when that attempt fails."""
    clock = Clock()
    deadline = 1.0

    def half_sleep(seconds: float) -> None:
        assert len(clock.sleeps) < 200, "the loop did not stop after the cut wait"
        clock.sleeps.append(seconds)
        clock.now += seconds / 2

    with pytest.raises(RetryableError) as info:
        call(clock.failing, deadline=deadline, retry=Retry(), clock=clock, sleep=half_sleep)
    rooms = [deadline - LAST_TRY - start for start in clock.starts]  # attempts cost nothing here
    assert len(clock.sleeps) == len(clock.starts) - 1
    assert all(wait < room for wait, room in zip(clock.sleeps[:-1], rooms, strict=False))  # not cut
    assert clock.sleeps[-1] == pytest.approx(rooms[-2])  # the last wait was cut to the room left
    assert rooms[-1] > 0  # and the attempt after it was the last, with time still left
    assert str(info.value) == f"connection refused (after {len(clock.starts)} attempts)"


def test_status_survives_and_success_needs_no_tenacity() -> None:
    code = """
import sys, time
from selfdiscover import Retry
from selfdiscover._errors import RetryableError
from selfdiscover.sources._retry import call
assert call(lambda: 42, deadline=time.monotonic() + 5, retry=Retry()) == 42
assert "tenacity" not in sys.modules, "a healthy first attempt imported tenacity"
def fail():
    raise RetryableError("HTTP 404", status=404)
try:
    call(fail, deadline=time.monotonic() + 5, retry=Retry(enabled=False))
    raise SystemExit("no error")
except RetryableError:
    pass
assert "tenacity" not in sys.modules, "a single attempt imported tenacity"
try:
    call(fail, deadline=time.monotonic() + 0.3, retry=Retry())
    raise SystemExit("no error")
except RetryableError as e:
    assert e.status == 404 and "attempts)" in str(e), e
assert "tenacity" in sys.modules
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_a_try_the_deadline_cuts_short_does_not_hide_the_servers_answer() -> None:
    """Every attempt answers 404 until the last, which the deadline cuts off mid-body:
    the error reports the 404 the server kept giving, not "timed out"."""
    clock = Clock(cost=0.01)
    deadline = 1.0

    def attempt() -> str:
        clock.starts.append(clock.now)
        if deadline - clock.now < 0.06:  # the last try: the watchdog fires at the deadline
            clock.now = deadline
            raise RetryableError("127.0.0.1:1: body still arriving at the deadline")
        clock.now += clock.cost
        raise RetryableError("agent has no container x (HTTP 404)", status=404)

    with pytest.raises(RetryableError) as info:
        call(attempt, deadline=deadline, retry=Retry(), clock=clock, sleep=clock.sleep)
    assert info.value.status == 404 and "HTTP 404" in str(info.value)
    assert deadline - clock.starts[-1] < 0.06  # the cut-short attempt did happen
    # An error at the deadline with no earlier answer is reported as it is.
    clock2 = Clock()
    with pytest.raises(RetryableError, match="timed out"):
        call(
            lambda: (_ for _ in ()).throw(RetryableError("timed out")),
            deadline=0.0,
            retry=Retry(),
            clock=clock2,
            sleep=clock2.sleep,
        )


@pytest.mark.parametrize(
    ("previous", "status"), [("HTTP 404 not found", 404), ("connection reset by peer", None), (None, None)]
)
def test_a_try_the_deadline_cut_short_reports_the_earlier_failure(
    previous: str | None, status: int | None
) -> None:
    """'timed out' at the deadline only says time ran out: an earlier failure says what is wrong."""
    from selfdiscover._errors import RetryableError
    from selfdiscover.sources._retry import prefer_answer

    cut = RetryableError("timed out")
    earlier = None if previous is None else RetryableError(previous, status=status)
    assert prefer_answer(cut, earlier, now=10.0, deadline=10.0) is (earlier or cut)
    assert prefer_answer(cut, earlier, now=9.0, deadline=10.0) is cut  # before the deadline: its own cause
    answered = RetryableError("HTTP 500", status=500)  # an answer is never replaced
    assert prefer_answer(answered, earlier, now=10.0, deadline=10.0) is answered
