"""The ECS agent's introspection API (``:51678/v1``): a small typed client.

Parsing is pure (``parse_task``, ``parse_metadata``, ``classify``) so hostile
bodies can be thrown at it without a server; ``AgentClient`` adds the one
guarded GET, the deadline and the retries.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote

from .._errors import AgentResponseError, AmbiguousIDError, RetryableError, TaskNotFoundError
from .._model import _fields
from .._model._fields import PortMapping, task_identity, text_field
from . import _http, _retry
from ._timing import Retry, Timeout

DEFAULT_AGENT_URL = "http://localhost:51678"

# The agent reports its version as e.g. "Amazon ECS Agent - v1.87.0 (abc123)".
_VERSION = re.compile(r"v(\d+\.\d+\.\d+)")


class AgentContainer(NamedTuple):
    docker_id: str
    docker_name: str
    name: str
    image: str | None = None
    image_id: str | None = None
    ports: tuple[PortMapping, ...] = ()
    network: _fields.Network = _fields.NO_NETWORK


class AgentTask(NamedTuple):
    arn: str
    family: str
    version: str
    known_status: str | None = None
    desired_status: str | None = None
    containers: tuple[AgentContainer, ...] = ()

    def container(self, docker_id: str) -> AgentContainer | None:
        """The container with this ID (full, or a prefix of 12 or fewer
        characters as the agent itself matches them)."""
        for c in self.containers:
            if c.docker_id == docker_id or (len(docker_id) <= 12 and c.docker_id.startswith(docker_id)):
                return c
        return None


class AgentMetadata(NamedTuple):
    cluster: str | None
    container_instance_arn: str | None
    version: str | None

    @property
    def agent_semver(self) -> str | None:
        m = _VERSION.search(self.version or "")
        return m.group(1) if m else None


def parse_container(obj: Any) -> AgentContainer:
    if not isinstance(obj, dict):
        raise AgentResponseError(f"container is {type(obj).__name__}, not an object")
    # Agent 1.19.0 (only) spelled it DockerID.
    key = "DockerId" if "DockerId" in obj else "DockerID"
    return AgentContainer(
        docker_id=text_field(obj, key, where="container") or "",
        docker_name=text_field(obj, "DockerName", where="container") or "",
        name=text_field(obj, "Name", where="container") or "",
        image=text_field(obj, "Image", where="container"),
        image_id=text_field(obj, "ImageID", where="container"),
        ports=_fields.ports(obj, "Ports", where="container"),
        network=_fields.networks(obj, where="container"),
    )


def parse_task(obj: Any) -> AgentTask:
    """A ``TaskResponse`` object, or ``AgentResponseError`` saying what is wrong."""
    if not isinstance(obj, dict):
        raise AgentResponseError(f"expected a task object, got {type(obj).__name__}")
    if "AvailableCommands" in obj:
        raise AgentResponseError(
            "the agent answered its catch-all document, not a task (wrong path or URL prefix?)"
        )
    arn, family, version = task_identity(obj, ("Arn", "Family", "Version"), where="task")
    raw = obj.get("Containers")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise AgentResponseError(f"task Containers is {type(raw).__name__}, not a list")
    return AgentTask(
        arn=arn,
        family=family,
        version=version,
        known_status=text_field(obj, "KnownStatus"),
        desired_status=text_field(obj, "DesiredStatus"),
        containers=tuple(parse_container(c) for c in raw),
    )


def parse_tasks(obj: Any) -> list[AgentTask]:
    if not isinstance(obj, dict) or "Tasks" not in obj:
        if isinstance(obj, dict) and "AvailableCommands" in obj:
            raise AgentResponseError("the agent answered its catch-all document, not a task list")
        raise AgentResponseError('expected {"Tasks": [...]}')
    tasks = obj["Tasks"]
    if tasks is None:
        return []
    if not isinstance(tasks, list):
        raise AgentResponseError(f"Tasks is {type(tasks).__name__}, not a list")
    return [parse_task(t) for t in tasks]


def parse_metadata(obj: Any) -> AgentMetadata:
    if not isinstance(obj, dict) or "AvailableCommands" in obj:
        raise AgentResponseError("expected the agent metadata object")
    if not any(k in obj for k in ("Cluster", "ContainerInstanceArn", "Version")):
        raise AgentResponseError("agent metadata has none of Cluster, ContainerInstanceArn, Version")
    where = "metadata"
    return AgentMetadata(
        cluster=text_field(obj, "Cluster", where=where),
        container_instance_arn=text_field(obj, "ContainerInstanceArn", where=where),
        version=text_field(obj, "Version", where=where),
    )


def docker_id_path(docker_id: str) -> str:
    """The one ``/v1/tasks?dockerid=`` request: the agent matches 12 or fewer
    characters as a prefix and longer ones exactly."""
    return "/v1/tasks?dockerid=" + quote(docker_id, safe="")


def task_arn_path(arn: str) -> str:
    return "/v1/tasks?taskarn=" + quote(arn, safe=":/")


def classify(resp: _http.Response, *, what: str, retry_not_found: bool) -> Any:
    """Turn a status into data or the right error; return the decoded JSON on 200."""
    s = resp.status
    if s == 200:
        return resp.json()
    if s == 404:
        msg = f"agent has no {what} (HTTP 404)"
        if retry_not_found:
            raise RetryableError(msg, status=404)
        raise TaskNotFoundError(msg)
    if s == 400:
        raise AmbiguousIDError(
            f"agent refused the lookup of {what} (HTTP 400: a short ID matching several "
            "containers, or both dockerid and taskarn)"
        )
    if s == 429 or s >= 500:
        raise RetryableError(f"agent answered HTTP {s} for {what}", status=s)
    if 300 <= s < 400:
        where = resp.headers.get("location", "")[:100]
        raise AgentResponseError(f"agent redirected ({s} to {where!r}); redirects are not followed")
    raise AgentResponseError(f"agent answered HTTP {s} for {what}")


@dataclass(slots=True)
class AgentClient:
    """A client for the agent's introspection API.

    ``url`` defaults to ``SELFDISCOVER_AGENT_URL`` or ``http://localhost:51678``.
    Every call retries what is worth retrying until ``timeout.total`` seconds
    have passed (or until ``deadline``, a ``time.monotonic()`` value, if given).
    """

    url: str = field(default_factory=lambda: os.environ.get("SELFDISCOVER_AGENT_URL") or DEFAULT_AGENT_URL)
    timeout: Timeout = field(default_factory=Timeout)
    retry: Retry = field(default_factory=Retry)
    on_retry: Callable[[int, BaseException, float], None] | None = None

    def __post_init__(self) -> None:
        _http.split_base(self.url)  # fail early and clearly on a bad URL

    def once(self, path: str, *, what: str, retry_not_found: bool, deadline: float) -> Any:
        """One request, classified; no retries (the discovery ladder retries rounds)."""
        resp = _http.get(self.url, path, timeout=self.timeout, deadline=deadline)
        return classify(resp, what=what, retry_not_found=retry_not_found)

    def get_json(
        self, path: str, *, what: str, retry_not_found: bool = False, deadline: float | None = None
    ) -> Any:
        end = deadline if deadline is not None else time.monotonic() + self.timeout.total

        def once() -> Any:
            return self.once(path, what=what, retry_not_found=retry_not_found, deadline=end)

        try:
            return _retry.call(once, deadline=end, retry=self.retry, on_retry=self.on_retry)
        except RetryableError as e:
            if e.status == 404:
                raise TaskNotFoundError(str(e)) from None
            raise

    def metadata(self, *, deadline: float | None = None) -> AgentMetadata:
        return parse_metadata(self.get_json("/v1/metadata", what="metadata", deadline=deadline))

    def tasks(self, *, deadline: float | None = None) -> list[AgentTask]:
        return parse_tasks(self.get_json("/v1/tasks", what="task list", deadline=deadline))

    def task_by_arn(self, arn: str, *, deadline: float | None = None) -> AgentTask:
        return parse_task(self.get_json(task_arn_path(arn), what=f"task {arn}", deadline=deadline))

    def task_by_docker_id(
        self, docker_id: str, *, retry_not_found: bool = True, deadline: float | None = None
    ) -> AgentTask:
        """Look a container up by full ID, or by a prefix of 12 or fewer characters.

        404 is retried by default: right after ``docker create`` the agent has
        not recorded the ID yet (the start-up race).
        """
        obj = self.get_json(
            docker_id_path(docker_id),
            what=f"container {docker_id}",
            retry_not_found=retry_not_found,
            deadline=deadline,
        )
        return parse_task(obj)
