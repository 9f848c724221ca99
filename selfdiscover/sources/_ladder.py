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
from .._settings import Settings
from ._retry import prefer_answer
from ._timing import Timeout


@dataclass(frozen=True, slots=True)
class Context:
    """What every source may consult: the environment, the proc root, this
    container's ID, the timeouts, the evidence of ECS and the settings (an
    explicit agent URL, whether to ask for tags...)."""

    environ: Mapping[str, str]
    proc_root: str
    identity: Identity
    timeout: Timeout
    evidence: list[str]
    settings: Settings = field(default_factory=Settings)

    @property
    def in_ecs(self) -> bool:
        return bool(self.evidence)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one source, for ``doctor`` and error messages."""

    source: str
    target: str
    elapsed: float
    detail: str
    info: TaskInfo | None = None


class Source(Protocol):
    name: str
    # For ``doctor``: why the source does not apply when ``targets`` is empty.
    skipped: str

    def hint(self, detail: str, ctx: Context) -> str | None:
        """For ``doctor``: what a failure with this ``detail`` most likely
        means for this source, or ``None`` for the generic reading."""
        ...

    def targets(self, ctx: Context) -> list[str]:
        """Where this source would look; empty means "does not apply here"."""
        ...

    def fetch(self, ctx: Context, target: str, deadline: float) -> TaskInfo:
        """One attempt; raises a ``DiscoveryError`` (``RetryableError`` if worth retrying)."""
        ...


class Ladder:
    """The sources in order, and every attempt made so far."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        self.attempts: list[Attempt] = []
        # The sources worth another round, and the last error of each.
        self.retryable: set[tuple[str, str]] = set()
        self._errors: dict[tuple[str, str], RetryableError] = {}
        self._last: DiscoveryError | None = None  # this round's last failure

    def _try(
        self, src: Source, ctx: Context, target: str, deadline: float, *, survey: bool = False
    ) -> Attempt:
        t0 = time.monotonic()
        try:
            info = src.fetch(ctx, target, deadline)
        except ValueError as e:  # a malformed target: in a survey, one more failed source
            if not survey:
                raise
            attempt = Attempt(src.name, target, time.monotonic() - t0, str(e))
        except DiscoveryError as e:
            key = (src.name, target)
            if isinstance(e, RetryableError):
                e = prefer_answer(e, self._errors.get(key), time.monotonic(), deadline)
                self.retryable.add(key)
                self._errors[key] = e
            attempt = Attempt(src.name, target, time.monotonic() - t0, str(e))
            self._last = e
        else:
            attempt = Attempt(src.name, target, time.monotonic() - t0, info.arn, info)
        self.attempts.append(attempt)
        return attempt

    def survey(
        self, ctx: Context, deadline: float, *, skip: tuple[str, str] | None = None, per_attempt: float = 0.0
    ) -> list[Attempt]:
        """Every applicable source once (but ``skip``), whatever each answers:
        for ``verify`` and ``doctor``. ``per_attempt`` (if set) caps each try."""
        out: list[Attempt] = []
        for src in self.sources:
            for target in src.targets(ctx):
                if (src.name, target) == skip:
                    continue
                if deadline - time.monotonic() <= 0:
                    return out
                end = min(deadline, time.monotonic() + per_attempt) if per_attempt else deadline
                out.append(self._try(src, ctx, target, end, survey=True))
        return out

    def round(self, ctx: Context, deadline: float) -> TaskInfo:
        """Try each applicable source once (after the first round: only those
        worth retrying); return the first answer or raise what went wrong."""
        only = set(self.retryable) or None
        self.retryable.clear()
        self._last = None
        for src in self.sources:
            for target in src.targets(ctx):
                key = (src.name, target)
                if (only is not None and key not in only) or deadline - time.monotonic() <= 0:
                    continue
                attempt = self._try(src, ctx, target, deadline)
                if attempt.info is not None:
                    return attempt.info
        last = self._last
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
