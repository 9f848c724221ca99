"""The bundled agent samples as fake tasks: ``FakeAgent.load_samples()``.

The tasks are built from the sample files themselves (the v1 task list, and
the TMDE v4 container and task samples for what v1 does not carry), so the
fake answers with the samples' values and the fidelity tests can compare its
output with them byte for byte.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ._fake_agent import FakeBinding, FakeContainer, FakeENI, FakePort, FakeTask

V1_TASKS = "introspection-v1-tasks.json"
V1_METADATA = "introspection-v1-metadata.json"
V4_CONTAINER = "tmde-v4-container-bridge.json"
V4_TASK = "tmde-v4-task-awsvpc.json"
AGENT_LABELS = "com.amazonaws.ecs."


def load(name: str) -> Any:
    return json.loads(
        (resources.files("selfdiscover.testing") / "samples" / name).read_text(encoding="utf-8")
    )


def sample_tasks() -> list[FakeTask]:
    v4_task = load(V4_TASK)
    v4_tasks = {v4_task["TaskARN"]: v4_task}
    v4 = {c["DockerId"]: c for c in [load(V4_CONTAINER), *v4_task["Containers"]]}
    out = []
    for t in load(V1_TASKS)["Tasks"]:
        tv4: dict[str, Any] = v4_tasks.get(t["Arn"], {})
        internal = [c for c in tv4.get("Containers", []) if c["Name"].startswith("~internal~")]
        containers = [_container(c, v4.get(c["DockerId"], {})) for c in internal + t["Containers"]]
        net: dict[str, Any] | None = next(
            (c["Networks"][0] for c in t["Containers"] if c.get("Networks")), None
        )
        if net is None:
            net = next((v4[c["DockerId"]]["Networks"][0] for c in t["Containers"] if c["DockerId"] in v4), {})
        mode = net.get("NetworkMode", "bridge")
        ext: dict[str, Any] = next(
            (c["Networks"][0] for c in tv4.get("Containers", []) if not c["Name"].startswith("~")), {}
        )
        task = FakeTask(
            t["Arn"],
            t["Family"],
            t["Version"],
            containers,
            known_status=t["KnownStatus"],
            desired_status=t.get("DesiredStatus", ""),
            network_mode=mode,
            availability_zone=tv4.get("AvailabilityZone", "us-west-2b"),
            cpu=tv4.get("Limits", {}).get("CPU"),
            memory=tv4.get("Limits", {}).get("Memory"),
            service_name=tv4.get("ServiceName", ""),
            vpc_id=tv4.get("VPCID", "vpc-0a1b2c3d4e5f67890"),
            availability_zone_id=tv4.get("AvailabilityZoneID", "usw2-az2"),
            launch_type=tv4.get("LaunchType", "EC2"),
        )
        task.pull_started_at = tv4.get("PullStartedAt", containers[0].created_at if containers else "")
        task.pull_stopped_at = tv4.get("PullStoppedAt", task.pull_started_at)
        if mode == "awsvpc":
            task.eni = FakeENI(
                ipv4=net["IPv4Addresses"][0],
                mac=ext.get("MACAddress", ""),
                subnet_cidr=ext.get("IPv4SubnetCIDRBlock", ""),
                gateway=ext.get("SubnetGatewayIpv4Address", ""),
                private_dns_name=ext.get("PrivateDNSName", ""),
            )
        out.append(task)
    return out


def container_instance_arn() -> str:
    return str(load(V1_METADATA)["ContainerInstanceArn"])


def _container(c: dict[str, Any], d: dict[str, Any]) -> FakeContainer:
    """One container from its v1 entry ``c`` and, where the samples have it, its v4 entry ``d``."""
    name = c["Name"]
    suffix = c.get("DockerName", d.get("DockerName", "")).rsplit("-", 1)[-1]
    internal = name.startswith("~internal~")
    v1_ports = c.get("Ports", [])
    bindings = [
        FakeBinding(p["ContainerPort"], p["Protocol"], p.get("HostPort", 0), p.get("HostIp", ""))
        for p in d.get("Ports", [])
    ]
    nets = d.get("Networks", [{}])
    bridge = nets[0].get("NetworkMode") != "awsvpc"
    arn = d.get("ContainerARN", "")
    return FakeContainer(
        name,
        c["DockerId"],
        c.get("Image", d.get("Image", "")),
        internal=internal,
        ports=[
            FakePort(p["ContainerPort"], p["Protocol"], 0 if bridge else p.get("HostPort", 0))
            for p in v1_ports
        ],
        bindings=bindings,
        image_id=c.get("ImageID", d.get("ImageID", "")),
        cpu=int(d.get("Limits", {}).get("CPU", 0)),
        memory=int(d.get("Limits", {}).get("Memory", 0)),
        labels={k: v for k, v in d.get("Labels", {}).items() if not k.startswith(AGENT_LABELS)},
        log_driver=d.get("LogDriver"),
        ipv4=nets[0].get("IPv4Addresses", [""])[0] if bridge else "",
        docker_name_suffix=suffix,
        arn_id=arn.rsplit("/", 1)[-1] if arn else "",
        created_at=c.get("CreatedAt", d.get("CreatedAt", "")),
        started_at=c.get("StartedAt", d.get("StartedAt", "")),
        restart_count=c.get("RestartCount", d.get("RestartCount")),
        volumes=list(c.get("Volumes", d.get("Volumes", []))),
        health=d.get("Health"),
    )
