"""The agent's introspection API, at an explicit URL, at localhost (host
network mode), or at the default gateway (bridge mode, where ecs-init's
iptables rules let the docker0 bridge reach port 51678)."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time

from .._errors import SelfdiscoverError
from .._files import read_bounded
from .._model import SourceLabel, TaskInfo
from ._agent import AgentClient, docker_id_path, parse_task
from ._ladder import Context
from ._timing import Retry

AGENT_PORT = 51678


def parse_default_gateway(route_text: str) -> str | None:
    """The IPv4 default gateway from ``/proc/net/route`` text, or ``None``.

    Columns: Iface Destination Gateway Flags ...; addresses are little-endian
    hex. The default route has Destination 0 and the RTF_GATEWAY flag (0x2).
    """
    for line in route_text.splitlines()[1:200]:
        cols = line.split()
        if len(cols) < 4 or cols[1] != "00000000":
            continue
        try:
            flags = int(cols[3], 16)
            gw = int(cols[2], 16)
        except ValueError:
            continue
        if flags & 0x2 and 0 < gw <= 0xFFFFFFFF:
            return socket.inet_ntoa(struct.pack("<I", gw))
    return None


class _Introspection:
    name = ""
    skipped = ""

    def hint(self, detail: str, ctx: Context) -> str | None:
        if "404" not in detail:
            return None
        if ctx.identity.rule.startswith("mountinfo"):
            return (
                "the agent does not know this ID; an ID from mountinfo may be another container's "
                "(shared network namespace): set SELFDISCOVER_DOCKER_ID or use the v4 endpoint"
            )
        return "the agent does not know this container (yet): not an ECS task, or the start-up race"

    def fetch(self, ctx: Context, target: str, deadline: float) -> TaskInfo:
        docker_id = ctx.identity.container_id
        assert docker_id
        client = AgentClient(target, timeout=ctx.timeout, retry=Retry(enabled=False))
        task = parse_task(
            client.once(
                docker_id_path(docker_id),
                what=f"container {docker_id}",
                retry_not_found=ctx.in_ecs,
                deadline=deadline,
            )
        )
        meta = None
        with contextlib.suppress(SelfdiscoverError):
            meta = client.metadata(deadline=min(deadline, time.monotonic() + ctx.timeout.read))
        container = task.container(docker_id)
        # An ID read from a shared /etc/hostname mount may be the network
        # namespace owner's (the pause container): keep it only if confirmed.
        confirmed = container is not None or ctx.identity.rule in ("override", "cgroup", "argument")
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
            image=container.image if container else None,
            image_id=container.image_id if container else None,
            ports=container.ports if container else (),
            network_mode=container.network.mode if container else None,
            ipv4_addresses=container.network.ipv4 if container else (),
            ipv6_addresses=container.network.ipv6 if container else (),
            source=SourceLabel(self.name, target, "introspection"),
        )


class ExplicitURL(_Introspection):
    name = "agent-url"
    skipped = "SELFDISCOVER_AGENT_URL is not set (or no container ID)"

    def targets(self, ctx: Context) -> list[str]:
        url = ctx.settings.agent_url
        return [url] if url and ctx.identity.container_id else []


class Localhost(_Introspection):
    name = "agent-localhost"
    skipped = "no container ID to ask about, or an explicit agent URL replaces it"

    def hint(self, detail: str, ctx: Context) -> str | None:
        if "refused" in detail or "timed out" in detail:
            return "the agent listens on the host: localhost reaches it only in host network mode"
        return super().hint(detail, ctx)

    def targets(self, ctx: Context) -> list[str]:
        if ctx.settings.agent_url or not ctx.identity.container_id:
            return []
        return [f"http://localhost:{AGENT_PORT}"]


class Gateway(_Introspection):
    """Only with evidence of ECS: outside ECS the gateway is somebody's router."""

    name = "agent-gateway"
    skipped = "no evidence of ECS, no default route in /proc/net/route, or no container ID"

    def hint(self, detail: str, ctx: Context) -> str | None:
        if "refused" in detail or "timed out" in detail:
            return (
                "bridge mode and the gateway drops port 51678: set "
                "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true on the instance, or rely on the v4 endpoint"
            )
        return super().hint(detail, ctx)

    def targets(self, ctx: Context) -> list[str]:
        if ctx.settings.agent_url or not ctx.identity.container_id or not ctx.evidence:
            return []
        text = read_bounded(os.path.join(ctx.proc_root, "net", "route"), 64 * 1024)
        gw = parse_default_gateway(text or "")
        return [f"http://{gw}:{AGENT_PORT}"] if gw else []
