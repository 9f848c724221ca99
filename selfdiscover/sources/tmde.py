"""The task metadata endpoint, v4 (``ECS_CONTAINER_METADATA_URI_V4``) then v3
(``ECS_CONTAINER_METADATA_URI``): reachable from every network mode and from
Fargate, and it names this container itself (``DockerId``).

Right after start the agent may answer 404 (500 before agent 1.71, and
always 500 on v3) until it has recorded the container, and it throttles at
40 requests/s per path: all of these are retried under the same deadline.
"""

from __future__ import annotations

from typing import Any

from .. import _http
from .._agent import task_identity, text_field
from .._errors import AgentResponseError, RetryableError
from .._model import TaskInfo
from . import Context


def _get(ctx: Context, uri: str, path: str, deadline: float) -> Any:
    resp = _http.get(uri, path, timeout=ctx.timeout, deadline=deadline)
    if resp.status == 200:
        return resp.json()
    if resp.status in (404, 500, 429) or resp.status >= 500:
        raise RetryableError(f"HTTP {resp.status} for {path or '/'}", status=resp.status)
    raise AgentResponseError(f"HTTP {resp.status} for {path or '/'}")


def parse_task_metadata(task: Any, container: Any | None, docker_id: str | None, *, source: str) -> TaskInfo:
    """Build a TaskInfo from a ``/task`` object and (optionally) this container's object."""
    if not isinstance(task, dict):
        raise AgentResponseError(f"task metadata is {type(task).__name__}, not an object")
    arn, family, revision = task_identity(task, ("TaskARN", "Family", "Revision"), where="task metadata")
    if container is None and docker_id:
        raw = task.get("Containers") or []
        if not isinstance(raw, list):
            raise AgentResponseError("task metadata Containers is not a list")
        container = next((c for c in raw if isinstance(c, dict) and c.get("DockerId") == docker_id), None)
    if container is not None and not isinstance(container, dict):
        raise AgentResponseError("container metadata is not an object")
    c: dict[str, Any] = container or {}
    return TaskInfo(
        arn=arn,
        family=family,
        version=revision,
        docker_id=text_field(c, "DockerId", where="container") if c else docker_id,
        container_name=text_field(c, "Name", where="container") if c else None,
        cluster=text_field(task, "Cluster"),
        known_status=text_field(task, "KnownStatus"),
        desired_status=text_field(task, "DesiredStatus"),
        availability_zone=text_field(task, "AvailabilityZone"),
        launch_type=text_field(task, "LaunchType"),
        source=source,
    )


class _TMDE:
    name = ""
    variable = ""

    def targets(self, ctx: Context) -> list[str]:
        uri = (ctx.environ.get(self.variable) or "").strip()
        if not uri:
            return []
        try:
            _http.split_base(uri)  # the agent injects it, but never trust its shape
        except ValueError:
            return []
        return [uri.rstrip("/")]

    def fetch(self, ctx: Context, target: str, deadline: float) -> TaskInfo:
        source = f"{self.name} {target}"
        own = ctx.identity.container_id
        task = _get(ctx, target, "/task", deadline)
        info = parse_task_metadata(task, None, own, source=source)
        if info.container_name is None:
            # Our ID is unknown or not in the task: ask the container endpoint,
            # which answers for the caller itself.
            container = _get(ctx, target, "", deadline)
            info = parse_task_metadata(task, container, None, source=source)
        return info


class V4(_TMDE):
    name = "tmde-v4"
    variable = "ECS_CONTAINER_METADATA_URI_V4"


class V3(_TMDE):
    name = "tmde-v3"
    variable = "ECS_CONTAINER_METADATA_URI"
