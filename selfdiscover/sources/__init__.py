"""Where a task can be learned from, each behind one small interface.

A source has a ``name``, says whether it applies (its variable is set, a
gateway exists...) at no cost, and fetches a ``TaskInfo`` once. The ladder in
``discover()`` tries every applicable source once per round, so a blocked
port costs one connect timeout, not the whole deadline; rounds repeat with
jittered backoff while any failure is worth retrying.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .._identity import Identity
from .._model import TaskInfo
from .._policy import Timeout


@dataclass
class Context:
    environ: Mapping[str, str]
    proc_root: str
    identity: Identity
    timeout: Timeout
    evidence: list[str]
    agent_url: str | None = None  # an explicit introspection URL
    in_ecs: bool = False


@dataclass
class Attempt:
    """One try of one source, for ``doctor`` and error messages."""

    source: str
    target: str
    elapsed: float
    ok: bool
    detail: str
    retryable: bool = False


class Source(Protocol):
    name: str

    def targets(self, ctx: Context) -> list[str]:
        """Where this source would look; empty means "does not apply here"."""
        ...

    def fetch(self, ctx: Context, target: str, deadline: float) -> TaskInfo:
        """One attempt; raises a ``DiscoveryError`` (``RetryableError`` if worth retrying)."""
        ...


@dataclass
class Ladder:
    sources: list[Source]
    attempts: list[Attempt] = field(default_factory=list)

    def round(self, ctx: Context, deadline: float, only_retryable: set[tuple[str, str]] | None) -> TaskInfo:
        from .._errors import DiscoveryError, NotInECSError, RetryableError

        retryable: set[tuple[str, str]] = set()
        last: DiscoveryError | None = None
        for src in self.sources:
            for target in src.targets(ctx):
                key = (src.name, target)
                if only_retryable is not None and key not in only_retryable:
                    continue
                if deadline - time.monotonic() <= 0:
                    break
                t0 = time.monotonic()
                try:
                    info = src.fetch(ctx, target, deadline)
                except RetryableError as e:
                    self.attempts.append(
                        Attempt(src.name, target, time.monotonic() - t0, False, str(e), True)
                    )
                    retryable.add(key)
                    last = e
                    continue
                except DiscoveryError as e:
                    self.attempts.append(Attempt(src.name, target, time.monotonic() - t0, False, str(e)))
                    last = e
                    continue
                self.attempts.append(Attempt(src.name, target, time.monotonic() - t0, True, info.arn))
                return info
        if retryable and ctx.in_ecs:
            self._retryable = retryable
            raise RetryableError(self.summary())
        if last is None:
            if ctx.in_ecs:  # sources apply, only time ran out: never "not ECS"
                from .._errors import AgentUnavailableError

                raise AgentUnavailableError("the deadline passed before any source could be tried")
            raise NotInECSError("no metadata source applies here")
        if isinstance(last, RetryableError):
            from .._errors import AgentUnavailableError

            raise AgentUnavailableError(self.summary())
        raise last

    def summary(self) -> str:
        """One line: the latest outcome of each source tried."""
        latest: dict[tuple[str, str], Attempt] = {}
        for a in self.attempts:
            latest[(a.source, a.target)] = a
        return "; ".join(f"{a.source} {a.target}: {a.detail}" for a in latest.values())

    _retryable: set[tuple[str, str]] = field(default_factory=set)


__all__ = ["Attempt", "Context", "Ladder", "Source"]
