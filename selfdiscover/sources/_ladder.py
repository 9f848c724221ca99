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

from .._containerid import Identity
from .._errors import AgentUnavailableError, DiscoveryError, NotInECSError, RetryableError
from .._model import TaskInfo
from ._timing import Timeout


@dataclass
class Context:
    environ: Mapping[str, str]
    proc_root: str
    identity: Identity
    timeout: Timeout
    evidence: list[str]
    agent_url: str | None = None  # an explicit introspection URL
    in_ecs: bool = False
    tags: bool = False  # ask for task and container-instance tags (TMDE /taskWithTags)


@dataclass
class Attempt:
    """One try of one source, for ``doctor`` and error messages."""

    source: str
    target: str
    elapsed: float
    ok: bool
    detail: str


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
    # The sources worth another round, and the last error of each.
    retryable: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _errors: dict[tuple[str, str], RetryableError] = field(default_factory=dict, init=False, repr=False)

    def round(self, ctx: Context, deadline: float) -> TaskInfo:
        """Try each applicable source once (after the first round: only those
        worth retrying); return the first answer or raise what went wrong."""
        only = set(self.retryable) or None
        self.retryable.clear()
        last: DiscoveryError | None = None
        for src in self.sources:
            for target in src.targets(ctx):
                key = (src.name, target)
                if (only is not None and key not in only) or deadline - time.monotonic() <= 0:
                    continue
                t0 = time.monotonic()
                try:
                    info = src.fetch(ctx, target, deadline)
                except DiscoveryError as e:
                    self.attempts.append(Attempt(src.name, target, time.monotonic() - t0, False, str(e)))
                    last = e
                    if isinstance(e, RetryableError):
                        self.retryable.add(key)
                        self._errors[key] = e
                    continue
                self.attempts.append(Attempt(src.name, target, time.monotonic() - t0, True, info.arn))
                return info
        if self.retryable and ctx.in_ecs:
            statuses = {self._errors[k].status for k in self.retryable}
            # Every source answered 404: the agent is up and does not know us.
            raise RetryableError(self.summary(), status=404 if statuses == {404} else None)
        if last is None:
            if ctx.in_ecs:  # sources apply, only time ran out: never "not ECS"
                raise AgentUnavailableError("the deadline passed before any source could be tried")
            raise NotInECSError("no metadata source applies here")
        if isinstance(last, RetryableError):
            raise AgentUnavailableError(self.summary())
        raise last

    def summary(self) -> str:
        """One line: the latest outcome of each source tried."""
        latest: dict[tuple[str, str], Attempt] = {}
        for a in self.attempts:
            latest[(a.source, a.target)] = a
        return "; ".join(f"{a.source} {a.target}: {a.detail}" for a in latest.values())


__all__ = ["Attempt", "Context", "Ladder", "Source"]
