"""The discovery ladder: TMDE v4/v3, the metadata file, the bridge gateway,
ordering and deadlines, against the fake agent over real loopback sockets."""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from timing import slack

from selfdiscover import AgentUnavailableError, DiscoveryError, NotInECSError, Timeout, discover
from selfdiscover.sources.introspection import parse_default_gateway
from selfdiscover.testing import Behaviour, FakeAgent, FakeContainer, random_docker_id


def _route(gateway: str | None) -> str:
    head = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    rows = "eth0\t0011AC0A\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0\n"
    if gateway:
        gw = struct.unpack("<I", socket.inet_aton(gateway))[0]
        rows = f"eth0\t00000000\t{gw:08X}\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" + rows
    return head + rows


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A /proc with no container ID and no default route: nothing leaks from the real machine."""
    (tmp_path / "self").mkdir()
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "route").write_text(_route(None))
    return tmp_path


def test_parse_default_gateway() -> None:
    assert parse_default_gateway(_route("172.17.0.1")) == "172.17.0.1"
    assert parse_default_gateway(_route(None)) is None
    assert parse_default_gateway("garbage\n\x00\x01 00000000 zz 3") is None


def test_v4_without_own_id_asks_the_container_endpoint(agent: FakeAgent, proc: Path) -> None:
    me = FakeContainer("app")
    task = agent.add_task("api", 12, [FakeContainer("~internal~ecs~pause", internal=True), me])
    env = {"ECS_CONTAINER_METADATA_URI_V4": agent.metadata_uri(me)}
    info = discover(environ=env, proc_root=str(proc))
    assert (info.arn, info.family, info.version) == (task.arn, "api", "12")
    assert info.docker_id == me.docker_id and info.container_name == "app"
    assert info.launch_type == "EC2" and info.availability_zone == "us-west-2a"
    assert info.source.startswith("tmde-v4 ")
    assert [r.path.rsplit("/", 1)[-1] for r in agent.requests] == ["task", me.endpoint_id]


def test_v4_with_own_id_needs_one_request(agent: FakeAgent, proc: Path) -> None:
    me = FakeContainer("app")
    agent.add_task("api", 3, [me])
    env = {"ECS_CONTAINER_METADATA_URI_V4": agent.metadata_uri(me), "SELFDISCOVER_DOCKER_ID": me.docker_id}
    assert discover(environ=env, proc_root=str(proc)).container_name == "app"
    assert len(agent.requests) == 1


def test_v4_start_up_race_is_retried(proc: Path) -> None:
    margin = slack()
    with FakeAgent(behaviour=Behaviour(not_found_for=0.6)) as a:
        me = FakeContainer("app")
        a.add_task("api", 3, [me])
        t0 = time.monotonic()
        info = discover(environ={"ECS_CONTAINER_METADATA_URI_V4": a.metadata_uri(me)}, proc_root=str(proc))
        took = time.monotonic() - t0
        assert info.family == "api" and 0.55 < took < 0.6 + 0.5 + margin, (took, margin)
        assert {r.status for r in a.requests} == {404, 200}


def test_v3_answers_500_for_unknown_and_has_no_launch_type(agent: FakeAgent, proc: Path) -> None:
    me = FakeContainer("app")
    agent.add_task("old", 1, [me])
    info = discover(environ={"ECS_CONTAINER_METADATA_URI": agent.metadata_uri(me, 3)}, proc_root=str(proc))
    assert info.family == "old" and info.launch_type is None and info.source.startswith("tmde-v3")
    with pytest.raises(AgentUnavailableError, match="HTTP 500"):
        discover(
            environ={"ECS_CONTAINER_METADATA_URI": f"{agent.tmde_url}/v3/nope"},
            proc_root=str(proc),
            timeout=1.0,
        )


def test_fake_tmde_throttles_after_the_burst(agent: FakeAgent) -> None:
    me = FakeContainer("app")
    agent.add_task("t", 1, [me])
    statuses = [agent.respond("GET", f"/v4/{me.endpoint_id}/task")[0] for _ in range(70)]
    assert statuses[:60] == [200] * 60 and 429 in statuses[60:]
    assert agent.respond("GET", f"/v4/{me.endpoint_id}")[0] == 200  # buckets are per path
    assert agent.respond("GET", f"/v4/{me.endpoint_id}/")[0] == 404


def test_metadata_file_is_read_once_ready(agent: FakeAgent, proc: Path, tmp_path: Path) -> None:
    me = FakeContainer("app")
    task = agent.add_task("files", 5, [me])
    path = tmp_path / "ecs-container-metadata.json"
    margin = slack()
    agent.write_metadata_file(str(path), task, me, ready_after=0.5)
    t0 = time.monotonic()
    info = discover(environ={"ECS_CONTAINER_METADATA_FILE": str(path)}, proc_root=str(proc))
    assert 0.45 < time.monotonic() - t0 < 0.5 + 0.5 + margin  # ready, plus one maximum backoff
    assert info.docker_id == me.docker_id and info.source.startswith("metadata-file")


def test_metadata_file_never_ready_fails_at_the_deadline(
    agent: FakeAgent, proc: Path, tmp_path: Path
) -> None:
    me = FakeContainer("app")
    task = agent.add_task("files", 5, [me])
    path = tmp_path / "m.json"
    agent.write_metadata_file(str(path), task, me, ready_after=60)
    margin = slack()
    t0 = time.monotonic()
    with pytest.raises(AgentUnavailableError, match="not READY"):
        discover(environ={"ECS_CONTAINER_METADATA_FILE": str(path)}, proc_root=str(proc), timeout=0.8)
    assert time.monotonic() - t0 < 0.8 + margin


def test_bridge_gateway_only_with_evidence(proc: Path) -> None:
    (proc / "net" / "route").write_text(
        _route("127.0.0.2")
    )  # a loopback "gateway": nothing leaves the machine
    try:
        a = FakeAgent("127.0.0.2", 51678)
    except OSError:
        pytest.skip("127.0.0.2:51678 is in use on this machine")
    with a:
        did = random_docker_id()
        a.add_container_task(did, "bridged", 9)
        env = {"SELFDISCOVER_DOCKER_ID": did, "SELFDISCOVER_SOURCES": "agent-gateway"}
        with pytest.raises(NotInECSError):
            discover(environ=env, proc_root=str(proc), timeout=1)
        assert a.requests == []  # no evidence of ECS: the gateway is never knocked on
        info = discover(environ={**env, "AWS_EXECUTION_ENV": "AWS_ECS_EC2"}, proc_root=str(proc), timeout=2)
        assert info.family == "bridged" and info.source == "introspection http://127.0.0.2:51678"


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A loopback port that drops SYNs like an iptables DROP rule: its accept
    queue is full, so new connections time out instead of being refused."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(8):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    # The first handshake completes and fills the queue (backlog 0 holds one): wait for it.
    _, connected, _ = select.select([], fillers[:1], [], 5)
    assert connected, "the accept queue never filled"
    yield f"http://127.0.0.1:{port}"
    for c in fillers:
        c.close()
    srv.close()


def test_a_blocked_port_costs_one_connect_timeout_not_the_deadline(
    blackhole: str, agent: FakeAgent, proc: Path, tmp_path: Path
) -> None:
    me = FakeContainer("app")
    task = agent.add_task("late", 2, [me])
    path = tmp_path / "m.json"
    agent.write_metadata_file(str(path), task, me)
    env = {"ECS_CONTAINER_METADATA_URI_V4": f"{blackhole}/v4/x", "ECS_CONTAINER_METADATA_FILE": str(path)}
    margin = slack()
    t0 = time.monotonic()
    info = discover(environ=env, proc_root=str(proc), timeout=Timeout(connect=0.3, read=1, total=10))
    took = time.monotonic() - t0
    # One connect timeout, then the next source.
    assert info.source.startswith("metadata-file") and took < 0.3 + margin, (took, margin)


def test_source_order_is_configurable_and_validated(agent: FakeAgent, proc: Path, tmp_path: Path) -> None:
    me = FakeContainer("app")
    task = agent.add_task("both", 4, [me])
    path = tmp_path / "m.json"
    agent.write_metadata_file(str(path), task, me)
    env = {"ECS_CONTAINER_METADATA_URI_V4": agent.metadata_uri(me), "ECS_CONTAINER_METADATA_FILE": str(path)}
    assert discover(environ=env, proc_root=str(proc)).source.startswith("tmde-v4")
    env["SELFDISCOVER_SOURCES"] = "metadata-file,tmde-v4"
    assert discover(environ=env, proc_root=str(proc)).source.startswith("metadata-file")
    env["SELFDISCOVER_SOURCES"] = "carrier-pigeon"
    with pytest.raises(ValueError, match="unknown source"):
        discover(environ=env, proc_root=str(proc))


def test_in_ecs_without_any_usable_source(proc: Path) -> None:
    with pytest.raises(DiscoveryError, match="none of the sources") as e:
        discover(environ={"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"}, proc_root=str(proc))
    assert not isinstance(e.value, NotInECSError)
    with pytest.raises(NotInECSError):
        discover(environ={}, proc_root=str(proc))


def test_doctor_reports_agreement_disagreement_and_hints(
    agent: FakeAgent, proc: Path, tmp_path: Path, blackhole: str
) -> None:
    import io

    from selfdiscover._doctor import run_doctor
    from selfdiscover._settings import read

    me = FakeContainer("app")
    task = agent.add_task("doc", 6, [me])
    path = tmp_path / "m.json"
    agent.write_metadata_file(str(path), task, me)
    env = {"ECS_CONTAINER_METADATA_URI_V4": agent.metadata_uri(me), "ECS_CONTAINER_METADATA_FILE": str(path)}
    out = io.StringIO()
    assert run_doctor(out, read(env, timeout=2), environ=env, proc_root=str(proc)) == 0
    text = out.getvalue()
    assert "+ tmde-v4" in text and "+ metadata-file" in text and "ECS_TASK_FAMILY=doc" in text
    assert "result: OK (2 source(s)" in text

    other = FakeContainer("intruder")
    agent.add_task("else", 1, [other])
    env["ECS_CONTAINER_METADATA_URI_V4"] = agent.metadata_uri(other)
    out = io.StringIO()
    assert run_doctor(out, read(env, timeout=2), environ=env, proc_root=str(proc)) == 1
    assert (
        "disagree" in out.getvalue() and "family='doc'" in out.getvalue() and "says 'else'" in out.getvalue()
    )

    # A dropped gateway port gets the bridge-mode hint.
    (proc / "net" / "route").write_text(_route("127.0.0.3"))
    env = {"AWS_EXECUTION_ENV": "AWS_ECS_EC2", "SELFDISCOVER_SOURCES": "agent-url,agent-gateway"}
    out = io.StringIO()
    rc = run_doctor(
        out,
        read(env, agent_url=blackhole, timeout=1.0),
        docker_id=random_docker_id(),
        environ=env,
        proc_root=str(proc),
    )
    assert rc == 1
    assert "x agent-url" in out.getvalue() and "hint:" in out.getvalue()


def test_verify_cross_checks_every_source(agent: FakeAgent, proc: Path, tmp_path: Path) -> None:
    from selfdiscover import SourceConflictError

    me = FakeContainer("app")
    task = agent.add_task("same", 2, [me])
    path = tmp_path / "m.json"
    agent.write_metadata_file(str(path), task, me)
    env = {"ECS_CONTAINER_METADATA_URI_V4": agent.metadata_uri(me), "ECS_CONTAINER_METADATA_FILE": str(path)}
    n = len(agent.requests)
    assert discover(environ=env, proc_root=str(proc), verify=True).family == "same"
    assert len(agent.requests) > n  # the endpoint really was asked

    other = FakeContainer("elsewhere")
    agent.add_task("different", 9, [other])
    env["ECS_CONTAINER_METADATA_URI_V4"] = agent.metadata_uri(other)
    assert discover(environ=env, proc_root=str(proc)).family == "different"  # first answer wins...
    with pytest.raises(SourceConflictError, match="disagree on the task arn"):
        discover(environ={**env, "SELFDISCOVER_VERIFY": "1"}, proc_root=str(proc))  # ...unless verified
