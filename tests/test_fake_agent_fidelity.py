"""The fake agent answers as the agent's handlers do, per network mode and
launch type: checked over real sockets with the standard library's HTTP
client (not selfdiscover's), against the bundled reference samples and the
contract's rules."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import pytest
from shimrun import EX_USAGE

from selfdiscover.testing import Behaviour, FakeAgent, FakeBinding, FakeContainer, FakeENI, FakePort, FakeTask

DOCKER_NAME = re.compile(r"ecs-(?P<family>[A-Za-z0-9_-]+)-(?P<rev>\d+)-(?P<name>[A-Za-z0-9-]*)-[0-9a-f]{20}")
AGENT_LABELS = {
    "com.amazonaws.ecs.cluster",
    "com.amazonaws.ecs.container-name",
    "com.amazonaws.ecs.task-arn",
    "com.amazonaws.ecs.task-definition-family",
    "com.amazonaws.ecs.task-definition-version",
}


def sample_text(name: str) -> str:
    return (resources.files("selfdiscover.testing") / "samples" / name).read_text(encoding="utf-8")


def compact(name: str) -> bytes:
    """A sample as the agent sends it: Go's compact JSON, keys in emitted order."""
    return json.dumps(json.loads(sample_text(name)), separators=(",", ":")).encode()


def get(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes, str]:
    """Status, headers, body, and this client's own ``ip:port``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        host, port = conn.sock.getsockname()[:2]
        me = f"{host}:{port}"
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read(), me
    finally:
        conn.close()


def get_json(url: str) -> Any:
    status, _, body, _ = get(url)
    assert status == 200, (url, status, body)
    return json.loads(body)


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    with FakeAgent() as a:
        yield a


# -- the bundled samples, byte for byte ------------------------------------------


def test_samples_are_served_byte_for_byte(agent: FakeAgent) -> None:
    agent.load_samples()
    web = agent.tasks[0].containers[0]
    app = agent.tasks[1].containers[1]
    assert get(f"{agent.url}/v1/tasks")[2] == compact("introspection-v1-tasks.json")
    assert get(agent.metadata_uri(web))[2] == compact("tmde-v4-container-bridge.json")
    assert get(agent.metadata_uri(app) + "/task")[2] == compact("tmde-v4-task-awsvpc.json")
    assert get(f"{agent.url}/v1/metadata")[2] == compact("introspection-v1-metadata.json").replace(
        b"Amazon ECS Agent - v1.105.1 (8dfceca6)", agent.agent_version.encode()
    )


def test_metadata_file_matches_the_reference_example(agent: FakeAgent, tmp_path: Any) -> None:
    agent.load_samples()
    task = agent.tasks[0]
    path = tmp_path / "ecs-container-metadata.json"
    agent.write_metadata_file(str(path), task, task.containers[0])
    text = path.read_text()
    assert text == sample_text("container-metadata-file-bridge.json")  # tab-indented, keys in order
    initial = agent.metadata_file(task, task.containers[0], ready=False)
    assert "MetadataFileStatus" not in initial and "DockerContainerName" not in initial
    assert "PortMappings" not in initial and initial["HostPrivateIPv4Address"] == "10.0.1.25"


# -- two listeners, as the agent has -----------------------------------------------


def test_introspection_and_tmde_are_separate_ports(agent: FakeAgent) -> None:
    me = FakeContainer("app")
    agent.add_task("web", 3, [me])
    assert agent.port != agent.tmde_port
    assert agent.metadata_uri(me).startswith(agent.tmde_url + "/v4/")
    assert agent.metadata_uri(me, 3).startswith(agent.tmde_url + "/v3/")
    # TMDE paths on the introspection port: the catch-all document, as Go's mux answers any unknown path.
    status, headers, body, _ = get(f"{agent.url}/v4/{me.endpoint_id}")
    assert (status, json.loads(body)) == (
        200,
        {"AvailableCommands": ["/v1/metadata", "/v1/tasks", "/license"]},
    )
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "X-Rate-Limit-Limit" not in headers  # introspection has no limiter
    # introspection paths on TMDS: gorilla's 404.
    status, headers, body, _ = get(f"{agent.tmde_url}/v1/tasks")
    assert (status, body) == (404, b"404 page not found\n")
    assert get_json(agent.metadata_uri(me))["Name"] == "app"
    assert [(r.listener, r.path, r.status) for r in agent.requests] == [
        ("introspection", f"/v4/{me.endpoint_id}", 200),
        ("tmde", "/v1/tasks", 404),
        ("tmde", f"/v4/{me.endpoint_id}", 200),
    ]


def test_both_listeners_are_down_together() -> None:
    with FakeAgent(behaviour=Behaviour(down_for=60)) as a:
        for url in (a.url, a.tmde_url):
            with pytest.raises(ConnectionRefusedError):
                get(url + "/v1/metadata")


def test_every_tmds_answer_carries_the_rate_limit_headers(agent: FakeAgent) -> None:
    me = FakeContainer("app")
    agent.add_task("web", 3, [me])
    agent.tmde_burst = 2
    agent.tmde_rate = 0.001
    answers = [
        get(agent.metadata_uri(me) + "/task", headers={"X-Forwarded-For": "10.1.2.3"}) for _ in range(3)
    ]
    answers.append(get(f"{agent.tmde_url}/v4/nope"))
    assert [a[0] for a in answers] == [200, 200, 429, 404]
    assert answers[2][2] == b"You have reached maximum request limit."
    for status, headers, _, me_addr in answers:
        assert headers["X-Rate-Limit-Limit"] == "0.00" and headers["X-Rate-Limit-Duration"] == "1", status
        assert headers["X-Rate-Limit-Request-Remote-Addr"] == me_addr
    assert answers[0][1]["X-Rate-Limit-Request-Forwarded-For"] == "10.1.2.3"
    assert answers[3][1]["X-Rate-Limit-Request-Forwarded-For"] == ""
    assert FakeAgent().tmde_rate == 40.0  # the default prints as the agent's "40.00"


def test_unknown_ids_per_route_and_version(agent: FakeAgent) -> None:
    base = agent.tmde_url
    cases = {
        "/v4/nope": (404, "V4 container metadata handler: unable to get container ID from request: "),
        "/v4/nope/task": (404, "V4 task metadata handler: unable to get task arn from request: "),
        "/v4/nope/taskWithTags": (404, "V4 task metadata handler: unable to get task arn from request: "),
        "/v4/nope/stats": (404, "V4 container stats handler: unable to get task arn from request: "),
        "/v4/nope/task/stats": (404, "V4 task stats handler: unable to get task arn from request: "),
        "/v3/nope": (500, "V3 container metadata handler: unable to get container ID from request: "),
        "/v3/nope/task": (500, "V3 task metadata handler: unable to get task arn from request: "),
        "/v3/nope/stats": (400, "V3 container stats handler: unable to get task arn from request: "),
    }
    for path, (want, prefix) in cases.items():
        status, headers, body, _ = get(base + path)
        assert (status, headers["Content-Type"]) == (want, "application/json"), path
        message = json.loads(body)  # a quoted JSON string
        assert isinstance(message, str) and message.startswith(prefix) and message.endswith(" ID: nope"), path
    for path in ("/v4/nope/", "/v4/nope/other", "/v4/nope/tasks"):
        assert get(base + path)[::2] == (404, b"404 page not found\n"), path


def test_stats_of_a_known_container(agent: FakeAgent) -> None:
    me = FakeContainer("app", memory=256)
    agent.add_task("web", 3, [me])
    stats = get_json(agent.metadata_uri(me) + "/stats")
    assert stats["id"] == me.docker_id and "network_rate_stats" in stats
    assert set(get_json(agent.metadata_uri(me) + "/task/stats")) == {me.docker_id}


# -- Docker names ----------------------------------------------------------------


def test_docker_name_is_the_agents_in_every_api(agent: FakeAgent, tmp_path: Any) -> None:
    me = FakeContainer("my_app~1.x")
    task = agent.add_task("shop_front", 14, [me])
    v1 = get_json(f"{agent.url}/v1/tasks?dockerid={me.docker_id}")["Containers"][0]["DockerName"]
    v4 = get_json(agent.metadata_uri(me))["DockerName"]
    v3 = get_json(agent.metadata_uri(me, 3))["DockerName"]
    path = tmp_path / "m.json"
    agent.write_metadata_file(str(path), task, me)
    file_name = json.loads(path.read_text())["DockerContainerName"]
    m = DOCKER_NAME.fullmatch(v1)
    assert m and (m["family"], m["rev"], m["name"]) == ("shop_front", "14", "myapp1x")
    assert v1 == v4 == v3 == file_name[1:] and file_name.startswith("/")


def test_pause_container_docker_name_strips_the_tildes(agent: FakeAgent) -> None:
    task = agent.add_task("api", 12, [FakeContainer("app")], network_mode="awsvpc")
    pause = task.containers[0]
    body = get_json(agent.metadata_uri(task.containers[1]) + "/task")
    names = {c["Name"]: c["DockerName"] for c in body["Containers"]}
    assert DOCKER_NAME.fullmatch(names["~internal~ecs~pause"])
    assert names["~internal~ecs~pause"].startswith("ecs-api-12-internalecspause-")
    assert pause.name == "~internal~ecs~pause"


# -- bridge --------------------------------------------------------------------


def test_bridge_addresses_and_dynamic_host_ports(agent: FakeAgent, tmp_path: Any) -> None:
    web, side = FakeContainer("web"), FakeContainer("side", ports=[FakePort(9125, "udp", 9125)])
    task = agent.add_task("web", 3, [web, side], ports=[8080, "8443/tcp"])
    c4 = get_json(agent.metadata_uri(web))
    assert c4["Networks"] == [{"NetworkMode": "bridge", "IPv4Addresses": [web.ipv4]}]
    assert re.fullmatch(r"172\.17\.0\.\d+", web.ipv4) and web.ipv4 != side.ipv4
    assert c4["Ports"] == [
        {"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 32768, "HostIp": "0.0.0.0"},
        {"ContainerPort": 8443, "Protocol": "tcp", "HostPort": 32769, "HostIp": "0.0.0.0"},
    ]
    assert get_json(agent.metadata_uri(side))["Ports"] == [
        {"ContainerPort": 9125, "Protocol": "udp", "HostPort": 9125, "HostIp": "0.0.0.0"}  # a fixed host port
    ]
    c3 = get_json(agent.metadata_uri(web, 3))
    assert c3["Ports"][0] == {"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 32768}  # no HostIp in v3
    assert c3["Networks"] == c4["Networks"]
    v1 = get_json(f"{agent.url}/v1/tasks?dockerid={web.docker_id}")["Containers"]
    assert v1[0]["Ports"][0] == {"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 32768}
    assert "Networks" not in v1[0] and "Networks" not in v1[1]  # v1 Networks: awsvpc only
    m = agent.metadata_file(task, web)
    assert m["PortMappings"][0] == {
        "ContainerPort": 8080,
        "ContainerPortRange": "",
        "HostPort": 32768,
        "BindIp": "0.0.0.0",
        "Protocol": "tcp",
    }
    assert m["Networks"] == [{"NetworkMode": "bridge", "IPv4Addresses": [web.ipv4]}]
    assert m["ImageName"] == web.image and m["ImageID"] == web.image_id


def test_bridge_dual_stack_duplicates_each_binding(agent: FakeAgent) -> None:
    me = FakeContainer("web")
    task = agent.add_task("web", 3, [me], ports=[80], dual_stack=True)
    ports = get_json(agent.metadata_uri(me))["Ports"]
    assert [(p["ContainerPort"], p["HostPort"], p["HostIp"]) for p in ports] == [
        (80, 32768, "0.0.0.0"),
        (80, 32768, "::"),
    ]
    v1 = get_json(f"{agent.url}/v1/tasks?taskarn={task.arn}")["Containers"][0]["Ports"]
    assert v1 == [{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 32768}] * 2  # one entry per binding
    assert [m["BindIp"] for m in agent.metadata_file(task, me)["PortMappings"]] == ["0.0.0.0", "::"]


def test_a_not_yet_bound_port(agent: FakeAgent) -> None:
    """Between docker create and start Docker reports no bindings: TMDE has no
    Ports, v1 falls back to the task definition, whose dynamic HostPort 0 is omitted."""
    me = FakeContainer("web", bindings=[])
    task = agent.add_task("web", 3, [me], ports=[8080])
    assert "Ports" not in get_json(agent.metadata_uri(me))
    v1 = get_json(f"{agent.url}/v1/tasks?taskarn={task.arn}")["Containers"][0]
    assert v1["Ports"] == [{"ContainerPort": 8080, "Protocol": "tcp"}]
    assert "PortMappings" not in agent.metadata_file(task, me)


def test_explicit_bindings_are_served_as_given(agent: FakeAgent) -> None:
    me = FakeContainer("web", ports=[FakePort(80)], bindings=[FakeBinding(80, "tcp", 49153, "127.0.0.1")])
    task = agent.add_task("web", 3, [me])
    assert get_json(agent.metadata_uri(me))["Ports"] == [
        {"ContainerPort": 80, "Protocol": "tcp", "HostPort": 49153, "HostIp": "127.0.0.1"}
    ]
    ranged = FakeContainer("r", bindings=[FakeBinding(0, "tcp", 0, "", "8000-8002")])
    agent.add_task("r", 1, [ranged])
    assert agent.metadata_file(task, ranged)["PortMappings"] == [
        {"ContainerPortRange": "8000-8002", "Protocol": "tcp"}
    ]


# -- host and none ---------------------------------------------------------------


def test_host_mode(agent: FakeAgent, tmp_path: Any) -> None:
    me = FakeContainer("web")
    task = agent.add_task("web", 3, [me], network_mode="host", ports=[8080, "9125/udp"])
    c4 = get_json(agent.metadata_uri(me))
    assert c4["Networks"] == [{"NetworkMode": "host"}]  # Docker's host network has no address of its own
    assert "Ports" not in c4  # Docker reports no bindings in host mode
    v1 = get_json(f"{agent.url}/v1/tasks?taskarn={task.arn}")["Containers"][0]
    assert v1["Ports"] == [
        {"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 8080},
        {"ContainerPort": 9125, "Protocol": "udp", "HostPort": 9125},
    ]
    assert "Networks" not in v1
    m = agent.metadata_file(task, me)
    assert m["Networks"] == [{"NetworkMode": "host"}] and "PortMappings" not in m


def test_none_mode(agent: FakeAgent) -> None:
    me = FakeContainer("batch")
    agent.add_task("batch", 1, [me], network_mode="none")
    c4 = get_json(agent.metadata_uri(me))
    assert c4["Networks"] == [{"NetworkMode": "none"}] and "Ports" not in c4


# -- awsvpc and Fargate -------------------------------------------------------------


def test_awsvpc_task_eni_and_pause_container(agent: FakeAgent, tmp_path: Any) -> None:
    me = FakeContainer("app")
    task = agent.add_task("api", 12, [me], network_mode="awsvpc", ports=[8080], service_name="api-service")
    pause = task.containers[0]
    assert pause.internal and pause.name == "~internal~ecs~pause"
    c4 = get_json(agent.metadata_uri(me))
    assert c4["Networks"] == [
        {
            "NetworkMode": "awsvpc",
            "IPv4Addresses": ["10.0.12.34"],
            "AttachmentIndex": 0,
            "MACAddress": "0e:6b:4c:1f:00:ad",
            "IPv4SubnetCIDRBlock": "10.0.12.0/24",
            "PrivateDNSName": "ip-10-0-12-34.us-west-2.compute.internal",
            "SubnetGatewayIpv4Address": "10.0.12.1/24",
        }
    ]
    assert "Ports" not in c4  # app containers share the pause netns: Docker binds nothing
    t4 = get_json(agent.metadata_uri(me) + "/task")
    assert [(c["Name"], c["Type"], c["KnownStatus"]) for c in t4["Containers"]] == [
        ("~internal~ecs~pause", "CNI_PAUSE", "RESOURCES_PROVISIONED"),
        ("app", "NORMAL", "RUNNING"),
    ]
    assert (
        t4["Containers"][0]["Image"] == "amazon/amazon-ecs-pause:0.1.0"
        and t4["Containers"][0]["ImageID"] == ""
    )
    assert "LogDriver" not in t4["Containers"][0] and "ContainerARN" not in t4["Containers"][0]
    assert t4["ServiceName"] == "api-service" and t4["VPCID"].startswith("vpc-") and t4["LaunchType"] == "EC2"
    v1 = get_json(f"{agent.url}/v1/tasks?taskarn={task.arn}")
    assert [c["Name"] for c in v1["Containers"]] == ["app"]  # v1 leaves internal containers out
    assert v1["Containers"][0]["Networks"] == [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.12.34"]}]
    assert v1["Containers"][0]["Ports"] == [{"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 8080}]
    assert get_json(f"{agent.url}/v1/tasks?dockerid={pause.docker_id}")["Arn"] == task.arn  # still a key
    v3 = get_json(agent.metadata_uri(me, 3))
    assert v3["Networks"] == [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.12.34"]}]
    m = agent.metadata_file(task, me)
    assert m["Networks"] == [{"NetworkMode": f"container:{pause.docker_id}"}] and "PortMappings" not in m
    second = agent.add_task("api", 12, [FakeContainer("app")], network_mode="awsvpc")
    assert second.eni is not None and second.eni.ipv4 == "10.0.12.35"  # each task its own ENI


def test_awsvpc_with_ipv6(agent: FakeAgent) -> None:
    me = FakeContainer("app")
    agent.add_task("api", 12, [me], network_mode="awsvpc", ipv6=True)
    (net,) = get_json(agent.metadata_uri(me))["Networks"]
    assert list(net)[:3] == ["NetworkMode", "IPv4Addresses", "IPv6Addresses"]
    assert net["IPv6Addresses"][0].startswith("2600:1f14:") and net["IPv6SubnetCIDRBlock"].endswith("::/64")
    v1 = get_json(f"{agent.url}/v1/tasks?dockerid={me.docker_id}")["Containers"][0]["Networks"]
    assert v1 == [
        {
            "NetworkMode": "awsvpc",
            "IPv4Addresses": [net["IPv4Addresses"][0]],
            "IPv6Addresses": net["IPv6Addresses"],
        }
    ]


def test_a_given_eni(agent: FakeAgent) -> None:
    me = FakeContainer("app")
    eni = FakeENI(ipv4="", ipv6="2600:1f14::5", ipv6_subnet_cidr="2600:1f14::/64", subnet_cidr="", gateway="")
    agent.add_task("v6only", 1, [me], network_mode="awsvpc", eni=eni)
    (net,) = get_json(agent.metadata_uri(me))["Networks"]
    assert "IPv4Addresses" not in net and net["IPv6Addresses"] == ["2600:1f14::5"]


def test_fargate_task(agent: FakeAgent) -> None:
    me = FakeContainer("curl", cpu=10, memory=128)
    task = agent.add_task("fg", 2, [me], launch_type="FARGATE", cpu=0.25, memory=512, service_name="svc")
    assert task.network_mode == "awsvpc" and not any(c.internal for c in task.containers)  # no pause shown
    assert re.fullmatch(rf"{task.task_id}-\d{{10}}", me.docker_id)  # Fargate's IDs are not 64-hex
    given = FakeContainer("given", "ab" * 32)
    agent.add_task("fg", 2, [given], launch_type="FARGATE")
    assert given.docker_id == "ab" * 32  # an ID the caller chose is kept
    t4 = get_json(agent.metadata_uri(me) + "/task")
    assert (
        t4["LaunchType"] == "FARGATE"
        and t4["Cluster"] == "arn:aws:ecs:us-west-2:111122223333:cluster/default"
    )
    assert t4["Limits"] == {"CPU": 0.25, "Memory": 512} and "ClockDrift" in t4
    assert "VPCID" not in t4 and t4["EphemeralStorageMetrics"]["Reserved"] > 0  # VPCID: EC2 only
    (c4,) = t4["Containers"]
    assert c4["DockerName"] == "curl" and c4["Snapshotter"] == "overlayfs"
    assert c4["ContainerARN"].startswith("arn:aws:ecs:us-west-2:111122223333:container/")
    assert c4["ContainerARN"].count("/") == 1
    assert c4["Networks"][0]["DomainNameServers"] and c4["Networks"][0]["DomainNameSearchList"]
    assert c4["Limits"] == {"CPU": 10, "Memory": 128}


# -- limits, labels, logs, tags ------------------------------------------------------


def test_limits_labels_and_log_options(agent: FakeAgent) -> None:
    me = FakeContainer(
        "app",
        image="repo.example/app:1.2",
        cpu=256,
        memory=512,
        labels={"team": "shop", "com.amazonaws.ecs.task-arn": "forged"},
    )
    task = agent.add_task("web", 3, [me], cpu=1, memory=2048)
    status, _, body, _ = get(agent.metadata_uri(me))
    assert b'"Limits":{"CPU":256,"Memory":512}' in body  # Go prints a float64 256 as 256
    c4 = json.loads(body)
    assert c4["Labels"]["team"] == "shop" and set(c4["Labels"]) == AGENT_LABELS | {"team"}
    assert c4["Labels"]["com.amazonaws.ecs.task-arn"] == task.arn  # the agent's labels win
    assert list(c4["Labels"]) == sorted(c4["Labels"])
    assert c4["LogDriver"] == "awslogs"
    assert c4["LogOptions"] == {
        "awslogs-group": "/ecs/web",
        "awslogs-region": "us-west-2",
        "awslogs-stream": f"ecs/app/{task.task_id}",
    }
    assert (
        c4["ContainerARN"]
        == f"arn:aws:ecs:us-west-2:111122223333:container/default/{task.task_id}/{me.arn_id}"
    )
    assert c4["Image"] == "repo.example/app:1.2" and c4["ImageID"].startswith("sha256:")
    t4 = get(agent.metadata_uri(me) + "/task")[2]
    assert b'"Limits":{"CPU":1,"Memory":2048}' in t4
    small = FakeContainer("tiny")
    agent.add_task("t", 1, [small], cpu=None, memory=None)
    assert get_json(agent.metadata_uri(small))["Limits"] == {"CPU": 2, "Memory": 0}  # at least 2 units
    assert "Limits" not in get_json(agent.metadata_uri(small) + "/task")
    v3 = get_json(agent.metadata_uri(me, 3))
    assert not {"LogDriver", "LogOptions", "ContainerARN"} & set(v3)


def test_task_with_tags_and_the_errors_toggle() -> None:
    with FakeAgent(container_instance_tags={"env": "prod"}) as agent:
        me = FakeContainer("app")
        agent.add_task("web", 3, [me], task_tags={"owner": "shop", "cost": "7"})
        plain = get_json(agent.metadata_uri(me) + "/task")
        assert "TaskTags" not in plain and "ContainerInstanceTags" not in plain
        tagged = get_json(agent.metadata_uri(me) + "/taskWithTags")
        assert tagged["TaskTags"] == {"cost": "7", "owner": "shop"} and list(tagged["TaskTags"]) == [
            "cost",
            "owner",
        ]
        assert tagged["ContainerInstanceTags"] == {"env": "prod"} and "Errors" not in tagged
        keys = list(tagged)
        assert keys.index("AvailabilityZone") < keys.index("TaskTags") < keys.index("LaunchType")
        agent.behaviour.tags_denied = True
        denied = get_json(agent.metadata_uri(me) + "/taskWithTags")
        assert "TaskTags" not in denied and "ContainerInstanceTags" not in denied
        assert [(e["ErrorField"], e["ErrorCode"], e["StatusCode"]) for e in denied["Errors"]] == [
            ("ContainerInstanceTags", "AccessDeniedException", 400),
            ("TaskTags", "AccessDeniedException", 400),
        ]
        assert denied["Errors"][1]["ResourceARN"] == denied["TaskARN"]
        assert "ecs:ListTagsForResource" in denied["Errors"][1]["ErrorMessage"]
        assert denied["Containers"][0]["Name"] == "app"  # the task is still answered
        assert "Errors" not in get_json(agent.metadata_uri(me, 3) + "/taskWithTags")  # v4 only


# -- the API's edges -------------------------------------------------------------------


def test_bad_arguments_are_refused(agent: FakeAgent) -> None:
    with pytest.raises(ValueError, match="network_mode"):
        agent.add_task("x", 1, [FakeContainer("a")], network_mode="overlay")
    with pytest.raises(ValueError, match="launch_type"):
        agent.add_task("x", 1, [FakeContainer("a")], launch_type="EXTERNAL")
    with pytest.raises(ValueError, match="ports="):
        agent.add_task("x", 1, [], ports=[80])
    with pytest.raises(ValueError, match="HOSTPORT"):
        FakePort.parse("80/sctp")
    assert FakePort.parse("8080:80/udp") == FakePort(80, "udp", 8080)
    assert FakePort.parse("9000") == FakePort(9000)
    assert agent.tasks == []


def test_a_direct_respond_routes_by_path(agent: FakeAgent) -> None:
    """``respond()`` without a listener (tests call it directly) keeps serving both APIs."""
    me = FakeContainer("app")
    agent.add_task("web", 3, [me])
    status, headers, _ = agent.respond("GET", f"/v4/{me.endpoint_id}")
    assert status == 200 and "X-Rate-Limit-Limit" in headers
    assert agent.respond("GET", f"/v4/{me.endpoint_id}", listener="introspection")[0] == 200
    assert b"AvailableCommands" in agent.respond("GET", f"/v4/{me.endpoint_id}", listener="introspection")[2]
    assert agent.respond("GET", "/v1/tasks", listener="tmde")[0] == 404


def test_cli_fake_agent_serves_both_ports() -> None:
    docker_id = "ab" * 32
    p = subprocess.Popen(
        [
            sys.executable, "-m", "selfdiscover", "fake-agent", "--port", "0",
            "--task", f"api:4:app:{docker_id}", "--network-mode", "awsvpc", "--container-port", "8080",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert p.stdout is not None
        labelled = p.stdout.readline(), p.stdout.readline()
        assert labelled[0].startswith("introspection API") and labelled[1].startswith("task metadata")
        url, tmde = (line.split()[-1] for line in labelled)
        task = get_json(f"{url}/v1/tasks?dockerid={docker_id}")
        (c,) = task["Containers"]
        assert c["Networks"][0]["NetworkMode"] == "awsvpc"
        assert c["Ports"] == [{"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 8080}]
        assert get(f"{tmde}/v4/unknown")[0] == 404 and urlsplit(tmde).port != urlsplit(url).port
    finally:
        p.terminate()
        p.communicate(timeout=10)
    assert p.returncode == 0


def test_cli_fake_agent_refuses_a_bad_port_spec() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "selfdiscover", "fake-agent", "--port", "0", "--task", "a:1:b:" + "c" * 64,
         "--container-port", "http"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == EX_USAGE and "CONTAINERPORT" in r.stderr


def test_fake_task_defaults_stay_backward_compatible() -> None:
    t = FakeTask("arn:aws:ecs:us-west-2:1:task/c/abc", "f", "1")
    assert (t.network_mode, t.launch_type, t.eni, t.region, t.task_id) == (
        "bridge",
        "EC2",
        None,
        "us-west-2",
        "abc",
    )
