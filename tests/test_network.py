"""Network identity, ports, limits, service and image: what each source carries,
per network mode, and that nothing is guessed (a host port of 0, a wildcard bind
address, the pause container's values are never reported as ours)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

import selfdiscover.testing
from selfdiscover import AgentResponseError, TaskInfo
from selfdiscover._discover import make_context
from selfdiscover._model._fields import PortMapping
from selfdiscover._model._variables import to_variables
from selfdiscover._settings import Settings
from selfdiscover.sources._agent import parse_task
from selfdiscover.sources.introspection import _Introspection
from selfdiscover.sources.metadata_file import parse_metadata_file
from selfdiscover.sources.tmde import parse_task_metadata

SAMPLES = Path(selfdiscover.testing.__file__).parent / "samples"
ARN = "arn:aws:ecs:us-west-2:111122223333:task/default/30bc42de1fb631fa64329abe1fa1f940"
APP_ID = "ebf45ec12d64ed484d67af285edad91191339f93bb23813521083ae061f3dfb0"
PAUSE_ID = "63082b9522b2fe6c4e87c3828fd8495b11328288a95f11597ef3b178b7d18d8a"
BRIDGE_ID = "63818e2b7704fecfc07f51869ff929c2c0bc647a31e39aa603653e1e79eb32cb"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def bridge_task(container: dict[str, Any]) -> dict[str, Any]:
    """A v4 ``/task`` around the bridge sample container."""
    return {
        "Cluster": "default",
        "TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/779b8a8d50969131fbd34302c9e8184d",
        "Family": "nginx-web",
        "Revision": "7",
        "KnownStatus": "RUNNING",
        "Limits": {"CPU": 0.25, "Memory": 512},
        "LaunchType": "EC2",
        "Containers": [container],
        "FaultInjectionEnabled": False,
    }


# --- TMDE v4 ------------------------------------------------------------------------------


def test_v4_awsvpc_task_fills_every_field_but_the_host_address() -> None:
    info = parse_task_metadata(sample("tmde-v4-task-awsvpc.json"), None, APP_ID, source="tmde-v4 x")
    assert info.container_name == "app" and info.docker_id == APP_ID
    assert info.network_mode == "awsvpc"
    assert info.ipv4_addresses == ("10.0.12.34",) and info.ipv6_addresses == ()
    assert info.private_dns_name == "ip-10-0-12-34.us-west-2.compute.internal"
    assert info.subnet_cidr == "10.0.12.0/24"
    assert info.ports == ()  # TMDE lists no bindings for awsvpc app containers
    assert info.service_name == "api-service"
    assert (info.task_cpu, info.task_memory) == (512, 1024)  # 0.5 vCPU
    assert (info.container_cpu, info.container_memory) == (512, 1024)
    assert info.image == "111122223333.dkr.ecr.us-west-2.amazonaws.com/api:1.8.0"
    assert info.image_id is not None and info.image_id.startswith("sha256:7e374b8c")
    assert info.container_arn is not None
    assert info.container_arn.endswith("/5b810309-bda5-4e3f-bc6a-e78ad60ea11d")
    assert info.log_group == "/ecs/api"
    assert info.log_stream == "ecs/app/30bc42de1fb631fa64329abe1fa1f940"
    assert info.labels["com.amazonaws.ecs.container-name"] == "app"
    assert info.host_ipv4 is None
    assert info.task_tags is None  # not asked for


def test_v4_never_reports_the_pause_container_as_ours() -> None:
    task = sample("tmde-v4-task-awsvpc.json")
    # Asked with the pause container's ID (read from a shared /etc/hostname):
    info = parse_task_metadata(task, None, PAUSE_ID, source="tmde-v4 x")
    assert info.container_name is None and info.image is None and info.container_cpu is None
    # The task-level values still hold.
    assert info.service_name == "api-service" and info.task_cpu == 512


def test_v4_bridge_container_with_a_dynamic_port() -> None:
    container = sample("tmde-v4-container-bridge.json")
    info = parse_task_metadata(bridge_task(container), None, BRIDGE_ID, source="tmde-v4 x")
    assert info.network_mode == "bridge" and info.ipv4_addresses == ("172.17.0.3",)
    assert info.ports == (PortMapping(80, "tcp", 32768, None),)  # 0.0.0.0 is a bind address, not ours
    assert info.private_dns_name is None and info.subnet_cidr is None
    assert (info.task_cpu, info.container_cpu, info.container_memory) == (256, 256, 512)
    assert info.labels["com.example.team"] == "storefront"
    v = to_variables(info)
    assert v["ECS_PORT_80_TCP"] == "32768"
    assert v["ECS_NETWORK_MODE"] == "bridge" and v["ECS_CONTAINER_IPV4"] == "172.17.0.3"
    assert v["ECS_TASK_CPU"] == "256" and v["ECS_CONTAINER_MEMORY"] == "512"
    assert v["ECS_LOG_GROUP"] == "/ecs/nginx-web"
    assert "ECS_HOST_IPV4" not in v and "ECS_PRIVATE_DNS_NAME" not in v


def test_v4_dual_stack_duplicates_ranges_and_unbound_ports() -> None:
    container = sample("tmde-v4-container-bridge.json")
    container["Ports"] = [
        {"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 32768, "HostIp": "0.0.0.0"},
        {"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 32768, "HostIp": "::"},
        {"ContainerPort": 9125, "Protocol": "udp", "HostPort": 49153, "HostIp": "0.0.0.0"},
        {"ContainerPort": 9000, "Protocol": "tcp", "HostPort": 0, "HostIp": ""},  # not bound yet
        {"ContainerPort": 9001, "Protocol": "tcp", "HostPort": 40001, "HostIp": "127.0.0.1"},
        {"ContainerPort": 9002, "Protocol": "tcp", "HostPort": 40002, "HostIp": "0.0.0.0"},
        {"ContainerPort": 9002, "Protocol": "tcp", "HostPort": 40003, "HostIp": "::"},
    ]
    info = parse_task_metadata(bridge_task(container), None, BRIDGE_ID, source="tmde-v4 x")
    assert info.ports == (
        PortMapping(8080, "tcp", 32768, None),
        PortMapping(9125, "udp", 49153, None),
        PortMapping(9000, "tcp", None, None),
        PortMapping(9001, "tcp", 40001, "127.0.0.1"),
        PortMapping(9002, "tcp", 40002, None),
        PortMapping(9002, "tcp", 40003, None),
    )
    v = to_variables(info)
    assert v["ECS_PORT_8080_TCP"] == "32768" and v["ECS_PORT_9125_UDP"] == "49153"
    assert "ECS_PORT_9000_TCP" not in v  # a host port of 0 is never reported
    assert v["ECS_PORT_9002_TCP"] == "40002"  # the first (IPv4) binding wins
    assert sorted(n for n in v if n.startswith("ECS_PORT_")) == [
        "ECS_PORT_8080_TCP",
        "ECS_PORT_9001_TCP",
        "ECS_PORT_9002_TCP",
        "ECS_PORT_9125_UDP",
    ]


def test_v4_host_mode_has_no_addresses() -> None:
    container = sample("tmde-v4-container-bridge.json")
    container["Networks"] = [{"NetworkMode": "host"}]
    del container["Ports"]
    info = parse_task_metadata(bridge_task(container), None, BRIDGE_ID, source="tmde-v4 x")
    assert info.network_mode == "host"
    assert info.ipv4_addresses == () and info.ports == ()
    assert "ECS_CONTAINER_IPV4" not in to_variables(info)


def test_v4_awsvpc_ipv6_and_fargate() -> None:
    task = sample("tmde-v4-task-awsvpc.json")
    task["LaunchType"] = "FARGATE"
    task["Limits"] = {"CPU": 0.25, "Memory": 512}
    app = task["Containers"][1]
    app["Networks"][0].update(
        IPv6Addresses=["2600:1f14:0abc:0:0:0:0:12"], IPv6SubnetCIDRBlock="2600:1f14:abc::/64"
    )
    app["Limits"] = {"CPU": 0, "Memory": 0}  # Fargate: no container-level limits set
    info = parse_task_metadata(task, None, APP_ID, source="tmde-v4 x")
    assert info.launch_type == "FARGATE"
    assert info.ipv6_addresses == ("2600:1f14:abc::12",)  # canonical form
    assert (info.task_cpu, info.task_memory) == (256, 512)
    assert info.container_cpu is None and info.container_memory is None  # 0 = not set, never "0"
    v = to_variables(info)
    assert v["ECS_CONTAINER_IPV6"] == "2600:1f14:abc::12"
    assert "ECS_CONTAINER_CPU" not in v


def test_v4_task_with_tags_and_errors() -> None:
    task = sample("tmde-v4-task-awsvpc.json")
    task["TaskTags"] = {"team": "payments", "cost-center": "42"}
    task["ContainerInstanceTags"] = {"fleet": "blue"}
    task["Errors"] = [
        {
            "ErrorField": "ContainerInstanceTags",
            "ErrorCode": "AccessDeniedException",
            "ErrorMessage": "not authorized to perform ecs:ListTagsForResource",
            "StatusCode": 400,
        }
    ]
    untagged = parse_task_metadata(task, None, APP_ID, source="tmde-v4 x")
    assert untagged.task_tags is None and untagged.warnings == ()
    info = parse_task_metadata(task, None, APP_ID, source="tmde-v4 x", tags=True)
    assert info.task_tags == {"team": "payments", "cost-center": "42"}
    assert info.container_instance_tags == {"fleet": "blue"}
    assert len(info.warnings) == 1 and "AccessDeniedException" in info.warnings[0]
    v = to_variables(info)
    assert json.loads(v["ECS_TASK_TAGS"]) == {"team": "payments", "cost-center": "42"}
    assert json.loads(v["ECS_CONTAINER_INSTANCE_TAGS"]) == {"fleet": "blue"}


def test_v4_log_options_only_for_awslogs() -> None:
    task = sample("tmde-v4-task-awsvpc.json")
    task["Containers"][1]["LogDriver"] = "fluentd"
    info = parse_task_metadata(task, None, APP_ID, source="tmde-v4 x")
    assert info.log_group is None and info.log_stream is None


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("Networks", 0, "IPv4Addresses"), ["10.0.12.999"], "not an IPv4 address"),
        (("Networks", 0, "IPv4Addresses"), ["::1"], "not an IPv4 address"),
        (("Networks", 0, "IPv4Addresses"), "10.0.0.1", "not a list"),
        (("Networks", 0, "PrivateDNSName"), "ip-10-0-0-1\n.evil", "control characters"),
        (("Networks", 0, "PrivateDNSName"), "a b;rm -rf", "not a DNS name"),
        (("Networks", 0, "IPv4SubnetCIDRBlock"), "10.0.12.0/99", "not a CIDR block"),
        (("Limits", "CPU"), "512", "not a number"),
        (("Limits", "Memory"), -1, "out of range"),
        (("Limits", "Memory"), float("nan"), "out of range"),
        (("Labels",), {"k": "v\nECS_TASK_ARN=forged"}, "control characters"),
        (("Labels",), ["k"], "not an object"),
        (("Ports",), [{"ContainerPort": 70000, "HostPort": 1}], "not a port number"),
        (("Ports",), [{"ContainerPort": 80, "HostPort": 1, "Protocol": "sctp"}], "not tcp or udp"),
        (("Ports",), [{"ContainerPort": 80, "HostPort": True}], "not a number"),
        (("Ports",), [{"ContainerPort": 80}] * 2000, "entries"),
    ],
)
def test_v4_hostile_network_fields_are_refused_by_name(
    path: tuple[str | int, ...], value: object, message: str
) -> None:
    task = sample("tmde-v4-task-awsvpc.json")
    target: Any = task["Containers"][1]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(AgentResponseError, match=message):
        parse_task_metadata(task, None, APP_ID, source="tmde-v4 x")


def test_v3_subset() -> None:
    """v3 has no ServiceName, ContainerARN, LogOptions or HostIp: those stay unknown."""
    task = sample("tmde-v4-task-awsvpc.json")
    for key in ("ServiceName", "LaunchType", "VPCID"):
        task.pop(key)
    for c in task["Containers"]:
        for key in ("ContainerARN", "LogDriver", "LogOptions"):
            c.pop(key, None)
        for net in c["Networks"]:
            for key in ("PrivateDNSName", "IPv4SubnetCIDRBlock", "MACAddress", "AttachmentIndex"):
                net.pop(key, None)
    info = parse_task_metadata(task, None, APP_ID, source="tmde-v3 x")
    assert info.service_name is None and info.container_arn is None and info.log_group is None
    assert info.network_mode == "awsvpc" and info.ipv4_addresses == ("10.0.12.34",)
    assert info.task_cpu == 512 and info.container_memory == 1024


# --- introspection ------------------------------------------------------------------------


def test_introspection_bridge_and_awsvpc() -> None:
    tasks = sample("introspection-v1-tasks.json")["Tasks"]
    bridge = parse_task(tasks[0]).containers[0]
    assert bridge.ports == (PortMapping(80, "tcp", 32768, None),)
    assert bridge.network.mode is None and bridge.network.ipv4 == ()  # v1 lists Networks for awsvpc only
    assert bridge.image == "nginx:1.27"
    awsvpc = parse_task(tasks[1]).containers[0]
    assert awsvpc.network.mode == "awsvpc" and awsvpc.network.ipv4 == ("10.0.12.34",)
    assert awsvpc.ports == (PortMapping(8080, "tcp", 8080, None),)


def test_introspection_source_carries_ports_image_and_networks(fake_agent: Any) -> None:
    """Through a real socket: the introspection source answers with what /v1 carries."""
    fake_agent.load_samples()
    settings = Settings(agent_url=fake_agent.url, timeout=5.0)
    ctx = make_context(settings, docker_id=APP_ID, proc_root="/nonexistent", environ={})
    info = _Introspection().fetch(ctx, fake_agent.url, time.monotonic() + 5)
    assert info.container_name == "app"
    assert info.network_mode == "awsvpc" and info.ipv4_addresses == ("10.0.12.34",)
    assert info.ports and info.ports[0].container_port == 8080
    assert info.image and info.image.endswith("/api:1.8.0")
    assert info.service_name is None  # /v1 does not carry it: unknown, not guessed


# --- the metadata file --------------------------------------------------------------------

METADATA_FILE: dict[str, Any] = {
    "Cluster": "default",
    "TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/779b8a8d50969131fbd34302c9e8184d",
    "TaskDefinitionFamily": "nginx-web",
    "TaskDefinitionRevision": "7",
    "ContainerID": BRIDGE_ID,
    "ContainerName": "web",
    "DockerContainerName": "/ecs-nginx-web-7-web-a15197181c705a16ce00",
    "ImageID": "sha256:52be7842a967cef45a21f1b4dac415b916df630ac72f6c9761f1e9a6ec944fcc",
    "ImageName": "nginx:1.27",
    "PortMappings": [
        {"ContainerPort": 80, "ContainerPortRange": "", "HostPort": 32768, "BindIp": "0.0.0.0"},
        {"ContainerPort": 80, "ContainerPortRange": "", "HostPort": 32768, "BindIp": "::"},
        {"ContainerPort": 0, "ContainerPortRange": "9000-9099", "HostPort": 0, "BindIp": ""},
    ],
    "Networks": [{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.3"]}],
    "MetadataFileStatus": "READY",
    "AvailabilityZone": "us-west-2b",
    "HostPrivateIPv4Address": "10.0.1.25",
}


def test_metadata_file_carries_the_host_address() -> None:
    info = parse_metadata_file(json.dumps(METADATA_FILE, indent="\t"), source="metadata-file x")
    assert info.host_ipv4 == "10.0.1.25"
    assert info.image == "nginx:1.27" and info.image_id and info.image_id.startswith("sha256:52be")
    assert info.network_mode == "bridge" and info.ipv4_addresses == ("172.17.0.3",)
    # The dual-stack duplicate is one binding; a range names no single port.
    assert info.ports == (PortMapping(80, "tcp", 32768, None),)
    v = to_variables(info)
    assert v["ECS_HOST_IPV4"] == "10.0.1.25" and v["ECS_PORT_80_TCP"] == "32768"


def test_metadata_file_host_address_must_be_an_address() -> None:
    bad = copy.deepcopy(METADATA_FILE)
    bad["HostPrivateIPv4Address"] = "10.0.1.25; curl evil"
    with pytest.raises(AgentResponseError, match="not an IPv4 address"):
        parse_metadata_file(json.dumps(bad), source="metadata-file x")
    bad["HostPrivateIPv4Address"] = "0.0.0.0"  # a wildcard is no address: unknown
    assert parse_metadata_file(json.dumps(bad), source="metadata-file x").host_ipv4 is None


# --- the model ----------------------------------------------------------------------------


def test_taskinfo_maps_are_read_only_and_json_ready() -> None:
    port = PortMapping(1, "tcp", 2, None)
    info = TaskInfo(arn=ARN, family="api", version="12", labels={"a": "b"}, ports=(port,))
    with pytest.raises(TypeError):
        info.labels["a"] = "c"  # type: ignore[index]
    d = info.as_dict()
    assert json.loads(json.dumps(d))["ports"] == [
        {"container_port": 1, "protocol": "tcp", "host_port": 2, "host_ip": None}
    ]
    assert d["labels"] == {"a": "b"}


def test_log_styles_name_the_new_fields() -> None:
    from selfdiscover import _tags

    container = sample("tmde-v4-container-bridge.json")
    info = parse_task_metadata(bridge_task(container), None, BRIDGE_ID, source="tmde-v4 x")
    identity = _tags._from_env(to_variables(info, "X_"), "X_")
    flat = _tags.tags("flat", identity)
    assert flat["ecs_service_name"] == "" and flat["ecs_network_mode"] == "bridge"
    assert flat["ecs_container_ipv4"] == "172.17.0.3" and flat["ecs_container_image"] == "nginx:1.27"
    assert flat["ecs_log_group"] == "/ecs/nginx-web"
    assert str(flat["ecs_container_arn"]).startswith("arn:aws:ecs:")
    dd = _tags.tags("datadog", {**identity, "SERVICE_NAME": "storefront"})
    assert dd["ecs_service"] == "storefront" and dd["docker_image"] == "nginx:1.27"
    # Only what a style names is added: no port or limit keys on every record.
    assert not any("port" in k or "cpu" in k for k in flat)


# --- end to end: discover() against the fake agent, per network mode --------------------


def _discover_via(agent: Any, docker_id: str, source: str, tmp_path: Path | None = None) -> TaskInfo:
    from selfdiscover import discover

    task, container = next((t, c) for t in agent.tasks for c in t.containers if c.docker_id == docker_id)
    env = {"SELFDISCOVER_SOURCES": source, "SELFDISCOVER_DOCKER_ID": docker_id}
    if source == "tmde-v4":
        env["ECS_CONTAINER_METADATA_URI_V4"] = agent.metadata_uri(container, 4)
    elif source == "tmde-v3":
        env["ECS_CONTAINER_METADATA_URI"] = agent.metadata_uri(container, 3)
    elif source == "metadata-file":
        assert tmp_path is not None
        path = str(tmp_path / "ecs-container-metadata.json")
        agent.write_metadata_file(path, task, container)
        env["ECS_CONTAINER_METADATA_FILE"] = path
    else:
        env["SELFDISCOVER_AGENT_URL"] = agent.url
    return discover(environ=env, timeout=5, proc_root="/nonexistent")


@pytest.mark.parametrize("source", ["tmde-v4", "tmde-v3", "agent-url", "metadata-file"])
def test_bridge_dynamic_ports_from_every_source(fake_agent: Any, source: str, tmp_path: Path) -> None:
    from selfdiscover.testing import FakeContainer, random_docker_id

    docker_id = random_docker_id()
    task = fake_agent.add_task(
        "web", 3, [FakeContainer("app", docker_id)], ports=["8080", "9125/udp"], service_name="web-svc"
    )
    before = len(fake_agent.requests)
    info = _discover_via(fake_agent, docker_id, source, tmp_path)
    served = fake_agent.requests[before:]
    bound = {(p.container_port, p.protocol): p.host_port for p in info.ports}
    assert set(bound) == {(8080, "tcp"), (9125, "udp")}
    assert all(h and h >= 32768 for h in bound.values())  # Docker's dynamic range, never 0
    assert info.container_name == "app" and info.arn == task.arn
    if source in ("tmde-v4", "tmde-v3", "metadata-file"):
        assert info.network_mode == "bridge"
        assert info.ipv4_addresses and info.ipv4_addresses[0].startswith("172.17.")
    if source == "tmde-v4":
        assert info.service_name == "web-svc" and info.task_cpu == 512
        assert len(served) == 1  # /task lists this container: one request
    if source == "agent-url":
        assert len(served) == 2  # the task, then the agent's metadata
        assert info.service_name is None
    if source == "metadata-file":
        assert info.host_ipv4 and served == []


@pytest.mark.parametrize("ipv6", [False, True])
def test_awsvpc_task_eni_and_never_the_pause_container(fake_agent: Any, ipv6: bool) -> None:
    from selfdiscover.testing import FakeContainer, random_docker_id

    docker_id = random_docker_id()
    task = fake_agent.add_task("api", 12, [FakeContainer("app", docker_id)], network_mode="awsvpc", ipv6=ipv6)
    pause = next(c for c in task.containers if c.internal)
    info = _discover_via(fake_agent, docker_id, "tmde-v4")
    assert info.network_mode == "awsvpc" and info.ipv4_addresses == ("10.0.12.34",)
    assert bool(info.ipv6_addresses) is ipv6
    assert info.private_dns_name and info.subnet_cidr
    assert info.container_name == "app" and info.docker_id == docker_id != pause.docker_id
    assert info.ports == ()  # TMDE lists no bindings for awsvpc app containers


def test_host_mode_reports_no_addresses(fake_agent: Any) -> None:
    from selfdiscover.testing import FakeContainer, random_docker_id

    docker_id = random_docker_id()
    fake_agent.add_task("h", 1, [FakeContainer("app", docker_id)], network_mode="host", ports=["8080"])
    info = _discover_via(fake_agent, docker_id, "tmde-v4")
    assert info.network_mode == "host" and info.ipv4_addresses == () and info.ports == ()


def test_fargate(fake_agent: Any) -> None:
    from selfdiscover.testing import FakeContainer

    task = fake_agent.add_task("f", 2, [FakeContainer("app")], launch_type="FARGATE", cpu=0.25, memory=512)
    docker_id = next(c.docker_id for c in task.containers if not c.internal)
    info = _discover_via(fake_agent, docker_id, "tmde-v4")
    assert info.launch_type == "FARGATE" and info.network_mode == "awsvpc"
    assert (info.task_cpu, info.task_memory) == (256, 512)
    assert info.host_ipv4 is None
