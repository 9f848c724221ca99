"""A local ECS agent emulator that answers from the containers Docker runs.

The real agent labels every container it creates (``ecs-agent-contract.md``
section 5.1). ``DockerAgent`` reads those labels through the Docker Engine API
(the ``docker`` package, ``pip install selfdiscover[docker]``) and serves the
introspection API from them, so a container started with

    docker run \\
      --label com.amazonaws.ecs.task-arn=arn:aws:ecs:us-west-2:111122223333:task/demo/0123...cdef \\
      --label com.amazonaws.ecs.task-definition-family=demo \\
      --label com.amazonaws.ecs.task-definition-version=3 \\
      --label com.amazonaws.ecs.container-name=app ...

is a task the emulator knows. ``selfdiscover emulate`` runs one. Everything else (routes, the 12-character
prefix rule, status codes, ``Behaviour``) is ``FakeAgent``'s.

The task list is rebuilt from ``docker ps`` before answering a request, at
most once per ``ttl`` seconds. When Docker cannot be asked, the request gets
an empty 500 (retried by clients), as an agent handler failure would.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import docker  # the optional extra: selfdiscover[docker]; ImportError here means it is missing

from .._model import cluster_name
from ._fake_agent import FakeAgent, FakeContainer, FakeTask

__all__ = [
    "CLUSTER_LABEL",
    "CONTAINER_NAME_LABEL",
    "FAMILY_LABEL",
    "TASK_ARN_LABEL",
    "VERSION_LABEL",
    "DockerAgent",
    "tasks_from_containers",
]

TASK_ARN_LABEL = "com.amazonaws.ecs.task-arn"
FAMILY_LABEL = "com.amazonaws.ecs.task-definition-family"
VERSION_LABEL = "com.amazonaws.ecs.task-definition-version"
CONTAINER_NAME_LABEL = "com.amazonaws.ecs.container-name"
CLUSTER_LABEL = "com.amazonaws.ecs.cluster"
INTERNAL_PREFIX = "~internal~"  # the pause container: a lookup key, never listed


def tasks_from_containers(
    containers: Iterable[tuple[str, Mapping[str, str], str]],
) -> tuple[list[FakeTask], set[str]]:
    """Group ``(docker id, labels, image)`` by task ARN; also return the clusters seen.

    Containers without a task ARN label are not task containers and are
    skipped. Family and version come from the first container of a task.
    """
    tasks: dict[str, FakeTask] = {}
    clusters: set[str] = set()
    for docker_id, labels, image in containers:
        arn = labels.get(TASK_ARN_LABEL, "")
        if not arn:
            continue
        name = labels.get(CONTAINER_NAME_LABEL, "")
        task = tasks.get(arn)
        if task is None:
            task = tasks[arn] = FakeTask(arn, labels.get(FAMILY_LABEL, ""), labels.get(VERSION_LABEL, ""))
        task.containers.append(
            FakeContainer(name, docker_id, image, internal=name.startswith(INTERNAL_PREFIX))
        )
        if labels.get(CLUSTER_LABEL):
            clusters.add(labels[CLUSTER_LABEL])
    return list(tasks.values()), clusters


class DockerAgent(FakeAgent):
    """A ``FakeAgent`` whose tasks are the labelled containers Docker is running.

    ``client`` is a ``docker.DockerClient``; by default ``docker.from_env()``
    is created on the first request. ``cluster`` is what ``/v1/metadata``
    reports unless the cluster labels of the running task containers agree.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, client: Any = None, ttl: float = 0.5, **kwargs: Any
    ) -> None:
        """``kwargs`` are ``FakeAgent``'s (cluster, behaviour, agent_version, region, account)."""
        super().__init__(host, port, **kwargs)
        self.default_cluster = self.cluster
        self.ttl = ttl
        self._client = client
        self._instance_id = self.container_instance_arn.rsplit("/", 1)[1]
        self._refreshed = -math.inf
        self._refresh_lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker.from_env()
        return self._client

    def refresh(self, *, force: bool = False) -> None:
        """Rebuild ``tasks`` from the running containers (at most once per ``ttl``)."""
        with self._refresh_lock:
            if not force and time.monotonic() - self._refreshed < self.ttl:
                return
            listed = self.client.containers.list(sparse=True, filters={"label": TASK_ARN_LABEL})
            tasks, clusters = tasks_from_containers(
                (c.id, c.attrs.get("Labels") or {}, c.attrs.get("Image", "")) for c in listed
            )
            cluster = clusters.pop() if len(clusters) == 1 else self.default_cluster
            instance = (
                f"arn:aws:ecs:{self.region}:{self.account}:container-instance/"
                f"{cluster_name(cluster) or cluster}/{self._instance_id}"
            )
            with self._lock:
                self.tasks = tasks
                self.cluster = cluster
                self.container_instance_arn = instance
            self._refreshed = time.monotonic()

    def respond(
        self, method: str, target: str, *args: Any, **kwargs: Any
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            self.refresh()
        except Exception as e:  # docker.errors.DockerException, requests' OSErrors, ...
            sys.stderr.write(f"selfdiscover emulator: cannot list containers: {e}\n")
            return 500, {"Connection": "close"}, b""
        return super().respond(method, target, *args, **kwargs)
