"""The environment variables a ``TaskInfo`` becomes: one table, one prefix.

Unknown values are left out, never written empty, so a consumer can tell
"unknown" from "empty".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from . import TaskInfo
from ._fields import MIB, PortMapping

if TYPE_CHECKING:
    from .._limits import EffectiveLimits

__all__ = [
    "CPU_COUNT_KNOBS",
    "LIMIT_VARIABLES",
    "VARIABLES",
    "limit_variables",
    "port_variables",
    "to_variables",
]


def _first(values: tuple[str, ...]) -> str | None:
    return values[0] if values else None


def _tags_json(tags: Mapping[str, str] | None) -> str | None:
    if tags is None:
        return None
    return json.dumps(dict(tags), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# Variable suffixes and how each value is read off a TaskInfo. The prefix
# (default ``ECS_``) is configurable. ``ECS_PORT_<port>_<PROTO>`` variables
# come on top, one per bound port (see ``port_variables``).
VARIABLES: tuple[tuple[str, Callable[[TaskInfo], object]], ...] = (
    ("TASK_ARN", lambda i: i.arn),
    ("TASK_FAMILY", lambda i: i.family),
    ("TASK_VERSION", lambda i: i.version),
    ("TASK_DEFINITION", lambda i: i.task_definition),
    ("TASK_ID", lambda i: i.task_id),
    ("CLUSTER", lambda i: i.cluster_name),
    ("CONTAINER_NAME", lambda i: i.container_name),
    ("CONTAINER_ID", lambda i: i.docker_id),
    ("CONTAINER_INSTANCE_ARN", lambda i: i.container_instance_arn),
    ("REGION", lambda i: i.region),
    ("ACCOUNT_ID", lambda i: i.account),
    ("AVAILABILITY_ZONE", lambda i: i.availability_zone),
    ("LAUNCH_TYPE", lambda i: i.launch_type),
    ("AGENT_VERSION", lambda i: i.agent_version),
    ("NETWORK_MODE", lambda i: i.network_mode),
    ("CONTAINER_IPV4", lambda i: _first(i.ipv4_addresses)),
    ("CONTAINER_IPV6", lambda i: _first(i.ipv6_addresses)),
    ("PRIVATE_DNS_NAME", lambda i: i.private_dns_name),
    ("HOST_IPV4", lambda i: i.host_ipv4),
    ("SERVICE_NAME", lambda i: i.service_name),
    ("TASK_CPU", lambda i: i.task_cpu),
    ("TASK_MEMORY", lambda i: i.task_memory),
    ("CONTAINER_CPU", lambda i: i.container_cpu),
    ("CONTAINER_MEMORY", lambda i: i.container_memory),
    ("CONTAINER_IMAGE", lambda i: i.image),
    ("CONTAINER_ARN", lambda i: i.container_arn),
    ("LOG_GROUP", lambda i: i.log_group),
    ("LOG_STREAM", lambda i: i.log_stream),
    ("LOG_REGION", lambda i: i.log_region),
    ("TASK_TAGS", lambda i: _tags_json(i.task_tags)),
    ("CONTAINER_INSTANCE_TAGS", lambda i: _tags_json(i.container_instance_tags)),
)


def port_variables(ports: tuple[PortMapping, ...], prefix: str = "ECS_") -> dict[str, str]:
    """``<prefix>PORT_8080_TCP=32768``: the host port Docker gave each
    container port. An unbound port has no variable; when a port is bound
    twice (IPv4 and IPv6 with different host ports) the first binding wins."""
    out: dict[str, str] = {}
    for p in ports:
        if p.host_port:
            out.setdefault(f"{prefix}PORT_{p.container_port}_{p.protocol.upper()}", str(p.host_port))
    return out


# The size of this container (``selfdiscover.effective_limits()``): the kernel's limits and the task's,
# so not a TaskInfo field. Each suffix and its value; None is left out, as in VARIABLES.
LIMIT_VARIABLES: tuple[tuple[str, Callable[[EffectiveLimits], object]], ...] = (
    ("CPU_LIMIT", lambda e: None if e.cpu is None else f"{e.cpu:g}"),  # vCPUs, only with a hard limit
    ("CPU_COUNT", lambda e: e.cpu_count),
    ("MEMORY_LIMIT", lambda e: None if e.memory is None else e.memory // MIB),  # MiB, rounded down
)


def limit_variables(limits: EffectiveLimits, prefix: str = "ECS_") -> dict[str, str]:
    """``<prefix>CPU_LIMIT``, ``<prefix>CPU_COUNT`` and ``<prefix>MEMORY_LIMIT``."""
    values = ((suffix, get(limits)) for suffix, get in LIMIT_VARIABLES)
    return {prefix + suffix: str(value) for suffix, value in values if value is not None}


# What --set-cpu-count sets beside selfdiscover's own variables, to the CPU count: the runtimes' own
# knobs (PYTHON_CPU_COUNT: Python 3.13+'s os.cpu_count(), os.process_cpu_count() and
# multiprocessing.cpu_count(); GOMAXPROCS: Go's scheduler).
CPU_COUNT_KNOBS = ("PYTHON_CPU_COUNT", "GOMAXPROCS")


def to_variables(info: TaskInfo, prefix: str = "ECS_") -> dict[str, str]:
    """The environment variables for ``info``; unknown values are left out,
    not written empty, so a consumer can tell "unknown" from "empty"."""
    out: dict[str, str] = {}
    for suffix, get in VARIABLES:
        value = get(info)
        if value is not None and value != "":
            out[prefix + suffix] = str(value)
    out.update(port_variables(info.ports, prefix))
    return out
