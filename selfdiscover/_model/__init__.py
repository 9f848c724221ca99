"""The task model: one immutable ``TaskInfo`` and the ARN arithmetic behind it.

Everything here is pure: values in, values out, so the parsers can be fed
fixtures and fuzzed without a socket in sight.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from ._fields import NAME_RE, PortMapping

__all__ = [
    "IDENTITY_FIELDS",
    "PortMapping",
    "SourceLabel",
    "TaskArn",
    "TaskInfo",
    "disagreements",
    "parse_task_arn",
]

# Partition, region and account are tightly shaped; the resource part is what
# varies between the old and new ARN formats.
_ARN_RE = re.compile(
    r"arn:(?P<partition>aws[a-z-]{0,20}):ecs:(?P<region>[a-z0-9-]{1,32}):"
    r"(?P<account>[0-9]{12}):task/(?P<rest>[A-Za-z0-9_/-]{1,400})"
)
_TASK_ID_RE = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class TaskArn:
    """A parsed task ARN.

    Old format: ``arn:aws:ecs:<region>:<account>:task/<uuid>`` (no cluster);
    new format: ``arn:aws:ecs:<region>:<account>:task/<cluster>/<id>``.
    """

    partition: str
    region: str
    account: str
    task_id: str
    cluster: str | None


def parse_task_arn(arn: str) -> TaskArn | None:
    """Return the parts of a task ARN, or ``None`` if it is not one.

    A value that does not parse is not an error by itself: the ARN is still
    reported as the agent sent it, only the derived fields stay empty.
    """
    m = _ARN_RE.fullmatch(arn)
    if m is None:
        return None
    parts = m.group("rest").split("/")
    if len(parts) == 1:
        cluster, task_id = None, parts[0]
    elif len(parts) == 2:
        cluster, task_id = parts
        if not NAME_RE.fullmatch(cluster):
            return None
    else:
        return None
    if not _TASK_ID_RE.fullmatch(task_id):
        return None
    return TaskArn(m.group("partition"), m.group("region"), m.group("account"), task_id, cluster)


def cluster_name(cluster: str | None) -> str | None:
    """``Cluster`` may be a short name or a cluster ARN (when so configured)."""
    if not cluster:
        return None
    if cluster.startswith("arn:") and ":cluster/" in cluster:
        return cluster.rsplit(":cluster/", 1)[1] or None
    return cluster


class SourceLabel(str):
    """Which source answered, as a value: reads as ``"<kind> <target>"``
    (e.g. ``"tmde-v4 http://169.254.170.2/v4/..."``) and carries ``name``
    (the source's name in the ladder, as ``SELFDISCOVER_SOURCES`` spells it)
    and ``target``, so code compares those instead of parsing the text."""

    name: str
    target: str

    def __new__(cls, name: str, target: str, kind: str | None = None) -> SourceLabel:
        label = super().__new__(cls, f"{kind or name} {target}")
        label.name, label.target = name, target
        return label


# What two sources must agree on for their answers to be about the same task.
IDENTITY_FIELDS = ("arn", "family", "version")


def disagreements(first: TaskInfo, other: TaskInfo) -> list[tuple[str, str, str]]:
    """``(field, first's value, other's value)`` for each identity field on
    which the two answers contradict each other."""
    return [
        (f, getattr(first, f), getattr(other, f))
        for f in IDENTITY_FIELDS
        if getattr(other, f) != getattr(first, f)
    ]


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What this process learned about the task it runs in.

    Immutable so it can be shared between threads and cached for the life of
    the process. Fields the source could not tell are ``None`` (or empty).
    ``source`` names the source that answered (e.g. ``"tmde-v4 http://..."``).

    Network and limits: ``network_mode`` is ``awsvpc``, ``bridge``, ``host``
    or ``none``; addresses are this container's (in awsvpc, the task ENI's);
    ``ports`` are the published bindings; ``host_ipv4`` is the EC2
    instance's private address. CPU is in CPU units (1024 = one vCPU), memory
    in MiB. ``task_tags`` and ``container_instance_tags`` are ``None`` unless
    asked for; ``warnings`` are what a source reported without failing.
    """

    arn: str
    family: str
    version: str
    docker_id: str | None = None
    container_name: str | None = None
    cluster: str | None = None
    known_status: str | None = None
    desired_status: str | None = None
    container_instance_arn: str | None = None
    agent_version: str | None = None
    availability_zone: str | None = None
    launch_type: str | None = None
    network_mode: str | None = None
    ipv4_addresses: tuple[str, ...] = ()
    ipv6_addresses: tuple[str, ...] = ()
    private_dns_name: str | None = None
    subnet_cidr: str | None = None
    ports: tuple[PortMapping, ...] = ()
    host_ipv4: str | None = None
    service_name: str | None = None
    task_cpu: int | None = None
    task_memory: int | None = None
    container_cpu: int | None = None
    container_memory: int | None = None
    image: str | None = None
    image_id: str | None = None
    container_arn: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    log_region: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    task_tags: Mapping[str, str] | None = field(default=None, hash=False)
    container_instance_tags: Mapping[str, str] | None = field(default=None, hash=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    source: str = ""

    def __post_init__(self) -> None:
        # Read-only views: a frozen TaskInfo must not hide a mutable dict.
        for name in ("labels", "task_tags", "container_instance_tags"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value)))

    @property
    def _parsed(self) -> TaskArn | None:
        return parse_task_arn(self.arn)

    @property
    def task_id(self) -> str | None:
        p = self._parsed
        return p.task_id if p else None

    @property
    def region(self) -> str | None:
        p = self._parsed
        return p.region if p else None

    @property
    def account(self) -> str | None:
        p = self._parsed
        return p.account if p else None

    @property
    def cluster_name(self) -> str | None:
        """Short cluster name: from ``cluster`` when known, else the new-format ARN."""
        name = cluster_name(self.cluster)
        if name:
            return name
        p = self._parsed
        return p.cluster if p else None

    @property
    def task_definition(self) -> str:
        """``family:revision``, the form the ECS API and console use."""
        return f"{self.family}:{self.version}"

    def as_dict(self) -> dict[str, Any]:
        """All fields, derived ones included, as JSON-ready values."""
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["ports"] = [p._asdict() for p in self.ports]
        d["ipv4_addresses"] = list(self.ipv4_addresses)
        d["ipv6_addresses"] = list(self.ipv6_addresses)
        d["warnings"] = list(self.warnings)
        for name in ("labels", "task_tags", "container_instance_tags"):
            if d[name] is not None:
                d[name] = dict(d[name])
        d.update(
            task_id=self.task_id,
            region=self.region,
            account=self.account,
            cluster_name=self.cluster_name,
            task_definition=self.task_definition,
        )
        return d
