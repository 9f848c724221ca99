"""The agent emulator against a real engine answers for a container's network
with what ``docker inspect`` says of it: its Docker name, image, limits, and
its ports and addresses, which on this engine (no bridge: see NOTES.md) are
none, for a ``--network none`` container with an exposed port as for one in
another's namespace, whose holder's are never reported as its own.

The emulator image is built here under this module's own tag, from the suite's
wheel, so no other session's shared example tags are rebuilt.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dockerkit as dk
import pytest

from selfdiscover.testing._docker_emulator import endpoint_id

pytestmark = pytest.mark.docker

PREFIX = "selfdiscover-test-i11f-"
IMAGE = PREFIX + "emulator"
TMDE_PORT = 51679


@pytest.fixture(scope="module")
def emulator_image(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ctx = tmp_path_factory.mktemp("emulator-ctx")
    shutil.copy2(dk.EXAMPLES / "emulator" / "Dockerfile", ctx / "Dockerfile")
    (ctx / "wheels").mkdir()
    shutil.copy2(wheel, ctx / "wheels" / wheel.name)
    dk.docker(*dk.BUILD, "--label", f"{dk.LABEL}=1", "-t", IMAGE, str(ctx), timeout=600)
    try:
        yield IMAGE
    finally:
        dk.docker("image", "rm", "-f", IMAGE, check=False)


@pytest.fixture
def box(emulator_image: str) -> Iterator[dk.Containers]:
    c = dk.Containers()
    try:
        yield c
    finally:
        c.remove_all()


def inspect(cid: str) -> dict[str, Any]:
    (doc,) = json.loads(dk.docker("inspect", cid).stdout)
    return doc  # type: ignore[no-any-return]


def expected_networks(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What the agent's v4 handler makes of ``docker inspect``: one entry per
    network with the addresses Docker has, else the HostConfig mode alone."""
    nets = doc["NetworkSettings"]["Networks"] or {}
    if not nets:
        return [{"NetworkMode": doc["HostConfig"]["NetworkMode"]}]
    out = []
    for name, n in nets.items():
        entry: dict[str, Any] = {"NetworkMode": name}
        if n.get("IPAddress"):
            entry["IPv4Addresses"] = [n["IPAddress"]]
        if n.get("GlobalIPv6Address"):
            entry["IPv6Addresses"] = [n["GlobalIPv6Address"]]
        out.append(entry)
    return out


def expected_ports(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, binds in (doc["NetworkSettings"]["Ports"] or {}).items():
        port, _, proto = key.partition("/")
        for b in binds or []:
            entry = {"ContainerPort": int(port), "Protocol": proto, "HostPort": int(b["HostPort"])}
            out.append({**entry, "HostIp": b["HostIp"]} if b.get("HostIp") else entry)
    return out


def fetch(box: dk.Containers, ns: str, *urls: str) -> list[Any]:
    """GET each URL from inside the emulator's namespace (loopback only)."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "out = []\n"
        "for u in sys.argv[1:]:\n"
        "    try:\n"
        "        with urllib.request.urlopen(u, timeout=10) as r:\n"
        "            out.append([r.status, json.loads(r.read())])\n"
        "    except urllib.error.HTTPError as e:\n"
        "        out.append([e.code, json.loads(e.read() or b'null')])\n"
        "print(json.dumps(out))\n"
    )
    r = box.run(dk.BASE_IMAGE, "python3", "-c", script, *urls, network=ns)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_emulator_answers_with_what_docker_inspect_says(box: dk.Containers, emulator_image: str) -> None:
    holder = box.holder()
    ns = f"container:{holder}"
    emulator = box.start(
        emulator_image,
        "--host", "127.0.0.1", "--port", str(dk.AGENT_PORT), "--tmde-port", str(TMDE_PORT),
        network=ns,
        volumes=[f"{dk.DOCKER_SOCKET}:{dk.DOCKER_SOCKET}:ro"],
    )  # fmt: skip
    tmde = f"http://127.0.0.1:{TMDE_PORT}"
    box.wait_for_output(emulator, tmde)
    task_id = secrets.token_hex(16)
    run = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"

    def start(name: str, network: str, *options: str) -> str:
        return box.start(
            dk.BASE_IMAGE, "sleep", "infinity",
            network=network,
            init=True,
            labels={**dk.task_labels("netcheck", 5, name, task_id=task_id), "com.example.team": "net"},
            options=["--name", f"{run}-{dk_name(name)}", *options],
        )  # fmt: skip

    # The pause container: no network but loopback, an exposed (never published) port, limits.
    pause = start("~internal~ecs~pause", "none", "--expose", "8080", "--cpu-shares", "256", "--memory", "64m")
    app = start("app", f"container:{pause}", "--cpu-shares", "512")
    docs = {cid: inspect(cid) for cid in (pause, app)}
    assert "8080/tcp" in docs[pause]["Config"]["ExposedPorts"]  # Docker knows the port, binds nothing
    assert docs[pause]["NetworkSettings"]["Ports"] == {} and docs[app]["NetworkSettings"]["Networks"] == {}

    arn = dk.task_labels(task_id=task_id)["com.amazonaws.ecs.task-arn"]
    (s4, c4), (st, t4), (s1, v1), (sp, by_pause) = fetch(
        box,
        ns,
        f"{tmde}/v4/{endpoint_id(app)}",
        f"{tmde}/v4/{endpoint_id(app)}/task",
        f"{dk.AGENT_URL}/v1/tasks?dockerid={app}",
        f"{dk.AGENT_URL}/v1/tasks?dockerid={pause[:12]}",
    )
    assert (s4, st, s1, sp) == (200, 200, 200, 200)
    assert t4["TaskARN"] == arn == v1["Arn"] == by_pause["Arn"]
    by_id = {c["DockerId"]: c for c in t4["Containers"]}
    assert set(by_id) == {pause, app} and by_id[app] == c4
    for cid, doc in docs.items():
        c = by_id[cid]
        assert c["DockerName"] == doc["Name"].lstrip("/")
        assert c["Image"] == doc["Config"]["Image"] and c["ImageID"] == doc["Image"]
        assert c["Networks"] == expected_networks(doc)
        assert c.get("Ports", []) == expected_ports(doc) == []
        assert c["Limits"] == {
            "CPU": doc["HostConfig"]["CpuShares"],
            "Memory": doc["HostConfig"]["Memory"] // 2**20,
        }
        assert c["Labels"]["com.example.team"] == "net"
    assert by_id[pause]["Networks"] == [{"NetworkMode": "none"}]
    assert by_id[app]["Networks"] == [{"NetworkMode": f"container:{pause}"}]  # never the holder's
    assert by_id[pause]["Limits"] == {"CPU": 256, "Memory": 64}
    assert by_id[app]["LogDriver"] == docs[app]["HostConfig"]["LogConfig"]["Type"]
    assert "LogDriver" not in by_id[pause]  # the agent reports no log configuration for internal containers
    (listed,) = v1["Containers"]  # the pause container is a key, never listed
    assert listed["DockerId"] == app and listed["DockerName"] == docs[app]["Name"].lstrip("/")
    assert "Ports" not in listed and "Networks" not in listed


def dk_name(name: str) -> str:
    return "".join(ch for ch in name if ch.isalnum() or ch == "-") or "c"
