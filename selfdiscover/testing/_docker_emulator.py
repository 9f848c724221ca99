"""A local ECS agent emulator that answers from the containers Docker runs.

The real agent labels every container it creates, pause containers included,
with ``com.amazonaws.ecs.{task-arn,container-name,task-definition-family,
task-definition-version,cluster}``. ``DockerAgent`` reads those labels through the Docker Engine API
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

Each task container is read with ``docker inspect`` (once per container and
state): ports come from ``NetworkSettings.Ports`` (a binding with a host port;
an exposed port without one is not a mapping), addresses from
``NetworkSettings.Networks``, exactly as the agent reads Docker. Where Docker
shows none (``--network none``, or a container in another's namespace, whose
own inspect has no networks) none are reported, never another container's.
TMDE answers on ``tmde_url``, at ``/v4/<endpoint_id(docker id)>``: outside ECS
no agent injects the endpoint id, so the emulator derives it from the ID.
"""

from __future__ import annotations

import importlib
import math
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .._model import cluster_name
from ._fake_agent import FakeAgent, FakeBinding, FakeContainer, FakeTask

# The optional extra: selfdiscover[docker]; ImportError here means it is missing. Imported by
# name so a type checker that also sees the suite's tests/docker folder takes the SDK's.
docker: Any = importlib.import_module("docker")
importlib.import_module("docker.errors")

__all__ = [
    "CLUSTER_LABEL",
    "CONTAINER_NAME_LABEL",
    "FAMILY_LABEL",
    "TASK_ARN_LABEL",
    "VERSION_LABEL",
    "DockerAgent",
    "bindings_from_inspect",
    "container_from_inspect",
    "endpoint_id",
    "networks_from_inspect",
    "tasks_from_containers",
    "tasks_from_inspect",
]

TASK_ARN_LABEL = "com.amazonaws.ecs.task-arn"
FAMILY_LABEL = "com.amazonaws.ecs.task-definition-family"
VERSION_LABEL = "com.amazonaws.ecs.task-definition-version"
CONTAINER_NAME_LABEL = "com.amazonaws.ecs.container-name"
CLUSTER_LABEL = "com.amazonaws.ecs.cluster"
INTERNAL_PREFIX = "~internal~"  # the pause container: a lookup key, never listed
AGENT_LABEL_PREFIX = "com.amazonaws.ecs."


MIB = 1024 * 1024
_ENDPOINT_NAMESPACE = uuid.UUID("5f1d3c3e-7b1a-4d0e-9a43-2b2f0a7e6c11")


def endpoint_id(docker_id: str) -> str:
    """The TMDE id the emulator serves a container at (the agent's is random; this one is stable)."""
    return str(uuid.uuid5(_ENDPOINT_NAMESPACE, docker_id))


def bindings_from_inspect(ports: Mapping[str, Any] | None) -> list[FakeBinding]:
    """``NetworkSettings.Ports`` (``{"80/tcp": [{"HostIp": ..., "HostPort": "32768"}], "81/tcp": null}``)
    as bindings. Unbound (null), portless or non-numeric entries and other
    protocols are not bindings: nothing is reported for them."""
    out = []
    for key, binds in (ports or {}).items():
        port, _, proto = str(key).partition("/")
        proto = proto or "tcp"
        if not port.isdigit() or proto not in ("tcp", "udp") or not isinstance(binds, list):
            continue
        for b in binds:
            host_port = str((b or {}).get("HostPort") or "")
            if host_port.isdigit() and int(host_port) > 0:
                out.append(FakeBinding(int(port), proto, int(host_port), str(b.get("HostIp") or "")))
    return out


def networks_from_inspect(networks: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    """``NetworkSettings.Networks`` as network name -> (IPv4, IPv6); empty strings where Docker has none."""
    return {
        str(name): (str((n or {}).get("IPAddress") or ""), str((n or {}).get("GlobalIPv6Address") or ""))
        for name, n in (networks or {}).items()
    }


def container_from_inspect(attrs: Mapping[str, Any]) -> tuple[FakeContainer, Mapping[str, str]] | None:
    """A task container from its ``docker inspect`` document, with its labels;
    None when it carries no task ARN label (not a task container)."""
    config = attrs.get("Config") or {}
    host = attrs.get("HostConfig") or {}
    settings = attrs.get("NetworkSettings") or {}
    labels: Mapping[str, str] = config.get("Labels") or {}
    docker_id = str(attrs.get("Id") or "")
    if not labels.get(TASK_ARN_LABEL) or not docker_id:
        return None
    name = labels.get(CONTAINER_NAME_LABEL, "")
    log = host.get("LogConfig") or {}
    mode = str(host.get("NetworkMode") or "")
    c = FakeContainer(
        name,
        docker_id,
        str(config.get("Image", "")),
        internal=name.startswith(INTERNAL_PREFIX),
        endpoint_id=endpoint_id(docker_id),
        bindings=bindings_from_inspect(settings.get("Ports")),
        image_id=str(attrs.get("Image", "")),
        cpu=int(host.get("CpuShares") or 0),
        memory=int(host.get("Memory") or 0) // MIB,
        labels={k: str(v) for k, v in labels.items() if not k.startswith(AGENT_LABEL_PREFIX)},
        log_driver=str(log.get("Type") or "") or None,
        log_options={str(k): str(v) for k, v in (log.get("Config") or {}).items()},
        name_in_docker=str(attrs.get("Name", "")).lstrip("/"),
        network_mode="bridge" if mode == "default" else mode,
        docker_networks=networks_from_inspect(settings.get("Networks")),
        created_at=str(attrs.get("Created", "")),
        started_at=str((attrs.get("State") or {}).get("StartedAt", "")),
    )
    return c, labels


def tasks_from_inspect(inspected: Iterable[Mapping[str, Any]]) -> tuple[list[FakeTask], set[str]]:
    """Group ``docker inspect`` documents by task ARN; also return the clusters seen.

    Containers without a task ARN label are not task containers and are
    skipped. Family and version come from the first container of a task; the
    task's network mode from its first container (a pause container first).
    """
    tasks: dict[str, FakeTask] = {}
    clusters: set[str] = set()
    for attrs in inspected:
        found = container_from_inspect(attrs)
        if found is None:
            continue
        c, labels = found
        arn = labels[TASK_ARN_LABEL]
        task = tasks.get(arn)
        if task is None:
            task = tasks[arn] = FakeTask(
                arn, labels.get(FAMILY_LABEL, ""), labels.get(VERSION_LABEL, ""), cpu=None, memory=None
            )
            task.vpc_id = task.availability_zone_id = ""  # Docker does not know them
        task.containers.append(c)
        if labels.get(CLUSTER_LABEL):
            clusters.add(labels[CLUSTER_LABEL])
    for task in tasks.values():
        first = next((c for c in task.containers if c.internal), task.containers[0])
        task.network_mode = first.network_mode
    return list(tasks.values()), clusters


def tasks_from_containers(
    containers: Iterable[tuple[str, Mapping[str, str], str]],
) -> tuple[list[FakeTask], set[str]]:
    """Group ``(docker id, labels, image)`` by task ARN; also return the clusters seen."""
    return tasks_from_inspect(
        {"Id": i, "Config": {"Labels": lab, "Image": img}} for i, lab, img in containers
    )


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
        self._inspected: dict[str, tuple[str, Mapping[str, Any]]] = {}  # id -> (state, inspect)

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
            inspected = [self._inspect(c) for c in listed]
            self._inspected = {c.id: self._inspected[c.id] for c in listed if c.id in self._inspected}
            tasks, clusters = tasks_from_inspect(inspected)
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

    def _inspect(self, listed: Any) -> Mapping[str, Any]:
        """``docker inspect`` of a listed container, again only when its state changed
        (ports are bound at start)."""
        state = str(listed.attrs.get("State", ""))
        cached = self._inspected.get(listed.id)
        if cached is None or cached[0] != state:
            try:
                cached = (state, self.client.api.inspect_container(listed.id))
            except docker.errors.NotFound:  # removed since the listing: not a task any more
                return {}
            self._inspected[listed.id] = cached
        return cached[1]

    def respond(
        self, method: str, target: str, *args: Any, **kwargs: Any
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            self.refresh()
        except Exception as e:  # docker.errors.DockerException, requests' OSErrors, ...
            sys.stderr.write(f"selfdiscover emulator: cannot list containers: {e}\n")
            return 500, {"Connection": "close"}, b""
        return super().respond(method, target, *args, **kwargs)
