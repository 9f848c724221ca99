"""``discover()``: own container ID -> the agent -> one ``TaskInfo``.

The rule that keeps images usable outside ECS lives here: with no sign of ECS
(no ECS variables, no ECS cgroup path, no agent URL given) a refused
connection means "not in ECS" at once; with evidence of ECS the same failure
is retried until the deadline and then reported as the agent's fault.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from . import _containerid, _files, _settings
from ._errors import (
    AgentUnavailableError,
    DiscoveryError,
    NotInECSError,
    RetryableError,
    SourceConflictError,
    TaskNotFoundError,
)
from ._model import SourceLabel, TaskInfo, disagreements
from ._settings import Settings
from .sources import _retry, make_sources
from .sources._ladder import Context, Ladder
from .sources._timing import Retry, Timeout

# Variables the agent (or Fargate) puts in every task container.
ECS_VARIABLES = (
    "ECS_CONTAINER_METADATA_URI_V4",
    "ECS_CONTAINER_METADATA_URI",
    "ECS_AGENT_URI",
    "ECS_CONTAINER_METADATA_FILE",
)


def ecs_evidence(environ: Mapping[str, str], proc_root: str = "/proc") -> list[str]:
    """Reasons to believe this is an ECS task container, in plain words.

    Empty means "nothing says ECS": a laptop, CI, plain Docker.
    """
    reasons = [f"${name} is set" for name in ECS_VARIABLES if environ.get(name)]
    if environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_ECS"):
        reasons.append(f"$AWS_EXECUTION_ENV={environ['AWS_EXECUTION_ENV']}")
    text = _files.read_bounded(os.path.join(proc_root, "self", "cgroup"), 64 * 1024)
    if text and ("/ecs/" in text or "ecstasks" in text):
        reasons.append("/proc/self/cgroup has an ECS task path")
    return reasons


def make_context(
    settings: Settings,
    *,
    timeout: Timeout | None = None,
    docker_id: str | None = None,
    proc_root: str,
    environ: Mapping[str, str],
) -> Context:
    """What every source consults. ``timeout`` and ``docker_id`` are what the
    caller passed; ``settings`` has the rest, and the variables' values."""
    if timeout is None:
        timeout = Timeout() if settings.timeout is None else Timeout(total=settings.timeout)
    explicit_url = settings.agent_url
    if explicit_url:
        from .sources._http import split_base

        split_base(explicit_url)  # a bad URL is a usage error (ValueError), said before any waiting
    evidence = ecs_evidence(environ, proc_root)
    if explicit_url:  # the README's definition: an agent URL given counts as evidence
        evidence.append(f"an agent URL was given ({explicit_url})")
    if docker_id is not None:
        ident = _containerid.Identity(docker_id.strip().lower(), "argument", "passed by the caller")
    else:
        if settings.docker_id:
            _containerid.check_container_id(settings.docker_id)  # set but invalid: say so, do not read /proc
        ident = _containerid.identify(proc_root, environ)
    return Context(
        environ=environ,
        proc_root=proc_root,
        identity=ident,
        timeout=timeout,
        evidence=evidence,
        settings=settings,
    )


def discover(
    *,
    agent_url: str | None = None,
    timeout: Timeout | float | None = None,
    retry: Retry | None = None,
    docker_id: str | None = None,
    sources: Sequence[str] | None = None,
    verify: bool | None = None,
    tags: bool | None = None,
    proc_root: str = "/proc",
    environ: Mapping[str, str] | None = None,
) -> TaskInfo:
    """Find the ECS task this process runs in.

    Sources are tried in ``sources`` order (default ``SELFDISCOVER_SOURCES`` or
    agent-url, tmde-v4, tmde-v3, metadata-file, agent-localhost,
    agent-gateway), each once per round, rounds repeated with jittered
    backoff until one answers or the deadline (``timeout``, default
    ``SELFDISCOVER_TIMEOUT`` or 10 s) passes.

    With ``verify`` (default ``SELFDISCOVER_VERIFY``), every other applicable
    source is asked once too, within the same deadline, and any disagreement
    on the task ARN, family or revision raises ``SourceConflictError``: it is
    reported, never hidden behind the first answer.

    With ``tags`` (default ``SELFDISCOVER_TAGS``), TMDE is asked for
    ``/taskWithTags`` instead of ``/task`` (the same one request), filling
    ``task_tags`` and ``container_instance_tags``.

    When the answer has no host address, the metadata file (if the agent
    writes one) fills it, then, with ``SELFDISCOVER_IMDS=1``, the EC2
    instance metadata service (IMDSv2), within the same deadline; a failure
    there is a warning in ``TaskInfo.warnings``, never an error.

    Raises ``NotInECSError`` when nothing suggests ECS, and another
    ``DiscoveryError`` when this is ECS but the task cannot be learned.
    """
    env = os.environ if environ is None else environ
    if timeout is not None and not isinstance(timeout, Timeout):
        timeout = Timeout(total=float(timeout))
    settings = _settings.read(
        env,
        agent_url=agent_url,
        timeout=None if timeout is None else timeout.total,
        sources=None if sources is None else tuple(sources),
        verify=verify,
        tags=tags,
    )
    return discover_with(
        settings, timeout=timeout, retry=retry, docker_id=docker_id, proc_root=proc_root, environ=env
    )


def discover_with(
    settings: Settings,
    *,
    timeout: Timeout | None = None,
    retry: Retry | None = None,
    docker_id: str | None = None,
    proc_root: str = "/proc",
    environ: Mapping[str, str] | None = None,
) -> TaskInfo:
    """``discover()`` with its settings already read (the command line's)."""
    env = os.environ if environ is None else environ
    ctx = make_context(settings, timeout=timeout, docker_id=docker_id, proc_root=proc_root, environ=env)
    if retry is None:
        retry = Retry(enabled=settings.retries)
    ladder = Ladder(make_sources(settings.sources))
    deadline = time.monotonic() + ctx.timeout.total
    info = run_ladder(ladder, ctx, retry, deadline)
    if settings.verify:
        cross_check(info, ladder, ctx, deadline)
    return complete_host_address(info, ctx, deadline)


def complete_host_address(info: TaskInfo, ctx: Context, deadline: float) -> TaskInfo:
    """Fill ``host_ipv4`` when the answering source could not: from the
    metadata file (a local read), then from IMDS if opted in. Neither ever
    fails discovery."""
    if info.host_ipv4:
        return info
    env = ctx.environ
    path = (env.get("ECS_CONTAINER_METADATA_FILE") or "").strip()
    if path and getattr(info.source, "name", None) != "metadata-file":
        from .sources.metadata_file import MetadataFile

        try:
            host = MetadataFile().fetch(ctx, path, deadline).host_ipv4
        except DiscoveryError:
            host = None
        if host:
            return replace(info, host_ipv4=host)
    if info.launch_type == "FARGATE" or not ctx.settings.imds:
        return info  # Fargate has no IMDS
    from .sources import imds

    try:
        host = imds.local_ipv4(ctx.settings.imds_url, ctx.timeout, deadline)
    except imds.IMDSError as e:
        return replace(info, warnings=(*info.warnings, f"host address unknown: {e}"))
    return replace(info, host_ipv4=host)


def cross_check(info: TaskInfo, ladder: Ladder, ctx: Context, deadline: float) -> list[TaskInfo]:
    """Ask every other applicable source once; raise on any disagreement.

    A source that fails to answer is no disagreement: only two answers can
    contradict each other. Returns the other answers.
    """
    src = info.source
    skip = (src.name, src.target) if isinstance(src, SourceLabel) else None
    answers = [a.info for a in ladder.survey(ctx, deadline, skip=skip) if a.info is not None]
    for other in answers:
        for field, mine, theirs in disagreements(info, other):
            raise SourceConflictError(
                f"sources disagree on the task {field}: {info.source} says {mine!r}, "
                f"{other.source} says {theirs!r}"
            )
    return answers


def run_ladder(ladder: Ladder, ctx: Context, retry: Retry, deadline: float) -> TaskInfo:
    if not any(src.targets(ctx) for src in ladder.sources):
        if ctx.in_ecs:
            names = ", ".join(src.name for src in ladder.sources)
            own = ctx.identity.container_id or "not found (set SELFDISCOVER_DOCKER_ID)"
            raise DiscoveryError(
                f"in ECS ({ctx.evidence[0]}) but none of the sources "
                f"({names}) applies here: container ID {own}, no metadata endpoint variable set"
            )
        raise NotInECSError("not running in ECS: no container ID and no ECS metadata variables")

    def one_round() -> TaskInfo:
        return ladder.round(ctx, deadline)

    # Without evidence, one quick round: an absent agent means "not ECS", and
    # a laptop should not wait ten seconds to learn that.
    try:
        return _retry.call(one_round, deadline=deadline, retry=retry if ctx.in_ecs else Retry(enabled=False))
    except DiscoveryError as e:
        if not ctx.in_ecs:  # whatever answered on localhost, this is not an ECS task
            raise NotInECSError(f"not running in ECS: no ECS variables, and {ladder.summary()}") from None
        if not isinstance(e, AgentUnavailableError):
            raise
        if isinstance(e, RetryableError) and e.status == 404:
            raise TaskNotFoundError(
                f"the agent does not know this container after {ctx.timeout.total:g}s: {e}"
            ) from None
        raise AgentUnavailableError(
            f"no answer from any ECS metadata source within {ctx.timeout.total:g}s: {e}"
        ) from None
