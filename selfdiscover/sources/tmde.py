"""The task metadata endpoint, v4 (``ECS_CONTAINER_METADATA_URI_V4``) then v3
(``ECS_CONTAINER_METADATA_URI``): reachable from every network mode and from
Fargate, and it names this container itself (``DockerId``).

Right after start the agent may answer 404 (500 before agent 1.71, and
always 500 on v3) until it has recorded the container, and it throttles at
40 requests/s per path: all of these are retried under the same deadline.
"""

from __future__ import annotations

from typing import Any

from .._errors import AgentResponseError, RetryableError
from .._model import SourceLabel, TaskInfo, _fields
from .._model._fields import task_identity, text_field
from . import _http
from ._ladder import Context


def _get(ctx: Context, uri: str, path: str, deadline: float) -> Any:
    resp = _http.get(uri, path, timeout=ctx.timeout, deadline=deadline)
    if resp.status == 200:
        return resp.json()
    if resp.status in (404, 500, 429) or resp.status >= 500:
        raise RetryableError(f"HTTP {resp.status} for {path or '/'}", status=resp.status)
    raise AgentResponseError(f"HTTP {resp.status} for {path or '/'}")


def _errors(task: dict[str, Any]) -> tuple[str, ...]:
    """``Errors`` of ``/taskWithTags`` (a missing IAM permission, say): they
    explain missing tags and never fail discovery."""
    raw = task.get("Errors")
    if not isinstance(raw, list):
        return ()
    out = []
    for e in raw[:10]:
        if isinstance(e, dict):
            where = "task metadata Errors"
            what = text_field(e, "ErrorField", where=where) or "tags"
            parts = [text_field(e, k, where=where) for k in ("ErrorCode", "ErrorMessage")]
            out.append(f"task metadata could not get {what}: " + ": ".join(p for p in parts if p))
    return tuple(out)


def _is_internal(c: Any) -> bool:
    """Pause and other agent-made containers are never this container."""
    if not isinstance(c, dict):
        return True
    name, kind = c.get("Name"), c.get("Type")
    return (isinstance(name, str) and name.startswith("~internal~")) or kind not in (None, "NORMAL")


def parse_task_metadata(
    task: Any, container: Any | None, docker_id: str | None, *, source: str, tags: bool = False
) -> TaskInfo:
    """Build a TaskInfo from a ``/task`` object and (optionally) this container's object.

    ``/task`` lists this container (with the same fields as the container
    endpoint), so one request answers everything on the happy path.
    """
    if not isinstance(task, dict):
        raise AgentResponseError(f"task metadata is {type(task).__name__}, not an object")
    where = "task metadata"
    arn, family, revision = task_identity(task, ("TaskARN", "Family", "Revision"), where=where)
    if container is None and docker_id:
        raw = task.get("Containers") or []
        if not isinstance(raw, list):
            raise AgentResponseError("task metadata Containers is not a list")
        container = next(
            (c for c in raw if not _is_internal(c) and c.get("DockerId") == docker_id),
            None,
        )
    if container is not None and not isinstance(container, dict):
        raise AgentResponseError("container metadata is not an object")
    c: dict[str, Any] = container or {}
    cw = "container metadata"
    net = _fields.networks(c, where=cw)
    task_limits = _fields.limits(task, vcpu=True, where=where)
    own_limits = _fields.limits(c, vcpu=False, where=cw)
    log = _fields.string_map(c.get("LogOptions"), "LogOptions", where=cw)
    awslogs = text_field(c, "LogDriver", where=cw) == "awslogs"
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
        network_mode=net.mode,
        ipv4_addresses=net.ipv4,
        ipv6_addresses=net.ipv6,
        private_dns_name=net.private_dns_name,
        subnet_cidr=net.subnet_cidr,
        ports=_fields.ports(c, "Ports", where=cw),
        service_name=text_field(task, "ServiceName", where=where),
        task_cpu=task_limits.cpu,
        task_memory=task_limits.memory,
        container_cpu=own_limits.cpu if c else None,
        container_memory=own_limits.memory if c else None,
        image=text_field(c, "Image", where=cw),
        image_id=text_field(c, "ImageID", where=cw),
        container_arn=text_field(c, "ContainerARN", where=cw),
        log_group=log.get("awslogs-group") if awslogs else None,
        log_stream=log.get("awslogs-stream") if awslogs else None,
        log_region=log.get("awslogs-region") if awslogs else None,
        labels=_fields.string_map(c.get("Labels"), "Labels", where=cw),
        task_tags=_fields.string_map(task.get("TaskTags"), "TaskTags", where=where) if tags else None,
        container_instance_tags=(
            _fields.string_map(task.get("ContainerInstanceTags"), "ContainerInstanceTags", where=where)
            if tags
            else None
        ),
        warnings=_errors(task) if tags else (),
        source=source,
    )


class _TMDE:
    name = ""
    variable = ""
    skipped = ""

    def hint(self, detail: str, ctx: Context) -> str | None:
        if "404" in detail or "500" in detail:
            return "the endpoint does not know this container yet (start-up race) or the URI is stale"
        return None

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
        source = SourceLabel(self.name, target)
        own = ctx.identity.container_id
        tags = ctx.settings.tags
        task = _get(ctx, target, "/taskWithTags" if tags else "/task", deadline)
        info = parse_task_metadata(task, None, own, source=source, tags=tags)
        if info.container_name is None:
            # Our ID is unknown or not in the task: ask the container endpoint,
            # which answers for the caller itself.
            container = _get(ctx, target, "", deadline)
            info = parse_task_metadata(task, container, None, source=source, tags=tags)
        return info


class V4(_TMDE):
    name = "tmde-v4"
    variable = "ECS_CONTAINER_METADATA_URI_V4"
    skipped = "ECS_CONTAINER_METADATA_URI_V4 is not set (agent older than 1.39, or not ECS)"


class V3(_TMDE):
    name = "tmde-v3"
    variable = "ECS_CONTAINER_METADATA_URI"
    skipped = "ECS_CONTAINER_METADATA_URI is not set (agent older than 1.21, or not ECS)"
