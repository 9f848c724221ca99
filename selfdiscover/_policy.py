"""Timeouts and retries as values you pass, not constants you hunt for.

Kept free of imports so ``import selfdiscover`` stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_TOTAL = 10.0


@dataclass(frozen=True)
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
            value = getattr(self, name)
            if not 0 < value <= 3600:  # also rejects nan and inf: every deadline must be a bound
                raise ValueError(f"Timeout.{name} must be in (0, 3600] seconds, got {value!r}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Timeout:
        """``SELFDISCOVER_TIMEOUT`` (seconds) sets ``total``; a bad value is an error."""
        env = os.environ if environ is None else environ
        raw = env.get("SELFDISCOVER_TIMEOUT", "").strip()
        if not raw:
            return cls()
        try:
            total = float(raw)
        except ValueError:
            raise ValueError(f"SELFDISCOVER_TIMEOUT must be a number of seconds, got {raw!r}") from None
        if not (0 < total <= 3600):
            raise ValueError(f"SELFDISCOVER_TIMEOUT must be in (0, 3600], got {raw!r}")
        return cls(total=total)


@dataclass(frozen=True)
class Retry:
    """Backoff shape: each wait is uniform in ``[0, min(maximum, initial * 2**n)]``
    ("full jitter"), never past the deadline.

    ``initial`` is small because the usual outage at container start (the agent
    has not recorded the container yet) lasts milliseconds; ``maximum`` is small
    because the time to ready after an outage is bounded by one wait.
    ``enabled=False`` is the testing switch: exactly one attempt.
    """

    initial: float = 0.05
    maximum: float = 0.5
    enabled: bool = True

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Retry:
        """``SELFDISCOVER_RETRIES=0`` turns retries off (one attempt)."""
        env = os.environ if environ is None else environ
        off = env.get("SELFDISCOVER_RETRIES", "").strip().lower() in ("0", "false", "no", "off")
        return cls(enabled=not off)
