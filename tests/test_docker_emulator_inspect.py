"""The emulator's ports and addresses come from ``docker inspect`` and nothing
else: inspect documents shaped as Docker 20.10 writes them (the none and
container: cases copied from this machine's engine), served through a
stand-in client over real sockets."""

from __future__ import annotations

import copy
import http.client
import importlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from selfdiscover.testing._docker_emulator import (
    DockerAgent,
    bindings_from_inspect,
    endpoint_id,
    networks_from_inspect,
    tasks_from_inspect,
)
from selfdiscover.testing._fake_agent import FakeBinding

ARN = "arn:aws:ecs:us-west-2:111122223333:task/demo/0123456789abcdef0123456789abcdef"
WEB, HOLDER, APP, LONE, HOSTED = ("a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64)


def labels(name: str, arn: str = ARN, **extra: str) -> dict[str, str]:
    return {
        "com.amazonaws.ecs.task-arn": arn,
        "com.amazonaws.ecs.task-definition-family": "web",
        "com.amazonaws.ecs.task-definition-version": "7",
        "com.amazonaws.ecs.container-name": name,
        "com.amazonaws.ecs.cluster": "demo",
        **extra,
    }


def network(ip: str = "", ipv6: str = "") -> dict[str, Any]:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "NetworkID": "8eb28f842f302602667320a394fef237a16bfcadce80eaf9a8e0e8823ed90d5c",
        "EndpointID": "9ef5ca8f37d7b959bfc68e89b95951cd24bcceaf8379435999fd7ff48a7b4296",
        "Gateway": "172.17.0.1" if ip else "",
        "IPAddress": ip,
        "IPPrefixLen": 16 if ip else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": ipv6,
        "GlobalIPv6PrefixLen": 64 if ipv6 else 0,
        "MacAddress": "02:42:ac:11:00:05" if ip else "",
        "DriverOpts": None,
    }


def inspect(
    cid: str,
    name: str,
    lab: dict[str, str],
    mode: str,
    networks: dict[str, Any],
    ports: dict[str, Any] | None = None,
    **host: Any,
) -> dict[str, Any]:
    return {
        "Id": cid,
        "Created": "2026-12-01T20:25:16.601822244Z",
        "State": {"Status": "running", "Running": True, "StartedAt": "2026-12-01T20:25:16.944391826Z"},
        "Image": "sha256:3a3632a64b66b1cf619ec2ccd8ffc5143dbb29796830862e9d201f7a91f5f1b7",
        "Name": f"/{name}",
        "HostConfig": {
            "NetworkMode": mode,
            "CpuShares": host.get("cpu", 0),
            "Memory": host.get("memory", 0),
            "LogConfig": {"Type": "json-file", "Config": {"max-file": "2", "max-size": "10m"}},
        },
        "Config": {"Image": "selfdiscover-base:bookworm", "Labels": lab, "ExposedPorts": {"8080/tcp": {}}},
        "NetworkSettings": {"Ports": ports if ports is not None else {}, "Networks": networks},
    }


BRIDGE_PORTS = {
    "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}, {"HostIp": "::", "HostPort": "32768"}],
    "8080/tcp": None,  # exposed, not published
    "9125/udp": [{"HostIp": "", "HostPort": "49153"}],
}
DOCS = [
    inspect(
        WEB,
        "web-1",
        labels("web", **{"com.example.team": "shop"}),
        "default",
        {"bridge": network("172.17.0.5", "fd00::5")},
        BRIDGE_PORTS,
        cpu=256,
        memory=64 * 1024 * 1024,
    ),
    # A holder with an address and ports of its own, and a container in its namespace.
    inspect(HOLDER, "holder", labels("~internal~ecs~pause", ARN[:-4] + "ffff"), "default",
            {"bridge": network("172.17.0.9")}, {"81/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32999"}]}),
    inspect(APP, "app-1", labels("app", ARN[:-4] + "ffff"), f"container:{HOLDER}", {}),
    inspect(LONE, "lone", labels("batch", ARN[:-4] + "eeee"), "none", {"none": network()}),
    inspect(HOSTED, "hosted", labels("svc", ARN[:-4] + "dddd"), "host", {"host": network()}),
]  # fmt: skip


def test_bindings_come_from_network_settings_ports_only() -> None:
    assert bindings_from_inspect(BRIDGE_PORTS) == [
        FakeBinding(80, "tcp", 32768, "0.0.0.0"),
        FakeBinding(80, "tcp", 32768, "::"),
        FakeBinding(9125, "udp", 49153, ""),
    ]
    odd = {
        "1/tcp": [{"HostIp": "0.0.0.0", "HostPort": ""}],  # not bound yet
        "2/tcp": [{"HostIp": "0.0.0.0", "HostPort": "0"}],  # a host port of 0 is never reported
        "3/tcp": [{"HostIp": "0.0.0.0", "HostPort": "x"}],
        "4/sctp": [{"HostIp": "0.0.0.0", "HostPort": "4000"}],
        "five/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5000"}],
        "6/tcp": "garbage",
        "7/tcp": [None],
    }
    assert bindings_from_inspect(odd) == [] and bindings_from_inspect(None) == []


def test_networks_come_from_network_settings_networks() -> None:
    assert networks_from_inspect({"bridge": network("172.17.0.5", "fd00::5"), "none": network()}) == {
        "bridge": ("172.17.0.5", "fd00::5"),
        "none": ("", ""),
    }
    assert networks_from_inspect({}) == {} and networks_from_inspect(None) == {}


def test_tasks_carry_what_inspect_says() -> None:
    tasks, clusters = tasks_from_inspect(DOCS)
    assert clusters == {"demo"}
    by_name = {c.name: (t, c) for t in tasks for c in t.containers}
    task, web = by_name["web"]
    v4 = web.to_v4(task, "demo")
    assert v4["DockerName"] == "web-1" and v4["Image"] == "selfdiscover-base:bookworm"
    assert v4["ImageID"].startswith("sha256:3a3632")
    assert v4["Ports"] == [
        {"ContainerPort": 80, "Protocol": "tcp", "HostPort": 32768, "HostIp": "0.0.0.0"},
        {"ContainerPort": 80, "Protocol": "tcp", "HostPort": 32768, "HostIp": "::"},
        {"ContainerPort": 9125, "Protocol": "udp", "HostPort": 49153},
    ]
    assert v4["Networks"] == [
        {"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.5"], "IPv6Addresses": ["fd00::5"]}
    ]
    assert v4["Limits"] == {"CPU": 256, "Memory": 64}
    assert v4["LogDriver"] == "json-file" and v4["LogOptions"] == {"max-file": "2", "max-size": "10m"}
    assert v4["Labels"]["com.example.team"] == "shop" and v4["Labels"]["com.amazonaws.ecs.task-arn"] == ARN
    assert (v4["CreatedAt"], v4["StartedAt"]) == (
        "2026-12-01T20:25:16.601822244Z",
        "2026-12-01T20:25:16.944391826Z",
    )
    v1 = web.to_v1(old_agent=False, task=task)
    assert v1["DockerName"] == "web-1" and "Networks" not in v1
    assert [p.get("HostPort") for p in v1["Ports"]] == [32768, 32768, 49153]


def test_nothing_is_reported_where_docker_shows_nothing() -> None:
    tasks, _ = tasks_from_inspect(DOCS)
    by_name = {c.name: (t, c) for t in tasks for c in t.containers}
    for name, mode in (("app", f"container:{HOLDER}"), ("batch", "none"), ("svc", "host")):
        task, c = by_name[name]
        v4 = c.to_v4(task, "demo")
        assert v4["Networks"] == [{"NetworkMode": mode}], name
        assert "Ports" not in v4, name
        v1 = c.to_v1(old_agent=False, task=task)
        assert "Ports" not in v1 and "Networks" not in v1, name
        text = json.dumps([v4, v1])
        assert "172.17.0.9" not in text and "32999" not in text  # never the holder's
    task, app = by_name["app"]
    assert task.network_mode == "bridge"  # the task's mode is its pause (holder) container's
    assert app.to_v4(task, "demo")["Networks"] == [{"NetworkMode": f"container:{HOLDER}"}]


def test_non_task_containers_are_skipped() -> None:
    plain = inspect("f" * 64, "plain", {"unrelated": "1"}, "none", {"none": network()})
    no_id = {**DOCS[0], "Id": ""}
    assert tasks_from_inspect([plain, {}, no_id]) == ([], set())


# -- through the emulator, over sockets ----------------------------------------------


@dataclass
class _Listed:
    id: str
    attrs: dict[str, Any]


@dataclass
class _Engine:
    """Stand-in for docker.DockerClient: ``containers.list(sparse=True)`` and
    ``api.inspect_container``, counting inspect calls."""

    docs: list[dict[str, Any]]
    inspected: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    @property
    def containers(self) -> _Engine:
        return self

    @property
    def api(self) -> _Engine:
        return self

    def list(self, **kw: Any) -> list[_Listed]:
        assert kw == {"sparse": True, "filters": {"label": "com.amazonaws.ecs.task-arn"}}
        return [
            _Listed(d["Id"], {"State": d["State"]["Status"], "Labels": d["Config"]["Labels"]})
            for d in self.docs
        ]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self.inspected.append(cid)
        if cid in self.gone:
            errors: Any = importlib.import_module("docker.errors")  # the SDK's, not tests/docker
            raise errors.NotFound("gone")
        return copy.deepcopy(next(d for d in self.docs if d["Id"] == cid))


def get_json(url: str) -> tuple[int, Any]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


@pytest.fixture
def engine() -> _Engine:
    return _Engine(copy.deepcopy(DOCS))


def test_emulator_serves_tmde_and_introspection_from_inspect(engine: _Engine) -> None:
    with DockerAgent(client=engine, ttl=0) as agent:
        status, c4 = get_json(f"{agent.tmde_url}/v4/{endpoint_id(WEB)}")
        assert status == 200 and c4["DockerId"] == WEB and c4["Ports"][0]["HostPort"] == 32768
        status, task = get_json(f"{agent.tmde_url}/v4/{endpoint_id(APP)}/task")
        assert status == 200 and [c["Name"] for c in task["Containers"]] == ["~internal~ecs~pause", "app"]
        assert "Ports" not in task["Containers"][1]
        status, v1 = get_json(f"{agent.url}/v1/tasks?dockerid={WEB}")
        assert status == 200 and v1["Containers"][0]["Ports"][0] == {
            "ContainerPort": 80,
            "Protocol": "tcp",
            "HostPort": 32768,
        }
        assert get_json(f"{agent.tmde_url}/v4/{WEB}")[0] == 404  # the Docker ID is not the endpoint id
        assert endpoint_id(WEB) == endpoint_id(WEB) != endpoint_id(APP)


def test_inspect_once_per_container_and_state(engine: _Engine) -> None:
    agent = DockerAgent(client=engine, ttl=0)
    try:
        agent.refresh()
        agent.refresh()
        assert sorted(engine.inspected) == sorted(d["Id"] for d in DOCS)  # cached between refreshes
        engine.docs[0]["State"]["Status"] = "restarting"
        engine.docs[0]["NetworkSettings"]["Ports"] = {}
        agent.refresh()
        assert engine.inspected.count(WEB) == 2  # a state change: inspected again, bindings gone
        web = next(c for t in agent.tasks for c in t.containers if c.docker_id == WEB)
        assert web.bindings == []
        engine.docs = [d for d in engine.docs if d["Id"] != LONE]
        agent.refresh()
        assert LONE not in agent._inspected and all(
            c.docker_id != LONE for t in agent.tasks for c in t.containers
        )
        engine.gone.add(HOSTED)  # removed between the listing and the inspect
        engine.docs[0]["State"]["Status"] = "running"
        agent._inspected.pop(HOSTED)
        agent.refresh()
        assert all(c.docker_id != HOSTED for t in agent.tasks for c in t.containers)
    finally:
        agent.stop()
