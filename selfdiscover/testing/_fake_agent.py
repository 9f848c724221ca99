"""A fake ECS agent: the introspection API and the task metadata endpoint
(TMDE v3/v4), each on its own real socket, as the agent serves them
(introspection on :51678, TMDS on 127.0.0.1:51679).

It follows the ECS agent's handlers (routes, the 12-character prefix rule, 400 on ambiguity and on both
parameters, the empty-task 404 body, the catch-all document, Go's compact JSON,
TMDS's token bucket and its ``X-Rate-Limit-*`` headers) and renders each task
per network mode as the agent's handlers do: ``bridge`` containers carry
Docker's bridge address and dynamic host ports, ``host`` containers no address
and (in TMDE) no ports, ``awsvpc`` tasks the ENI's addresses and a
``~internal~ecs~pause`` container, ``FARGATE`` tasks the Fargate shape. It can
misbehave on a schedule, so tests exercise the same code paths a real start-up
race or outage would.

TMDS also serves task scale-in protection as the agent's handlers do
(``/api/{endpoint-id}/task-protection/v1/state``, ``GET`` and ``PUT``; what
``ECS_AGENT_URI`` points at, ``agent_uri(container)``): the request body decoded
as Go's strict decoder does, the agent's 400/403/404/504 bodies, ECS's errors
with a ``requestID`` and its ``failure`` answers, each switched on by a
``Behaviour`` field, and the protection state kept per task.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._serve import MAX_REQUEST_BODY, Listener, _Handler

__all__ = [
    "Behaviour",
    "FakeAgent",
    "FakeBinding",
    "FakeContainer",
    "FakeENI",
    "FakePort",
    "FakeTask",
    "RequestRecord",
]

ERROR_TASK = {"Arn": "", "KnownStatus": "", "Family": "", "Version": "", "Containers": None}
CATCH_ALL = {"AvailableCommands": ["/v1/metadata", "/v1/tasks", "/license"]}
THROTTLED = b"You have reached maximum request limit."
NOT_FOUND_TEXT = b"404 page not found\n"
NETWORK_MODES = ("bridge", "host", "awsvpc", "none")
LAUNCH_TYPES = ("EC2", "FARGATE")
PAUSE_NAME = "~internal~ecs~pause"
PAUSE_IMAGE = "amazon/amazon-ecs-pause:0.1.0"
MIN_CONTAINER_CPU = 2  # the v2/v4 handlers report at least 2 CPU units (agent 1.50.0+)
FIRST_DYNAMIC_PORT = 32768  # Docker's ephemeral range on Amazon Linux starts here
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
# Task scale-in protection (agent 1.65+): the route, ECS's bounds and the agent's timeout for its ECS call.
PROTECTION_ROUTE = re.compile(r"/api/([^/]*)/task-protection/v1/state")
PROTECTION_MINUTES = (1, 2880)
DEFAULT_PROTECTION_MINUTES = 120  # what ECS applies when ExpiresInMinutes is not sent
ECS_CALL_TIMEOUT = 4.0


def go_json(obj: Any) -> bytes:
    """Encode as Go's encoding/json does: compact, no trailing newline, <>& escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8")


def go_number(x: float) -> float | int:
    """Go prints a float64 without a fraction when it has none (256, not 256.0)."""
    return int(x) if float(x).is_integer() else x


def random_docker_id() -> str:
    return secrets.token_hex(32)


def _rand_hex() -> str:
    """The 20-hex suffix of a Docker name (the agent's RandHex, which often ends in 00)."""
    return secrets.token_hex(9) + "00"


def _now() -> str:
    """RFC3339Nano as Go prints it: UTC, trailing zeros of the fraction trimmed."""
    t = datetime.now(timezone.utc)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def docker_name_part(name: str) -> str:
    """The container name as it appears inside the Docker name: only [A-Za-z0-9-] kept."""
    return re.sub(r"[^A-Za-z0-9-]", "", name)


@dataclass(frozen=True)
class FakePort:
    """A task-definition port mapping. ``host_port`` 0 is a dynamic port in
    ``bridge`` mode (Docker picks one) and "the same as ``container_port``" in
    ``host`` and ``awsvpc`` modes, as ECS requires there."""

    container_port: int
    protocol: str = "tcp"
    host_port: int = 0

    @classmethod
    def parse(cls, spec: int | str | FakePort) -> FakePort:
        """``8080``, ``"8080"``, ``"9125/udp"`` or ``"80:8080/tcp"`` (host:container, as ``docker -p``)."""
        if isinstance(spec, FakePort):
            return spec
        if isinstance(spec, int):
            return cls(spec)
        ports, _, proto = spec.partition("/")
        host, _, container = ports.rpartition(":")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp") or not container.isdigit() or (host and not host.isdigit()):
            raise ValueError(
                f"a port is CONTAINERPORT[/tcp|udp] or HOSTPORT:CONTAINERPORT[/PROTO], got {spec!r}"
            )
        return cls(int(container), proto, int(host or 0))


@dataclass(frozen=True)
class FakeBinding:
    """One port binding as Docker reports it in ``NetworkSettings.Ports``."""

    container_port: int
    protocol: str
    host_port: int
    host_ip: str = "0.0.0.0"
    container_port_range: str = ""  # the metadata file's ContainerPortRange (no omitempty: "" shows)


@dataclass
class FakeENI:
    """The task ENI of an ``awsvpc`` task (v4 ``Networks`` carries all of it)."""

    ipv4: str = "10.0.12.34"
    mac: str = "0e:6b:4c:1f:92:ad"
    subnet_cidr: str = "10.0.12.0/24"
    gateway: str = "10.0.12.1/24"
    private_dns_name: str = "ip-10-0-12-34.us-west-2.compute.internal"
    ipv6: str = ""
    ipv6_subnet_cidr: str = ""
    dns_servers: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)

    def v4(self) -> dict[str, Any]:
        net: dict[str, Any] = {"NetworkMode": "awsvpc"}
        if self.ipv4:
            net["IPv4Addresses"] = [self.ipv4]
        if self.ipv6:
            net["IPv6Addresses"] = [self.ipv6]
        net["AttachmentIndex"] = 0
        net["MACAddress"] = self.mac
        if self.subnet_cidr:
            net["IPv4SubnetCIDRBlock"] = self.subnet_cidr
        if self.ipv6_subnet_cidr:
            net["IPv6SubnetCIDRBlock"] = self.ipv6_subnet_cidr
        if self.dns_servers:
            net["DomainNameServers"] = list(self.dns_servers)
        if self.dns_search:
            net["DomainNameSearchList"] = list(self.dns_search)
        if self.private_dns_name:
            net["PrivateDNSName"] = self.private_dns_name
        if self.gateway:
            net["SubnetGatewayIpv4Address"] = self.gateway
        return net

    def base(self) -> dict[str, Any]:
        """v1 and v3 carry only mode and addresses."""
        return {k: v for k, v in self.v4().items() if k in ("NetworkMode", "IPv4Addresses", "IPv6Addresses")}


PortSpec = int | str | FakePort


@dataclass
class FakeContainer:
    """One container. ``ports`` are the task definition's mappings; ``bindings``
    what Docker reports (None: derived from the network mode when the task is
    added; ``[]``: none yet, as between ``docker create`` and ``start``).
    ``ipv4``/``ipv6``: Docker's address on the bridge (assigned when empty)."""

    name: str
    docker_id: str = ""  # "": a random 64-hex ID now (the Fargate form once added to a Fargate task)
    image: str = "public.example/app:latest"
    internal: bool = False  # pause containers: a lookup key, never listed in v1
    endpoint_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the TMDE id: not the Docker ID
    ports: list[FakePort] = field(default_factory=list)
    bindings: list[FakeBinding] | None = None
    image_id: str = "sha256:" + "0" * 64
    cpu: int = 0  # CPU units, as in the task definition
    memory: int = 0  # MiB
    labels: dict[str, str] = field(default_factory=dict)  # the task definition's dockerLabels
    log_driver: str | None = "awslogs"
    ipv4: str = ""
    ipv6: str = ""
    docker_name_suffix: str = field(default_factory=_rand_hex)
    arn_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the last part of ContainerARN
    created_at: str = field(default_factory=_now)
    started_at: str = field(default_factory=_now)
    known_status: str = ""  # "" = RUNNING (RESOURCES_PROVISIONED for a pause container)
    restart_count: int | None = None  # set when the task definition enables a restart policy
    volumes: list[dict[str, str]] = field(default_factory=list)
    health: dict[str, Any] | None = None
    # What Docker says, when it is known (the emulator): these replace what the task implies.
    log_options: dict[str, str] | None = None  # None: the awslogs options the agent configures
    name_in_docker: str = ""  # "": the agent's ecs-<family>-<revision>-<name>-<hex> scheme
    network_mode: str = ""  # HostConfig.NetworkMode; "": the task's
    # NetworkSettings.Networks: name -> (ipv4, ipv6)
    docker_networks: dict[str, tuple[str, str]] | None = None
    generated_id: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.docker_id:
            self.docker_id = random_docker_id()
            self.generated_id = True

    def docker_name(self, task: FakeTask) -> str:
        if self.name_in_docker:
            return self.name_in_docker
        if task.launch_type == "FARGATE":
            return self.name
        return f"ecs-{task.family}-{task.version}-{docker_name_part(self.name)}-{self.docker_name_suffix}"

    def all_labels(self, task: FakeTask, cluster: str) -> dict[str, str]:
        """The task definition's labels, then the agent's five (which win), sorted as Go prints a map."""
        out = {
            **self.labels,
            "com.amazonaws.ecs.cluster": cluster,
            "com.amazonaws.ecs.container-name": self.name,
            "com.amazonaws.ecs.task-arn": task.arn,
            "com.amazonaws.ecs.task-definition-family": task.family,
            "com.amazonaws.ecs.task-definition-version": task.version,
        }
        return dict(sorted(out.items()))

    def status(self) -> str:
        return self.known_status or ("RESOURCES_PROVISIONED" if self.internal else "RUNNING")

    def observed(self) -> list[FakeBinding]:
        return list(self.bindings or [])

    def _docker_networks(self, task: FakeTask) -> list[dict[str, Any]]:
        """Docker's ``NetworkSettings.Networks``, one entry per network; with
        none (a container in another's namespace) only the HostConfig mode."""
        given = self.docker_networks
        if given is None:
            given = {self.network_mode or task.network_mode: (self.ipv4, self.ipv6)}
        if not given:
            mode = self.network_mode or task.network_mode
            return [{"NetworkMode": mode}] if mode else []
        out = []
        for mode, (ipv4, ipv6) in given.items():
            net: dict[str, Any] = {"NetworkMode": mode}
            if ipv4:
                net["IPv4Addresses"] = [ipv4]
            if ipv6:
                net["IPv6Addresses"] = [ipv6]
            out.append(net)
        return out

    def networks(self, task: FakeTask, *, v4: bool) -> list[dict[str, Any]]:
        if task.eni is not None:
            return [task.eni.v4() if v4 else task.eni.base()]
        return self._docker_networks(task)

    def to_v4(self, task: FakeTask, cluster: str, *, v3: bool = False) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "DockerId": self.docker_id,
            "Name": self.name,
            "DockerName": self.docker_name(task),
            "Image": self.image,
            "ImageID": self.image_id,
        }
        ports = []
        for b in self.observed():  # v3/v4: only what Docker observed, no task-definition fallback
            p: dict[str, Any] = {"ContainerPort": b.container_port, "Protocol": b.protocol}
            p["HostPort"] = b.container_port if task.eni is not None else b.host_port
            if not v3 and b.host_ip:
                p["HostIp"] = b.host_ip
            ports.append({k: v for k, v in p.items() if v})
        if ports:
            obj["Ports"] = ports
        obj["Labels"] = self.all_labels(task, cluster)
        obj["DesiredStatus"] = self.status()
        obj["KnownStatus"] = self.status()
        obj["Limits"] = {"CPU": go_number(max(self.cpu, MIN_CONTAINER_CPU)), "Memory": self.memory}
        obj["CreatedAt"] = self.created_at
        obj["StartedAt"] = self.started_at
        obj["Type"] = "CNI_PAUSE" if self.internal else "NORMAL"
        if self.health:
            obj["Health"] = dict(self.health)
        if self.volumes:
            obj["Volumes"] = [dict(v) for v in self.volumes]
        if not v3 and not self.internal:
            if self.log_driver:
                obj["LogDriver"] = self.log_driver
                if self.log_options is not None:
                    if self.log_options:
                        obj["LogOptions"] = dict(sorted(self.log_options.items()))
                elif self.log_driver == "awslogs":
                    obj["LogOptions"] = {
                        "awslogs-group": f"/ecs/{task.family}",
                        "awslogs-region": task.region,
                        "awslogs-stream": f"ecs/{self.name}/{task.task_id}",
                    }
            obj["ContainerARN"] = self.container_arn(task)
        networks = self.networks(task, v4=not v3)
        if networks:
            obj["Networks"] = networks
        if task.launch_type == "FARGATE" and not v3:
            obj["Snapshotter"] = "overlayfs"
        if not v3 and self.restart_count is not None:
            obj["RestartCount"] = self.restart_count
        return obj

    def container_arn(self, task: FakeTask) -> str:
        if task.launch_type == "FARGATE":  # Fargate's container ARNs have no cluster/task path
            return f"arn:aws:ecs:{task.region}:{task.account}:container/{self.arn_id}"
        return f"{task.arn.replace(':task/', ':container/', 1)}/{self.arn_id}"

    def v1_ports(self, task: FakeTask) -> list[dict[str, Any]]:
        """Docker's bindings, else the task definition's; awsvpc: HostPort = ContainerPort; no HostIp."""
        rows = [(b.container_port, b.protocol, b.host_port) for b in self.observed()] or [
            (p.container_port, p.protocol, p.host_port) for p in self.ports
        ]
        out = []
        for cport, proto, hport in rows:
            p = {
                "ContainerPort": cport,
                "Protocol": proto,
                "HostPort": cport if task.eni is not None else hport,
            }
            out.append({k: v for k, v in p.items() if v})
        return out

    def to_v1(self, *, old_agent: bool, task: FakeTask | None = None) -> dict[str, Any]:
        t = task or FakeTask("", "", "")
        obj: dict[str, Any] = {
            ("DockerID" if old_agent else "DockerId"): self.docker_id,
            "DockerName": self.docker_name(t),
            "Name": self.name,
            "Image": self.image,
            "ImageID": self.image_id,
            "CreatedAt": self.created_at,
            "StartedAt": self.started_at,
        }
        ports = self.v1_ports(t)
        if ports:
            obj["Ports"] = ports
        if t.eni is not None:  # v1 Networks: awsvpc only
            obj["Networks"] = [t.eni.base()]
        if self.volumes:
            obj["Volumes"] = [dict(v) for v in self.volumes]
        if self.restart_count is not None:
            obj["RestartCount"] = self.restart_count
        return obj

    def metadata_networks(self, task: FakeTask) -> list[dict[str, Any]]:
        """The metadata file's Networks come from ``docker inspect``: an awsvpc
        app container shares the pause container's namespace, so Docker shows
        no network of its own, only its HostConfig mode."""
        if task.eni is not None:
            pause = next((c for c in task.containers if c.internal), None)
            return [{"NetworkMode": f"container:{pause.docker_id}" if pause else "awsvpc"}]
        return self._docker_networks(task)


@dataclass
class FakeTask:
    arn: str
    family: str
    version: str
    containers: list[FakeContainer] = field(default_factory=list)
    known_status: str = "RUNNING"
    desired_status: str = "RUNNING"
    availability_zone: str = "us-west-2a"
    launch_type: str = "EC2"
    network_mode: str = "bridge"
    eni: FakeENI | None = None  # awsvpc only
    cpu: float | None = 0.5  # vCPU (the task-level limit); None: not set in the task definition
    memory: int | None = 1024  # MiB
    service_name: str = ""
    vpc_id: str = "vpc-0a1b2c3d4e5f67890"
    availability_zone_id: str = "usw2-az1"
    task_tags: dict[str, str] = field(default_factory=dict)
    pull_started_at: str = field(default_factory=_now)
    pull_stopped_at: str = field(default_factory=_now)
    # Scale-in protection as ECS keeps it: on until ``protection_expires`` (UTC), then off.
    protection_enabled: bool = False
    protection_expires: datetime | None = None

    @property
    def region(self) -> str:
        parts = self.arn.split(":")
        return parts[3] if len(parts) > 5 else ""

    @property
    def account(self) -> str:
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 5 else ""

    @property
    def task_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def limits(self) -> dict[str, Any]:
        """The task's ``Limits`` as the agent renders them: each key omitted when 0 (or not set)."""
        out: dict[str, Any] = {}
        if self.cpu:
            out["CPU"] = go_number(self.cpu)
        if self.memory:
            out["Memory"] = self.memory
        return out

    def to_task_metadata(
        self,
        cluster: str,
        *,
        v3: bool = False,
        tags: bool = False,
        instance_tags: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "Cluster": cluster,
            "TaskARN": self.arn,
            "Family": self.family,
            "Revision": self.version,
            "DesiredStatus": self.desired_status,
            "KnownStatus": self.known_status,
        }
        if self.limits():
            obj["Limits"] = self.limits()
        obj["PullStartedAt"] = self.pull_started_at
        obj["PullStoppedAt"] = self.pull_stopped_at
        obj["AvailabilityZone"] = self.availability_zone
        if tags and self.task_tags and not errors:
            obj["TaskTags"] = dict(sorted(self.task_tags.items()))
        if tags and instance_tags and not errors:
            obj["ContainerInstanceTags"] = dict(sorted(instance_tags.items()))
        if not v3:
            obj["LaunchType"] = self.launch_type
            if tags and errors:
                obj["Errors"] = errors
        obj["Containers"] = [c.to_v4(self, cluster, v3=v3) for c in self.containers]
        if not v3:
            if self.vpc_id and self.launch_type == "EC2":  # the container instance's VPC: EC2 only
                obj["VPCID"] = self.vpc_id
            if self.service_name:
                obj["ServiceName"] = self.service_name
            if self.launch_type == "FARGATE":
                obj["ClockDrift"] = {
                    "ClockErrorBound": 0.5,
                    "ReferenceTimestamp": self.pull_started_at,
                    "ClockSynchronizationStatus": "SYNCHRONIZED",
                }
                obj["EphemeralStorageMetrics"] = {"Utilized": 261, "Reserved": 20496}
            obj["FaultInjectionEnabled"] = False
            if self.availability_zone_id:
                obj["AvailabilityZoneID"] = self.availability_zone_id
        return obj

    def to_v1(self, *, old_agent: bool) -> dict[str, Any]:
        return {
            "Arn": self.arn,
            "DesiredStatus": self.desired_status,
            "KnownStatus": self.known_status,
            "Family": self.family,
            "Version": self.version,
            "Containers": [
                c.to_v1(old_agent=old_agent, task=self) for c in self.containers if not c.internal
            ],
        }


@dataclass
class Behaviour:
    """How the agent misbehaves. Durations count from ``FakeAgent.start()``;
    each applies to both listeners (introspection and TMDS).

    ``down_for``: the ports are bound but not listening, so connects are refused
    (the agent is starting or re-registering). ``not_found_for``: container and
    task lookups answer 404 (the Docker-create race). ``error_for`` /
    ``error_status``: every request gets a 5xx with an empty body, as a handler
    panic does. ``throttle_for``: 429 as TMDS's limiter sends it. ``delay``:
    every answer waits this long. ``hang``: accept and never answer.
    ``old_agent``: agent 1.19.0 quirks (``DockerID``, empty 400 bodies, no
    Content-Type on ``/v1/tasks``). ``tags_denied``: the instance role lacks
    ``ecs:ListTagsForResource``, so ``taskWithTags`` answers without tags and
    with ``Errors``. ``override``: a hook that may return a raw
    ``(status, headers, body)`` for hostile-server tests.

    Task protection (``/api/{id}/task-protection/v1/state``; ``down_for``,
    ``error_for``, ``throttle_for``, ``delay``, ``hang`` and ``override`` apply
    to it too). As in ECS, only a task in a service (``service_name``) can be
    protected: any other gets the failure ``TASK_NOT_VALID``, HTTP 200.
    ``protection_failure``: ECS answers a failure with this reason
    (``DEPLOYMENT_BLOCKED``, ``TASK_NOT_VALID``) for every task.
    ``no_task_role``: the task definition has no task role (403
    ``AccessDeniedException`` from the agent itself). ``protection_denied``: the
    task role lacks ``ecs:UpdateTaskProtection`` / ``ecs:GetTaskProtection``
    (ECS's 400 ``AccessDeniedException`` with a ``requestID``).
    ``protection_throttled``: ECS throttles the next N calls (400
    ``ThrottlingException``, "Rate exceeded"). ``protection_delay``: ECS takes
    this long to answer; at or beyond ``FakeAgent.ecs_call_timeout`` (the agent's
    4 s) the agent gives up then and answers 504 ``RequestCanceled``.
    """

    down_for: float = 0.0
    not_found_for: float = 0.0
    error_for: float = 0.0
    error_status: int = 500
    throttle_for: float = 0.0
    delay: float = 0.0
    hang: bool = False
    old_agent: bool = False
    override: Callable[[str, str], tuple[int, dict[str, str], bytes] | None] | None = None
    tags_denied: bool = False
    protection_failure: str = ""
    no_task_role: bool = False
    protection_denied: bool = False
    protection_throttled: int = 0
    protection_delay: float = 0.0


@dataclass(frozen=True)
class RequestRecord:
    at: float  # seconds since start()
    method: str
    path: str
    query: str
    status: int
    listener: str = ""  # "introspection" or "tmde"; "" for respond() called directly
    body: bytes = b""  # the request's body, as received (TMDS only)

    def protection_update(self) -> tuple[bool | None, int | None] | None:
        """``(ProtectionEnabled, ExpiresInMinutes)`` of a task-protection PUT, as
        the agent decodes its body; None for any other request or a body it refuses."""
        if self.method != "PUT" or not PROTECTION_ROUTE.fullmatch(self.path):
            return None
        return decode_protection_request(self.body)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity: not JSON to Go


_PROTECTION_FIELDS = {"protectionenabled": 0, "expiresinminutes": 1}
_INT64 = (-(2**63), 2**63 - 1)


def decode_protection_request(body: bytes) -> tuple[bool | None, int | None] | None:
    """``(ProtectionEnabled, ExpiresInMinutes)`` as the agent's
    ``json.NewDecoder(r.Body)`` with ``DisallowUnknownFields`` decodes them
    into ``*bool`` and ``*int64``: the first JSON value only (what follows is
    not read), keys matched without regard to case, ``null`` for either field
    (or the whole body) leaves it unset; None where Go's decoder fails: an empty
    or broken body, an unknown field, a wrong type, a fraction or an exponent
    for the minutes, a number outside int64."""
    text = body.decode("utf-8", "replace").lstrip(" \t\r\n")
    try:
        obj, _ = json.JSONDecoder(parse_constant=_reject_constant).raw_decode(text)
    except (ValueError, RecursionError):
        return None
    if obj is None:
        return None, None
    if not isinstance(obj, dict):
        return None
    out: list[Any] = [None, None]
    for key, value in obj.items():
        slot = _PROTECTION_FIELDS.get(key.lower())
        if slot is None:
            return None
        if value is None:
            out[slot] = None
        elif slot == 0 and isinstance(value, bool):
            out[0] = value
        elif slot == 1 and type(value) is int and _INT64[0] <= value <= _INT64[1]:
            out[1] = value
        else:
            return None
    return out[0], out[1]


_request_body = threading.local()  # the body of the request this handler thread is answering


class _BodyHandler(_Handler):
    """TMDS's request handler: it keeps the request body for the responder (the
    task-protection route decodes it, as the agent does)."""

    def _any(self) -> None:
        length = self.headers.get("Content-Length") or "0"
        body = b""
        if length.isdigit() and 0 < int(length) <= MAX_REQUEST_BODY:
            body = self.rfile.read(int(length))
            del self.headers["Content-Length"]  # read here: the base handler must not wait for it again
        _request_body.value = body
        try:
            super()._any()
        finally:
            _request_body.value = b""

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _any


class FakeAgent:
    """The introspection API on ``host:port`` and TMDS on ``host:tmde_port``
    (port 0 picks a free one).

    Use as a context manager, or ``start()``/``stop()``. ``url`` is the
    introspection base URL (``SELFDISCOVER_AGENT_URL``); ``metadata_uri(c)``
    what the agent injects as ``ECS_CONTAINER_METADATA_URI_V4`` into ``c``
    (under ``tmde_url``); ``requests`` records every request to either.
    ``host_ipv4`` is the instance's private address, as the metadata file
    reports it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cluster: str = "default",
        behaviour: Behaviour | None = None,
        agent_version: str = "Amazon ECS Agent - v1.105.1 (8dfceca6)",
        region: str = "us-west-2",
        account: str = "111122223333",
        tmde_port: int = 0,
        host_ipv4: str = "10.0.1.25",
        container_instance_tags: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.cluster = cluster
        self.region = region
        self.account = account
        self.behaviour = behaviour or Behaviour()
        self.agent_version = agent_version
        self.host_ipv4 = host_ipv4
        self.container_instance_tags = dict(container_instance_tags or {})
        self.container_instance_arn = (
            f"arn:aws:ecs:{region}:{account}:container-instance/{cluster}/{secrets.token_hex(16)}"
        )
        self.tasks: list[FakeTask] = []
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._started = 0.0
        self._stopping = threading.Event()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._next_bridge_ip = 2  # 172.17.0.1 is docker0
        self._next_host_port = FIRST_DYNAMIC_PORT
        self._next_eni = 0
        self.tmde_rate = 40.0
        self.tmde_burst = 60
        self.ecs_call_timeout = ECS_CALL_TIMEOUT  # the agent's limit on its ECS call (tests shorten it)
        self._protection_throttled = 0  # ThrottlingException answers given so far
        self._v1_listener = Listener(host, port, self._answer, "introspection", self._stopping)
        try:
            self._tmds_listener = Listener(host, tmde_port, self._answer, "tmde", self._stopping)
        except OSError:
            self._v1_listener.stop()
            raise
        self._tmds_listener._server.RequestHandlerClass = _BodyHandler
        self.port: int = self._v1_listener.port
        self.tmde_port: int = self._tmds_listener.port

    # -- state ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._v1_listener.url

    @property
    def tmde_url(self) -> str:
        """Where TMDS listens (the agent's 127.0.0.1:51679, which tasks reach as 169.254.170.2)."""
        return self._tmds_listener.url

    def add_task(
        self,
        family: str,
        version: str | int,
        containers: list[FakeContainer] | None = None,
        *,
        task_id: str | None = None,
        arn: str | None = None,
        known_status: str = "RUNNING",
        network_mode: str = "bridge",
        launch_type: str = "EC2",
        ports: Sequence[PortSpec] = (),
        ipv6: bool = False,
        dual_stack: bool = False,
        service_name: str = "",
        cpu: float | None = 0.5,
        memory: int | None = 1024,
        task_tags: dict[str, str] | None = None,
        eni: FakeENI | None = None,
    ) -> FakeTask:
        """Add a task and wire it as the agent and Docker would for ``network_mode``.

        ``ports`` go to the first non-internal container (which must have none
        of its own). ``bridge``: each container gets a 172.17.0.x address and
        every dynamic host port a fresh one from 32768 up, bound on 0.0.0.0
        (and on ``::`` too with ``dual_stack``). ``host``: no address, no
        Docker bindings. ``awsvpc``: an ENI (``eni``, else the next
        10.0.12.x; ``ipv6`` adds an address and subnet) and, on EC2, a
        ``~internal~ecs~pause`` container unless one is given. ``FARGATE``
        implies ``awsvpc``.
        """
        if launch_type not in LAUNCH_TYPES:
            raise ValueError(f"launch_type must be one of {', '.join(LAUNCH_TYPES)}, got {launch_type!r}")
        if launch_type == "FARGATE":
            network_mode = "awsvpc"
        if network_mode not in NETWORK_MODES:
            raise ValueError(f"network_mode must be one of {', '.join(NETWORK_MODES)}, got {network_mode!r}")
        task_id = task_id or secrets.token_hex(16)
        arn = arn or f"arn:aws:ecs:{self.region}:{self.account}:task/{self.cluster}/{task_id}"
        cs = list(containers or [])
        if ports:
            first = next((c for c in cs if not c.internal), None)
            if first is None or first.ports:
                raise ValueError("ports= needs a first non-internal container without ports of its own")
            first.ports = [FakePort.parse(p) for p in ports]
        task = FakeTask(
            arn,
            family,
            str(version),
            cs,
            known_status=known_status,
            launch_type=launch_type,
            network_mode=network_mode,
            cpu=cpu,
            memory=memory,
            service_name=service_name,
            task_tags=dict(task_tags or {}),
        )
        with self._lock:
            self._wire(task, eni=eni, ipv6=ipv6, dual_stack=dual_stack)
            self.tasks.append(task)
        return task

    def _wire(self, task: FakeTask, *, eni: FakeENI | None, ipv6: bool, dual_stack: bool) -> None:
        """What the agent and Docker give a task's containers, per network mode."""
        if task.launch_type == "FARGATE":  # Fargate's IDs: the task ID, a dash, ten digits
            for c in task.containers:
                if c.generated_id:
                    c.docker_id = f"{task.task_id}-{secrets.randbelow(9 * 10**9) + 10**9}"
        if task.network_mode == "awsvpc":
            task.eni = eni or self._new_eni(ipv6=ipv6, fargate=task.launch_type == "FARGATE")
            if task.launch_type == "EC2" and not any(c.internal for c in task.containers):
                pause = FakeContainer(
                    PAUSE_NAME, image=PAUSE_IMAGE, internal=True, image_id="", log_driver=None
                )
                task.containers.insert(0, pause)
            for c in task.containers:
                c.ports = [FakePort(p.container_port, p.protocol, p.container_port) for p in c.ports]
                if c.bindings is None:
                    c.bindings = []  # they share the pause container's namespace: Docker binds nothing
            return
        for c in task.containers:
            if task.network_mode == "host":
                c.ports = [
                    FakePort(p.container_port, p.protocol, p.host_port or p.container_port) for p in c.ports
                ]
            if task.network_mode != "bridge":
                if c.bindings is None:
                    c.bindings = []  # host and none: Docker reports no port bindings
                continue
            if not c.ipv4:
                c.ipv4 = f"172.17.0.{self._next_bridge_ip}"
                self._next_bridge_ip = self._next_bridge_ip % 250 + 2
            if c.bindings is None:
                c.bindings = []
                for p in c.ports:
                    hport = p.host_port
                    if not hport:
                        hport = self._next_host_port
                        self._next_host_port += 1
                    c.bindings.append(FakeBinding(p.container_port, p.protocol, hport, "0.0.0.0"))
                    if dual_stack:
                        c.bindings.append(FakeBinding(p.container_port, p.protocol, hport, "::"))

    def _new_eni(self, *, ipv6: bool, fargate: bool) -> FakeENI:
        n = self._next_eni
        self._next_eni += 1
        last = 34 + n % 200
        ip = f"10.0.12.{last}"
        dns = f"ip-10-0-12-{last}.{self.region}.compute.internal"
        return FakeENI(
            ipv4=ip,
            mac=f"0e:6b:4c:1f:{n // 256 % 256:02x}:{(0xAD + n) % 256:02x}",
            private_dns_name=dns,
            ipv6=f"2600:1f14:abc:de00:8c1f:{n:x}:fe22:1a2b" if ipv6 else "",
            ipv6_subnet_cidr="2600:1f14:abc:de00::/64" if ipv6 else "",
            dns_servers=["10.0.0.2"] if fargate else [],
            dns_search=[f"{self.region}.compute.internal"] if fargate else [],
        )

    def add_container_task(
        self, docker_id: str, family: str = "demo", version: str | int = 1, name: str = "app"
    ) -> FakeTask:
        """The common case: one task whose one container has ``docker_id``."""
        return self.add_task(family, version, [FakeContainer(name, docker_id)])

    def load_samples(self) -> None:
        """Load the three tasks of the bundled ``introspection-v1-tasks.json``,
        with what the bundled TMDE samples say of them (the bridge task's
        ``web`` and the awsvpc task ``api`` with its pause container)."""
        from ._samples import container_instance_arn, sample_tasks

        with self._lock:
            self.tasks.extend(sample_tasks())
            if self.cluster == "default":  # the samples' instance, so the metadata file matches too
                self.container_instance_arn = container_instance_arn()

    def request_count(self, path_prefix: str = "/") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> FakeAgent:
        self._started = time.monotonic()
        self._v1_listener.start(self.behaviour.down_for)
        self._tmds_listener.start(self.behaviour.down_for)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._v1_listener.stop()
        self._tmds_listener.stop()

    def __enter__(self) -> FakeAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API -------------------------------------------------------------

    def _lookup_keys(self) -> list[tuple[str, FakeTask]]:
        return [(c.docker_id, t) for t in self.tasks for c in t.containers]

    def metadata_uri(self, container: FakeContainer, version: int = 4) -> str:
        """What the agent injects as ``ECS_CONTAINER_METADATA_URI[_V4]`` for ``container``."""
        return f"{self.tmde_url}/v{version}/{container.endpoint_id}"

    def agent_uri(self, container: FakeContainer) -> str:
        """What the agent injects as ``ECS_AGENT_URI`` for ``container`` (the task-protection base)."""
        return f"{self.tmde_url}/api/{container.endpoint_id}"

    def protection_requests(self) -> list[RequestRecord]:
        """Every request to the task-protection route, in order (each GET and PUT, whatever the answer)."""
        with self._lock:
            return [r for r in self.requests if PROTECTION_ROUTE.fullmatch(r.path)]

    def metadata_file(
        self, task: FakeTask, container: FakeContainer, *, ready: bool = True
    ) -> dict[str, Any]:
        """The container metadata file's content: READY (with what ``docker
        inspect`` said) or INITIAL (no ``MetadataFileStatus`` key)."""
        obj: dict[str, Any] = {
            "Cluster": self.cluster,
            "ContainerInstanceARN": self.container_instance_arn,
            "TaskARN": task.arn,
            "TaskDefinitionFamily": task.family,
            "TaskDefinitionRevision": task.version,
        }
        if ready:
            obj["ContainerID"] = container.docker_id
        obj["ContainerName"] = container.name
        if ready:
            obj["DockerContainerName"] = "/" + container.docker_name(task)
            obj["ImageID"] = container.image_id
            obj["ImageName"] = container.image
            mappings = []
            for b in container.observed():
                m: dict[str, Any] = {"ContainerPortRange": b.container_port_range}
                if b.container_port:
                    m = {"ContainerPort": b.container_port, **m}
                if b.host_port:
                    m["HostPort"] = b.host_port
                if b.host_ip:
                    m["BindIp"] = b.host_ip
                m["Protocol"] = b.protocol
                mappings.append(m)
            if mappings:
                obj["PortMappings"] = mappings
            networks = container.metadata_networks(task)
            if networks:
                obj["Networks"] = networks
            obj["MetadataFileStatus"] = "READY"
        obj["AvailabilityZone"] = task.availability_zone
        if self.host_ipv4:
            obj["HostPrivateIPv4Address"] = self.host_ipv4
        return obj

    def write_metadata_file(
        self, path: str, task: FakeTask, container: FakeContainer, ready_after: float = 0.0
    ) -> None:
        """Write the container metadata file as the agent does: first without
        ``MetadataFileStatus`` (INITIAL), then READY after ``ready_after`` s,
        each time atomically (temp file + rename), tab-indented."""

        def write(obj: dict[str, Any]) -> None:
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(obj, f, indent="\t")
            os.replace(tmp, path)

        write(self.metadata_file(task, container, ready=False))
        ready = self.metadata_file(task, container)
        if ready_after <= 0:
            write(ready)
            return
        timer = threading.Timer(ready_after, write, args=(ready,))
        timer.daemon = True
        timer.start()

    def _throttled(self, client: str, path: str) -> bool:
        """TMDS's token bucket per (client IP, path): 40/s steady, burst 60."""
        now = time.monotonic()
        key = (client, path)
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.tmde_burst), now))
            tokens = min(float(self.tmde_burst), tokens + (now - last) * self.tmde_rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return True
            self._buckets[key] = (tokens - 1, now)
            return False

    def _answer(
        self, role: str, method: str, target: str, headers: dict[str, str], client: tuple[str, int]
    ) -> tuple[int, dict[str, str], bytes] | None:
        b = self.behaviour
        if b.hang:
            self._stopping.wait(3600)
            return None
        if b.delay > 0:
            self._stopping.wait(b.delay)
        forwarded = next((v for k, v in headers.items() if k.lower() == "x-forwarded-for"), "")
        body: bytes = getattr(_request_body, "value", b"")
        out = self.respond(
            method,
            target,
            client[0],
            listener=role,
            remote_addr=f"{client[0]}:{client[1]}",
            forwarded=forwarded,
            body=body,
        )
        parts = urlsplit(target)
        with self._lock:
            self.requests.append(
                RequestRecord(self.elapsed(), method, parts.path, parts.query, out[0], role, body)
            )
        return out

    def respond(
        self,
        method: str,
        target: str,
        client: str = "127.0.0.1",
        *,
        listener: str | None = None,
        remote_addr: str | None = None,
        forwarded: str = "",
        body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request the way the agent's source does. ``listener``
        ``"introspection"`` or ``"tmde"``; None (a direct call) routes
        ``/v3``/``/v4``/``/api`` paths to TMDS and the rest to introspection.
        ``body``: the request's (the task-protection route decodes it)."""
        b = self.behaviour
        now = self.elapsed()
        parts = urlsplit(target)
        path = parts.path
        if b.override is not None:
            out = b.override(method, target)
            if out is not None:
                return out
        if listener is None:
            listener = (
                "tmde"
                if path.startswith(("/v3/", "/v4/", "/api/")) or path in ("/v3", "/v4")
                else "introspection"
            )
        if listener == "tmde":
            limit = {
                "X-Rate-Limit-Limit": f"{self.tmde_rate:.2f}",
                "X-Rate-Limit-Duration": "1",
                "X-Rate-Limit-Request-Forwarded-For": forwarded,
                "X-Rate-Limit-Request-Remote-Addr": remote_addr or f"{client}:0",
            }
            status, headers, answer = self._tmds(method, parts, client, now, body)
            return status, (headers if status == 301 else {**limit, **headers}), answer
        if now < b.error_for:
            return b.error_status, {"Connection": "close"}, b""
        if now < b.throttle_for:  # the agent never throttles introspection; a misbehaviour to test
            return 429, {"Content-Type": TEXT}, THROTTLED
        cleaned = _clean_path(path)
        if cleaned != path:
            return 301, {"Location": cleaned + (f"?{parts.query}" if parts.query else "")}, b""
        if path == "/v1/metadata":
            meta = {
                "Cluster": self.cluster,
                "ContainerInstanceArn": self.container_instance_arn,
                "Version": self.agent_version,
            }
            return 200, {"Content-Type": JSON}, go_json(meta)
        if path == "/license":
            return 200, {"Content-Type": TEXT}, b"Apache License 2.0 (fake)\n"
        if path != "/v1/tasks":
            return 200, {"Content-Type": TEXT}, go_json(CATCH_ALL)
        return self._tasks(parse_qs(parts.query, keep_blank_values=True), now)

    def _tmds(
        self, method: str, parts: Any, client: str, now: float, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        b = self.behaviour
        path = parts.path
        if now < b.error_for:
            return b.error_status, {"Connection": "close"}, b""
        if now < b.throttle_for or self._throttled(client, path):
            return 429, {"Content-Type": TEXT}, THROTTLED
        cleaned = _clean_path(path)
        if cleaned != path:
            return 301, {"Location": cleaned + (f"?{parts.query}" if parts.query else "")}, b""
        if path.startswith(("/v3/", "/v4/")) or path in ("/v3", "/v4"):
            return self._tmde(path, now)
        route = PROTECTION_ROUTE.fullmatch(path)
        if route is not None:
            return self._protection(method, route.group(1), body)
        return 404, {"Content-Type": TEXT}, NOT_FOUND_TEXT

    # -- task scale-in protection (ecs-agent/tmds/handlers/taskprotection/v1) ----

    def _protection(self, method: str, endpoint_id: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """``GetTaskProtectionHandler`` and ``UpdateTaskProtectionHandler``, in
        their order: decode the body (PUT), find the task, require
        ``ProtectionEnabled`` (PUT), find the task role's credentials, call ECS
        (under the agent's timeout), answer ECS's error, failure or protection."""
        b = self.behaviour
        ct = {"Content-Type": JSON}
        if method not in ("GET", "PUT"):
            return 405, {}, b""  # gorilla/mux: the path matches, the method does not; no body
        request: tuple[bool | None, int | None] | None = None
        if method == "PUT":
            request = decode_protection_request(body)
            if request is None:
                msg = "UpdateTaskProtection: failed to decode request"
                return 400, ct, _agent_error("", "InvalidParameterException", msg)
        task = self._task_for_endpoint(endpoint_id)
        if task is None:
            msg = "Failed to find a task for the request"
            return 404, ct, _agent_error("", "ResourceNotFoundException", msg)
        arn = task.arn
        if request is not None and request[0] is None:
            msg = "Invalid request: does not contain 'ProtectionEnabled' field"
            return 400, ct, _agent_error(arn, "InvalidParameterException", msg)
        if b.no_task_role:
            msg = "Invalid Request: no task IAM role credentials available for task"
            return 403, ct, _agent_error(arn, "AccessDeniedException", msg)
        # The agent's call to ECS, under its timeout.
        if b.protection_delay >= self.ecs_call_timeout:
            self._stopping.wait(self.ecs_call_timeout)
            msg = "Timed out calling ECS Task Protection API"
            return 504, ct, _agent_error(arn, "RequestCanceled", msg)
        if b.protection_delay > 0:
            self._stopping.wait(b.protection_delay)
        action = "UpdateTaskProtection" if request is not None else "GetTaskProtection"
        if b.protection_denied:
            role = f"arn:aws:sts::{task.account}:assumed-role/{task.family}-task-role/{task.task_id}"
            msg = (
                f"User: {role} is not authorized to perform: ecs:{action} on resource: {arn} "
                f"because no identity-based policy allows the ecs:{action} action"
            )
            return 400, ct, _ecs_error(arn, "AccessDeniedException", msg)
        with self._lock:
            throttled = self._protection_throttled < b.protection_throttled
            if throttled:
                self._protection_throttled += 1
        if throttled:
            return 400, ct, _ecs_error(arn, "ThrottlingException", "Rate exceeded")
        minutes = request[1] if request is not None else None
        low, high = PROTECTION_MINUTES
        if minutes is not None and not low <= minutes <= high:
            msg = f"expiresInMinutes must be between {low} and {high}."  # ECS checks; the wording is ours
            return 400, ct, _ecs_error(arn, "InvalidParameterException", msg)
        reason = b.protection_failure or ("" if task.service_name else "TASK_NOT_VALID")
        if reason:  # only tasks in a service can be protected
            return 200, ct, go_json({"failure": {"Arn": arn, "Detail": None, "Reason": reason}})
        now = datetime.now(timezone.utc).replace(microsecond=0)
        with self._lock:
            if request is not None:
                task.protection_enabled = bool(request[0])
                expiry = timedelta(minutes=minutes or DEFAULT_PROTECTION_MINUTES)
                task.protection_expires = now + expiry if task.protection_enabled else None
            if task.protection_expires is not None and task.protection_expires <= now:
                task.protection_enabled, task.protection_expires = False, None  # expired: ECS turned it off
            expires = task.protection_expires
            protection = {
                "ExpirationDate": expires.strftime("%Y-%m-%dT%H:%M:%SZ") if expires is not None else None,
                "ProtectionEnabled": task.protection_enabled,
                "TaskArn": arn,
            }
        return 200, ct, go_json({"protection": protection})

    def _task_for_endpoint(self, endpoint_id: str) -> FakeTask | None:
        with self._lock:
            for t in self.tasks:
                for c in t.containers:
                    if endpoint_id and c.endpoint_id == endpoint_id:
                        return t
        return None

    def _tags_errors(self, task: FakeTask) -> list[dict[str, Any]]:
        """What ``taskWithTags`` reports when the instance role may not list tags."""
        role = f"arn:aws:sts::{self.account}:assumed-role/ecsInstanceRole/i-0123456789abcdef0"
        out = []
        for fieldname, resource in (
            ("ContainerInstanceTags", self.container_instance_arn),
            ("TaskTags", task.arn),
        ):
            out.append(
                {
                    "ErrorField": fieldname,
                    "ErrorCode": "AccessDeniedException",
                    "ErrorMessage": (
                        f"User: {role} is not authorized to perform: ecs:ListTagsForResource on resource: "
                        f"{resource} because no identity-based policy allows the "
                        "ecs:ListTagsForResource action"
                    ),
                    "StatusCode": 400,
                    "RequestId": str(uuid.uuid5(uuid.NAMESPACE_URL, resource)),
                    "ResourceARN": resource,
                }
            )
        return out

    def _tmde(self, path: str, now: float) -> tuple[int, dict[str, str], bytes]:
        version, _, rest = path[1:].partition("/")
        endpoint_id, _, sub = rest.partition("/")
        v3 = version == "v3"
        label = "V3" if v3 else "V4"
        if rest.endswith("/") or sub not in ("", "task", "taskWithTags", "stats", "task/stats"):
            return 404, {"Content-Type": TEXT}, NOT_FOUND_TEXT  # gorilla/mux: no such route
        found = None
        with self._lock:
            for t in self.tasks:
                for c in t.containers:
                    if c.endpoint_id == endpoint_id and endpoint_id:
                        found = (t, c)
        ct = {"Content-Type": JSON}
        if found is None or now < self.behaviour.not_found_for:
            if sub == "":
                why = (
                    "container metadata handler: unable to get container ID from request: "
                    "unable to get docker ID"
                )
            else:
                handler = {
                    "task": "task metadata",
                    "taskWithTags": "task metadata",
                    "stats": "container stats",
                    "task/stats": "task stats",
                }[sub]
                why = f"{handler} handler: unable to get task arn from request: unable to get task Arn"
            msg = f"{label} {why} from v3 endpoint ID: {endpoint_id}"
            # v4 (agent 1.71+) answers an unknown id 404; v3 500, and 400 on its stats routes.
            status = 404 if not v3 else (400 if "stats" in sub else 500)
            return status, ct, go_json(msg)
        task, container = found
        if sub == "":
            return 200, ct, go_json(container.to_v4(task, self.cluster_for(task), v3=v3))
        if sub in ("task", "taskWithTags"):
            tags = sub == "taskWithTags"
            errors = self._tags_errors(task) if tags and self.behaviour.tags_denied and not v3 else None
            obj = task.to_task_metadata(
                self.cluster_for(task),
                v3=v3,
                tags=tags and not (v3 and self.behaviour.tags_denied),
                instance_tags=self.container_instance_tags if task.launch_type == "EC2" else None,
                errors=errors,
            )
            return 200, ct, go_json(obj)
        if sub == "stats":
            return 200, ct, go_json(self._stats(task, container))
        return 200, ct, go_json({c.docker_id: self._stats(task, c) for c in task.containers})

    def cluster_for(self, task: FakeTask) -> str:
        """TMDE's ``Cluster``: the configured name on EC2, the cluster ARN on Fargate."""
        if task.launch_type == "FARGATE":
            return f"arn:aws:ecs:{task.region}:{task.account}:cluster/{self.cluster}"
        return self.cluster

    def _stats(self, task: FakeTask, c: FakeContainer) -> dict[str, Any]:
        """A minimal Docker ``StatsJSON`` with the agent's ``network_rate_stats``."""
        return {
            "read": _now(),
            "name": "/" + c.docker_name(task),
            "id": c.docker_id,
            "memory_stats": {"usage": 0, "limit": c.memory * 1024 * 1024},
            "network_rate_stats": {"rx_bytes_per_sec": 0, "tx_bytes_per_sec": 0},
        }

    def _tasks(self, q: dict[str, list[str]], now: float) -> tuple[int, dict[str, str], bytes]:
        b = self.behaviour
        ct = {} if b.old_agent else {"Content-Type": JSON}
        error = (ct, b"" if b.old_agent else go_json(ERROR_TASK))
        with self._lock:
            if "dockerid" in q and "taskarn" in q:
                return 400, *error
            if "taskarn" in q or "dockerid" in q:
                if now < b.not_found_for:
                    return 404, ct, go_json(ERROR_TASK)
                if "taskarn" in q:
                    found = [t for t in self.tasks if t.arn == q["taskarn"][0]]
                    if not found:
                        return 404, ct, go_json(ERROR_TASK)
                    return 200, ct, go_json(found[0].to_v1(old_agent=b.old_agent))
                wanted = q["dockerid"][0]
                keys = self._lookup_keys()
                if len(wanted) > 12:
                    matches = [t for k, t in keys if k == wanted]
                else:
                    matches = [t for k, t in keys if k.startswith(wanted)]  # duplicates kept, as Go does
                if not matches:
                    return 404, ct, go_json(ERROR_TASK)
                if len(matches) > 1:
                    return 400, *error
                return 200, ct, go_json(matches[0].to_v1(old_agent=b.old_agent))
            tasks = [t.to_v1(old_agent=b.old_agent) for t in self.tasks]
        return 200, ct, go_json({"Tasks": tasks})


def _agent_error(arn: str, code: str, message: str) -> bytes:
    """The agent's own error body (``ErrorResponse``: ``Arn`` is omitted when empty)."""
    error = {"Arn": arn, "Code": code, "Message": message} if arn else {"Code": code, "Message": message}
    return go_json({"error": error})


def _ecs_error(arn: str, code: str, message: str) -> bytes:
    """An ECS API error as the agent passes it on: ECS's request ID first (``requestID``), then the error."""
    return go_json({"requestID": str(uuid.uuid4()), "error": {"Arn": arn, "Code": code, "Message": message}})


def _clean_path(path: str) -> str:
    """Go's ServeMux (and gorilla/mux) redirect non-canonical paths (``//v1/tasks``) with 301."""
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    cleaned = "/" + "/".join(out)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned
