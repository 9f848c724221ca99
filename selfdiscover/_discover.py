"""``discover()``: own container ID -> the agent -> one ``TaskInfo``.

The rule that keeps images usable outside ECS lives here: with no sign of ECS
(no ECS variables, no ECS cgroup path, no agent URL given) a refused
connection means "not in ECS" at once; with evidence of ECS the same failure
is retried until the deadline and then reported as the agent's fault.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping

from . import _identity
from ._agent import DEFAULT_AGENT_URL, AgentClient
from ._errors import AgentUnavailableError, DiscoveryError, NotInECSError, SelfdiscoverError
from ._model import TaskInfo
from ._policy import Retry, Timeout

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
    text = _identity.read_bounded(os.path.join(proc_root, "self", "cgroup"), 64 * 1024)
    if text and ("/ecs/" in text or "ecstasks" in text):
        reasons.append("/proc/self/cgroup has an ECS task path")
    return reasons


def discover(
    *,
    agent_url: str | None = None,
    timeout: Timeout | float | None = None,
    retry: Retry | None = None,
    docker_id: str | None = None,
    proc_root: str = "/proc",
    environ: Mapping[str, str] | None = None,
) -> TaskInfo:
    """Find the ECS task this process runs in.

    Raises ``NotInECSError`` when nothing suggests ECS, and another
    ``DiscoveryError`` when this is ECS but the task cannot be learned before
    the deadline (``timeout``, default ``SELFDISCOVER_TIMEOUT`` or 10 s).
    """
    env = os.environ if environ is None else environ
    if timeout is None:
        timeout = Timeout.from_env(dict(env))
    elif not isinstance(timeout, Timeout):
        timeout = Timeout(total=float(timeout))
    if retry is None:
        retry = Retry.from_env(dict(env))
    deadline = time.monotonic() + timeout.total

    explicit_url = agent_url or env.get("SELFDISCOVER_AGENT_URL") or None
    url = explicit_url or DEFAULT_AGENT_URL
    evidence = ecs_evidence(env, proc_root)

    rule = "argument"
    if docker_id is None:
        ident = _identity.identify(proc_root, env)
        docker_id, rule = ident.container_id, ident.rule
    if not docker_id:
        if evidence:
            raise DiscoveryError(
                f"in ECS ({evidence[0]}) but no container ID in /proc/self/cgroup or "
                "/proc/self/mountinfo; set SELFDISCOVER_DOCKER_ID"
            )
        raise NotInECSError("not running in ECS: no container ID in /proc/self/cgroup or mountinfo")

    # Without evidence, one quick try: an absent agent means "not ECS", and a
    # laptop should not wait ten seconds to learn that.
    in_ecs = bool(evidence or explicit_url)
    client = AgentClient(url, timeout=timeout, retry=retry if in_ecs else Retry(enabled=False))
    try:
        task = client.task_by_docker_id(docker_id, retry_not_found=in_ecs, deadline=deadline)
    except AgentUnavailableError as e:
        if in_ecs:
            raise AgentUnavailableError(
                f"no answer from the ECS agent at {url} within {timeout.total:g}s: {e}"
            ) from None
        raise NotInECSError(f"not running in ECS: no agent at {url} ({e}) and no ECS variables") from None

    # Cluster, instance and agent version: nice to have, never worth failing for.
    meta = None
    with contextlib.suppress(SelfdiscoverError):
        meta = client.metadata(deadline=min(deadline, time.monotonic() + timeout.read))

    container = task.container(docker_id)
    # An ID read from a shared /etc/hostname mount may be the network
    # namespace owner's (the pause container): keep it only if confirmed.
    confirmed = container is not None or rule in ("override", "cgroup", "argument")
    return TaskInfo(
        arn=task.arn,
        family=task.family,
        version=task.version,
        docker_id=(container.docker_id if container else docker_id) if confirmed else None,
        container_name=container.name if container else None,
        cluster=meta.cluster if meta else None,
        known_status=task.known_status,
        desired_status=task.desired_status,
        container_instance_arn=meta.container_instance_arn if meta else None,
        agent_version=meta.agent_semver if meta else None,
        source=f"introspection {url}",
    )
