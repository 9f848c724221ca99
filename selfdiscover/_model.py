"""The task model: one immutable ``TaskInfo`` and the ARN arithmetic behind it.

Everything here is pure: values in, values out, so the parsers can be fed
fixtures and fuzzed without a socket in sight.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

__all__ = ["TaskArn", "TaskInfo", "parse_task_arn"]

# Partition, region and account are tightly shaped; the resource part is what
# varies between the old and new ARN formats.
_ARN_RE = re.compile(
    r"arn:(?P<partition>aws[a-z-]{0,20}):ecs:(?P<region>[a-z0-9-]{1,32}):"
    r"(?P<account>[0-9]{12}):task/(?P<rest>[A-Za-z0-9_/-]{1,400})"
)
_TASK_ID_RE = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")
_CLUSTER_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")


@dataclass(frozen=True)
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
        if not _CLUSTER_RE.fullmatch(cluster):
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


@dataclass(frozen=True)
class TaskInfo:
    """What this process learned about the task it runs in.

    Immutable so it can be shared between threads and cached for the life of
    the process. Fields the source could not tell are ``None``. ``source``
    names the source that answered (e.g. ``"introspection:http://localhost:51678"``).
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
    source: str = ""

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

    def replace(self, **changes: object) -> TaskInfo:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, str | None]:
        """All fields, derived ones included, for JSON output and log tags."""
        d: dict[str, str | None] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d.update(
            task_id=self.task_id,
            region=self.region,
            account=self.account,
            cluster_name=self.cluster_name,
            task_definition=self.task_definition,
        )
        return d


# Variable suffixes and where their values come from. The prefix (default
# ``ECS_``) is configurable; the issue names ECS_TASK_ARN, ECS_TASK_FAMILY and
# ECS_TASK_VERSION as the contract.
VARIABLES: tuple[tuple[str, str], ...] = (
    ("TASK_ARN", "arn"),
    ("TASK_FAMILY", "family"),
    ("TASK_VERSION", "version"),
    ("TASK_DEFINITION", "task_definition"),
    ("TASK_ID", "task_id"),
    ("CLUSTER", "cluster_name"),
    ("CONTAINER_NAME", "container_name"),
    ("CONTAINER_ID", "docker_id"),
    ("CONTAINER_INSTANCE_ARN", "container_instance_arn"),
    ("REGION", "region"),
    ("ACCOUNT_ID", "account"),
    ("AVAILABILITY_ZONE", "availability_zone"),
    ("LAUNCH_TYPE", "launch_type"),
    ("AGENT_VERSION", "agent_version"),
)


def to_variables(info: TaskInfo, prefix: str = "ECS_") -> dict[str, str]:
    """The environment variables for ``info``; unknown values are left out,
    not written empty, so a consumer can tell "unknown" from "empty"."""
    d = info.as_dict()
    out: dict[str, str] = {}
    for suffix, field in VARIABLES:
        value = d.get(field)
        if value:
            out[prefix + suffix] = value
    return out
