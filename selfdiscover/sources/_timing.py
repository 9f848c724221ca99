"""Timeouts and retries as values you pass, not constants you hunt for, and
the one rule for seconds read from text (a variable, an option).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TOTAL = 10.0
# Every limit is a bound: positive, finite and at most an hour.
MAX_SECONDS = 3600.0


def seconds(value: float, what: str, *, shown: str | None = None) -> float:
    """``value`` if it is in (0, 3600] seconds, else a ``ValueError`` naming
    ``what``. The comparison also rejects nan and inf: a deadline that is not
    finite is no deadline."""
    if not 0 < value <= MAX_SECONDS:
        raise ValueError(f"{what} must be in (0, {MAX_SECONDS:g}] seconds, got {shown or repr(value)}")
    return value


def parse_seconds(text: str, what: str) -> float:
    """Seconds from a variable or an option, held to the same bound."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number of seconds, got {text!r}") from None
    return seconds(value, what, shown=repr(text))


@dataclass(frozen=True, slots=True)
class Timeout:
    """Limits in seconds. ``total`` is the one overall deadline for a discovery.

    ``connect`` is short on purpose: the agent is on this host, so a connect
    that does not complete quickly is a DROP rule, not a slow network. The
    default total stays well under ECS's 30 s stop timeout.
    """

    connect: float = 0.5
    read: float = 2.0
    total: float = DEFAULT_TOTAL

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            seconds(getattr(self, name), f"Timeout.{name}")


@dataclass(frozen=True, slots=True)
class Retry:
    """Backoff shape: the first wait is at most ``initial`` seconds, each later
    one's bound doubles up to ``maximum``; waits are random below that bound
    ("full jitter") and never run past the deadline (the whole rule, with its
    lag cap, is in ``selfdiscover.sources._retry``).

    ``initial`` is small because the usual outage at container start (the agent
    has not recorded the container yet) lasts milliseconds; ``maximum`` is small
    because the time to ready after an outage is bounded by one wait.
    ``enabled=False`` is the testing switch: exactly one attempt.
    """

    initial: float = 0.05
    maximum: float = 0.5
    enabled: bool = True
